import Layers
import Tensors

/// LoRA on any ``Layers/Module`` tree through model surgery: wrap the target layers, merge, unmerge, unload
/// (Hu et al. 2021; PEFT `get_peft_model`, `merge_adapter`, `unmerge_adapter`, `merge_and_unload`).
public enum LoRA {
    /// Wraps every module matching one of `config.targets` in a ``LoRALinear`` or ``LoRAConv2d`` and freezes every
    /// other parameter of `model`, so only the adapters train. Returns the adapted paths in model order.
    ///
    /// Nothing changes when the config is invalid, a pattern matches nothing, a match is not a `Linear` or an
    /// ungrouped `Conv2d`, or the model already holds LoRA layers (``LoRAError``).
    @discardableResult
    public static func apply(_ config: LoRAConfig, to model: Module, seed: UInt64 = 0) throws -> [String] {
        let paths = try targets(config, in: model)
        try wrap(paths, in: model, config: config, seed: seed)
        return paths
    }

    /// The paths that ``apply(_:to:seed:)`` would adapt, in model order, or the error it would throw; `model` is not
    /// changed (check a config before a long run).
    public static func targets(_ config: LoRAConfig, in model: Module) throws -> [String] {
        try config.validate()
        let existing = layers(in: model).map(\.path)
        guard existing.isEmpty else { throw LoRAError.alreadyAdapted(paths: existing) }
        var found: [String] = []
        var seen = Set<String>()
        for pattern in config.targets {
            let matches = model.modules(matching: pattern)
            guard !matches.isEmpty else {
                throw LoRAError.noMatch(pattern: pattern, examples: Array(model.namedModules().map(\.0).filter { !$0.isEmpty }.prefix(6)))
            }
            for (path, module) in matches where seen.insert(path).inserted {
                guard module is Linear || (module as? Conv2d)?.groups == 1 else {
                    let what = (module as? Conv2d).map { "Conv2d with groups \($0.groups)" } ?? "\(type(of: module))"
                    throw LoRAError.unsupportedModule(path: path, type: what)
                }
                found.append(path)
            }
        }
        let order = Dictionary(model.namedModules().enumerated().map { ($1.0, $0) }, uniquingKeysWith: { a, _ in a })
        return found.sorted { (order[$0] ?? 0) < (order[$1] ?? 0) }
    }

    /// Wraps the modules at `paths` (each a `Linear` or an ungrouped `Conv2d`) and freezes all else. The factors
    /// are drawn after ``Layers/Initializer/seed(_:)`` with `seed`.
    static func wrap(_ paths: [String], in model: Module, config: LoRAConfig, seed: UInt64) throws {
        Initializer.seed(seed)
        var adapters: [(String, Module)] = []
        for (i, path) in paths.enumerated() {
            let module = try model.module(at: path)
            let s = seed &+ UInt64(i) &* 0x9E37_79B9
            switch module {
            case let l as Linear:
                adapters.append((path, LoRALinear(wrapping: l, rank: config.rank, alpha: config.alpha, dropout: config.dropout, seed: s)))
            case let c as Conv2d where c.groups == 1:
                adapters.append((path, LoRAConv2d(wrapping: c, rank: config.rank, alpha: config.alpha, dropout: config.dropout, seed: s)))
            default:
                throw LoRAError.unsupportedModule(path: path, type: "\(type(of: module))")
            }
        }
        for (path, adapter) in adapters { try model.replaceModule(at: path, with: adapter) }
        model.freeze(where: { !isAdapterKey($0) })
        model.unfreeze(where: isAdapterKey)
    }

    /// Whether a parameter key is a LoRA factor (`….lora_A`, `….lora_B`).
    public static func isAdapterKey(_ key: String) -> Bool { key.hasSuffix(".lora_A") || key.hasSuffix(".lora_B") }

    /// The LoRA layers of `model` with their paths.
    public static func layers(in model: Module) -> [(path: String, layer: any LoRALayer)] {
        model.namedModules().compactMap { path, m in (m as? any LoRALayer).map { (path, $0) } }
    }

    /// The adapters' parameters (`<path>.lora_A`, `<path>.lora_B`).
    public static func parameters(of model: Module) -> [(String, Tensor)] {
        model.namedParameters().filter { isAdapterKey($0.0) }
    }

    /// Adds every adapter's update to its base weight; the forward pass then runs the base layers alone.
    public static func merge(_ model: Module) { for (_, l) in layers(in: model) { l.merge() } }

    /// Subtracts every merged adapter's update from its base weight again.
    public static func unmerge(_ model: Module) { for (_, l) in layers(in: model) { l.unmerge() } }

    /// Merges every adapter and puts the base layers back in their slots, so the model is a plain model again whose
    /// fused and bf16 inference paths apply (PEFT `merge_and_unload`). Returns the paths merged.
    @discardableResult
    public static func mergeAndUnload(_ model: Module) throws -> [String] {
        let found = layers(in: model)
        guard !found.isEmpty else { throw LoRAError.notAdapted }
        for (_, l) in found { l.merge() }
        try unwrap(found, in: model)
        return found.map(\.path)
    }

    /// Puts the base layers back without merging: the model is the base model again (adapters discarded).
    public static func remove(from model: Module) throws {
        let found = layers(in: model)
        for (_, l) in found { l.unmerge() }
        try unwrap(found, in: model)
    }

    static func unwrap(_ found: [(path: String, layer: any LoRALayer)], in model: Module) throws {
        for (path, l) in found { try model.replaceModule(at: path, with: l.wrapped) }
    }
}
