import Adapters
import Assets
import Foundation
import TransferKit

/// Int8 bundles: a plain bundle (its manifest and fp32 weights, so nothing is lost) plus `quantization.json`
/// (``QuantizationPlan``), whose SHA-256 the manifest records as `training.quantization_sha256` so that an edited
/// or swapped plan is refused like an edited manifest.
public enum QuantizedBundle {
    /// The manifest `training` key that records the plan's SHA-256.
    public static let hashKey = ModelBundle.quantizationHashKey
    /// The manifest `training` key that records the calibration method.
    public static let methodKey = "quantization"

    /// Writes `model` (loaded from the bundle whose manifest is `source`) with `plan` to `directory`. Refuses a
    /// `directory` that already exists.
    public static func write(_ model: TransferModel, plan: QuantizationPlan, source: ModelBundle.Manifest,
                             to directory: URL) throws {
        if FileManager.default.fileExists(atPath: directory.path) {
            throw QuantizationError.invalidValue(file: directory.path, key: "--out", value: directory.path,
                                                 accepted: "a path that does not exist yet")
        }
        let data = try plan.encoded()
        var training = source.training
        training[hashKey] = SHA256.hex(data)
        training[methodKey] = "int8 \(plan.method.rawValue), \(plan.samples) samples"
        training.removeValue(forKey: "merged_from")
        try ModelBundle.save(model, to: directory, training: training, metrics: source.metrics)
        try data.write(to: directory.appendingPathComponent(QuantizationPlan.fileName), options: .atomic)
    }

    /// The plan of the bundle at `directory`, or nil for a plain bundle: checked against the manifest's hash and
    /// decoded strictly (``QuantizationPlan/decode(_:file:)``).
    public static func plan(at directory: URL, manifest: ModelBundle.Manifest) throws -> QuantizationPlan? {
        let file = directory.appendingPathComponent(QuantizationPlan.fileName)
        let exists = FileManager.default.fileExists(atPath: file.path)
        guard let expected = manifest.training[hashKey] else {
            if exists {
                throw QuantizationError.inconsistentBundle(
                    directory: directory.path,
                    reason: "\(QuantizationPlan.fileName) is present but the manifest records no training.\(hashKey)")
            }
            return nil
        }
        guard exists else {
            throw QuantizationError.inconsistentBundle(
                directory: directory.path, reason: "the manifest records an int8 quantisation but \(QuantizationPlan.fileName) is missing")
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: file.path)
        guard attributes?[.type] as? FileAttributeType == .typeRegular, ((attributes?[.size] as? Int) ?? 0) <= 16 << 20 else {
            throw QuantizationError.invalidFile(file: file.path, reason: "not a regular file of at most 16 MiB")
        }
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw QuantizationError.invalidFile(file: file.path, reason: FileErrors.reason(error))
        }
        let actual = SHA256.hex(data)
        guard actual == expected else { throw QuantizationError.fileHash(file: file.path, expected: expected, actual: actual) }
        return try QuantizationPlan.decode(data, file: file.path)
    }

    /// Loads any bundle (``LoRABundle/load(_:backboneWeights:)``) and, when it is quantised, puts its plan in
    /// place so that it predicts and evaluates in int8. Returns the model and its plan (nil for a plain bundle).
    public static func load(_ directory: URL, backboneWeights: String) throws -> (TransferModel, QuantizationPlan?) {
        let manifest = try ModelBundle.manifest(at: directory)
        let plan = try plan(at: directory, manifest: manifest)
        if plan != nil, let reason = Quantizer.unsupportedReason { throw QuantizationError.invalidFile(file: directory.path, reason: reason) }
        let model = try LoRABundle.load(directory, backboneWeights: backboneWeights) { directory, _, model in
            guard let plan else { return }
            try Quantizer.apply(plan, to: model, file: directory.appendingPathComponent(QuantizationPlan.fileName).path)
        }
        return (model, plan)
    }
}
