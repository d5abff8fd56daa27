import Foundation
import Testing
import Models
@testable import TransferKit

/// A bundle's record of how its text model read long texts (`training.long_texts`, `training.max_windows`).
@Suite struct BundleLongTextsTests {
    private func manifest(_ training: [String: String]) -> ModelBundle.Manifest {
        ModelBundle.Manifest(formatVersion: ModelBundle.formatVersion, toolVersion: "t", createdAt: "c", backbone: "minilm-l6",
                             backboneWeightsSha256: "", task: "classification", strategy: "features", head: "logistic",
                             headInputs: 384, headOutputs: 2, headHidden: 0, labels: ["a", "b"], thresholds: nil, targetScaling: nil,
                             preprocessing: nil, weightsSha256: "", includesBackbone: false, training: training, metrics: [:],
                             precision: nil, manifestSha256: "")
    }

    @Test func aBundleWithoutTheKeysReadsTruncatedTextsAsItWasTrained() throws {
        let r = try ModelBundle.longTexts(manifest([:]), file: "m.json")
        #expect(r.policy == .truncate)
        let w = try ModelBundle.longTexts(manifest(["long_texts": "windows", "max_windows": "4"]), file: "m.json")
        #expect(w.policy == .windows && w.maxWindows == 4)
    }

    @Test func anUnknownPolicyOrWindowCountIsRefusedNamingTheKeyAndValue() {
        #expect(throws: ModelBundle.BundleError.invalidValue(file: "m.json", key: "training.long_texts", value: "\"chunks\"",
                                                             accepted: "truncate, windows")) {
            try ModelBundle.longTexts(manifest(["long_texts": "chunks"]), file: "m.json")
        }
        #expect(throws: ModelBundle.BundleError.invalidValue(file: "m.json", key: "training.max_windows", value: "\"0\"",
                                                             accepted: "a whole number in 1…256")) {
            try ModelBundle.longTexts(manifest(["long_texts": "windows", "max_windows": "0"]), file: "m.json")
        }
    }
}
