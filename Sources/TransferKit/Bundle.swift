import Assets
import Checkpoints
import Datasets
import Foundation
import Layers
import Models
import Tensors

/// A trained model on disk: `NAME.transferkit/manifest.json` + `weights.safetensors`, loadable for prediction
/// without the training data.
public struct ModelBundle {
    public static let formatVersion = 1

    public struct Manifest: Codable, Sendable {
        public var formatVersion: Int
        public var toolVersion: String
        public var createdAt: String
        public var backbone: String
        public var backboneWeightsSha256: String
        public var task: String
        public var strategy: String
        public var head: String
        public var headInputs: Int
        public var headOutputs: Int
        public var headHidden: Int
        public var labels: [String]
        /// Per-class decision thresholds (multi-label).
        public var thresholds: [Float]?
        /// Target standardisation (regression): predictions are `output · std + mean`.
        public var targetScaling: TargetScaling?
        public var preprocessing: ImagePreprocessing?
        public var weightsSha256: String
        /// Whether weights.safetensors holds the fine-tuned backbone too (else the registry's weights are used).
        public var includesBackbone: Bool
        public var training: [String: String]
        public var metrics: [String: Double]
        /// The inference precision of training (``Tensors/Precision``): the features the head learned from. Absent
        /// (fp32) in bundles written before bf16 existed.
        public var precision: String?
    }

    public enum BundleError: Error, CustomStringConvertible {
        case notABundle(String)
        case formatVersion(found: Int, supported: Int, path: String)
        case weightsHash(path: String, expected: String, actual: String)
        case backboneHash(model: String, expected: String, actual: String)
        case unknownValue(path: String, key: String, value: String)

        public var description: String {
            switch self {
            case .notABundle(let p): "\(p) is not a TransferKit bundle (no readable manifest.json)"
            case .formatVersion(let f, let s, let p): "\(p) has bundle format \(f); this TransferKit reads format \(s)"
            case .weightsHash(let p, let e, let a): "\(p)/weights.safetensors has SHA-256 \(a), the manifest says \(e): the bundle is damaged"
            case .backboneHash(let m, let e, let a): "the bundle was trained on \(m) weights \(e), but the cached weights are \(a)"
            case .unknownValue(let p, let k, let v): "\(p)/manifest.json: unknown \(k) '\(v)'"
            }
        }
    }

    /// Writes `model` to `directory` (created; files replaced atomically).
    public static func save(_ model: TransferModel, to directory: URL, training: [String: String], metrics: [String: Double]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var tensors: [String: Tensor] = [:]
        for (k, t) in model.head.stateDict() { tensors["head." + k] = t }
        let includesBackbone = model.strategy != .features
        if includesBackbone { for (k, t) in model.backbone.module.stateDict() { tensors["backbone." + k] = t } }
        let weights = directory.appendingPathComponent("weights.safetensors")
        try SafeTensorsWriter.write(tensors, metadata: ["format": "transferkit-bundle"], to: weights.path)
        let manifest = Manifest(
            formatVersion: formatVersion, toolVersion: TransferKitVersion.string, createdAt: ISO8601DateFormatter().string(from: Date()),
            backbone: model.backbone.spec.name, backboneWeightsSha256: model.backbone.weightsSHA, task: model.task.reportName,
            strategy: model.strategy.rawValue, head: model.head.kind.rawValue, headInputs: model.head.inputs,
            headOutputs: model.head.outputs, headHidden: model.head.hidden, labels: model.classNames,
            thresholds: model.thresholds, targetScaling: model.scaling,
            preprocessing: model.backbone.spec.preprocessing, weightsSha256: try SHA256.hex(fileAt: weights.path),
            includesBackbone: includesBackbone, training: training, metrics: metrics, precision: Precision.current.rawValue)
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(manifest).write(to: directory.appendingPathComponent("manifest.json"), options: .atomic)
    }

    public static func manifest(at directory: URL) throws -> Manifest {
        guard let d = try? Data(contentsOf: directory.appendingPathComponent("manifest.json")) else { throw BundleError.notABundle(directory.path) }
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        let m: Manifest
        do { m = try dec.decode(Manifest.self, from: d) } catch { throw BundleError.notABundle(directory.path) }
        guard m.formatVersion == formatVersion else { throw BundleError.formatVersion(found: m.formatVersion, supported: formatVersion, path: directory.path) }
        return m
    }

    /// Loads a bundle; `backboneWeights` is the registry model's weights path (fetched by the caller).
    public static func load(_ directory: URL, backboneWeights: String) throws -> TransferModel {
        let m = try manifest(at: directory)
        let weights = directory.appendingPathComponent("weights.safetensors")
        let actual = try SHA256.hex(fileAt: weights.path)
        guard actual == m.weightsSha256 else { throw BundleError.weightsHash(path: directory.path, expected: m.weightsSha256, actual: actual) }
        let spec = try ModelRegistry.spec(named: m.backbone)
        let backbone = try FeatureBackbone(spec: spec, weightsPath: backboneWeights)
        if !m.includesBackbone && backbone.weightsSHA != m.backboneWeightsSha256 {
            throw BundleError.backboneHash(model: m.backbone, expected: m.backboneWeightsSha256, actual: backbone.weightsSHA)
        }
        guard let kind = HeadKind(rawValue: m.head) else { throw BundleError.unknownValue(path: directory.path, key: "head", value: m.head) }
        guard let task = TaskKind(reportName: m.task) else { throw BundleError.unknownValue(path: directory.path, key: "task", value: m.task) }
        guard let strategy = Strategy(rawValue: m.strategy) else { throw BundleError.unknownValue(path: directory.path, key: "strategy", value: m.strategy) }
        let head = Head(kind, inputs: m.headInputs, outputs: m.headOutputs, hidden: m.headHidden)
        let model = TransferModel(backbone: backbone, head: head, task: task, classNames: m.labels, strategy: strategy,
                                  thresholds: m.thresholds, scaling: m.targetScaling)
        let all = try SafeTensorsFile(path: weights.path).tensors()
        var headState: [String: Tensor] = [:], backboneState: [String: Tensor] = [:]
        for (k, t) in all {
            if k.hasPrefix("head.") { headState[String(k.dropFirst(5))] = t } else if k.hasPrefix("backbone.") { backboneState[String(k.dropFirst(9))] = t }
        }
        try head.load(headState)
        if m.includesBackbone { try backbone.module.load(backboneState) }
        model.eval()
        return model
    }
}

extension TaskKind {
    /// The name in manifests and metrics reports: classification, multilabel, regression.
    public var reportName: String {
        switch self {
        case .classification: "classification"
        case .multiLabel: "multilabel"
        case .regression: "regression"
        }
    }

    public init?(reportName: String) {
        guard let t = [TaskKind.classification, .multiLabel, .regression].first(where: { $0.reportName == reportName }) else { return nil }
        self = t
    }
}

extension TransferModel {
    /// Outputs `[kept.count, outputs]` for inputs (eval mode): class probabilities, label probabilities, or values
    /// (see ``readout(_:)``); unreadable inputs are reported in `failed`. While the backbone is the pretrained one
    /// (the features strategy) and ``featureCache`` is set, features come from the cache when present.
    public func predict(_ inputs: [LabeledInput]) -> (probabilities: Tensor, kept: [Int], failed: [(String, String)]) {
        eval()
        let r = backbone.features(inputs, cache: strategy == .features ? featureCache : nil)
        guard !r.kept.isEmpty else { return (Tensor.zeros([0, head.outputs]), [], r.failed) }
        let out = withNoGrad { readout(head(r.features)) }
        return (out, r.kept, r.failed)
    }
}
