import CKernels
import Foundation
import Tensors

/// Adam (Kingma & Ba, 2015) with L2 weight decay, exactly as PyTorch's `torch.optim.Adam` (`_single_tensor_adam`,
/// `amsgrad=False`), per parameter with gradient `g`, weight decay `wd` and step count `t`:
///
///     g = g + wd·p                                  (L2: the decay is added to the gradient)
///     m = lerp(m, g, 1 − β1);  v = β2·v + (1 − β2)·g²
///     p = p − lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
///
/// State: `exp_avg` (m), `exp_avg_sq` (v), created as zeros at the first update. A schedule's momentum
/// (``OneCycleSchedule``) replaces β1 at each step, in the moving average and the bias correction, as PyTorch's
/// `OneCycleLR(cycle_momentum=True)` sets `group['betas'][0]`. ``AdamW`` decouples the weight decay instead.
open class Adam: Optimizer {
    /// β1, the decay of the gradient average (PyTorch `betas[0]`, default 0.9).
    public var beta1: Float
    /// β2, the decay of the squared-gradient average (PyTorch `betas[1]`, default 0.999).
    public var beta2: Float
    /// Added to the denominator (PyTorch `eps`, default 1e-8).
    public var eps: Float
    /// Decoupled weight decay (AdamW): `p ← p·(1 − lr·wd)` before the update instead of adding `wd·p` to `g`.
    public let decoupledWeightDecay: Bool

    /// Adam over `groups` (each with its own learning rate and weight decay).
    public init(groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
                decoupledWeightDecay: Bool = false) {
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam: betas (\(beta1), \(beta2)) outside [0, 1)")
        precondition(eps >= 0, "Adam: eps \(eps) < 0")
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.decoupledWeightDecay = decoupledWeightDecay
        super.init(groups: groups)
    }

    /// Adam over one group of `parameters`.
    public convenience init(parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, beta1: Float = 0.9,
                            beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0) {
        self.init(groups: [ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)],
                  beta1: beta1, beta2: beta2, eps: eps)
    }

    /// `exp_avg` and `exp_avg_sq`, PyTorch's names.
    override open var stateKeys: [String] { ["exp_avg", "exp_avg_sq"] }

    /// One Adam (or AdamW) update through `tk_adam_update`, with the scalar coefficients PyTorch computes in Python.
    override open func update(parameter: Tensor, grad: Tensor, state: inout ParameterState, context: UpdateContext) {
        func moment(_ key: String) -> Tensor {
            if let t = state[key] { return t }
            let t = Tensor.zeros(parameter.shape)
            state[key] = t
            return t
        }
        let m = moment("exp_avg"), v = moment("exp_avg_sq")
        // The scalar arithmetic of PyTorch's Python code, in double precision, rounded to float32 where ATen
        // receives the value.
        let lr = Double(context.learningRate), wd = Double(context.weightDecay)
        let b1 = Double(context.momentum ?? beta1), b2 = Double(beta2), t = Double(context.step)
        let biasCorrection1 = 1 - pow(b1, t), biasCorrection2 = 1 - pow(b2, t)
        let stepSize = lr / biasCorrection1
        let decoupled = decoupledWeightDecay && wd != 0
        let scale = context.gradScale, l2 = decoupledWeightDecay ? 0 : context.weightDecay
        let decay = decoupled ? Float(1 - lr * wd) : 1, lerpWeight = Float(1 - b1), beta2 = Float(b2)
        let oneMinusBeta2 = Float(1 - b2), bc2Sqrt = Float(biasCorrection2.squareRoot()), eps = eps
        let negStepSize = Float(-stepSize)
        grad.withUnsafeBufferPointer { g in
            parameter.withMutableData { p in
                m.withMutableData { mb in
                    v.withMutableData { vb in
                        guard let pp = p.baseAddress, let gp = g.baseAddress, let mp = mb.baseAddress,
                              let vp = vb.baseAddress else { return }
                        Self.chunked(p.count) { i, n in
                            tk_adam_update(pp + i, gp + i, mp + i, vp + i, n, scale, l2, decoupled ? 1 : 0, decay,
                                           lerpWeight, beta2, oneMinusBeta2, bc2Sqrt, eps, negStepSize)
                        }
                    }
                }
            }
        }
    }
}

/// AdamW (Loshchilov & Hutter, "Decoupled weight decay regularization", 2019), exactly as PyTorch's
/// `torch.optim.AdamW`: before the ``Adam`` update (without L2), `p ← p·(1 − lr·wd)` with the step's learning
/// rate and the group's weight decay.
public final class AdamW: Adam {
    /// AdamW over `groups` (each with its own learning rate and weight decay; PyTorch's default decay is 1e-2).
    public init(groups: [ParameterGroup], beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        super.init(groups: groups, beta1: beta1, beta2: beta2, eps: eps, decoupledWeightDecay: true)
    }

    /// AdamW over one group of `parameters` (PyTorch defaults: lr 1e-3, weight decay 1e-2).
    public convenience init(parameters: [(name: String, tensor: Tensor)], learningRate: Float = 1e-3, beta1: Float = 0.9,
                            beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 1e-2) {
        self.init(groups: [ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)],
                  beta1: beta1, beta2: beta2, eps: eps)
    }
}
