import Datasets
import Foundation
import Optimizers
import Tensors

/// How a ``SegmentationModel`` trains.
public struct SegmentationTrainingOptions: Sendable, Equatable {
    /// Side of the square the images are warped to, a multiple of 32.
    public var size = 128
    public var epochs = 10
    public var batchSize = 8
    /// Adam learning rate of the decoder and head.
    public var learningRate: Float = 1e-3
    /// Adam learning rate of the encoder when it is fine-tuned (a tenth of the decoder's, as is usual for a
    /// pretrained encoder under a fresh decoder).
    public var encoderLearningRate: Float = 1e-4
    public var freezeEncoder = false
    public var loss: SegmentationLoss = .ceDice
    public var augmentation = JointAugmentation()
    public var seed: UInt64 = 0

    public init() {}

    /// Every option against its range, naming the CLI flag.
    public func validate() throws(DenseError) {
        guard size >= 32 && size <= 1024 && size % 32 == 0 else {
            throw .invalidOption(name: "--input-size", value: "\(size)", accepted: "a multiple of 32 in 32…1024")
        }
        guard (1...100_000).contains(epochs) else { throw .invalidOption(name: "--epochs", value: "\(epochs)", accepted: "1…100000") }
        guard (1...4096).contains(batchSize) else { throw .invalidOption(name: "--batch-size", value: "\(batchSize)", accepted: "1…4096") }
        for (name, lr) in [("--lr", learningRate), ("--encoder-lr", encoderLearningRate)] where !(lr > 0 && lr <= 10) {
            throw .invalidOption(name: name, value: "\(lr)", accepted: "a learning rate in (0, 10]")
        }
    }
}

/// One epoch of ``SegmentationTraining/train(_:on:options:normalization:progress:)``.
public struct SegmentationEpoch: Sendable, Codable, Equatable {
    public let epoch: Int
    public let loss: Double
    public let seconds: Double
}

/// Training, evaluation and prediction of a ``SegmentationModel``.
public enum SegmentationTraining {
    /// A batch of `pairs[indices]`: images `[B, 3, size, size]` and their labels (`B·size²`).
    static func batch(_ pairs: [SegmentationPair], _ indices: ArraySlice<Int>, size: Int, normalization: Normalization,
                      augmentation: JointAugmentation, seed: UInt64, epoch: Int, grey: Bool) -> (Tensor, [Int]) {
        var images: [Float] = []
        var labels: [Int] = []
        images.reserveCapacity(indices.count * 3 * size * size)
        for i in indices {
            var g = SeededGenerator.forSample(seed: seed, epoch: epoch, index: i)
            let (x, y) = pairs[i].sample(size: size, normalization: normalization, augmentation: augmentation, grey: grey, generator: &g)
            images += x
            labels += y
        }
        return (Tensor(shape: [indices.count, grey ? 1 : 3, size, size], data: images), labels)
    }

    /// Trains `model` with Adam on shuffled, jointly augmented batches; the encoder frozen or fine-tuned at its own
    /// learning rate. Returns the mean training loss of every epoch.
    @discardableResult
    public static func train(_ model: SegmentationModel, on data: SegmentationDataset, options: SegmentationTrainingOptions,
                             normalization: Normalization,
                             progress: (SegmentationEpoch) -> Void = { _ in }) throws(DenseError) -> [SegmentationEpoch] {
        try options.validate()
        model.setEncoderFrozen(options.freezeEncoder)
        let named = model.trainableParameters()
        let encoder = named.filter { $0.0.hasPrefix("encoder.") }.map { (name: $0.0, tensor: $0.1) }
        let rest = named.filter { !$0.0.hasPrefix("encoder.") }.map { (name: $0.0, tensor: $0.1) }
        var groups = [ParameterGroup(name: "decoder", parameters: rest, learningRate: options.learningRate)]
        if !encoder.isEmpty {
            groups.append(ParameterGroup(name: "encoder", parameters: encoder, learningRate: options.encoderLearningRate))
        }
        let optimizer = Adam(groups: groups)
        model.train()
        var history: [SegmentationEpoch] = []
        for epoch in 0..<options.epochs {
            let start = Date()
            var order = Array(data.pairs.indices)
            var shuffler = SeededGenerator.forEpoch(seed: options.seed, epoch: epoch)
            order.shuffle(using: &shuffler)
            var total = 0.0, batches = 0
            var i = 0
            while i < order.count {
                let slice = order[i..<Swift.min(i + options.batchSize, order.count)]
                i += options.batchSize
                // Batch norm needs more than one value per channel in training.
                if slice.count < 2 && order.count >= 2 { continue }
                let (x, labels) = batch(data.pairs, slice, size: options.size, normalization: normalization,
                                        augmentation: options.augmentation, seed: options.seed, epoch: epoch,
                                        grey: model.encoder.inputChannels == 1)
                optimizer.zeroGrad()
                let loss = options.loss(model(x), labels: labels)
                loss.backward()
                optimizer.step()
                total += Double(loss.item())
                batches += 1
            }
            let record = SegmentationEpoch(epoch: epoch + 1, loss: total / Double(Swift.max(batches, 1)),
                                           seconds: Date().timeIntervalSince(start))
            history.append(record)
            progress(record)
        }
        model.eval()
        return history
    }

    /// The logits `[N, classes, size, size]` of a batch, in inference mode.
    static func logits(_ model: SegmentationModel, _ x: Tensor) -> Tensor {
        model.eval()
        return withNoGrad { model(x).contiguous() }
    }

    /// Per-pixel argmax of logits `[N, C, H, W]`: `N·H·W` labels.
    public static func argmax(_ logits: Tensor) -> [Int] {
        let s = logits.shape
        let c = s[1], plane = s[2] * s[3]
        var out = [Int](repeating: 0, count: s[0] * plane)
        logits.contiguous().withUnsafeBufferPointer { p in
            for n in 0..<s[0] {
                for j in 0..<plane {
                    var best = 0
                    var top = p[n * c * plane + j]
                    for k in 1..<c where p[(n * c + k) * plane + j] > top {
                        top = p[(n * c + k) * plane + j]
                        best = k
                    }
                    out[n * plane + j] = best
                }
            }
        }
        return out
    }

    /// The confusion matrix of `model` on `data`, each image and mask warped to `size × size` (bilinear image,
    /// nearest mask), with no augmentation.
    public static func evaluate(_ model: SegmentationModel, on data: SegmentationDataset, size: Int,
                                normalization: Normalization, batchSize: Int = 8) -> (SegmentationConfusion, [Double]) {
        var confusion = SegmentationConfusion(classes: model.classes)
        var perImage: [Double] = []
        var i = 0
        while i < data.pairs.count {
            let slice = Array(data.pairs.indices)[i..<Swift.min(i + batchSize, data.pairs.count)]
            i += batchSize
            let (x, labels) = batch(data.pairs, slice, size: size, normalization: normalization, augmentation: .none, seed: 0, epoch: 0,
                                    grey: model.encoder.inputChannels == 1)
            let predicted = argmax(logits(model, x))
            confusion.add(predicted: predicted, truth: labels)
            let plane = size * size
            for k in 0..<slice.count {
                var one = SegmentationConfusion(classes: model.classes)
                one.add(predicted: Array(predicted[(k * plane)..<((k + 1) * plane)]), truth: Array(labels[(k * plane)..<((k + 1) * plane)]))
                perImage.append(one.meanIoU)
            }
        }
        return (confusion, perImage)
    }

    /// The mask `model` predicts for `image`, at the image's own size: the logits at `size × size` resized back
    /// bilinearly, then the argmax.
    public static func predict(_ model: SegmentationModel, image: RGBImage, size: Int, normalization: Normalization) -> LabelMask {
        let blank = LabelMask(width: image.width, height: image.height, labels: [UInt8](repeating: 0, count: image.width * image.height))
        var g = SeededGenerator(seed: 0)
        let grey = model.encoder.inputChannels == 1
        let (x, _) = SegmentationPair(name: "", image: image, mask: blank)
            .sample(size: size, normalization: normalization, augmentation: .none, grey: grey, generator: &g)
        let out = logits(model, Tensor(shape: [1, grey ? 1 : 3, size, size], data: x))
        let resized = withNoGrad { out.upsample(size: (image.height, image.width), mode: .bilinear) }
        return LabelMask(width: image.width, height: image.height, labels: argmax(resized).map { UInt8(clamping: $0) })
    }
}
