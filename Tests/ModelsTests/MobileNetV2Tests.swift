import Checkpoints
import Foundation
import Layers
import Testing
@testable import Models
@testable import Tensors

// The fixture comes from tools/make_mobilenet_fixtures.py (torchvision 0.29 with the same weights).

/// torchvision's MobileNetV2 checkpoint where `transfer fetch mobilenet-v2` puts it.
let mobileNetV2CheckpointPath: String = {
    let env = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
    let root = env.map { URL(fileURLWithPath: $0) }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit")
    return root.appendingPathComponent("mobilenet-v2/mobilenet_v2-b0353104.pth").path
}()

@Suite struct MobileNetV2ArchitectureTests {
    @Test func stateDictHasTorchvisionsKeysAndShapesInOrderAndThePublishedParameterCount() throws {
        let f = try visionFixture("mobilenet_v2")
        let reference = try visionMetadata(f, "state_dict", as: [[StringOrShape]].self)
        let model = MobileNetV2()
        #expect(model.stateDict().map(\.key) == reference.map { $0[0].string })
        #expect(model.stateDict().map(\.tensor.shape.dims) == reference.map { $0[1].shape })
        #expect(model.parameterCount.total == 3_504_872)
    }

    @Test func blockGroupsCoverEveryParameterOnceAndFeatureMapsHaveTheStrides() {
        let model = MobileNetV2(includeTop: false)
        for (key, _) in model.namedParameters() {
            #expect(model.blockGroups.filter { $0.contains(key) }.count == 1, "\(key)")
        }
        #expect(model.blockGroups.map(\.name) == ["stem"] + (0..<7).map { "stage\($0)" } + ["head"])
        model.eval()
        let maps = withNoGrad { model.featureMaps(formulaInput([1, 3, 64, 64])) }
        #expect(maps.map(\.stride) == [2, 2, 4, 8, 16, 16, 32, 32, 32])
        #expect(maps.map(\.channels) == [32, 16, 24, 32, 64, 96, 160, 320, 1280])
        #expect(withNoGrad { model(formulaInput([1, 3, 64, 64])) }.shape == [1, 1280])
    }
}

/// A state-dict entry of the fixture's metadata: `[key, shape]`.
enum StringOrShape: Decodable {
    case string(String), shape([Int])
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { self = .string(s) } else { self = .shape(try c.decode([Int].self)) }
    }
    var string: String { if case .string(let s) = self { s } else { "" } }
    var shape: [Int] { if case .shape(let s) = self { s } else { [] } }
}

@Suite(.enabled(if: FileManager.default.fileExists(atPath: mobileNetV2CheckpointPath),
                "needs torchvision's MobileNetV2 checkpoint: run `make test` (it fetches it) or `transfer fetch mobilenet-v2`"))
struct MobileNetV2PretrainedTests {
    // Tolerance: max |Swift − torchvision| ≤ 1e-3 on logits and pooled features (float32 on both sides; oneDNN and
    // PyTorch sum in different orders).

    func pretrained() throws -> MobileNetV2 {
        let model = MobileNetV2()
        let report = try model.load(TorchCheckpoint.load(path: mobileNetV2CheckpointPath))
        #expect(report.isClean)
        model.eval()
        return model
    }

    @Test func realWeightsGiveTorchvisionsLogitsAndFeatures() throws {
        let f = try visionFixture("mobilenet_v2")
        let model = try pretrained()
        let x = formulaInput([2, 3, 96, 96])
        let (logits, features) = withNoGrad { (model(x), model.features(x)) }
        let dl = maxAbsDiff(logits, try f.tensor("logits")), df = maxAbsDiff(features, try f.tensor("features"))
        let dOdd = maxAbsDiff(withNoGrad { model(formulaInput([1, 3, 67, 45])) }, try f.tensor("odd_logits"))
        print("MobileNetV2 vs torchvision: max |logit diff| \(dl), |feature diff| \(df), odd-size |logit diff| \(dOdd)")
        #expect(dl <= 1e-3)
        #expect(df <= 1e-3)
        #expect(dOdd <= 1e-3)
        #expect(topK(logits, 5) == topK(try f.tensor("logits"), 5))
    }

    @Test(.enabled(if: Precision.bf16.unsupportedReason == nil, "needs a CPU with avx512_bf16"))
    func bf16InferenceStaysCloseToFP32() throws {
        let model = try pretrained()
        let x = formulaInput([2, 3, 96, 96])
        let fp32 = withNoGrad { model(x) }
        let bf16 = withPrecision(.bf16) { withNoGrad { model(x) } }
        let d = maxAbsDiff(bf16, fp32)
        print("MobileNetV2 bf16: max |logit diff to fp32| \(d)")
        #expect(d > 0, "bf16 changed nothing: the bf16 path did not run")
        #expect(d < 0.5, "bf16 logits drift \(d) from fp32")
    }
}
