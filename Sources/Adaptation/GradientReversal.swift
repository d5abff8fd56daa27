import Foundation
import Tensors

/// The gradient reversal layer of domain-adversarial training (Ganin & Lempitsky 2015, "Unsupervised Domain
/// Adaptation by Backpropagation"; TLlib `tllib.modules.grl.GradientReverseLayer`): the identity forward, the
/// gradient multiplied by `−coefficient` backward, so the feature extractor learns to *maximise* the domain
/// classifier's loss while the classifier minimises it.
public final class GradientReversal {
    /// λ, the scale of the reversed gradient (set by ``GaninSchedule`` as training proceeds).
    public var coefficient: Float

    public init(coefficient: Float = 1) { self.coefficient = coefficient }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let c = coefficient
        return x.withCustomGradient("GradientReversal") { g in g * -c }
    }
}

/// Ganin's schedule of the reversal coefficient: `λ(p) = (hi − lo) · (2 / (1 + exp(−α p)) − 1) + lo` with `p` the
/// training progress in [0, 1], α = 10 (TLlib `WarmStartGradientReverseLayer`, which counts `p` against a fixed
/// number of iterations; here against the fit's own): it starts at `lo` (0, so the untrained domain classifier's
/// noise does not reach the features) and approaches `hi`.
public struct GaninSchedule: Sendable, Equatable {
    public var alpha: Float = 10
    public var lo: Float = 0
    public var hi: Float = 1

    public init(alpha: Float = 10, lo: Float = 0, hi: Float = 1) { self.alpha = alpha; self.lo = lo; self.hi = hi }

    public func coefficient(progress p: Float) -> Float {
        let q = Swift.min(Swift.max(p, 0), 1)
        return (hi - lo) * (2 / (1 + Foundation.exp(-alpha * q)) - 1) + lo
    }
}
