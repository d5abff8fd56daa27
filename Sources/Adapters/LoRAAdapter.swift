import Checkpoints
import Foundation
import Layers
import Tensors

/// A trained LoRA adapter apart from its base: the config, the SHA-256 of the base weights it was trained on, and the
/// factors by key (`<path>.lora_A`, `<path>.lora_B`). Stored as a small safetensors file whose metadata holds
/// `format` = `transferkit-lora`, `base_sha256` and `config` (``LoRAConfig/json``), so several adapters can share one
/// base and be switched (``attach(to:baseSHA256:)``) without reloading it.
public struct LoRAAdapter {
    public var config: LoRAConfig
    /// SHA-256 of the base weights (the registry checkpoint) the adapter was trained on.
    public var baseSHA256: String
    /// The factors by key; every adapted path has a `lora_A` and a `lora_B`.
    public var tensors: [String: Tensor]

    public init(config: LoRAConfig, baseSHA256: String, tensors: [String: Tensor]) {
        self.config = config; self.baseSHA256 = baseSHA256; self.tensors = tensors
    }

    /// The adapter held by `model`'s LoRA layers now (copies of the factors).
    public static func extract(from model: Module, config: LoRAConfig, baseSHA256: String) throws(LoRAError) -> LoRAAdapter {
        let ps = LoRA.parameters(of: model)
        guard !ps.isEmpty else { throw .notAdapted }
        return LoRAAdapter(config: config, baseSHA256: baseSHA256,
                           tensors: Dictionary(ps.map { p in (p.0, withNoGrad { p.1.copy() }) }, uniquingKeysWith: { a, _ in a }))
    }

    /// The adapted module paths, sorted.
    public var paths: [String] {
        Set(tensors.keys.map { String($0.dropLast(".lora_A".count)) }).sorted()
    }

    /// Number of adapter parameters.
    public var parameterCount: Int { tensors.values.reduce(0) { $0 + $1.count } }

    static let format = "transferkit-lora"

    /// Writes the adapter to `path` (safetensors, F32).
    public func write(to path: String) throws {
        try SafeTensorsWriter.write(tensors, metadata: ["format": Self.format, "base_sha256": baseSHA256, "config": config.json], to: path)
    }

    /// Reads and checks an adapter file: safetensors with the metadata above, a valid config, every key a
    /// `lora_A`/`lora_B` pair of rank `config.rank`, every value finite.
    public static func read(_ path: String) throws -> LoRAAdapter {
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: path) } catch { throw LoRAError.badFile(file: path, reason: error.description) }
        guard file.metadata["format"] == format else {
            throw LoRAError.badFile(file: path, reason: "metadata format is \(file.metadata["format"].map { "\"\($0)\"" } ?? "absent"), expected \"\(format)\"")
        }
        guard let base = file.metadata["base_sha256"], base.count == 64 else {
            throw LoRAError.badFile(file: path, reason: "metadata base_sha256 is absent or not 64 hex digits")
        }
        let config: LoRAConfig
        do { config = try JSONDecoder().decode(LoRAConfig.self, from: Data((file.metadata["config"] ?? "").utf8)) } catch {
            throw LoRAError.badFile(file: path, reason: "metadata config is not a LoRA config: \(error)")
        }
        try config.validate()
        var tensors: [String: Tensor] = [:]
        for key in file.keys {
            guard LoRA.isAdapterKey(key) else { throw LoRAError.badFile(file: path, reason: "tensor '\(key)' is not a lora_A or lora_B factor") }
            let t: Tensor
            do { t = try file.tensor(key) } catch { throw LoRAError.badFile(file: path, reason: error.description) }
            guard t.toArray().allSatisfy(\.isFinite) else { throw LoRAError.badFile(file: path, reason: "tensor '\(key)' holds NaN or infinity") }
            let rankAxis = key.hasSuffix(".lora_A") ? 0 : 1
            guard t.rank >= 2, t.shape[rankAxis] == config.rank else {
                throw LoRAError.badFile(file: path, reason: "tensor '\(key)' has shape \(t.shape), not rank \(config.rank)")
            }
            tensors[key] = t
        }
        let adapter = LoRAAdapter(config: config, baseSHA256: base, tensors: tensors)
        guard !tensors.isEmpty else { throw LoRAError.badFile(file: path, reason: "it holds no tensors") }
        for p in adapter.paths where tensors[p + ".lora_A"] == nil || tensors[p + ".lora_B"] == nil {
            throw LoRAError.badFile(file: path, reason: "'\(p)' lacks its lora_A or lora_B")
        }
        return adapter
    }

    /// Puts this adapter on `model`, whose base weights hash to `baseSHA256`: any LoRA layers it holds are removed
    /// first (the base is not reloaded), the adapted paths are wrapped and the factors loaded.
    ///
    /// - Throws: ``LoRAError/baseMismatch(file:adapterBase:modelBase:)`` when the hashes differ (nothing changes), or
    ///   a surgery or state-dict error when the model lacks an adapted path or a shape differs.
    public func attach(to model: Module, baseSHA256 modelBase: String, file: String = "the adapter") throws {
        guard modelBase == baseSHA256 else { throw LoRAError.baseMismatch(file: file, adapterBase: baseSHA256, modelBase: modelBase) }
        try LoRA.remove(from: model)
        try LoRA.wrap(paths, in: model, config: config, seed: 0)
        let report = try model.load(tensors, strict: false)
        guard report.unexpected.isEmpty && report.mismatched.isEmpty else {
            var bad = report
            bad.missing = []
            throw LoRAError.badFile(file: file, reason: "it does not fit the model: \(bad)")
        }
    }
}
