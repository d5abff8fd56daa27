import Checkpoints
import Foundation
import Optimizers
import Tensors
import Testing

/// Schedules against PyTorch's schedulers and fastai's one-cycle (Fixtures/schedules.safetensors, base lr 1, so
/// the learning rate is the factor), and at hand-computed key points.
@Suite struct ScheduleTests {
    static func sequence(_ key: String) throws -> [Float] {
        let path = try #require(Bundle.module.path(forResource: "schedules", ofType: "safetensors", inDirectory: "Fixtures"))
        return try SafeTensorsFile(path: path).tensor(key).toArray()
    }

    static func factors(_ s: some LearningRateSchedule, count: Int, totalSteps: Int) -> [Float] {
        (0..<count).map { s.factor(step: $0, totalSteps: totalSteps) }
    }

    /// float32 fixtures of double-precision references: 1e-6 absolute on factors ≤ 1 (measured maxima printed).
    static let tolerance: Float = 1e-6

    @Test func oneCycleDefaultsFollowFastaiFitOneCycleAtEveryStep() throws {
        let lrs = try Self.sequence("onecycle_fastai.lr"), moms = try Self.sequence("onecycle_fastai.mom")
        let s = OneCycleSchedule()
        let ours = Self.factors(s, count: lrs.count, totalSteps: lrs.count)
        let ourMoms = (0..<moms.count).map { s.momentum(step: $0, totalSteps: moms.count)! }
        print("onecycle fastai: lr max |Δ| = \(maxAbsDiff(ours, lrs)), mom max |Δ| = \(maxAbsDiff(ourMoms, moms))")
        #expect(maxAbsDiff(ours, lrs) <= Self.tolerance)
        #expect(maxAbsDiff(ourMoms, moms) <= Self.tolerance)
    }

    @Test func oneCyclePyTorchConventionMatchesOneCycleLR() throws {
        let lrs = try Self.sequence("onecycle_pytorch.lr")
        let ours = Self.factors(OneCycleSchedule.pytorch(pctStart: 0.3), count: lrs.count, totalSteps: lrs.count)
        print("onecycle pytorch: lr max |Δ| = \(maxAbsDiff(ours, lrs))")
        #expect(maxAbsDiff(ours, lrs) <= Self.tolerance)
    }

    @Test func cosineWarmupMatchesPyTorchLinearLRThenCosineAnnealingLR() throws {
        let lrs = try Self.sequence("cosine_warmup.lr")
        let ours = Self.factors(CosineWarmupSchedule(warmupSteps: 5, startFactor: 0.1, minFactor: 0.05), count: lrs.count,
                                totalSteps: 30)
        print("cosine warmup: lr max |Δ| = \(maxAbsDiff(ours, lrs))")
        #expect(maxAbsDiff(ours, lrs) <= Self.tolerance)
    }

    @Test func stepDecayMatchesPyTorchStepLR() throws {
        let lrs = try Self.sequence("step_decay.lr")
        #expect(Self.factors(StepDecaySchedule(stepSize: 7, gamma: 0.5), count: lrs.count, totalSteps: 30) == lrs)
    }

    @Test func linearWarmupMatchesPyTorchLinearLR() throws {
        let lrs = try Self.sequence("linear_warmup.lr")
        let ours = Self.factors(LinearWarmupSchedule(warmupSteps: 8, startFactor: 0.2), count: lrs.count, totalSteps: 20)
        #expect(maxAbsDiff(ours, lrs) <= Self.tolerance)
    }

    // MARK: Key points, by hand

    func near(_ a: Float?, _ b: Float, _ tol: Float = 1e-6) -> Bool { a.map { abs($0 - b) <= tol } ?? false }

    /// fit_one_cycle over 100 steps: lr_max/25 and momentum 0.95 at the start; lr_max and 0.85 at 25% (end of
    /// warm-up); halfway down the second cosine the position is 1/3, so the factor is 1 − (1 − 1e-5)/4 and the
    /// momentum 0.85 + 0.1/4; lr_max/1e5 and 0.95 at the end.
    @Test func oneCycleKeyPointsStartPeakAndEnd() {
        let s = OneCycleSchedule()
        #expect(near(s.factor(step: 0, totalSteps: 100), 0.04))
        #expect(near(s.momentum(step: 0, totalSteps: 100), 0.95))
        #expect(near(s.factor(step: 25, totalSteps: 100), 1))
        #expect(near(s.momentum(step: 25, totalSteps: 100), 0.85))
        #expect(near(s.factor(step: 50, totalSteps: 100), 1 - (1 - 1e-5) / 4))
        #expect(near(s.momentum(step: 50, totalSteps: 100), 0.875))
        #expect(near(s.factor(step: 100, totalSteps: 100), 1e-5, 1e-9))
        #expect(near(s.momentum(step: 100, totalSteps: 100), 0.95))
        #expect(s.factor(step: 150, totalSteps: 100) == s.factor(step: 100, totalSteps: 100))
        // Halfway up (position 0.125 of 1 with pct_start 0.25): the mean of 1/25 and 1.
        #expect(near(s.factor(step: 1, totalSteps: 8), 0.52))
        #expect(OneCycleSchedule(momentums: nil).momentum(step: 3, totalSteps: 10) == nil)
    }

    /// PyTorch's placement: the peak at step pct·T − 1, the minimum max_lr/(div·final_div) at the last step.
    @Test func oneCyclePyTorchKeyPoints() {
        let s = OneCycleSchedule.pytorch(pctStart: 0.3)
        #expect(near(s.factor(step: 0, totalSteps: 10), 0.04))
        #expect(near(s.factor(step: 1, totalSteps: 10), 0.52))
        #expect(near(s.factor(step: 2, totalSteps: 10), 1))
        #expect(near(s.factor(step: 9, totalSteps: 10), 4e-6, 1e-10))
        #expect(near(s.momentum(step: 2, totalSteps: 10), 0.85))
        #expect(near(s.momentum(step: 9, totalSteps: 10), 0.95))
    }

    @Test func cosineWarmupKeyPointsStartEndOfWarmupMiddleAndEnd() {
        let s = CosineWarmupSchedule(warmupSteps: 10, minFactor: 0.1)
        #expect(s.factor(step: 0, totalSteps: 110) == 0)
        #expect(near(s.factor(step: 5, totalSteps: 110), 0.5))
        #expect(near(s.factor(step: 10, totalSteps: 110), 1))
        #expect(near(s.factor(step: 60, totalSteps: 110), 0.55))
        #expect(near(s.factor(step: 110, totalSteps: 110), 0.1))
        #expect(near(s.factor(step: 500, totalSteps: 110), 0.1))
    }

    @Test func stepDecayAndLinearWarmupKeyPoints() {
        let d = StepDecaySchedule(stepSize: 30, gamma: 0.1)
        #expect(d.factor(step: 0, totalSteps: 90) == 1 && d.factor(step: 29, totalSteps: 90) == 1)
        #expect(near(d.factor(step: 30, totalSteps: 90), 0.1) && near(d.factor(step: 60, totalSteps: 90), 0.01))
        let w = LinearWarmupSchedule(warmupSteps: 4, startFactor: 0.25)
        #expect(w.factor(step: 0, totalSteps: 10) == 0.25 && w.factor(step: 2, totalSteps: 10) == 0.625)
        #expect(w.factor(step: 4, totalSteps: 10) == 1 && w.factor(step: 100, totalSteps: 10) == 1)
        #expect(ConstantSchedule().factor(step: 7, totalSteps: 10) == 1)
    }

    /// The optimizer multiplies each group's base rate by the factor at its own step count.
    @Test func optimizerAppliesTheScheduleFactorToEveryGroupAtItsStepCount() {
        let a = Tensor(shape: [1], data: [0], requiresGrad: true), b = Tensor(shape: [1], data: [0], requiresGrad: true)
        let opt = SGD(groups: [ParameterGroup(parameters: [("a", a)], learningRate: 0.1),
                               ParameterGroup(parameters: [("b", b)], learningRate: 1)])
        opt.setSchedule(LinearWarmupSchedule(warmupSteps: 2, startFactor: 0.5), totalSteps: 10)
        #expect(opt.learningRates == [0.05, 0.5])
        a.grad = .ones([1])
        b.grad = .ones([1])
        opt.step()
        #expect(a.toArray() == [-0.05] && b.toArray() == [-0.5])
        #expect(opt.learningRates == [0.1 * 0.75, 0.75])
    }
}
