import Foundation
import Models
import Testing
@testable import TransferKit

/// ``ModelBundle/validate(_:file:)`` is a pure function of the decoded manifest and the registry: each faulty field is
/// refused with an error naming the file, the key, the value and what is accepted.
@Suite struct ManifestValidationTests {
    typealias Manifest = ModelBundle.Manifest

    /// The key the validation error names, or nil when `m` validates.
    func refusedKey(_ m: Manifest) -> String? {
        do {
            _ = try ModelBundle.validate(m, file: "b.transferkit/manifest.json")
            return nil
        } catch {
            switch error {
            case .invalidValue(let f, let k, _, _), .missingKey(let f, let k):
                #expect(f == "b.transferkit/manifest.json")
                #expect(!error.description.contains("\n"))
                return k
            case .formatVersion: return "format_version"
            default: return "\(error)"
            }
        }
    }

    func with(_ base: Manifest = BundleFixtures.manifest(), _ edit: (inout Manifest) -> Void) -> Manifest {
        var m = base
        edit(&m)
        return m
    }

    @Test func theFixtureManifestsOfEveryTaskValidate() {
        #expect(refusedKey(BundleFixtures.manifest()) == nil)
        #expect(refusedKey(BundleFixtures.manifest(task: "multilabel", labels: ["a"])) == nil)
        #expect(refusedKey(BundleFixtures.manifest(task: "regression", labels: [])) == nil)
        #expect(refusedKey(BundleFixtures.manifest(head: "mlp", strategy: "fine-tune")) == nil)
    }

    @Test func headInputsMustEqualTheBackbonesFeatureDimension() throws {
        for bad in [-1280, 0, 1, 1279, 1281, 1_099_511_627_776, Int.max, Int.min] {
            #expect(refusedKey(with { $0.headInputs = bad }) == "head_inputs", "\(bad)")
        }
        do {
            _ = try ModelBundle.validate(with { $0.headInputs = -1280 }, file: "m.json")
            Issue.record("accepted")
        } catch {
            #expect(error.description == "m.json: \"head_inputs\" is -1280; accepted: 1280, the feature dimension of efficientnet-lite0")
        }
    }

    @Test func headOutputsMustMatchTheLabelsOrBeOneForRegression() {
        for bad in [0, -3, 2, 4, 10, Int.max] { #expect(refusedKey(with { $0.headOutputs = bad }) == "head_outputs", "\(bad)") }
        #expect(refusedKey(with(BundleFixtures.manifest(task: "regression", labels: [])) { $0.headOutputs = 2 }) == "head_outputs")
    }

    @Test func fewerLabelsThanOutputsAreRefused() {
        #expect(refusedKey(with { $0.labels = ["cat", "dog"] }) == "head_outputs")
        #expect(refusedKey(with { $0.labels = [] }) == "labels")
        #expect(refusedKey(with { $0.labels = ["cat"]; $0.headOutputs = 1 }) == "labels")  // one class: always the same answer
    }

    @Test func duplicateLabelsAreRefusedNamingTheRepeat() {
        #expect(refusedKey(with { $0.labels = ["cat", "dog", "cat"] }) == "labels[2]")
        #expect(refusedKey(with { $0.labels = ["é", "e\u{301}", "x"] }) == "labels[1]")  // the same text, two spellings
    }

    @Test func headHiddenMustBeAPositiveBoundedWidth() {
        for bad in [0, -1, ModelBundle.maxHidden + 1, Int.max] { #expect(refusedKey(with { $0.headHidden = bad }) == "head_hidden", "\(bad)") }
    }

    @Test func thresholdsMustBeOnePerLabelAndInTheUnitInterval() {
        let ml = BundleFixtures.manifest(task: "multilabel")
        #expect(refusedKey(with(ml) { $0.thresholds = [0.5, 0.5] }) == "thresholds")
        #expect(refusedKey(with(ml) { $0.thresholds = [0.5, .nan, 0.5] }) == "thresholds[1]")
        #expect(refusedKey(with(ml) { $0.thresholds = [0.5, 0.5, .infinity] }) == "thresholds[2]")
        #expect(refusedKey(with(ml) { $0.thresholds = [-0.1, 0.5, 0.5] }) == "thresholds[0]")
        #expect(refusedKey(with(ml) { $0.thresholds = [0.5, 1.01, 0.5] }) == "thresholds[1]")
        #expect(refusedKey(with(ml) { $0.thresholds = nil }) == nil)
        #expect(refusedKey(with { $0.thresholds = [0.5, 0.5, 0.5] }) == "thresholds")  // classification has none
    }

    @Test func targetScalingMustBeFiniteWithAPositiveStd() {
        let r = BundleFixtures.manifest(task: "regression", labels: [])
        #expect(refusedKey(with(r) { $0.targetScaling = TargetScaling(mean: 0, std: 0) }) == "target_scaling.std")
        #expect(refusedKey(with(r) { $0.targetScaling = TargetScaling(mean: 0, std: -1) }) == "target_scaling.std")
        #expect(refusedKey(with(r) { $0.targetScaling = TargetScaling(mean: 0, std: .nan) }) == "target_scaling.std")
        #expect(refusedKey(with(r) { $0.targetScaling = TargetScaling(mean: .infinity, std: 1) }) == "target_scaling.mean")
        #expect(refusedKey(with(r) { $0.targetScaling = nil }) == "target_scaling")
        #expect(refusedKey(with { $0.targetScaling = TargetScaling(mean: 0, std: 1) }) == "target_scaling")
    }

    @Test func namesMustBeAmongTheKnownOnes() {
        #expect(refusedKey(with { $0.task = "Classification" }) == "task")
        #expect(refusedKey(with { $0.strategy = "finetune" }) == "strategy")
        #expect(refusedKey(with { $0.head = "transformer" }) == "head")
        #expect(refusedKey(with { $0.precision = "fp16" }) == "precision")
        #expect(refusedKey(with { $0.precision = nil }) == nil)
        #expect(refusedKey(with { $0.backbone = "efficientnet-b7" }) == "backbone")
        #expect(refusedKey(with { $0.backbone = "minilm-l6" }) == "head_inputs")  // 384 features
    }

    @Test func preprocessingMustBeTheBackbones() {
        #expect(refusedKey(with { $0.preprocessing = nil }) == "preprocessing")
        #expect(refusedKey(with { $0.preprocessing = ImagePreprocessingFixture.other }) == "preprocessing")
        #expect(refusedKey(with { $0.backbone = "efficientnet-lite1" }) == "preprocessing")  // 240 px, not 224
        // Another input size is accepted when the run records it as training.input_size (`--input-size`), only then.
        let small = ImagePreprocessing(inputSize: 64, resizeShorterTo: 73, normalization: .efficientNetLite)
        #expect(refusedKey(with { $0.preprocessing = small; $0.training["input_size"] = "64" }) == nil)
        #expect(refusedKey(with { $0.preprocessing = small }) == "preprocessing")
        #expect(refusedKey(with { $0.preprocessing = small; $0.training["input_size"] = "96" }) == "preprocessing")
    }

    @Test func theFormatHashesAndBackboneFlagAreChecked() {
        #expect(refusedKey(with { $0.formatVersion = 1 }) == "format_version")
        #expect(refusedKey(with { $0.weightsSha256 = "abc" }) == "weights_sha256")
        #expect(refusedKey(with { $0.manifestSha256 = String(repeating: "G", count: 64) }) == "manifest_sha256")
        #expect(refusedKey(with { $0.includesBackbone = true }) == "includes_backbone")
    }

    @Test func errorMessagesEchoHostileValuesOnOneLineAndShortened() {
        do {
            _ = try ModelBundle.validate(with { $0.task = "line1\nline2\u{0}" + String(repeating: "x", count: 500) }, file: "m.json")
            Issue.record("accepted")
        } catch {
            let text = error.description
            #expect(!text.contains("\n") && text.contains("line1\\nline2\\u{0}") && text.count < 300, "\(text)")
        }
    }
}

enum ImagePreprocessingFixture {
    static let other = ImagePreprocessing(inputSize: 224, resizeShorterTo: 256, normalization: .imagenet)
}
