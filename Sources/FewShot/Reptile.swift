import Foundation
import Layers
import Models
import Optimizers
import Tensors

/// Settings of Reptile meta-training (the names of openai/supervised-reptile in parentheses).
public struct ReptileOptions: Sendable {
    /// Tasks, one outer (meta) step each (`meta_iters`; meta-batch 1).
    public var metaIterations = 100
    /// Classes per task (`classes`).
    public var ways = 4
    /// Examples per class in a task (`train_shots`).
    public var examplesPerClass = 10
    /// Inner Adam steps per task, each on the whole task (`inner_iters`).
    public var innerSteps = 5
    /// Inner Adam learning rate (`learning_rate`; Adam with β1 = 0 as in supervised-reptile).
    public var innerLearningRate: Float = 1e-3
    /// The outer step ε at the first task (`meta_step`), annealed linearly to ``metaStepSizeFinal`` at the last.
    public var metaStepSize: Float = 1
    public var metaStepSizeFinal: Float = 0
    /// Block groups of the backbone that train, from the top.
    public var unfreeze = 3
    /// Trained BatchNorm layers normalise with their running statistics (see ``EpisodicTrainingOptions``).
    public var batchNormUsesRunningStatistics = true
    public var seed: UInt64 = 0

    public init() {}

    /// ε for task `i` of `n`: linear from ``metaStepSize`` to ``metaStepSizeFinal`` (supervised-reptile `frac_done`).
    public func metaStep(_ i: Int, of n: Int) -> Float {
        let done = Float(i) / Float(Swift.max(n, 1))
        return done * metaStepSizeFinal + (1 - done) * metaStepSize
    }
}

/// Reptile (Nichol, Achiam & Schulman 2018, "On First-Order Meta-Learning Algorithms"; openai/supervised-reptile):
/// for each task, remember the weights θ, train a copy on the task for a few Adam steps to φ, then move θ towards the
/// adapted weights, θ ← θ + ε (φ − θ). The model is the backbone (top ``ReptileOptions/unfreeze`` groups) with a
/// `ways`-way linear head on its pooled features; labels are assigned to classes in a random order per task, so the
/// head meta-learns an initialisation rather than classes. The meta-trained backbone is then evaluated on novel
/// classes with frozen-feature methods (prototypes), as the prototypical method is.
public enum Reptile {
    /// Meta-trains `net` in place on tasks drawn from `images`; returns each task's loss after its inner steps.
    public static func train(_ net: any VisionBackbone, images: InMemoryImages, options o: ReptileOptions,
                             progress: ((_ task: Int, _ tasks: Int, _ loss: Double) -> Void)? = nil) throws -> [Double] {
        guard o.examplesPerClass >= 2 else {
            throw FewShotError.invalidOption(name: "examples per class", value: "\(o.examplesPerClass)", accepted: "at least 2")
        }
        // A task is every drawn example: the sampler's support and query sets together.
        let sampler = try EpisodeSampler(labels: images.labels, ways: o.ways, shots: o.examplesPerClass - 1, queries: 1)
        net.freeze(allButTop: Swift.min(o.unfreeze, net.blockGroups.count))
        net.train()
        defer { net.eval(); net.unfreeze() }
        let head = Tensor.zeros([net.featureDimension, o.ways]), bias = Tensor.zeros([o.ways])
        head.requiresGrad = true; bias.requiresGrad = true
        let meta = net.trainableParameters().map { (name: $0.0, tensor: $0.1) } + [(name: "head.weight", tensor: head), (name: "head.bias", tensor: bias)]
        let inner = Adam(groups: [ParameterGroup(name: "reptile", parameters: meta, learningRate: o.innerLearningRate)], beta1: 0)
        var g = SeededGenerator(seed: o.seed)
        var losses: [Double] = []
        try net.withBatchNorm(keepingRunningStatistics: o.batchNormUsesRunningStatistics) {
            for i in 0..<o.metaIterations {
                let e = sampler.sample(using: &g)
                let x = images.batch(e.support + e.query), y = e.supportLabels + e.queryLabels
                let before = meta.map { $0.tensor.copy() }
                var last = 0.0
                for _ in 0..<o.innerSteps {
                    let loss = Tensor.crossEntropy(logits: net.features(x).matmul(head) + bias, targets: y)
                    inner.zeroGrad()
                    loss.backward()
                    inner.step()
                    last = Double(loss.toArray()[0])
                }
                guard last.isFinite else { throw FewShotError.invalidOption(name: "--lr", value: "\(o.innerLearningRate)", accepted: "a smaller rate: the inner loss diverged at task \(i + 1)") }
                let eps = o.metaStep(i, of: o.metaIterations)
                withNoGrad {
                    for (p, theta) in zip(meta, before) { p.tensor.assign(theta + (p.tensor - theta) * eps) }
                }
                losses.append(last)
                progress?(i + 1, o.metaIterations, last)
            }
        }
        return losses
    }
}
