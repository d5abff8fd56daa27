import CKernels
import Foundation
import Tensors

/// The state an optimizer keeps for one parameter: PyTorch's `optimizer.state[p]`.
public struct ParameterState {
    /// Updates applied to this parameter (PyTorch's per-parameter `state['step']`; Adam's bias correction uses it).
    /// A parameter skipped by a step (frozen, or without a gradient) does not count it.
    public var step: Int
    /// Tensors of the parameter's shape, by PyTorch's state names: `momentum_buffer` (SGD), `exp_avg` and
    /// `exp_avg_sq` (Adam, AdamW).
    public var tensors: [String: Tensor]

    /// A state with `step` updates done and `tensors` (empty: the state before a parameter's first update).
    public init(step: Int = 0, tensors: [String: Tensor] = [:]) {
        self.step = step
        self.tensors = tensors
    }

    /// The state tensor `key`, if the optimizer created it.
    public subscript(key: String) -> Tensor? {
        get { tensors[key] }
        set { tensors[key] = newValue }
    }
}

/// What one parameter's update uses at one step (see ``Optimizer/update(parameter:grad:state:context:)``).
public struct UpdateContext: Sendable {
    /// The group's base learning rate times the schedule's factor.
    public var learningRate: Float
    /// The group's weight decay.
    public var weightDecay: Float
    /// The parameter's step count, already incremented for this update (1 at its first update).
    public var step: Int
    /// The gradient-clipping coefficient, `min(1, maxNorm / (norm + 1e-6))`, or 1; the update multiplies the
    /// gradient by it (PyTorch's `clip_grad_norm_` does the same multiplication on `.grad` in place).
    public var gradScale: Float
    /// The schedule's momentum for this step (SGD momentum, Adam β1), nil to use the optimizer's own.
    public var momentum: Float?

    /// A context for one update (``Optimizer/step()`` builds these; a custom training loop or a test may too).
    public init(learningRate: Float, weightDecay: Float, step: Int, gradScale: Float = 1, momentum: Float? = nil) {
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.step = step
        self.gradScale = gradScale
        self.momentum = momentum
    }
}

/// A first-order optimizer over groups of named parameters: one generic walk over the trainable parameters and a
/// small per-parameter ``update(parameter:grad:state:context:)`` that subclasses override (the shape of
/// mlx-swift's `OptimizerBase.applySingle`, with PyTorch's `param_groups` and state semantics).
///
/// ``step()`` visits every group's parameters in order and skips those with `requiresGrad == false` or no
/// `grad` (their values and state stay exactly as they were, as in PyTorch, which skips `grad is None`). It computes
/// the learning rate of each group as its base rate times the ``schedule``'s factor, clips gradients when
/// ``maxGradNorm`` is set, and runs each update under `withNoGrad`, writing the parameter in place through
/// `Tensor.withMutableData`. State tensors are created at a parameter's first update; after that a step allocates
/// no tensors. Parameters must be plain contiguous tensors (the Layers module's are).
///
/// The base class applies plain gradient descent with L2 weight decay, `p ← p − lr·(g + wd·p)` (PyTorch's SGD with
/// `momentum=0`); ``SGD``, ``Adam`` and ``AdamW`` override the update. ``stateDict()`` / ``loadStateDict(_:)``
/// save and restore everything a step depends on besides the parameters and the constructor's hyperparameters, so a
/// restored optimizer continues bit for bit.
open class Optimizer {
    /// The parameter groups. Their learning rates and weight decays may be changed between steps.
    public var groups: [ParameterGroup]
    /// Clip the global L2 norm of the gradients to this before each step (PyTorch's `clip_grad_norm_(params,
    /// max_norm)` called just before `optimizer.step()`), or nil for no clipping. The clipping coefficient is fused
    /// into the update, so the `grad` tensors themselves are left unscaled.
    public var maxGradNorm: Float?
    /// The learning-rate (and momentum) schedule, evaluated at ``stepCount`` of ``totalSteps`` before each step.
    public private(set) var schedule: (any LearningRateSchedule)?
    /// The run length handed to the schedule.
    public private(set) var totalSteps: Int = 0
    /// Steps taken (calls of ``step()``); the schedule's position.
    public private(set) var stepCount: Int = 0
    /// The global gradient norm the last ``step()`` measured for clipping (nil without ``maxGradNorm``).
    public private(set) var lastGradNorm: Float?
    /// Per-parameter state, keyed by parameter name.
    public internal(set) var states: [String: ParameterState] = [:]

    /// An optimizer over `groups`. Parameter names must be unique across groups, and no tensor may appear twice.
    public init(groups: [ParameterGroup]) {
        var names = Set<String>(), tensors = Set<ObjectIdentifier>()
        for g in groups {
            for (name, t) in g.parameters {
                precondition(names.insert(name).inserted, "Optimizer: parameter name '\(name)' appears twice")
                precondition(tensors.insert(ObjectIdentifier(t)).inserted,
                             "Optimizer: parameter '\(name)' is a tensor already in the optimizer under another name")
            }
            precondition(g.learningRate >= 0, "Optimizer: group '\(g.name)' has learning rate \(g.learningRate) < 0")
            precondition(g.weightDecay >= 0, "Optimizer: group '\(g.name)' has weight decay \(g.weightDecay) < 0")
        }
        self.groups = groups
    }

    /// Sets the schedule (nil: the groups' base learning rates throughout) and the run length it spans. The step
    /// count is not reset.
    public func setSchedule(_ schedule: (any LearningRateSchedule)?, totalSteps: Int) {
        precondition(schedule == nil || totalSteps >= 1, "setSchedule: totalSteps \(totalSteps) < 1")
        self.schedule = schedule
        self.totalSteps = totalSteps
    }

    /// The learning rate of each group at the next step (base rate × schedule factor).
    public var learningRates: [Float] {
        let f = schedule?.factor(step: stepCount, totalSteps: totalSteps) ?? 1
        return groups.map { $0.learningRate * f }
    }

    /// The schedule's momentum for the next step, if it has one.
    public var scheduledMomentum: Float? { schedule?.momentum(step: stepCount, totalSteps: totalSteps) }

    /// The state tensor names this optimizer may keep per parameter (checked by ``loadStateDict(_:)``).
    open var stateKeys: [String] { [] }

    /// The state tensor names a parameter with a nonzero step count must have (checked by ``loadStateDict(_:)``).
    open var requiredStateKeys: [String] { stateKeys }

    /// Updates one parameter in place from its gradient. Called by ``step()`` under `withNoGrad` for every
    /// trainable parameter that has a gradient of its shape, with `state.step` already incremented. Write the
    /// parameter through `withMutableData`; create state tensors in `state` on the first call.
    ///
    /// The base implementation is gradient descent with L2 weight decay (PyTorch SGD without momentum).
    open func update(parameter: Tensor, grad: Tensor, state: inout ParameterState, context: UpdateContext) {
        sgdKernel(parameter: parameter, grad: grad, buffer: nil, context: context, momentum: 0, oneMinusDampening: 1,
                  nesterov: false, first: false)
    }

    /// Runs an elementwise kernel over `0..<n` as `body(offset, count)` chunks on ``Threads/count`` threads (inline
    /// below 2¹⁷ elements). Each element's update is independent, so the result does not depend on the split.
    static func chunked(_ n: Int, _ body: (Int, Int) -> Void) {
        Threads.parallelFor(n, grain: 1 << 16) { start, end in body(start, end - start) }
    }

    /// Runs ``tk_sgd_update`` on one parameter (shared by the base update and ``SGD``).
    final func sgdKernel(parameter: Tensor, grad: Tensor, buffer: Tensor?, context: UpdateContext, momentum: Float,
                         oneMinusDampening: Float, nesterov: Bool, first: Bool) {
        let negLR = Float(-Double(context.learningRate)), wd = context.weightDecay, scale = context.gradScale
        grad.withUnsafeBufferPointer { g in
            parameter.withMutableData { p in
                guard let pp = p.baseAddress, let gp = g.baseAddress else { return }
                if let buffer {
                    buffer.withMutableData { b in
                        let bp = b.baseAddress!
                        Self.chunked(p.count) { i, n in
                            tk_sgd_update(pp + i, gp + i, bp + i, n, negLR, wd, scale, momentum, oneMinusDampening,
                                          nesterov ? 1 : 0, first ? 1 : 0)
                        }
                    }
                } else {
                    Self.chunked(p.count) { i, n in tk_sgd_update(pp + i, gp + i, nil, n, negLR, wd, scale, 0, 1, 0, 0) }
                }
            }
        }
    }

    /// Every (name, parameter, gradient) that a step would update: trainable and with a gradient.
    func trainable() -> [(name: String, tensor: Tensor, grad: Tensor)] {
        var out: [(name: String, tensor: Tensor, grad: Tensor)] = []
        for g in groups {
            for (name, t) in g.parameters where t.requiresGrad {
                if let grad = t.grad { out.append((name, t, grad)) }
            }
        }
        return out
    }

    /// The global L2 norm of the gradients of all trainable parameters (accumulated in double precision).
    public func gradNorm() -> Float {
        var sum = 0.0
        for g in groups {
            for (_, t) in g.parameters where t.requiresGrad {
                guard let grad = t.grad else { continue }
                sum += grad.withUnsafeBufferPointer { tk_sumsq_lanes_f32($0.baseAddress, $0.count) }
            }
        }
        return Float(sum.squareRoot())
    }

    /// The clipping coefficient of PyTorch's `clip_grad_norm_`: `min(1, maxNorm / (norm + 1e-6))`, in float32.
    static func clipCoefficient(maxNorm: Float, norm: Float) -> Float {
        Swift.min(maxNorm / (norm + 1e-6), 1)
    }

    /// Scales the gradients of all trainable parameters in place so that their global L2 norm is at most
    /// `maxNorm`, and returns the norm before clipping: PyTorch's `torch.nn.utils.clip_grad_norm_(params,
    /// max_norm, norm_type=2)`, which multiplies every gradient by `min(1, maxNorm / (norm + 1e-6))`.
    ///
    /// A gradient tensor shared by several parameters is scaled once; a non-contiguous gradient is replaced by a
    /// scaled contiguous copy.
    @discardableResult
    public func clipGradNorm(maxNorm: Float) -> Float {
        precondition(maxNorm >= 0, "clipGradNorm: maxNorm \(maxNorm) < 0")
        let norm = gradNorm()
        let coef = Self.clipCoefficient(maxNorm: maxNorm, norm: norm)
        if coef < 1 {
            var seen = Set<ObjectIdentifier>()
            for (_, t, grad) in trainable() where seen.insert(ObjectIdentifier(grad)).inserted {
                if !grad.isContiguous {
                    let copy = grad.copy()
                    t.grad = copy
                    seen.insert(ObjectIdentifier(copy))
                    copy.withMutableData { tk_scale_f32($0.baseAddress, coef, $0.count) }
                } else {
                    grad.withMutableData { tk_scale_f32($0.baseAddress, coef, $0.count) }
                }
            }
        }
        return norm
    }

    /// Applies one update to every trainable parameter that has a gradient (PyTorch's `optimizer.step()`), then
    /// advances ``stepCount``.
    public func step() {
        let factor = schedule?.factor(step: stepCount, totalSteps: totalSteps) ?? 1
        let momentum = schedule?.momentum(step: stepCount, totalSteps: totalSteps)
        var gradScale: Float = 1
        if let maxGradNorm {
            let norm = gradNorm()
            lastGradNorm = norm
            gradScale = Self.clipCoefficient(maxNorm: maxGradNorm, norm: norm)
        }
        withNoGrad {
            for group in groups {
                let lr = group.learningRate * factor
                for (name, parameter) in group.parameters where parameter.requiresGrad {
                    guard let grad = parameter.grad else { continue }
                    precondition(grad.shape == parameter.shape,
                                 "Optimizer.step: gradient of '\(name)' has shape \(grad.shape), parameter \(parameter.shape)")
                    var state = states.removeValue(forKey: name) ?? ParameterState()
                    state.step += 1
                    let context = UpdateContext(learningRate: lr, weightDecay: group.weightDecay, step: state.step,
                                                gradScale: gradScale, momentum: momentum)
                    update(parameter: parameter, grad: grad, state: &state, context: context)
                    states[name] = state
                }
            }
        }
        stepCount += 1
    }

    /// Sets every parameter's gradient to nil (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGrad() {
        for g in groups {
            for (_, t) in g.parameters { t.grad = nil }
        }
    }

    // MARK: State dictionary

    /// A snapshot of the optimizer's state, as flat tensors (save it with `SafeTensorsWriter.write`):
    ///
    /// - `step`: ``stepCount`` (the schedule position), a scalar;
    /// - `param_groups.<i>.lr`, `param_groups.<i>.weight_decay`: each group's base learning rate and weight decay;
    /// - `state.<parameter name>.step`: the parameter's update count, a scalar;
    /// - `state.<parameter name>.<key>`: its state tensors (``stateKeys``: `momentum_buffer`, `exp_avg`,
    ///   `exp_avg_sq`, PyTorch's names).
    ///
    /// Counts are stored as float32, exact up to 2²⁴ steps. The tensors are copies, unaffected by later steps.
    /// Hyperparameters given to the constructor (momentum, betas, eps, …), ``maxGradNorm`` and the schedule are
    /// configuration, not state: build the optimizer that loads the dictionary with the same ones.
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = ["step": Tensor(scalar: Float(stepCount))]
        for (i, g) in groups.enumerated() {
            out["param_groups.\(i).lr"] = Tensor(scalar: g.learningRate)
            out["param_groups.\(i).weight_decay"] = Tensor(scalar: g.weightDecay)
        }
        for (name, s) in states {
            out["state.\(name).step"] = Tensor(scalar: Float(s.step))
            for (k, t) in s.tensors { out["state.\(name).\(k)"] = t.copy() }
        }
        return out
    }

    /// Restores a ``stateDict()`` snapshot (PyTorch's `load_state_dict`): the step count, the groups' learning
    /// rates and weight decays, and the per-parameter state, matched by parameter name. Parameters absent from the
    /// dictionary start with no state. Values are copied in.
    ///
    /// Everything is validated before anything changes, so a failed load leaves the optimizer as it was.
    /// - Throws: ``OptimizerError/missingKey(_:)`` (no `step`; a state tensor of ``requiredStateKeys`` or a
    ///   `state.<name>.step` missing for a parameter that has the other), ``OptimizerError/unexpectedKey(_:)``
    ///   (unknown parameter, group index or state name), ``OptimizerError/shapeMismatch(key:expected:found:)``
    ///   (a state tensor not of its parameter's shape, a scalar with more than one element),
    ///   ``OptimizerError/invalidValue(key:value:reason:)`` (a count that is negative, fractional or beyond 2²⁴;
    ///   a negative or non-finite learning rate or weight decay).
    public func loadStateDict(_ dict: [String: Tensor]) throws(OptimizerError) {
        func scalar(_ key: String) throws(OptimizerError) -> Float {
            guard let t = dict[key] else { throw .missingKey(key) }
            guard t.count == 1, t.rank <= 1 else { throw .shapeMismatch(key: key, expected: [], found: t.shape.dims) }
            return t.item()
        }
        func count(_ key: String) throws(OptimizerError) -> Int {
            let v = try scalar(key)
            guard v.isFinite, v >= 0, v.rounded() == v, v <= 16_777_216 else {
                throw .invalidValue(key: key, value: v, reason: "not a step count (an integer in 0 ... 2^24)")
            }
            return Int(v)
        }
        func hyper(_ key: String) throws(OptimizerError) -> Float {
            let v = try scalar(key)
            guard v.isFinite, v >= 0 else { throw .invalidValue(key: key, value: v, reason: "must be finite and ≥ 0") }
            return v
        }

        var shapes: [String: Shape] = [:]
        for g in groups { for (name, t) in g.parameters { shapes[name] = t.shape } }
        let allowed = Set(stateKeys)

        // Sort every key into group hyperparameters and per-parameter state; reject the rest.
        var groupKeys = Set<String>()
        var found: [String: Set<String>] = [:]  // parameter name → state names present (incl. "step")
        for key in dict.keys where key != "step" {
            if key.hasPrefix("param_groups.") {
                let rest = key.dropFirst("param_groups.".count).split(separator: ".", maxSplits: 1)
                guard rest.count == 2, let i = Int(rest[0]), groups.indices.contains(i),
                      rest[1] == "lr" || rest[1] == "weight_decay"
                else { throw .unexpectedKey(key) }
                groupKeys.insert(key)
                continue
            }
            guard key.hasPrefix("state."), let dot = key.lastIndex(of: ".") else { throw .unexpectedKey(key) }
            let name = String(key[key.index(key.startIndex, offsetBy: "state.".count)..<dot])
            let leaf = String(key[key.index(after: dot)...])
            guard let shape = shapes[name], leaf == "step" || allowed.contains(leaf) else { throw .unexpectedKey(key) }
            if leaf != "step", dict[key]!.shape != shape {
                throw .shapeMismatch(key: key, expected: shape.dims, found: dict[key]!.shape.dims)
            }
            found[name, default: []].insert(leaf)
        }

        let steps = try count("step")
        var rates: [(Float, Float)] = []
        for i in groups.indices {
            let lrKey = "param_groups.\(i).lr", wdKey = "param_groups.\(i).weight_decay"
            rates.append((try groupKeys.contains(lrKey) ? hyper(lrKey) : groups[i].learningRate,
                          try groupKeys.contains(wdKey) ? hyper(wdKey) : groups[i].weightDecay))
        }
        var newStates: [String: ParameterState] = [:]
        for (name, leaves) in found.sorted(by: { $0.key < $1.key }) {
            guard leaves.contains("step") else {
                throw .missingKey("state.\(name).step")
            }
            let step = try count("state.\(name).step")
            if step > 0 {
                for k in requiredStateKeys where !leaves.contains(k) { throw .missingKey("state.\(name).\(k)") }
            }
            var s = ParameterState(step: step)
            for k in leaves where k != "step" { s.tensors[k] = dict["state.\(name).\(k)"]!.copy() }
            newStates[name] = s
        }

        stepCount = steps
        for i in groups.indices { (groups[i].learningRate, groups[i].weightDecay) = rates[i] }
        states = newStates
    }
}
