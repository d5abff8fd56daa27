import Checkpoints
import Foundation
import Models
@testable import Tensors
@testable import TransferKit

/// Small bundles written by the tests themselves: a manifest for EfficientNet-Lite0's 1280 features and head tensors
/// of the matching shapes, sealed like ``ModelBundle/save(_:to:training:metrics:)`` seals them. Nothing here needs the
/// backbone's weights.
enum BundleFixtures {
    static let zeros = String(repeating: "0", count: 64)

    /// A valid, sealed manifest: a linear head 1280 → `labels.count` (1 for regression).
    static func manifest(task: String = "classification", labels: [String] = ["cat", "dog", "fox"], head: String = "linear",
                         strategy: String = "features") -> ModelBundle.Manifest {
        let spec = try? ModelRegistry.spec(named: "efficientnet-lite0")
        return ModelBundle.Manifest(
            formatVersion: ModelBundle.formatVersion, toolVersion: "test", createdAt: "2026-12-04T00:00:00Z",
            backbone: "efficientnet-lite0", backboneWeightsSha256: String(repeating: "a", count: 64), task: task,
            strategy: strategy, head: head, headInputs: 1280, headOutputs: task == "regression" ? 1 : labels.count,
            headHidden: 512, labels: labels, thresholds: task == "multilabel" ? labels.map { _ in 0.5 } : nil,
            targetScaling: task == "regression" ? TargetScaling(mean: 3, std: 2) : nil, preprocessing: spec?.preprocessing,
            weightsSha256: zeros, includesBackbone: strategy != "features", training: ["seed": "1", "head_lr": "0.01"],
            metrics: ["accuracy": 0.75, "log_loss": .nan], precision: "fp32", manifestSha256: zeros
        ).sealed()
    }

    /// Head tensors for `manifest` (deterministic small values), keyed as in weights.safetensors.
    static func headTensors(for m: ModelBundle.Manifest) -> [String: Tensor] {
        let shapes = Head.stateShapes(HeadKind(rawValue: m.head) ?? .linear, inputs: m.headInputs, outputs: m.headOutputs, hidden: m.headHidden)
        var out: [String: Tensor] = [:]
        for (key, shape) in shapes {
            let n = shape.reduce(1, *)
            let values: [Float] = key == "input_std" ? [Float](repeating: 1, count: n) : (0..<n).map { Float($0 % 7) / 100 }
            out["head." + key] = Tensor(shape: Shape(shape), data: values)
        }
        return out
    }

    /// A fresh temporary directory.
    static func directory(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes a bundle: `tensors` (default: ``headTensors(for:)``) as weights.safetensors, then `manifest` with the
    /// weights' hash, sealed when `seal` (else its recorded manifest_sha256 is kept).
    @discardableResult
    static func write(_ manifest: ModelBundle.Manifest, tensors: [String: Tensor]? = nil, to dir: URL, seal: Bool = true) throws -> URL {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let weights = dir.appendingPathComponent("weights.safetensors")
        try SafeTensorsWriter.write(tensors ?? headTensors(for: manifest), metadata: ["format": "transferkit-bundle"], to: weights.path)
        var m = manifest
        m.weightsSha256 = try ModelBundle.fileSHA256(weights.path)
        let data = seal ? try ModelBundle.sealedEncoding(m, file: "manifest.json") : try ModelBundle.encoded(m)
        try data.write(to: dir.appendingPathComponent("manifest.json"))
        return dir
    }

    /// The manifest.json of `dir` as a JSON object.
    static func json(_ dir: URL) throws -> [String: Any] {
        (try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("manifest.json"))) as? [String: Any]) ?? [:]
    }

    /// Writes `object` as `dir`'s manifest.json.
    static func writeJSON(_ object: [String: Any], to dir: URL) throws {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: dir.appendingPathComponent("manifest.json"))
    }
}
