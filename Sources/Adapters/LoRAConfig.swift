import Foundation

/// What a LoRA adapter is: its rank, scale, dropout and the layers it adapts (PEFT `LoraConfig`: `r`, `lora_alpha`,
/// `lora_dropout`, `target_modules`).
public struct LoRAConfig: Codable, Sendable, Equatable {
    /// The rank `r` of the update `B·A`.
    public var rank: Int
    /// `α`: the update is scaled by `α / r`.
    public var alpha: Float
    /// Dropout probability on each adapter's input in train mode.
    public var dropout: Float
    /// Key-path patterns of the layers to adapt (``Layers/Module/modules(matching:)``: dotted components, `*` standing
    /// for one component), e.g. `encoder.layer.*.attention.self.query`.
    public var targets: [String]

    public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0, targets: [String]) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.targets = targets
    }

    /// Ranks an adapter may have.
    public static let rankRange = 1...1024
    /// The largest α accepted.
    public static let maxAlpha: Float = 65_536

    /// `α / r`.
    public var scale: Float { alpha / Float(rank) }

    /// Refuses a rank outside ``rankRange``, an α that is not finite and in (0, ``maxAlpha``], a dropout outside
    /// [0, 1), and an empty or blank target list.
    public func validate() throws(LoRAError) {
        guard Self.rankRange.contains(rank) else {
            throw .invalidOption(field: "rank", value: "\(rank)", accepted: "a whole number in \(Self.rankRange.lowerBound)…\(Self.rankRange.upperBound)")
        }
        guard alpha > 0 && alpha <= Self.maxAlpha else {
            throw .invalidOption(field: "alpha", value: "\(alpha)", accepted: "a number in (0, \(Int(Self.maxAlpha))]")
        }
        guard dropout >= 0 && dropout < 1 else {
            throw .invalidOption(field: "dropout", value: "\(dropout)", accepted: "a probability in [0, 1)")
        }
        guard !targets.isEmpty else { throw .invalidOption(field: "targets", value: "[]", accepted: "at least one key-path pattern") }
        if let bad = targets.first(where: { $0.isEmpty || $0.split(separator: ".", omittingEmptySubsequences: false).contains("") }) {
            throw .invalidOption(field: "targets", value: "\"\(bad)\"", accepted: "dotted key paths without empty components, e.g. encoder.layer.*.attention.self.query")
        }
    }

    /// The config as compact JSON (the adapter file's metadata).
    public var json: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return (try? enc.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// Why a LoRA adapter cannot be made, attached, saved or read; every message names the option, path or file.
public enum LoRAError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A ``LoRAConfig`` field outside its accepted range.
    case invalidOption(field: String, value: String, accepted: String)
    /// A target pattern matches no module of the model; `examples` are some paths it has.
    case noMatch(pattern: String, examples: [String])
    /// A target names a module that LoRA does not adapt (only ``Layers/Linear`` and ungrouped ``Layers/Conv2d``).
    case unsupportedModule(path: String, type: String)
    /// The model already holds LoRA layers (remove or merge them first).
    case alreadyAdapted(paths: [String])
    /// The adapter was trained on other base weights.
    case baseMismatch(file: String, adapterBase: String, modelBase: String)
    /// The adapter file is not a LoRA adapter, or is damaged.
    case badFile(file: String, reason: String)
    /// The operation needs LoRA layers and the model has none.
    case notAdapted

    public var description: String {
        switch self {
        case let .invalidOption(field, value, accepted): "LoRA \(field) must be \(accepted) (received \(value))"
        case let .noMatch(pattern, examples):
            "LoRA target '\(pattern)' matches no module of the model (its module paths include: \(examples.joined(separator: ", ")))"
        case let .unsupportedModule(path, type):
            "LoRA target '\(path)' is a \(type): LoRA adapts Linear layers and ungrouped Conv2d layers"
        case let .alreadyAdapted(paths): "the model already holds LoRA layers at \(paths.prefix(3).joined(separator: ", "))\(paths.count > 3 ? ", …" : ""): remove or merge them first"
        case let .baseMismatch(file, a, m):
            "\(file) is an adapter for base weights \(a), but the model's base weights are \(m): load the base it was trained on"
        case let .badFile(file, reason): "\(file) is not a usable LoRA adapter: \(reason)"
        case .notAdapted: "the model holds no LoRA layers"
        }
    }
}
