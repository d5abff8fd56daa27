import Datasets
import Foundation
import Layers
import Models
import Optimizers
import Tensors
import TransferKit

/// Settings of a SimCLR run.
public struct SimCLROptions: Sendable {
    public var epochs = 5
    /// Images per batch (each gives two views, so 2 × batchSize go through the network).
    public var batchSize = 32
    /// τ of ``NTXent`` (SimCLR's 0.5 for small batches; lightly's default 0.5).
    public var temperature: Float = 0.5
    /// Side of the augmented views (small images keep CPU runs affordable).
    public var imageSize = 96
    public var learningRate: Float = 3e-4
    /// Block groups of the backbone that train (from the top); the rest stays frozen.
    public var unfreeze = 3
    /// Projection head: Linear(d, hidden) → ReLU → Linear(hidden, projection) (SimCLR's 2-layer MLP).
    public var hidden = 512
    public var projection = 128
    public var seed: UInt64 = 0

    public init() {}
}

/// SimCLR continued pre-training of an image backbone on unlabelled images (Chen et al., ICML 2020): two strong
/// random views of each image (random resized crop, flip, TrivialAugment's colour and geometry operations), the
/// backbone's pooled features through a projection MLP, ``NTXent`` on the projections, Adam on the unfrozen top
/// groups and the projection head. Batch norm of the trained groups runs in train mode. The projection head is
/// discarded afterwards: the adapted backbone is what transfers.
public enum SimCLR {
    /// Trains `encoder`'s network in place on the images at `paths`; returns the mean loss per epoch.
    public static func pretrain(_ encoder: ImageEncoder, images paths: [String], options o: SimCLROptions,
                                progress: ((_ epoch: Int, _ step: Int, _ steps: Int, _ loss: Double) -> Void)? = nil) throws -> [Double] {
        precondition(paths.count >= 2, "SimCLR: at least 2 images")
        let net = encoder.model
        let pictures = try paths.map { p throws -> RGBImage in
            var options = DecodeOptions()
            options.target = .shorterSide(o.imageSize)
            return try ImageDecoder.decode(contentsOf: p, options: options)
        }
        let pipeline = ImagePipeline(transforms: [RandomResizedCrop(o.imageSize, scale: 0.2...1), RandomHorizontalFlip(), TrivialAugmentWide()],
                                     normalization: encoder.preprocessing.pixelNormalization)
        Initializer.seed(o.seed)
        let head = Sequential(Linear(net.featureDimension, o.hidden), Activation(.relu), Linear(o.hidden, o.projection))
        net.freeze(allButTop: Swift.min(o.unfreeze, net.blockGroups.count))
        net.train()
        head.train()
        let parameters = net.trainableParameters().map { (name: "backbone." + $0.0, tensor: $0.1) }
            + head.trainableParameters().map { (name: "projection." + $0.0, tensor: $0.1) }
        let optimizer = Adam(groups: [ParameterGroup(name: "simclr", parameters: parameters, learningRate: o.learningRate)])
        var losses: [Double] = []
        let batch = Swift.max(2, Swift.min(o.batchSize, paths.count))
        for epoch in 0..<o.epochs {
            var order = Array(paths.indices)
            var shuffler = SeededGenerator(seed: o.seed &+ UInt64(epoch))
            order.shuffle(using: &shuffler)
            let steps = order.count / batch
            var total = 0.0
            for step in 0..<steps {
                let ids = Array(order[(step * batch)..<((step + 1) * batch)])
                var views: [[Tensor]] = [[], []]
                for i in ids {
                    for v in 0..<2 {
                        var g = SeededGenerator.forSample(seed: o.seed &+ UInt64(v) &* 7919, epoch: epoch, index: i &* 2 &+ v)
                        views[v].append(pipeline.apply(pictures[i], generator: &g).tensor())
                    }
                }
                let z = head(net.features(Tensor.stack(views[0] + views[1])))
                let loss = NTXent.loss(z.sliced(axis: 0, start: 0, end: batch), z.sliced(axis: 0, start: batch, end: 2 * batch),
                                       temperature: o.temperature)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                let value = Double(loss.toArray()[0])
                total += value
                progress?(epoch, step + 1, steps, value)
            }
            losses.append(total / Double(Swift.max(steps, 1)))
        }
        net.eval()
        net.unfreeze()
        return losses
    }
}
