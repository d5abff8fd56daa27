import Datasets
import Foundation
import Models
import Tensors

extension ModelBundle {
    /// What a checked manifest means: its registry backbone and its typed task, strategy, head and precision.
    public struct Interpretation: Sendable {
        public let spec: ModelSpec
        public let task: TaskKind
        public let strategy: Strategy
        public let head: HeadKind
        public let precision: Precision?
    }

    /// The most labels (classes) a bundle may have.
    public static let maxLabels = 100_000
    /// The widest MLP hidden layer a bundle may have.
    public static let maxHidden = 16_384

    /// Checks every field of `manifest` against the format and the registry, with no file access and no weights:
    /// `format_version`; `backbone` known to ``Models/ModelRegistry``; `head`, `task`, `strategy` and `precision` among
    /// their names; `head_inputs` equal to the backbone's feature dimension; `head_outputs` equal to the number of
    /// labels (classification, multi-label) or 1 (regression); `head_hidden` in 1…``maxHidden``; `labels` unique, at
    /// least two for classification and one for multi-label, at most one (the target's name) for regression;
    /// `thresholds` (multi-label only) one per label, each in [0, 1]; `target_scaling` (regression only, required)
    /// finite with std > 0; `preprocessing` equal to the backbone's, or the same at the input size `training.input_size` records; `includes_backbone` true exactly when the
    /// strategy trains the backbone; hashes as 64 lowercase hex digits. Throws the first fault found, naming `file`,
    /// the key, the value and what is accepted.
    public static func validate(_ m: Manifest, file: String) throws(BundleError) -> Interpretation {
        func invalid(_ key: String, _ value: String, _ accepted: String) -> BundleError {
            .invalidValue(file: file, key: key, value: value, accepted: accepted)
        }
        guard m.formatVersion == formatVersion else { throw .formatVersion(file: file, found: m.formatVersion, supported: formatVersion) }
        var spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: m.backbone) } catch {
            throw invalid("backbone", ManifestText.quote(m.backbone), "a registry model: \(ModelRegistry.names.joined(separator: ", "))")
        }
        guard spec.name == m.backbone else { throw invalid("backbone", ManifestText.quote(m.backbone), "\"\(spec.name)\" as the registry spells it") }
        guard let task = TaskKind(reportName: m.task) else {
            throw invalid("task", ManifestText.quote(m.task), "classification, multilabel, regression")
        }
        guard let strategy = Strategy(rawValue: m.strategy) else {
            throw invalid("strategy", ManifestText.quote(m.strategy), Strategy.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let head = HeadKind(rawValue: m.head) else {
            throw invalid("head", ManifestText.quote(m.head), HeadKind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var precision: Precision?
        if let p = m.precision {
            guard let known = Precision(rawValue: p) else {
                throw invalid("precision", ManifestText.quote(p), Precision.allCases.map(\.rawValue).joined(separator: ", ") + " or null")
            }
            precision = known
        }
        for (key, value) in [("weights_sha256", m.weightsSha256), ("backbone_weights_sha256", m.backboneWeightsSha256),
                             ("manifest_sha256", m.manifestSha256)] where !isSHA256Hex(value) {
            throw invalid(key, ManifestText.quote(value), "64 lowercase hexadecimal digits")
        }
        if let dimension = BackboneFeatures.dimension(of: spec) {
            guard m.headInputs == dimension else {
                throw invalid("head_inputs", "\(m.headInputs)", "\(dimension), the feature dimension of \(spec.name)")
            }
        } else {
            guard (1...maxHidden).contains(m.headInputs) else { throw invalid("head_inputs", "\(m.headInputs)", "1…\(maxHidden)") }
        }
        guard (1...maxHidden).contains(m.headHidden) else { throw invalid("head_hidden", "\(m.headHidden)", "1…\(maxHidden)") }

        // Labels, then the outputs they name.
        let minLabels = switch task {
        case .classification: 2
        case .multiLabel: 1
        case .regression: 0
        }
        let maxLabelCount = task == .regression ? 1 : maxLabels
        guard (minLabels...maxLabelCount).contains(m.labels.count) else {
            throw invalid("labels", "\(m.labels.count) labels", "\(minLabels)…\(maxLabelCount) labels for \(m.task)")
        }
        var seen = Set<String>()
        for (i, l) in m.labels.enumerated() {
            guard seen.insert(l).inserted else {
                throw invalid("labels[\(i)]", ManifestText.quote(l) + ", a repeat of an earlier label", "unique labels")
            }
        }
        let outputs = task == .regression ? 1 : m.labels.count
        guard m.headOutputs == outputs else {
            let why = task == .regression ? "1 for regression" : "\(outputs), one per label (labels has \(m.labels.count))"
            throw invalid("head_outputs", "\(m.headOutputs)", why)
        }

        if let t = m.thresholds {
            guard task == .multiLabel else { throw invalid("thresholds", "an array of \(t.count)", "null or absent for \(m.task)") }
            guard t.count == m.labels.count else {
                throw invalid("thresholds", "an array of \(t.count)", "\(m.labels.count) values, one per label")
            }
            for (i, v) in t.enumerated() where !(v.isFinite && v >= 0 && v <= 1) {
                throw invalid("thresholds[\(i)]", "\(v)", "a number in [0, 1]")
            }
        }
        if let s = m.targetScaling {
            guard task == .regression else { throw invalid("target_scaling", "an object", "null or absent for \(m.task)") }
            guard s.mean.isFinite else { throw invalid("target_scaling.mean", "\(s.mean)", "a finite number") }
            guard s.std.isFinite && s.std > 0 else { throw invalid("target_scaling.std", "\(s.std)", "a finite number > 0") }
        } else if task == .regression {
            throw .missingKey(file: file, key: "target_scaling")
        }
        // A vision model may have been trained at another input size (``Models/ModelSpec/resized(to:)``), which its
        // run records as `training.input_size`: same normalisation and interpolation, a size in range, a resize no
        // smaller than the crop. Without that record the registry's preprocessing is required.
        if let p = m.preprocessing, let own = spec.preprocessing, p != own, m.training["input_size"] == String(p.inputSize),
           p.normalization == own.normalization,
           p.interpolation == own.interpolation, ModelSpec.inputSizeRange.contains(p.inputSize),
           p.resizeShorterTo >= p.inputSize, p.resizeShorterTo <= 4 * p.inputSize {
            spec = spec.with(preprocessing: p)
        }
        guard m.preprocessing == spec.preprocessing else {
            let expected = spec.preprocessing.map { "\(spec.name)'s: input_size \($0.inputSize), resize_shorter_to \($0.resizeShorterTo), normalization \($0.normalization.rawValue), interpolation \($0.interpolation)" }
                ?? "null for the text model \(spec.name)"
            let found = m.preprocessing.map { "input_size \($0.inputSize), resize_shorter_to \($0.resizeShorterTo), normalization \($0.normalization.rawValue), interpolation \(ManifestText.quote($0.interpolation))" } ?? "null"
            throw invalid("preprocessing", found, expected)
        }
        let adapted = m.training[ModelBundle.adaptedBackboneKey] == "true"
        // A LoRA bundle holds the adapter beside the head, or (merged) the backbone with the adapter folded in.
        let trainsBackbone = strategy.trainsBackboneWeights || adapted
        guard m.includesBackbone == trainsBackbone || strategy == .lora else {
            throw invalid("includes_backbone", "\(m.includesBackbone)",
                          "\(trainsBackbone) for strategy \(m.strategy)" + (adapted ? " with an adapted backbone" : ""))
        }
        return Interpretation(spec: spec, task: task, strategy: strategy, head: head, precision: precision)
    }

    static func isSHA256Hex(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// Feature dimensions of registry backbones, known without building them.
public enum BackboneFeatures {
    /// The pooled feature length of `spec`'s backbone, or nil for a model this table does not know (then the loaded
    /// backbone is the only check).
    public static func dimension(of spec: ModelSpec) -> Int? {
        switch spec.name {
        case "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2": EfficientNetLite.headChannels
        case "mobilenet-v2": MobileNetV2.lastChannels
        case "resnet18": 512 * ResNet.Depth.resnet18.expansion
        case "resnet34": 512 * ResNet.Depth.resnet34.expansion
        case "resnet50": 512 * ResNet.Depth.resnet50.expansion
        case "minilm-l6", "minilm-l3": 384
        default: nil
        }
    }
}
