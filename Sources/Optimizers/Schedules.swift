import Foundation

/// A learning-rate schedule: a multiplier of each parameter group's base learning rate for every optimizer step,
/// and optionally a momentum to use at that step.
///
/// `step` is the index of the optimizer step about to run (the first is 0) and `totalSteps` the length of the run;
/// an ``Optimizer`` asks with its own step count (``Optimizer/stepCount``) before each update, so the schedule
/// resumes exactly after ``Optimizer/loadStateDict(_:)``. This mirrors a PyTorch `LRScheduler` stepped once per
/// batch (whose `base_lrs` are the groups' learning rates) and fastai's `ParamScheduler` (which sets `lr` and `mom`
/// before each batch).
public protocol LearningRateSchedule: Sendable {
    /// The multiplier of each group's base learning rate at `step` of `totalSteps`.
    func factor(step: Int, totalSteps: Int) -> Float
    /// The momentum at `step` (SGD's `momentum`, Adam's β1), or nil to keep the optimizer's own.
    func momentum(step: Int, totalSteps: Int) -> Float?
}

extension LearningRateSchedule {
    /// No momentum schedule: the optimizer keeps its own.
    public func momentum(step: Int, totalSteps: Int) -> Float? { nil }
}

/// The base learning rate at every step (PyTorch's `ConstantLR` with factor 1, fastai's `SchedNo`).
public struct ConstantSchedule: LearningRateSchedule {
    /// The constant schedule.
    public init() {}
    public func factor(step: Int, totalSteps: Int) -> Float { 1 }
}

/// Step decay: the factor is `gamma^⌊step / stepSize⌋`, PyTorch's `StepLR(step_size, gamma)`.
public struct StepDecaySchedule: LearningRateSchedule {
    /// Steps between two decays.
    public var stepSize: Int
    /// The multiplier applied at each decay.
    public var gamma: Float

    /// Multiply by `gamma` every `stepSize` steps.
    public init(stepSize: Int, gamma: Float = 0.1) {
        precondition(stepSize >= 1, "StepDecaySchedule: stepSize \(stepSize) < 1")
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func factor(step: Int, totalSteps: Int) -> Float {
        Float(pow(Double(gamma), Double(Swift.max(step, 0) / stepSize)))
    }
}

/// Linear warm-up from `startFactor` to 1 over `warmupSteps` steps, then constant: PyTorch's
/// `LinearLR(start_factor, end_factor=1, total_iters=warmupSteps)`, whose closed form is
/// `startFactor + (1 − startFactor) · min(step, warmupSteps) / warmupSteps`.
public struct LinearWarmupSchedule: LearningRateSchedule {
    /// Steps until the factor reaches 1 (PyTorch `total_iters`).
    public var warmupSteps: Int
    /// The factor at step 0 (PyTorch `start_factor`).
    public var startFactor: Float

    /// Warm up from `startFactor` to 1 over `warmupSteps` steps.
    public init(warmupSteps: Int, startFactor: Float = 0) {
        precondition(warmupSteps >= 0, "LinearWarmupSchedule: warmupSteps \(warmupSteps) < 0")
        self.warmupSteps = warmupSteps
        self.startFactor = startFactor
    }

    public func factor(step: Int, totalSteps: Int) -> Float {
        if warmupSteps == 0 { return 1 }
        let s = Double(startFactor)
        return Float(s + (1 - s) * Double(Swift.min(Swift.max(step, 0), warmupSteps)) / Double(warmupSteps))
    }
}

/// Linear warm-up, then cosine annealing down to `minFactor` at `totalSteps`.
///
/// For `step < warmupSteps` the factor is `startFactor + (1 − startFactor) · step / warmupSteps`; after it,
/// with `progress = (step − warmupSteps) / max(1, totalSteps − warmupSteps)`, it is
/// `minFactor + (1 − minFactor) · (1 + cos(π · progress)) / 2`. With `startFactor = 0` this is Hugging Face
/// transformers' `get_cosine_with_min_lr_schedule_with_warmup` (`min_lr_rate = minFactor`, `num_cycles = 0.5`;
/// `minFactor = 0` gives `get_cosine_schedule_with_warmup`); for any `startFactor > 0` it is PyTorch's
/// `SequentialLR([LinearLR(start_factor, total_iters=warmupSteps), CosineAnnealingLR(T_max=totalSteps −
/// warmupSteps, eta_min=minFactor·lr)], milestones=[warmupSteps])`. Steps at or past `totalSteps` keep
/// `minFactor` (the references would swing back up along the cosine).
public struct CosineWarmupSchedule: LearningRateSchedule {
    /// Steps of linear warm-up (transformers `num_warmup_steps`); the factor is 1 at this step.
    public var warmupSteps: Int
    /// The factor at step 0.
    public var startFactor: Float
    /// The factor at `totalSteps` (transformers `min_lr_rate`).
    public var minFactor: Float

    /// Warm up from `startFactor` over `warmupSteps` steps, then anneal to `minFactor` at `totalSteps`.
    public init(warmupSteps: Int, startFactor: Float = 0, minFactor: Float = 0) {
        precondition(warmupSteps >= 0, "CosineWarmupSchedule: warmupSteps \(warmupSteps) < 0")
        self.warmupSteps = warmupSteps
        self.startFactor = startFactor
        self.minFactor = minFactor
    }

    public func factor(step: Int, totalSteps: Int) -> Float {
        let k = Swift.max(step, 0)
        if k < warmupSteps {
            let s = Double(startFactor)
            return Float(s + (1 - s) * Double(k) / Double(warmupSteps))
        }
        let progress = Swift.min(1, Double(k - warmupSteps) / Double(Swift.max(1, totalSteps - warmupSteps)))
        let m = Double(minFactor)
        return Float(m + (1 - m) * 0.5 * (1 + cos(Double.pi * progress)))
    }
}

/// The 1cycle policy (Smith, "Super-convergence", 2018) in fastai's form: a cosine rise of the learning rate from
/// `1/div` to 1 (times each group's base rate) over the first `pctStart` of training, then a cosine fall to
/// `1/divFinal`; the momentum moves the opposite way, `momentums.start → middle → end`.
///
/// **Default (``Convention/fastai``)** follows fastai 2.x `Learner.fit_one_cycle(n_epoch, lr_max, div=25.,
/// div_final=1e5, pct_start=0.25, moms=(0.95, 0.85, 0.95))`: `combined_cos(pct_start, lr_max/div, lr_max,
/// lr_max/div_final)`, i.e. `combine_scheds([pct, 1 − pct], [SchedCos(start, middle), SchedCos(middle, end)])`
/// with `SchedCos(a, b)(x) = a + (1 + cos(π(1 − x))) · (b − a) / 2`, evaluated by `ParamScheduler` before each
/// batch at the training position `pos = step / totalSteps` (fastai's `pct_train`). The position reaches 1 only
/// after the last step, so the final `lr_max/div_final` is approached, not used.
///
/// **``Convention/pytorch``** places the same curves as PyTorch's `OneCycleLR` (`three_phase=False`,
/// `anneal_strategy='cos'`): the rise ends at step `pctStart · totalSteps − 1` and the fall at `totalSteps − 1`,
/// which then gets exactly `1/divFinal`. Build it with ``pytorch(pctStart:divFactor:finalDivFactor:baseMomentum:maxMomentum:cycleMomentum:)``
/// to use PyTorch's parameter meanings and defaults.
///
/// Steps past the end hold the final value.
public struct OneCycleSchedule: LearningRateSchedule {
    /// Where the two phases meet.
    public enum Convention: Sendable, Equatable {
        /// fastai: phase boundary at position `pctStart`, position `step / totalSteps`.
        case fastai
        /// PyTorch `OneCycleLR`: phase ends at steps `pctStart · totalSteps − 1` and `totalSteps − 1`.
        case pytorch
    }

    /// Fraction of the steps spent rising (fastai `pct_start`).
    public var pctStart: Double
    /// The start factor is `1 / div` (fastai `div`, PyTorch `div_factor`).
    public var div: Double
    /// The end factor is `1 / divFinal` (fastai `div_final`; PyTorch's `div_factor · final_div_factor`).
    public var divFinal: Double
    /// Momentum at the start, at the peak of the learning rate, and at the end; nil leaves the optimizer's momentum
    /// alone (PyTorch `cycle_momentum=False`).
    public var momentums: (start: Float, middle: Float, end: Float)?
    /// Where the phases begin and end (fastai's or PyTorch's placement).
    public var convention: Convention

    /// fastai's `fit_one_cycle` (defaults `pct_start=0.25`, `div=25`, `div_final=1e5`, `moms=(0.95, 0.85, 0.95)`).
    public init(
        pctStart: Double = 0.25, div: Double = 25, divFinal: Double = 1e5,
        momentums: (start: Float, middle: Float, end: Float)? = (0.95, 0.85, 0.95), convention: Convention = .fastai
    ) {
        precondition((0...1).contains(pctStart), "OneCycleSchedule: pctStart \(pctStart) outside [0, 1]")
        precondition(div > 0 && divFinal > 0, "OneCycleSchedule: div \(div) and divFinal \(divFinal) must be > 0")
        self.pctStart = pctStart
        self.div = div
        self.divFinal = divFinal
        self.momentums = momentums
        self.convention = convention
    }

    /// PyTorch's `OneCycleLR(optimizer, max_lr, total_steps, pct_start=0.3, anneal_strategy='cos',
    /// cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25., final_div_factor=1e4)`, whose
    /// minimum learning rate is `max_lr / (div_factor · final_div_factor)`.
    public static func pytorch(
        pctStart: Double = 0.3, divFactor: Double = 25, finalDivFactor: Double = 1e4, baseMomentum: Float = 0.85,
        maxMomentum: Float = 0.95, cycleMomentum: Bool = true
    ) -> OneCycleSchedule {
        OneCycleSchedule(pctStart: pctStart, div: divFactor, divFinal: divFactor * finalDivFactor,
                         momentums: cycleMomentum ? (maxMomentum, baseMomentum, maxMomentum) : nil,
                         convention: .pytorch)
    }

    /// The phase (0 rising, 1 falling) and the position within it, in [0, 1].
    func phase(step: Int, totalSteps: Int) -> (Int, Double) {
        switch convention {
        case .fastai:
            let pos = totalSteps > 0 ? Double(Swift.min(Swift.max(step, 0), totalSteps)) / Double(totalSteps) : 1
            if pos < pctStart { return (0, pos / pctStart) }
            return (1, pctStart < 1 ? (pos - pctStart) / (1 - pctStart) : 1)
        case .pytorch:
            let k = Double(Swift.min(Swift.max(step, 0), Swift.max(totalSteps - 1, 0)))
            let end1 = pctStart * Double(totalSteps) - 1, end2 = Double(totalSteps - 1)
            if k <= end1 { return (0, end1 > 0 ? k / end1 : 1) }
            return (1, end2 > end1 ? (k - end1) / (end2 - end1) : 1)
        }
    }

    /// Cosine annealing from `a` to `b` at position `x` in the form of the convention's reference.
    func anneal(_ a: Double, _ b: Double, _ x: Double) -> Double {
        switch convention {
        case .fastai: a + (1 + cos(Double.pi * (1 - x))) * (b - a) / 2  // fastai sched_cos
        case .pytorch: b + (a - b) / 2.0 * (cos(Double.pi * x) + 1)  // OneCycleLR._annealing_cos
        }
    }

    public func factor(step: Int, totalSteps: Int) -> Float {
        let (phase, x) = phase(step: step, totalSteps: totalSteps)
        return Float(phase == 0 ? anneal(1 / div, 1, x) : anneal(1, 1 / divFinal, x))
    }

    public func momentum(step: Int, totalSteps: Int) -> Float? {
        guard let m = momentums else { return nil }
        let (phase, x) = phase(step: step, totalSteps: totalSteps)
        return Float(phase == 0 ? anneal(Double(m.start), Double(m.middle), x) : anneal(Double(m.middle), Double(m.end), x))
    }
}

/// A geometric ramp of the learning rate from `start` to `end` times the base rate over `totalSteps` (fastai's
/// `SchedExp`, the sweep of `lr_find`; Smith 2017, "Cyclical Learning Rates for Training Neural Networks",
/// https://arxiv.org/abs/1506.01186). Steps past the end hold `end`.
public struct ExponentialRampSchedule: LearningRateSchedule {
    public let start: Float
    public let end: Float

    public init(start: Float, end: Float) {
        precondition(start > 0 && end > 0, "ExponentialRampSchedule: start \(start) and end \(end) must be > 0")
        self.start = start; self.end = end
    }

    public func factor(step: Int, totalSteps: Int) -> Float {
        let t = totalSteps <= 1 ? 1 : Swift.min(Double(step) / Double(totalSteps - 1), 1)
        return Float(Double(start) * Foundation.pow(Double(end) / Double(start), t))
    }
}
