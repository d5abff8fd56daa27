import Assets
import Checkpoints
import Foundation
import Layers
import Models
import Tensors
import TransferKit

/// A frozen backbone with one head per task: what a multi-task bundle holds and `transfer predict` runs.
public final class MultiTaskModel {
    public let backbone: FeatureBackbone
    public let heads: MultiTaskHeads
    /// Features come from (and go to) this cache when set (the backbone is the pretrained one).
    public var featureCache: FeatureCache?

    public init(backbone: FeatureBackbone, heads: MultiTaskHeads) {
        self.backbone = backbone; self.heads = heads
    }

    /// One task's answer for one input.
    public struct Answer: Codable, Sendable, Equatable {
        /// Classification: the most probable class; multi-label: the labels at or above 0.5.
        public var label: String?
        public var labels: [String]?
        /// Probability by class or label.
        public var probabilities: [String: Float]?
        /// Regression: the value in the target's units.
        public var value: Float?
    }

    /// Every task's answer for each input that could be read (keyed by task name), and the failures.
    public func predict(_ inputs: [LabeledInput]) -> (answers: [(input: Int, tasks: [String: Answer])], failed: [(String, String)]) {
        let r = backbone.features(inputs, cache: featureCache)
        guard !r.kept.isEmpty else { return ([], r.failed) }
        heads.eval()
        let outs = withNoGrad { heads(r.features) }
        var answers: [(input: Int, tasks: [String: Answer])] = r.kept.map { ($0, [:]) }
        for (t, out) in zip(heads.tasks, outs) {
            let v = out.toArray(), k = t.outputs
            for row in answers.indices {
                let x = Array(v[(row * k)..<((row + 1) * k)])
                var a = Answer()
                switch t.spec.kind {
                case .classification:
                    let m = x.max() ?? 0, e = x.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                    let p = e.map { $0 / z }
                    a.probabilities = Dictionary(uniqueKeysWithValues: zip(t.labels, p))
                    a.label = p.indices.max { p[$0] < p[$1] }.map { t.labels[$0] }
                case .multilabel:
                    let p = x.map { 1 / (1 + Foundation.exp(-$0)) }
                    a.probabilities = Dictionary(uniqueKeysWithValues: zip(t.labels, p))
                    a.labels = zip(t.labels, p).filter { $0.1 >= 0.5 }.map(\.0)
                case .regression:
                    let s = t.scaling ?? TargetScaling(mean: 0, std: 1)
                    a.value = x[0] * s.std + s.mean
                }
                answers[row].tasks[t.spec.name] = a
            }
        }
        return (answers, r.failed)
    }

    /// Scores on labelled data (each task on its labelled samples).
    public func evaluate(_ data: MultiTaskData) -> [TaskScore] {
        let r = backbone.features(data.inputs, cache: featureCache)
        heads.eval()
        let outs = withNoGrad { Tensor.concat(heads(r.features), axis: 1) }
        return MultiTaskScores.compute(outputs: outs, targets: MultiTaskData.targetMatrix(data, rows: r.kept), tasks: heads.tasks)
    }
}

/// A multi-task bundle: `multitask.json` (format, backbone and the SHA-256 of its weights, every task with its labels
/// and target scaling, the weighting, the SHA-256 of the weights file, training record and metrics) and
/// `weights.safetensors` (every head, `log_var` under uncertainty weighting).
public enum MultiTaskBundle {
    public static let manifestName = "multitask.json"
    public static let format = "transferkit-multitask"

    public struct Manifest: Codable, Sendable, Equatable {
        public var format: String
        public var formatVersion: Int
        public var backbone: String
        public var backboneWeightsSha256: String
        public var tasks: [TaskHead]
        public var weighting: LossWeighting
        public var weightsSha256: String
        public var training: [String: String]
        public var metrics: [String: Double]
    }

    /// Whether `directory` holds a multi-task bundle (and not a single-task bundle written over one).
    public static func isBundle(_ directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(manifestName).path)
            && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("manifest.json").path)
    }

    public static func save(_ model: MultiTaskModel, weighting: LossWeighting, to directory: URL, training: [String: String],
                            metrics: [String: Double]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A single-task bundle's files in the same directory would be read instead of this one.
        for stale in ["manifest.json", ModelBundle.adapterFileName] { try? FileManager.default.removeItem(at: directory.appendingPathComponent(stale)) }
        let weights = directory.appendingPathComponent("weights.safetensors")
        try SafeTensorsWriter.write(Dictionary(uniqueKeysWithValues: model.heads.stateDict().map { ($0.key, $0.tensor) }),
                                    metadata: ["format": format], to: weights.path)
        let m = Manifest(format: format, formatVersion: 1, backbone: model.backbone.spec.name, backboneWeightsSha256: model.backbone.weightsSHA,
                         tasks: model.heads.tasks, weighting: weighting, weightsSha256: try SHA256.hex(fileAt: weights.path),
                         training: training, metrics: metrics.filter { $0.value.isFinite })
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(m).write(to: directory.appendingPathComponent(manifestName), options: .atomic)
    }

    /// The manifest of the bundle at `directory`, decoded and checked (format, tasks).
    public static func manifest(at directory: URL) throws -> Manifest {
        let path = directory.appendingPathComponent(manifestName).path
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw MultiTaskError.invalidBundle(path: path, reason: "cannot be read: \((error as NSError).localizedDescription)")
        }
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        let m: Manifest
        do { m = try dec.decode(Manifest.self, from: data) } catch {
            throw MultiTaskError.invalidBundle(path: path, reason: "not a multi-task manifest: \(error)")
        }
        guard m.format == format, m.formatVersion == 1 else {
            throw MultiTaskError.invalidBundle(path: path, reason: "format \(m.format) version \(m.formatVersion); this TransferKit reads \(format) version 1")
        }
        try MultiTaskSpec(tasks: m.tasks.map(\.spec)).validate(file: path)
        for t in m.tasks where t.outputs < 1 || (t.spec.kind == .regression) != (t.scaling != nil) {
            throw MultiTaskError.invalidBundle(path: path, reason: "task \(t.spec.name): labels or target scaling do not fit its kind")
        }
        return m
    }

    /// Loads the bundle with the registry backbone's weights at `backboneWeights`, refusing other base weights and
    /// a weights file whose hash, keys or shapes differ from the manifest's.
    public static func load(_ directory: URL, backboneWeights: String) throws -> MultiTaskModel {
        let m = try manifest(at: directory)
        let weights = directory.appendingPathComponent("weights.safetensors").path
        let actual = try SHA256.hex(fileAt: weights)
        guard actual == m.weightsSha256 else {
            throw MultiTaskError.invalidBundle(path: weights, reason: "SHA-256 \(actual), the manifest says \(m.weightsSha256): the bundle is damaged")
        }
        let backbone = try FeatureBackbone(spec: try ModelRegistry.spec(named: m.backbone), weightsPath: backboneWeights)
        guard backbone.weightsSHA == m.backboneWeightsSha256 else {
            throw MultiTaskError.invalidBundle(path: directory.path, reason: "trained on \(m.backbone) weights \(m.backboneWeightsSha256), the cached weights are \(backbone.weightsSHA)")
        }
        let heads = MultiTaskHeads(tasks: m.tasks, inputs: backbone.dimension, weighting: m.weighting)
        do { try heads.load(try SafeTensorsFile(path: weights).tensors()) } catch {
            throw MultiTaskError.invalidBundle(path: weights, reason: "\(error)")
        }
        for (key, t) in heads.stateDict() where !t.toArray().allSatisfy(\.isFinite) {
            throw MultiTaskError.invalidBundle(path: weights, reason: "tensor '\(key)' holds NaN or infinity")
        }
        let model = MultiTaskModel(backbone: backbone, heads: heads)
        model.featureCache = backbone.featureCache(root: AssetStore.cacheRoot.appendingPathComponent("features"))
        return model
    }
}
