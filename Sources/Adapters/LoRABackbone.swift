import Foundation
import Layers
import Tensors
import TransferKit

/// LoRA as the ``TransferKit/BackboneAdapter`` of the ``TransferKit/Strategy/lora`` strategy: attached to the
/// backbone before fine-tuning, written beside the head as `adapter.safetensors` (``LoRAAdapter``, naming the base
/// weights' SHA-256), and read back by ``loader``.
public final class LoRABackboneAdapter: BackboneAdapter {
    public let config: LoRAConfig
    /// Seeds the factors' initialisation and the adapters' dropout.
    public let seed: UInt64

    public init(config: LoRAConfig, seed: UInt64 = 0) {
        self.config = config; self.seed = seed
    }

    public func attach(to backbone: FeatureBackbone) throws -> [(String, Tensor)] {
        try LoRA.apply(config, to: backbone.module, seed: seed)
        return LoRA.parameters(of: backbone.module)
    }

    public func write(to file: URL, backbone: FeatureBackbone) throws {
        try LoRAAdapter.extract(from: backbone.module, config: config, baseSHA256: backbone.weightsSHA).write(to: file.path)
    }

    public var configuration: [String: String] {
        ["lora_rank": String(config.rank), "lora_alpha": String(config.alpha), "lora_dropout": String(config.dropout),
         "lora_targets": config.targets.joined(separator: ",")]
    }

    /// Reads a bundle's adapter file and attaches it to the backbone (refusing one trained on other base weights).
    public static func loader(_ file: URL, _ backbone: FeatureBackbone) throws -> BackboneAdapter {
        let adapter = try LoRAAdapter.read(file.path)
        try adapter.attach(to: backbone.module, baseSHA256: backbone.weightsSHA, file: file.path)
        return LoRABackboneAdapter(config: adapter.config)
    }

    /// The layers adapted when no targets are given. Text encoders: the query and value projections of every
    /// transformer layer (Hu et al. 2021, §7.1; PEFT's default for BERT). Image models: every ungrouped 1×1
    /// (pointwise) convolution of the block groups that fine-tuning unfreezes by default (EfficientNet-Lite: the
    /// expansion and projection convolutions of the last two stages, and the head convolution).
    public static func defaultTargets(for backbone: FeatureBackbone) -> [String] {
        if backbone.encoder is TextEncoder {
            return ["encoder.layer.*.attention.self.query", "encoder.layer.*.attention.self.value"]
        }
        let top = backbone.blockGroups.suffix(backbone.defaultUnfreeze)
        return backbone.module.namedModules().compactMap { path, m in
            guard let c = m as? Conv2d, c.groups == 1, c.weight.shape[2] == 1, c.weight.shape[3] == 1,
                  top.contains(where: { $0.contains(path + ".weight") }) else { return nil }
            return path
        }
    }
}

/// LoRA bundles: loading with the adapter attached, and merging into a plain bundle.
public enum LoRABundle {
    /// A bundle of any strategy; a LoRA bundle's adapter is attached (``LoRABackboneAdapter/loader``). An int8
    /// bundle needs `quantizationLoader` (see ``ModelBundle/load(_:backboneWeights:adapterLoader:quantizationLoader:)``).
    public static func load(_ directory: URL, backboneWeights: String,
                            quantizationLoader: BundleQuantizationLoader? = nil) throws -> TransferModel {
        try ModelBundle.load(directory, backboneWeights: backboneWeights, adapterLoader: LoRABackboneAdapter.loader(_:_:),
                             quantizationLoader: quantizationLoader)
    }

    /// Folds the adapter of the LoRA bundle at `directory` into the backbone's weights (`W += (α/r)·B·A`) and writes
    /// a bundle to `output` that holds the merged backbone and no adapter, so inference takes the fused and bf16 paths
    /// of the plain layers. The manifest keeps the training record, with `merged_from` added.
    ///
    /// - Throws: ``LoRAError/notAdapted`` for a bundle that holds no adapter (not LoRA, or merged already), and
    ///   ``LoRAError/invalidOption(field:value:accepted:)`` when `output` is `directory`.
    @discardableResult
    public static func merge(_ directory: URL, backboneWeights: String, output: URL) throws -> TransferModel {
        guard directory.standardizedFileURL.path != output.standardizedFileURL.path else {
            throw LoRAError.invalidOption(field: "output", value: output.path, accepted: "a directory other than the bundle being merged")
        }
        let manifest = try ModelBundle.manifest(at: directory)
        let model = try load(directory, backboneWeights: backboneWeights)
        guard model.strategy == .lora, model.adapter != nil else { throw LoRAError.notAdapted }
        try LoRA.mergeAndUnload(model.backbone.module)
        model.adapter = nil
        var training = manifest.training
        training["adapter_sha256"] = nil
        training["merged_from"] = directory.path
        try ModelBundle.save(model, to: output, training: training, metrics: manifest.metrics)
        return model
    }
}
