import Foundation
import Layers
import Optimizers
import Tensors
import TransferKit

/// Knowledge distillation as a ``TransferKit/TrainingObjective`` of the ``TransferKit/Learner``: each training batch
/// gets its rows of the teacher's logits (``teacherLogits``, by dataset index: what ``TeacherOutputs`` computed once),
/// and the loss is ``KnowledgeDistillation/loss(student:teacher:labels:labelled:temperature:alpha:)``; rows whose
/// ``labelled`` flag is false learn from the teacher alone. With a ``hint`` the loss adds a FitNets hint on the
/// pooled features. Validation batches (no teacher rows) are scored by plain cross-entropy and accuracy.
public final class DistillationObjective: TrainingObjective {
    /// The batch tensor that carries the teacher's logits of the batch's rows.
    public static let teacherLogitsKey = "teacher_logits"
    /// The batch tensor that carries the teacher's pooled features of the batch's rows (for a hint).
    public static let teacherFeaturesKey = "teacher_features"

    public let temperature: Float
    public let alpha: Float
    /// `[N, classes]`: the teacher's logits of training row `i` (its dataset index).
    public let teacherLogits: Tensor
    /// Whether training row `i` has a label.
    public let labelled: [Bool]
    /// The optional FitNets hint (fine-tuning only: on frozen features it could not change the student).
    public let hint: FeatureHint?

    public init(teacherLogits: Tensor, labelled: [Bool], temperature: Float, alpha: Float, hint: FeatureHint? = nil) {
        precondition(teacherLogits.shape[0] == labelled.count, "DistillationObjective: \(teacherLogits.shape[0]) teacher rows, \(labelled.count) flags")
        self.teacherLogits = teacherLogits; self.labelled = labelled
        self.temperature = temperature; self.alpha = alpha; self.hint = hint
    }

    public func prepare(_ batch: Batch, training: Bool) -> Batch {
        guard training else { return batch }
        var b = batch
        b.tensors[Self.teacherLogitsKey] = teacherLogits.indexSelect(axis: 0, indices: batch.indices)
        if let hint { b.tensors[Self.teacherFeaturesKey] = hint.teacherFeatures.indexSelect(axis: 0, indices: batch.indices) }
        return b
    }

    public func outputs(_ batch: Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs {
        guard training, let hint else { return Outputs(forward(batch.inputs)) }
        let f = hint.studentFeatures(batch.inputs)
        return Outputs(hint.head(f), extra: ["features": f])
    }

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor {
        guard case .classes(let labels) = batch.targets else {
            preconditionFailure("DistillationObjective: the batch holds no class targets")
        }
        guard let teacher = batch.tensors[Self.teacherLogitsKey] else {
            return Tensor.crossEntropy(logits: outputs.primary, targets: labels)
        }
        var loss = KnowledgeDistillation.loss(student: outputs.primary, teacher: teacher, labels: labels,
                                              labelled: batch.indices.map { labelled[$0] }, temperature: temperature, alpha: alpha)
        if let hint, let f = outputs["features"], let t = batch.tensors[Self.teacherFeaturesKey] {
            loss = loss + hint.loss(studentFeatures: f, teacherFeatures: t)
        }
        return loss
    }
}

/// A FitNets hint (Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015) on pooled features: a learned
/// linear projection ("regressor") maps the student's features to the teacher's width and `weight · MSE` pulls them
/// to the teacher's (RepDistiller's `HintLoss` with a linear `ConvReg` on pooled maps). The projection trains beside
/// the student through ``optimizerCallback(learningRate:)``.
public final class FeatureHint {
    public let projection: Linear
    public let weight: Float
    /// `[N, teacherDimension]`: the teacher's pooled features of training row `i`.
    public let teacherFeatures: Tensor
    /// The student's differentiable pooled features of a batch.
    public let studentFeatures: (BatchInputs) -> Tensor
    /// The student's head (features → logits).
    public let head: Head

    public init(studentDimension: Int, teacherFeatures: Tensor, weight: Float, head: Head, seed: UInt64 = 0,
                studentFeatures: @escaping (BatchInputs) -> Tensor) {
        Initializer.seed(seed)
        projection = Linear(studentDimension, teacherFeatures.shape[1])
        self.teacherFeatures = teacherFeatures; self.weight = weight; self.head = head; self.studentFeatures = studentFeatures
    }

    /// `weight · mean((projection(student) − teacher)²)`.
    public func loss(studentFeatures f: Tensor, teacherFeatures t: Tensor) -> Tensor {
        Tensor.mseLoss(projection(f), t) * weight
    }

    /// A callback that steps an AdamW on the projection with every learner step.
    public func optimizerCallback(learningRate: Float) -> Callback {
        ExtraParametersStep(optimizer: AdamW(parameters: projection.namedParameters().map { ($0.0, $0.1) }, learningRate: learningRate))
    }
}

/// Trains parameters outside the learner's optimizer (an objective's own, e.g. a hint's projection): zeroes their
/// gradients before each backward pass and steps their optimizer after each learner step.
final class ExtraParametersStep: Callback {
    let optimizer: Optimizer
    init(optimizer: Optimizer) { self.optimizer = optimizer }
    override func on(_ event: LearnerEvent, learner: Learner) throws {
        switch event {
        case .beforeBackward: optimizer.zeroGrad()
        case .afterStep: optimizer.step()
        default: break
        }
    }
}
