import Foundation
import HeadFitting
import Layers
import Models
import Optimizers
import Tensors

/// Settings of episodic (meta-)training of an image backbone.
public struct EpisodicTrainingOptions: Sendable {
    public var episodes = 200
    public var ways = 4
    public var shots = 5
    public var queries = 5
    public var learningRate: Float = 1e-4
    /// Block groups that train, from the top.
    public var unfreeze = 3
    /// The prototypical loss's metric; cosine logits are multiplied by ``scale``.
    public var metric: PrototypeMetric = .cosine
    public var scale: Float = 10
    /// Whether the trained BatchNorm layers keep normalising with their pretrained running statistics (and leave
    /// them untouched) while their weight and bias train — the default, as
    /// TransferKit's `TrainOptions.batchNormUsesRunningStatistics` for fine-tuning. `false` normalises each episode with its own batch
    /// statistics and drifts the running ones towards the base-class episodes, which measurably lowered novel-class
    /// accuracy on Fashion-MNIST (docs/few-shot.md).
    public var batchNormUsesRunningStatistics = true
    public var seed: UInt64 = 0

    public init() {}
}

/// Episodic fine-tuning of a backbone with the prototypical loss (Snell et al. 2017; easyfsl's episodic training):
/// each step samples an episode of the base classes, embeds its support and query images, builds the class
/// prototypes from the support, and minimises the cross-entropy of the queries' scores against the prototypes
/// (−squared Euclidean distance, or scaled cosine similarity). The trained backbone is then evaluated on novel
/// classes with frozen-feature methods.
public enum EpisodicTraining {
    /// The prototypical loss of `features` `[ways·shots + ways·queries, d]`: support rows first, grouped by class
    /// (`shots` each), then the queries grouped by class; differentiable.
    public static func prototypicalLoss(_ features: Tensor, ways: Int, shots: Int, queries: Int, metric: PrototypeMetric,
                                        scale: Float) -> Tensor {
        let ns = ways * shots
        precondition(features.rank == 2 && features.shape[0] == ns + ways * queries, "prototypicalLoss: features \(features.shape)")
        var avg = [Float](repeating: 0, count: ways * ns)
        for w in 0..<ways { for s in 0..<shots { avg[w * ns + w * shots + s] = 1 / Float(shots) } }
        let support = features.sliced(axis: 0, start: 0, end: ns)
        let query = features.sliced(axis: 0, start: ns, end: features.shape[0])
        let p = Tensor(shape: [ways, ns], data: avg).matmul(support)
        let logits: Tensor
        switch metric {
        case .cosine:
            logits = normalized(query).matmul(normalized(p).transposed(0, 1)) * scale
        case .euclidean:
            // −‖q − p‖² up to the per-query constant ‖q‖², which softmax ignores.
            logits = query.matmul(p.transposed(0, 1)) * 2 - (p * p).sum(axis: 1, keepDims: true).transposed(0, 1)
        }
        let targets = (0..<ways).flatMap { [Int](repeating: $0, count: queries) }
        return Tensor.crossEntropy(logits: logits, targets: targets)
    }

    static func normalized(_ x: Tensor) -> Tensor {
        x / Tensor.maximum((x * x).sum(axis: 1, keepDims: true).sqrt(), Tensor(scalar: 1e-12))
    }

    /// Trains `net` in place on episodes of `images`; returns the loss of every episode.
    public static func train(_ net: any VisionBackbone, images: InMemoryImages, options o: EpisodicTrainingOptions,
                             progress: ((_ episode: Int, _ episodes: Int, _ loss: Double) -> Void)? = nil) throws -> [Double] {
        let sampler = try EpisodeSampler(labels: images.labels, ways: o.ways, shots: o.shots, queries: o.queries)
        net.freeze(allButTop: Swift.min(o.unfreeze, net.blockGroups.count))
        net.train()
        defer { net.eval(); net.unfreeze() }
        let parameters = net.trainableParameters().map { (name: $0.0, tensor: $0.1) }
        let optimizer = Adam(groups: [ParameterGroup(name: "episodic", parameters: parameters, learningRate: o.learningRate)])
        var g = SeededGenerator(seed: o.seed)
        var losses: [Double] = []
        net.withBatchNorm(keepingRunningStatistics: o.batchNormUsesRunningStatistics) {
            for i in 0..<o.episodes {
                let e = sampler.sample(using: &g)
                let loss = prototypicalLoss(net.features(images.batch(e.support + e.query)), ways: o.ways, shots: o.shots,
                                            queries: o.queries, metric: o.metric, scale: o.scale)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                losses.append(Double(loss.toArray()[0]))
                progress?(i + 1, o.episodes, losses[i])
            }
        }
        return losses
    }

    /// Pooled features of every image of `images`, in eval mode without gradients.
    public static func features(_ net: any VisionBackbone, images: InMemoryImages, batchSize: Int = 64) -> FeatureMatrix {
        net.eval()
        var v: [Double] = []
        for start in stride(from: 0, to: images.count, by: batchSize) {
            let idx = Array(start..<Swift.min(images.count, start + batchSize))
            v += withNoGrad { net.features(images.batch(idx)) }.toArray().map(Double.init)
        }
        return FeatureMatrix(values: v, rows: images.count, columns: net.featureDimension)
    }
}
