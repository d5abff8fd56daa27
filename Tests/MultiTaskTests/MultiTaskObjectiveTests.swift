import Foundation
import Layers
import Optimizers
import Testing
import Tensors
import TransferKit
@testable import MultiTask

private func tasks() -> [TaskHead] {
    [TaskHead(spec: TaskSpec(name: "kind", kind: .classification), labels: ["a", "b", "c"], scaling: nil),
     TaskHead(spec: TaskSpec(name: "tags", kind: .multilabel), labels: ["x", "y"], scaling: nil),
     TaskHead(spec: TaskSpec(name: "size", kind: .regression), labels: ["size"], scaling: TargetScaling(mean: 0, std: 1))]
}

private func randn(_ dims: [Int], seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.randn(Shape(dims), generator: &g)
}

/// Targets for 6 rows; row 1 lacks `kind`, rows 2 and 4 lack `tags`, row 5 lacks `size`.
private func targetMatrix() -> Tensor {
    let n = Float.nan
    return Tensor(shape: [6, 4], data: [
        0, 1, 0, 0.5,
        n, 0, 1, -1,
        2, n, n, 2,
        1, 1, 1, 0,
        0, n, n, 1.5,
        2, 0, 0, n,
    ])
}

private func batch(_ x: Tensor, _ y: Tensor) -> Batch { Batch(inputs: x, targets: .values(y), indices: Array(0..<x.shape[0])) }

@Suite struct MultiTaskObjectiveTests {
    /// A sample's missing label adds nothing: its row's features get a zero gradient from that task's loss, the
    /// loss equals the loss of the labelled rows alone, and every gradient matches central finite differences.
    @Test func maskedLossIgnoresMissingLabelsAndMatchesFiniteDifferences() throws {
        Initializer.seed(0)
        let heads = MultiTaskHeads(tasks: tasks(), inputs: 5, weighting: .fixed)
        let objective = MultiTaskObjective(heads: heads, weighting: .fixed)
        let x = randn([6, 5], seed: 1), y = targetMatrix()
        x.requiresGrad = true
        // The classification task alone: row 1 is unlabelled.
        let out = heads(x)[0]
        let masked = try #require(objective.maskedLoss(task: 0, output: out, targets: y))
        masked.backward()
        let gx = try #require(x.grad).toArray()
        #expect(gx[5..<10].allSatisfy { $0 == 0 }, "row 1 has no 'kind' label: no gradient")
        #expect(gx[0..<5].contains { $0 != 0 })
        let labelled = [0, 2, 3, 4, 5]
        let alone = withNoGrad { Tensor.crossEntropy(logits: heads(x.indexSelect(axis: 0, indices: labelled))[0], targets: [0, 2, 1, 0, 2]) }
        #expect(abs(masked.item() - alone.item()) <= 1e-6)

        // The whole objective: analytic gradients of x against finite differences.
        x.grad = nil
        for (_, p) in heads.namedParameters() { p.grad = nil }
        objective.loss(objective.outputs(batch(x, y), forward: { $0.tensor! }, training: true), batch: batch(x, y)).backward()
        let analytic = try #require(x.grad).toArray()
        func loss() -> Float {
            withNoGrad { objective.loss(objective.outputs(batch(x, y), forward: { $0.tensor! }, training: false), batch: batch(x, y)).item() }
        }
        let eps: Float = 1e-2
        for i in 0..<x.count {
            let v = x.toArray()[i]
            x.withMutableData { $0[i] = v + eps }
            let up = loss()
            x.withMutableData { $0[i] = v - eps }
            let down = loss()
            x.withMutableData { $0[i] = v }
            #expect(abs((up - down) / (2 * eps) - analytic[i]) <= 2e-3, "d/dx[\(i)]")
        }
    }

    /// A batch in which no sample is labelled for a task trains the others only; with no labels at all the loss is 0.
    @Test func tasksWithoutLabelsInABatchAreSkipped() {
        let heads = MultiTaskHeads(tasks: tasks(), inputs: 5, weighting: .fixed)
        let objective = MultiTaskObjective(heads: heads, weighting: .fixed)
        let n = Float.nan
        let y = Tensor(shape: [2, 4], data: [n, n, n, 1, n, n, n, -1])
        let x = randn([2, 5], seed: 3)
        let l = objective.loss(objective.outputs(batch(x, y), forward: { $0.tensor! }, training: true), batch: batch(x, y))
        #expect(objective.taskLosses[0] == nil && objective.taskLosses[1] == nil && objective.taskLosses[2] != nil)
        #expect(abs(l.item() - objective.taskLosses[2]!) <= 1e-6)
        let none = Tensor(shape: [1, 4], data: [n, n, n, n])
        #expect(objective.loss(objective.outputs(batch(randn([1, 5], seed: 4), none), forward: { $0.tensor! }, training: true),
                               batch: batch(randn([1, 5], seed: 4), none)).item() == 0)
    }

    /// Uncertainty weighting learns σ²: the task with noisy targets ends with a larger learned variance (a smaller
    /// weight) than the task with clean ones (Kendall et al. 2018).
    @Test func uncertaintyWeightsLearnTaskNoise() throws {
        let specs = [TaskHead(spec: TaskSpec(name: "clean", kind: .regression), labels: ["clean"], scaling: TargetScaling(mean: 0, std: 1)),
                     TaskHead(spec: TaskSpec(name: "noisy", kind: .regression), labels: ["noisy"], scaling: TargetScaling(mean: 0, std: 1))]
        let heads = MultiTaskHeads(tasks: specs, inputs: 4, weighting: .uncertainty, seed: 1)
        let objective = MultiTaskObjective(heads: heads, weighting: .uncertainty)
        let x = randn([256, 4], seed: 5), w = [Float](arrayLiteral: 1, -2, 0.5, 1)
        let noise = randn([256], seed: 6).toArray(), xs = x.toArray()
        var y: [Float] = []
        for r in 0..<256 {
            let clean = (0..<4).reduce(Float(0)) { $0 + xs[r * 4 + $1] * w[$1] }
            y += [clean, clean + 2 * noise[r]]
        }
        let targets = Tensor(shape: [256, 2], data: y)
        let opt = AdamW(parameters: heads.namedParameters().map { ($0.0, $0.1) }, learningRate: 0.05, weightDecay: 0)
        for _ in 0..<300 {
            opt.zeroGrad()
            objective.loss(objective.outputs(batch(x, targets), forward: { $0.tensor! }, training: true), batch: batch(x, targets)).backward()
            opt.step()
        }
        let s = try #require(heads.logVariance).toArray()
        // The noisy task's residual variance is 4 (noise std 2): exp(s) → MSE ≈ 4; the clean task's goes toward 0.
        #expect(s[1] > s[0] + 2, "log σ²: clean \(s[0]), noisy \(s[1])")
        #expect(abs(Foundation.exp(s[1]) - 4) < 1.5, "noisy σ² \(Foundation.exp(s[1])) should approach the noise variance 4")
    }

    /// DWA weighs a task whose loss fell slowly more than one whose loss fell fast, and the weights sum to the
    /// number of tasks.
    @Test func dynamicWeightAverageFollowsLossRatios() {
        let heads = MultiTaskHeads(tasks: Array(tasks().prefix(2)), inputs: 5, weighting: .dwa)
        let objective = MultiTaskObjective(heads: heads, weighting: .dwa)
        #expect(objective.currentWeights() == [1, 1])
        let x = randn([4, 5], seed: 7)
        let n = Float.nan
        func epoch(_ scale: Float) {
            let y = Tensor(shape: [4, 3], data: [0, 1, 0, 1, 0, 1, 2, 1, 1, 0, n, n])
            _ = objective.loss(objective.outputs(batch(x * scale, y), forward: { $0.tensor! }, training: true), batch: batch(x * scale, y))
            objective.endEpoch()
        }
        epoch(1); epoch(1)
        #expect(objective.epochLosses.count == 2)
        let equal = objective.currentWeights()
        #expect(abs(equal[0] - 1) < 1e-5 && abs(equal[1] - 1) < 1e-5)  // equal ratios: equal weights
        // Task 0's loss halved, task 1's stayed: w = 2·softmax([0.5, 1] / 2).
        objective.epochLosses = [[1, 1], [0.5, 1]]
        let w = objective.currentWeights()
        let e0 = Foundation.exp(Float(0.25)), e1 = Foundation.exp(Float(0.5))
        #expect(abs(w[0] - 2 * e0 / (e0 + e1)) < 1e-5 && abs(w[1] - 2 * e1 / (e0 + e1)) < 1e-5 && w[0] < 1 && w[1] > 1)
    }
}
