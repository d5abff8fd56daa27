import Foundation
import Testing
@testable import Datasets

/// The domain-adaptation datasets: pixel tables turned into PNG class folders, BBC leads, and the real fetched sets.
@Suite struct DomainAdaptationSetsTests {
    @Test func pixelTableRowsScaleToBytesAndBadRowsAreRefusedNamingTheRow() throws {
        let rows = try WheelPayloadConverter.pixelRows(Array("0,16,8,4,3\n16,0,0,16,9\n".utf8), side: 2, maxValue: 16, classCount: 10, what: "t")
        #expect(rows.count == 2)
        #expect(rows[0].pixels == [0, 255, 128, 64] && rows[0].label == 3)
        #expect(rows[1].label == 9)
        #expect(throws: DatasetRegistryError.fetchFailed(dataset: "t", reason: "row 2 has 4 fields, expected 5 (2×2 pixels and a label)")) {
            try WheelPayloadConverter.pixelRows(Array("0,1,2,3,1\n0,1,2,3\n".utf8), side: 2, maxValue: 16, classCount: 10, what: "t")
        }
        #expect(throws: DatasetRegistryError.fetchFailed(dataset: "t", reason: "row 1: pixel 1 is 17, outside 0…16")) {
            try WheelPayloadConverter.pixelRows(Array("0,17,2,3,1\n".utf8), side: 2, maxValue: 16, classCount: 10, what: "t")
        }
        #expect(throws: DatasetRegistryError.fetchFailed(dataset: "t", reason: "row 1: label 10 outside 0..<10")) {
            try WheelPayloadConverter.pixelRows(Array("0,1,2,3,10\n".utf8), side: 2, maxValue: 16, classCount: 10, what: "t")
        }
    }

    @Test func leadIsTheFirstSentenceAfterTheTitle() {
        let article = "Ad sales boost Time Warner profit\n\nQuarterly profits at US media giant TimeWarner jumped 76% to $1.13bn. The firm said more.\n\nMore text."
        #expect(TextPart.lead.extract(from: article) == "Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn.")
        #expect(TextPart.lead.extract(from: "Title only\n") == nil)
        #expect(TextPart.lead.extract(from: "T\n\nOne sentence without a stop") == "One sentence without a stop")
    }

    static var cache: String {
        ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
    }

    /// Needs `transfer datasets fetch digits mnist-5k` (`make test` runs it).
    @Test(.enabled(if: ["digits", "mnist-5k"].allSatisfy { FileManager.default.fileExists(atPath: cache + "/datasets/\($0)/.transferkit-verified") }))
    func fetchedDigitsAndMNISTAreTenClassFoldersOfGreyscaleImagesAtTheirOwnSize() throws {
        for (name, side) in [("digits", 8), ("mnist-5k", 28)] {
            let spec = try DatasetRegistry.spec(named: name)
            try DatasetRegistry.verifyFolder(spec, at: spec.location)
            let d = try ImageFolderDataset(root: spec.location.path)
            #expect(d.classNames == (0...9).map(String.init))
            let image = try d.load(0)
            #expect(image.width == side && image.height == side)
        }
    }
}
