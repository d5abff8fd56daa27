import Foundation
import Tensors

/// Minimum Class Confusion (Jin et al. 2020, "Minimum Class Confusion for Versatile Domain Adaptation"; TLlib
/// `tllib.self_training.mcc.MinimumClassConfusionLoss`): on an unlabelled target batch, the class confusion of the
/// temperature-scaled predictions, weighted towards confident samples, is driven down.
public enum MinimumClassConfusion {
    /// TLlib's default temperature.
    public static let defaultTemperature: Float = 2.5

    /// The MCC loss of target logits `[n, C]`, exactly TLlib's: `p = softmax(logits / T)`; per-sample weights
    /// `w = 1 + exp(−H(p))` (entropy with ε = 1e-5, not differentiated) rescaled to sum to n; confusion
    /// `M = (p ⊙ w)ᵀ p`; `M[i, j] /= Σ_k M[j, k]` (PyTorch's broadcast of the row sums over columns);
    /// loss `(Σ M − tr M) / C`.
    public static func loss(logits: Tensor, temperature: Float = defaultTemperature) -> Tensor {
        require(logits.rank == 2 && logits.shape[0] > 0, "MinimumClassConfusion.loss: logits \(logits.shape) must be [n > 0, C]")
        let n = logits.shape[0], c = logits.shape[1]
        let p = (logits / temperature).softmax(axis: 1)
        let probs = p.toArray()
        var w = [Float](repeating: 0, count: n)
        for r in 0..<n {
            var h: Float = 0
            for k in 0..<c { let q = probs[r * c + k]; h -= q * Foundation.log(q + 1e-5) }
            w[r] = 1 + Foundation.exp(-h)
        }
        let total = w.reduce(0, +)
        let weights = Tensor(shape: [n, 1], data: w.map { Float(n) * $0 / total })
        let confusion = (p * weights).transposed().matmul(p)
        let normalised = confusion / confusion.sum(axis: 1).reshaped([1, c])
        var eye = [Float](repeating: 0, count: c * c)
        for i in 0..<c { eye[i * c + i] = 1 }
        let trace = (normalised * Tensor(shape: [c, c], data: eye)).sum()
        return (normalised.sum() - trace) / Float(c)
    }
}
