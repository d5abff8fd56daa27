import Datasets
import Foundation
import Tensors

/// The named outputs of one forward pass. ``primary`` (key `"output"`) is what metrics and predictions read:
/// logits for classification, values for regression. Objectives add what their losses need (`"features"`,
/// `"domain_logits"`, a second view's logits, …).
public struct Outputs {
    public static let primaryKey = "output"
    public var named: [String: Tensor]

    public init(_ primary: Tensor, extra: [String: Tensor] = [:]) {
        named = extra
        named[Self.primaryKey] = primary
    }

    /// The output metrics and predictions read.
    public var primary: Tensor {
        get { named[Self.primaryKey]! }
        set { named[Self.primaryKey] = newValue }
    }

    public subscript(_ name: String) -> Tensor? {
        get { named[name] }
        set { named[name] = newValue }
    }
}

/// What a training step computes: outputs from the model and a batch, then a scalar loss from those outputs and the
/// batch (fastai's `loss_func` with the forward pass made explicit, so a technique can run the model on several
/// streams, views or mixed inputs).
///
/// The ``Learner`` runs, for each training batch: ``prepare(_:training:)`` (e.g. mix the batch) →
/// ``outputs(_:forward:training:)`` → ``LearnerEvent/afterPred`` → ``loss(_:batch:)`` → ``LearnerEvent/afterLoss`` →
/// backward. Validation calls the same methods with `training == false` and scores the primary output with
/// ``metric(_:targets:)``.
public protocol TrainingObjective: AnyObject {
    /// The batch the step trains on; the default returns it unchanged.
    func prepare(_ batch: Batch, training: Bool) -> Batch
    /// Named outputs of a batch; `forward` is the learner's prediction function (inputs → primary output).
    func outputs(_ batch: Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs
    /// The scalar loss of a batch's outputs.
    func loss(_ outputs: Outputs, batch: Batch) -> Tensor
    /// The validation metric of concatenated primary outputs, higher is better.
    func metric(_ outputs: Tensor, targets: Targets) -> Float
}

extension TrainingObjective {
    public func prepare(_ batch: Batch, training: Bool) -> Batch { batch }
    public func outputs(_ batch: Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs {
        Outputs(forward(batch.inputs))
    }
    public func metric(_ outputs: Tensor, targets: Targets) -> Float { ClassificationObjective.accuracy(outputs, targets) }
}

/// Softmax classification: cross-entropy against class indices (with optional label smoothing) or against soft
/// class distributions (`−Σ t·log softmax(x)`, averaged over rows); accuracy as the metric.
public final class ClassificationObjective: TrainingObjective {
    public let labelSmoothing: Float
    public init(labelSmoothing: Float = 0) {
        precondition((0...1).contains(labelSmoothing), "labelSmoothing \(labelSmoothing) outside [0, 1]")
        self.labelSmoothing = labelSmoothing
    }

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor {
        switch batch.targets {
        case .classes(let c): Tensor.crossEntropy(logits: outputs.primary, targets: c, labelSmoothing: labelSmoothing)
        case .soft(let t): Self.softCrossEntropy(logits: outputs.primary, targets: t)
        case .multiHot, .values: preconditionFailure("ClassificationObjective: the batch holds multi-label or regression targets")
        }
    }

    /// `−Σ_c t[n, c] · log softmax(x)[n, c]`, averaged over the rows (PyTorch `F.cross_entropy` with probability
    /// targets).
    public static func softCrossEntropy(logits: Tensor, targets: Tensor) -> Tensor {
        require(logits.shape == targets.shape, "softCrossEntropy: logits \(logits.shape) vs targets \(targets.shape)")
        return -(targets * logits.logSoftmax(axis: 1)).sum() / Float(Swift.max(logits.shape[0], 1))
    }

    /// Fraction of rows whose argmax is the target class (or the soft target's most likely class).
    public static func accuracy(_ outputs: Tensor, _ targets: Targets) -> Float {
        let truth: [Int]
        switch targets {
        case .classes(let c): truth = c
        case .soft(let t): truth = t.argmax(axis: 1)
        case .multiHot, .values: return .nan
        }
        guard !truth.isEmpty else { return .nan }
        let pred = outputs.argmax(axis: 1)
        return Float(zip(pred, truth).filter { $0 == $1 }.count) / Float(truth.count)
    }
}

/// Multi-label classification: binary cross-entropy with logits on multi-hot targets; micro-F1 at 0.5 as the metric.
public final class MultiLabelObjective: TrainingObjective {
    public init() {}

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor {
        guard let m = batch.targets.multiHot else { preconditionFailure("MultiLabelObjective: the batch holds no multi-hot targets") }
        return Tensor.binaryCrossEntropyWithLogits(logits: outputs.primary, targets: m)
    }

    public func metric(_ outputs: Tensor, targets: Targets) -> Float {
        guard let m = targets.multiHot else { return .nan }
        return Float(MultiLabelMetrics(logits: outputs, targets: m, labels: (0..<m.shape[1]).map(String.init)).microF1)
    }
}

/// Regression on (standardised) values: MSE or Huber; −MAE as the metric (higher is better).
public final class RegressionObjective: TrainingObjective {
    public let lossKind: RegressionLoss
    public init(loss: RegressionLoss = .mse) { lossKind = loss }

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor {
        guard case .values(let v) = batch.targets else { preconditionFailure("RegressionObjective: the batch holds no values") }
        switch lossKind {
        case .mse: return Tensor.mseLoss(outputs.primary, v)
        case .huber: return Tensor.huberLoss(outputs.primary, v)
        }
    }

    public func metric(_ outputs: Tensor, targets: Targets) -> Float {
        guard case .values(let v) = targets else { return .nan }
        return -Float(RegressionMetrics(predictions: outputs, targets: v).mae)
    }
}

extension TaskKind {
    /// The stock objective of this task.
    public func objective(regressionLoss: RegressionLoss = .mse, labelSmoothing: Float = 0) -> TrainingObjective {
        switch self {
        case .classification: ClassificationObjective(labelSmoothing: labelSmoothing)
        case .multiLabel: MultiLabelObjective()
        case .regression: RegressionObjective(loss: regressionLoss)
        }
    }
}
