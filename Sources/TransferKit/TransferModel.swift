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
    /// The adapter in the backbone (``Strategy/lora`` before a merge), saved beside the head.
    public var adapter: BackboneAdapter?

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
    /// Outputs `[kept.count, outputs]` for inputs (eval mode): class probabilities, label probabilities, or values
    /// (see ``readout(_:)``); unreadable inputs are reported in `failed`. While the backbone is the pretrained one
    /// (the features strategy) and ``featureCache`` is set, features come from the cache when present. The outputs
    /// are as computed: ``predictions(_:names:topK:)`` and ``evaluate(_:)`` refuse non-finite ones.
    public func predict(_ inputs: [LabeledInput]) -> (probabilities: Tensor, kept: [Int], failed: [(String, String)]) {
        eval()
        let r = backbone.features(inputs, cache: strategy == .features ? featureCache : nil)
        guard !r.kept.isEmpty else { return (Tensor.zeros([0, head.outputs]), [], r.failed) }
        let out = withNoGrad { readout(head(r.features)) }
        return (out, r.kept, r.failed)
    }

    /// What a user reads for each input: the `topK` most probable classes (classification; `topK` is clamped to
    /// 1…number of classes), every label by probability plus the labels at or above their tuned thresholds
    /// (multi-label), or the value in the target's units (regression). `names` are the inputs as the user gave them.
    /// Unreadable inputs, inputs whose outputs are NaN or infinite, and every input of a model without one label per
    /// output (``ModelOutputError``) are returned in `failed` with the reason; nothing non-finite is ever predicted.
    public func predictions(_ inputs: [LabeledInput], names: [String], topK: Int = 5) -> (predictions: [Prediction], failed: [(String, String)]) {
        precondition(names.count == inputs.count, "predictions: \(names.count) names for \(inputs.count) inputs")
        let (probs, kept, readFailures) = predict(inputs)
        var failed = readFailures
        let c = probs.rank == 2 ? probs.shape[1] : 0
        guard c == expectedOutputColumns else {
            let reason = ModelOutputError.outputsDoNotMatchLabels(outputs: c, labels: classNames.count).reason
            return ([], failed + kept.map { (names[$0], reason) })
        }
        let values = probs.toArray()
        var rows: [Float] = [], rowNames: [String] = []
        for (r, i) in kept.enumerated() {
            let row = values[(r * c)..<((r + 1) * c)]
            if row.allSatisfy(\.isFinite) {
                rows += row
                rowNames.append(names[i])
            } else {
                failed.append((names[i], ModelOutputError.nonFinite(inputs: [names[i]]).reason))
            }
        }
        let finite = Tensor(shape: [rowNames.count, c], data: rows)
        switch task {
        case .classification:
            return (TransferKit.topK(finite, k: Swift.max(1, Swift.min(topK, c)), labels: classNames, inputs: rowNames), failed)
        case .multiLabel:
            let th = thresholds.flatMap { $0.count == c ? $0 : nil } ?? [Float](repeating: 0.5, count: c)
            var out = TransferKit.topK(finite, k: c, labels: classNames, inputs: rowNames)
            for r in out.indices { out[r].labels = (0..<c).filter { rows[r * c + $0] >= th[$0] }.map { classNames[$0] } }
            return (out, failed)
        case .regression:
            return (rowNames.enumerated().map { Prediction(input: $1, top: [], value: rows[$0]) }, failed)
        }
    }
}
