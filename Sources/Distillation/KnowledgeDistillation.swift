import Foundation
import Tensors
import TransferKit

/// The losses of knowledge distillation (Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network",
/// 2015; the `DistillKL` of RepDistiller and mdistiller's `kd_loss`).
public enum KnowledgeDistillation {
    /// `T² · KL(softmax(teacher / T) ‖ softmax(student / T))` per row, `[N]`: the soft-target loss, scaled by T² so
    /// that its gradients keep their size as T changes (Hinton et al. §2). `teacher` is a constant (no gradient).
    public static func softTargetLoss(student: Tensor, teacher: Tensor, temperature: Float) -> Tensor {
        precondition(student.shape == teacher.shape, "softTargetLoss: student \(student.shape) vs teacher \(teacher.shape)")
        precondition(temperature > 0, "softTargetLoss: temperature \(temperature) must be > 0")
        let t = withNoGrad { teacher / temperature }
        let p = withNoGrad { t.softmax(axis: 1) }, logP = withNoGrad { t.logSoftmax(axis: 1) }
        let logQ = (student / temperature).logSoftmax(axis: 1)
        return (p * (logP - logQ)).sum(axis: 1) * (temperature * temperature)
    }

    /// Cross-entropy `−log softmax(logits)[label]` per row, `[N]`.
    public static func crossEntropy(logits: Tensor, labels: [Int]) -> Tensor {
        let c = logits.shape[1]
        var oneHot = [Float](repeating: 0, count: labels.count * c)
        for (i, l) in labels.enumerated() { oneHot[i * c + l] = 1 }
        return -(Tensor(shape: [labels.count, c], data: oneHot) * logits.logSoftmax(axis: 1)).sum(axis: 1)
    }

    /// Hinton's objective averaged over the rows: for a labelled row `α · softTargetLoss + (1 − α) · crossEntropy`,
    /// for an unlabelled row (`labelled[i] == false`) the soft-target loss alone (the teacher's soft labels are all
    /// there is). α = 0 is plain cross-entropy on the labelled rows; α = 1 ignores the labels.
    public static func loss(student: Tensor, teacher: Tensor, labels: [Int], labelled: [Bool], temperature: Float,
                            alpha: Float) -> Tensor {
        let n = labels.count
        precondition(labelled.count == n && student.shape[0] == n, "loss: \(student.shape[0]) rows, \(n) labels, \(labelled.count) flags")
        let kd = softTargetLoss(student: student, teacher: teacher, temperature: temperature)
        let ce = crossEntropy(logits: student, labels: labels.map { Swift.max($0, 0) })
        let wKD = Tensor(shape: [n], data: labelled.map { $0 ? alpha : 1 })
        let wCE = Tensor(shape: [n], data: labelled.map { $0 ? 1 - alpha : 0 })
        return (kd * wKD + ce * wCE).sum() / Float(Swift.max(n, 1))
    }
}
