import Checkpoints
import Foundation
import Optimizers
import Tensors
import Testing

/// The optimizers replay PyTorch's runs (tools/make_optimizer_fixtures.py): same initial parameters, same 10
/// gradients, two groups with different learning rates and weight decays; the parameters must agree after every
/// step.
///
/// Tolerance: 1e-6 absolute on parameters of magnitude ≲ 2. The kernels evaluate PyTorch's expressions in
/// PyTorch's order in float32, but ATen's vectorised CPU loops fuse some multiply-adds (FMA) where ours round twice,
/// and scalar coefficients start from float32 hyperparameters where PyTorch's are Python doubles; both leave
/// differences of a few float32 ulps (the measured maxima are printed, ~1e-7).
@Suite struct PyTorchGoldenTests {
    static let tolerance: Float = 1e-6

    @Test func sgdWithMomentumAndWeightDecayMatchesPyTorchAfterEveryStep() throws {
        let fx = try OptimizerFixture("sgd_momentum_wd")
        let (p0, p1) = try fx.parameters()
        let opt = SGD(groups: try fx.groups(p0, p1), momentum: try fx.meta("momentum"))
        let diff = fx.replay(opt, p0, p1, steps: 0..<OptimizerFixture.steps)
        print("sgd_momentum_wd: max |Δ| = \(diff)")
        #expect(diff <= Self.tolerance)
    }

    @Test func sgdWithNesterovMomentumMatchesPyTorchAfterEveryStep() throws {
        let fx = try OptimizerFixture("sgd_nesterov")
        let (p0, p1) = try fx.parameters()
        let opt = SGD(groups: try fx.groups(p0, p1), momentum: try fx.meta("momentum"), nesterov: true)
        let diff = fx.replay(opt, p0, p1, steps: 0..<OptimizerFixture.steps)
        print("sgd_nesterov: max |Δ| = \(diff)")
        #expect(diff <= Self.tolerance)
    }

    @Test func adamWithL2WeightDecayMatchesPyTorchAfterEveryStep() throws {
        let fx = try OptimizerFixture("adam_wd")
        let (p0, p1) = try fx.parameters()
        let opt = Adam(groups: try fx.groups(p0, p1), beta1: try fx.meta("beta1"), beta2: try fx.meta("beta2"),
                       eps: try fx.meta("eps"))
        let diff = fx.replay(opt, p0, p1, steps: 0..<OptimizerFixture.steps)
        print("adam_wd: max |Δ| = \(diff)")
        #expect(diff <= Self.tolerance)
    }

    @Test func adamWWithDecoupledWeightDecayMatchesPyTorchAfterEveryStep() throws {
        let fx = try OptimizerFixture("adamw")
        let (p0, p1) = try fx.parameters()
        let opt = AdamW(groups: try fx.groups(p0, p1), beta1: try fx.meta("beta1"), beta2: try fx.meta("beta2"),
                        eps: try fx.meta("eps"))
        let diff = fx.replay(opt, p0, p1, steps: 0..<OptimizerFixture.steps)
        print("adamw: max |Δ| = \(diff)")
        #expect(diff <= Self.tolerance)
    }

    /// PyTorch ran `clip_grad_norm_([p0, p1], 1.0)` before each AdamW step; the norms cross 1 in both directions.
    @Test func clippingInsideStepMatchesPyTorchClipGradNormThenAdamW() throws {
        let fx = try OptimizerFixture("adamw_clip")
        let norms = try fx.file.tensor("grad_norm").toArray()
        let (p0, p1) = try fx.parameters()
        let opt = AdamW(groups: try fx.groups(p0, p1), beta1: try fx.meta("beta1"), beta2: try fx.meta("beta2"),
                        eps: try fx.meta("eps"))
        opt.maxGradNorm = try fx.meta("max_norm")
        var measured: [Float] = []
        var worst: Float = 0
        for k in 0..<OptimizerFixture.steps {
            fx.setGradients(step: k, p0, p1)
            let g0 = bits(p0.grad!)
            opt.step()
            measured.append(opt.lastGradNorm!)
            // The coefficient is fused into the update: the gradients themselves stay as they were.
            #expect(bits(p0.grad!) == g0)
            worst = max(worst, fx.maxDiff(step: k, p0, p1))
        }
        print("adamw_clip (maxGradNorm): max |Δ| = \(worst), norm max rel Δ = \(maxRelDiff(measured, norms))")
        #expect(worst <= Self.tolerance)
        #expect(maxRelDiff(measured, norms) <= 1e-6)
        #expect(norms.contains { $0 < 1 } && norms.contains { $0 > 1 })
    }

    /// The explicit `clipGradNorm` (PyTorch's in-place `clip_grad_norm_`) followed by `step()` gives the very same
    /// bits as clipping inside `step()`.
    @Test func clipGradNormThenStepEqualsClippingInsideStepBitForBit() throws {
        let fx = try OptimizerFixture("adamw_clip")
        let maxNorm = try fx.meta("max_norm")
        let (a0, a1) = try fx.parameters()
        let (b0, b1) = try fx.parameters()
        let inside = AdamW(groups: try fx.groups(a0, a1))
        inside.maxGradNorm = maxNorm
        let outside = AdamW(groups: try fx.groups(b0, b1))
        let norms = try fx.file.tensor("grad_norm").toArray()
        var returned: [Float] = []
        _ = fx.replay(inside, a0, a1, steps: 0..<OptimizerFixture.steps)
        let diff = fx.replay(outside, b0, b1, steps: 0..<OptimizerFixture.steps) { _ in
            returned.append(outside.clipGradNorm(maxNorm: maxNorm))
        }
        print("adamw_clip (clipGradNorm): max |Δ| = \(diff)")
        #expect(diff <= Self.tolerance)
        #expect(maxRelDiff(returned, norms) <= 1e-6)
        #expect(bits(a0) == bits(b0) && bits(a1) == bits(b1))
    }

    /// PyTorch's `OneCycleLR` (pct_start 0.25, div 25, final_div 1e4, momentum 0.95 → 0.85 → 0.95) over SGD with
    /// momentum: the same learning rate per group and momentum before each step, and the same parameters after it.
    @Test func oneCycleScheduleDrivesSGDLikePyTorchOneCycleLR() throws {
        let fx = try OptimizerFixture("onecycle_sgd")
        let (p0, p1) = try fx.parameters()
        let opt = SGD(groups: try fx.groups(p0, p1), momentum: try fx.meta("momentum"))
        try checkOneCycle(fx, opt, p0, p1)
    }

    /// The same over AdamW, where the cycled momentum is β1 (in the average and in the bias correction).
    @Test func oneCycleScheduleDrivesAdamWLikePyTorchOneCycleLR() throws {
        let fx = try OptimizerFixture("onecycle_adamw")
        let (p0, p1) = try fx.parameters()
        let opt = AdamW(groups: try fx.groups(p0, p1), beta1: try fx.meta("beta1"), beta2: try fx.meta("beta2"),
                        eps: try fx.meta("eps"))
        try checkOneCycle(fx, opt, p0, p1)
    }

    func checkOneCycle(_ fx: OptimizerFixture, _ opt: Optimizer, _ p0: Tensor, _ p1: Tensor) throws {
        let schedule = OneCycleSchedule.pytorch(
            pctStart: Double(try fx.meta("pct_start")), divFactor: Double(try fx.meta("div_factor")),
            finalDivFactor: Double(try fx.meta("final_div_factor")), baseMomentum: try fx.meta("base_momentum"),
            maxMomentum: try fx.meta("max_momentum"))
        opt.setSchedule(schedule, totalSteps: OptimizerFixture.steps)
        let lrs = try fx.file.tensor("lr").toArray(), moms = try fx.file.tensor("momentum").toArray()
        var ourLR: [Float] = [], ourMom: [Float] = []
        let diff = fx.replay(opt, p0, p1, steps: 0..<OptimizerFixture.steps) { _ in
            ourLR += opt.learningRates
            let m = opt.scheduledMomentum!
            ourMom += [m, m]
        }
        print("\(fx.name): max |Δ| = \(diff), lr max rel Δ = \(maxRelDiff(ourLR, lrs)), momentum max |Δ| = \(maxAbsDiff(ourMom, moms))")
        #expect(diff <= Self.tolerance)
        #expect(maxRelDiff(ourLR, lrs) <= 1e-6)
        #expect(maxAbsDiff(ourMom, moms) <= 1e-6)
    }
}
