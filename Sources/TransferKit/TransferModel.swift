import Datasets
import Layers
import Tensors

/// A backbone plus a trained head: what a bundle stores and `predict` runs.
public final class TransferModel: Module {
    public let backbone: FeatureBackbone
    public let head: Head
    public let task: TaskKind
    /// Class names (classification, multi-label) or the target's name (regression).
    public let classNames: [String]
    public let strategy: Strategy
    /// Per-class decision thresholds of a multi-label model (tuned on validation data).
    public internal(set) var thresholds: [Float]?
    /// The standardisation of a regression model's targets.
    public let scaling: TargetScaling?
    /// Used by `predict` while the backbone is the pretrained one (the features strategy).
    public var featureCache: FeatureCache?

    public init(backbone: FeatureBackbone, head: Head, task: TaskKind, classNames: [String], strategy: Strategy,
                thresholds: [Float]? = nil, scaling: TargetScaling? = nil) {
        self.backbone = backbone; self.head = head; self.task = task; self.classNames = classNames; self.strategy = strategy
        self.thresholds = thresholds; self.scaling = scaling
        super.init()
        child("backbone", backbone.module)
        child("head", head)
    }

    /// Head outputs → what a user reads: class probabilities (softmax), label probabilities (sigmoid), or values
    /// in the target's units.
    public func readout(_ logits: Tensor) -> Tensor {
        switch task {
        case .classification: logits.softmax(axis: 1)
        case .multiLabel: logits.sigmoid()
        case .regression: logits * (scaling?.std ?? 1) + (scaling?.mean ?? 0)
        }
    }
}


extension TransferModel {
    /// What a user reads for each input: the `topK` most probable classes (classification), every label by
    /// probability plus the labels at or above their tuned thresholds (multi-label), or the value in the target's
    /// units (regression). `names` are the inputs as the user gave them; unreadable inputs are returned in `failed`.
    public func predictions(_ inputs: [LabeledInput], names: [String], topK: Int = 5) -> (predictions: [Prediction], failed: [(String, String)]) {
        precondition(names.count == inputs.count, "predictions: \(names.count) names for \(inputs.count) inputs")
        let (probs, kept, failed) = predict(inputs)
        let keptNames = kept.map { names[$0] }
        switch task {
        case .classification:
            return (TransferKit.topK(probs, k: Swift.max(1, Swift.min(topK, classNames.count)), labels: classNames, inputs: keptNames), failed)
        case .multiLabel:
            let c = classNames.count, p = probs.toArray(), th = thresholds ?? [Float](repeating: 0.5, count: c)
            var out = TransferKit.topK(probs, k: c, labels: classNames, inputs: keptNames)
            for r in out.indices { out[r].labels = (0..<c).filter { p[r * c + $0] >= th[$0] }.map { classNames[$0] } }
            return (out, failed)
        case .regression:
            let v = probs.toArray()
            return (keptNames.enumerated().map { Prediction(input: $1, top: [], value: v[$0]) }, failed)
        }
    }
}
