import CKernels
import Tensors

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay, exactly as
/// PyTorch's `torch.optim.SGD` (`_single_tensor_sgd`), per parameter with gradient `g` and weight decay `wd`:
///
///     d = g + wd·p
///     buf = d                                    (first update)
///     buf = momentum·buf + (1 − dampening)·d     (later updates)
///     d = nesterov ? d + momentum·buf : buf      (when momentum ≠ 0)
///     p = p − lr·d
///
/// The momentum buffer is the `momentum_buffer` state. A schedule's momentum (``OneCycleSchedule``) replaces
/// ``momentum`` at each step, as PyTorch's `OneCycleLR(cycle_momentum=True)` sets `group['momentum']`.
public final class SGD: Optimizer {
    /// Momentum factor (PyTorch `momentum`, default 0).
    public var momentum: Float
    /// Dampening of the momentum (PyTorch `dampening`, default 0).
    public var dampening: Float
    /// Nesterov momentum (PyTorch `nesterov`).
    public var nesterov: Bool

    /// SGD over `groups` (each with its own learning rate and weight decay).
    public init(groups: [ParameterGroup], momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false) {
        precondition(momentum >= 0, "SGD: momentum \(momentum) < 0")
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum needs momentum > 0 and dampening 0")
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        super.init(groups: groups)
    }

    /// SGD over one group of `parameters`.
    public convenience init(parameters: [(name: String, tensor: Tensor)], learningRate: Float, momentum: Float = 0,
                            dampening: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.init(groups: [ParameterGroup(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)],
                  momentum: momentum, dampening: dampening, nesterov: nesterov)
    }

    /// `momentum_buffer`, PyTorch's name.
    override public var stateKeys: [String] { ["momentum_buffer"] }
    /// The momentum buffer, when momentum is on.
    override public var requiredStateKeys: [String] { momentum != 0 ? ["momentum_buffer"] : [] }

    /// One SGD update through `tk_sgd_update`; the first update with momentum copies `d` into a new buffer.
    override public func update(parameter: Tensor, grad: Tensor, state: inout ParameterState, context: UpdateContext) {
        let mom = context.momentum ?? momentum
        if mom == 0 {
            super.update(parameter: parameter, grad: grad, state: &state, context: context)
            return
        }
        let first = state["momentum_buffer"] == nil
        let buffer = state["momentum_buffer"] ?? {
            let b = Tensor.zeros(parameter.shape)
            state["momentum_buffer"] = b
            return b
        }()
        sgdKernel(parameter: parameter, grad: grad, buffer: buffer, context: context, momentum: mom,
                  oneMinusDampening: Float(1 - Double(dampening)), nesterov: nesterov, first: first)
    }
}
