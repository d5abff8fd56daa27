import Datasets
import Foundation
import Models
import Tensors

extension ImagePreprocessing {
    /// The normalisation of the model's inputs.
    public var pixelNormalization: Datasets.Normalization {
        switch normalization {
        case .imagenet: .imagenet
        case .efficientNetLite: .efficientNetLite
        }
    }

    /// What the model sees at evaluation: resize the shorter side to ``resizeShorterTo``, centre-crop ``inputSize``,
    /// normalise; JPEGs are decoded at reduced size when that is enough.
    public var evaluationPipeline: ImagePipeline {
        .evaluation(size: inputSize, resize: resizeShorterTo, normalization: pixelNormalization)
    }

    /// The training pipeline of `policy` (``Datasets/AugmentationPolicy``: `none` is the evaluation pipeline).
    /// JPEGs are decoded at reduced size (shorter side at least ``resizeShorterTo``) before the random crop.
    public func trainingPipeline(_ policy: AugmentationPolicy) -> ImagePipeline {
        guard policy != .none else { return evaluationPipeline }
        var p = ImagePipeline.training(policy, size: inputSize, normalization: pixelNormalization)
        p.decodeTarget = .shorterSide(resizeShorterTo)
        return p
    }
}

extension ImagePipeline {
    /// The model input `[3, size, size]` of an already decoded image (deterministic pipelines only).
    public func tensor(_ image: RGBImage) -> Tensor {
        var g = SeededGenerator(seed: 0)
        return apply(image, generator: &g).tensor()
    }

    /// Decodes the file at `path` and prepares it (deterministic pipelines only).
    public func tensor(contentsOf path: String) throws(DatasetError) -> Tensor {
        var options = DecodeOptions()
        options.target = decodeTarget
        return tensor(try ImageDecoder.decode(contentsOf: path, options: options))
    }
}

/// Image files decoded, augmented and normalised per epoch by a Datasets ``Datasets/DataLoader`` (worker threads
/// prepare the next batches while the model trains on this one; randomness is seeded per sample and epoch, so a
/// resumed run sees the same images as an uninterrupted one).
public struct ImageBatchSource: ShardableBatchSource {
    public let data: LabeledData
    public let pipeline: ImagePipeline
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    let scaling: TargetScaling?
    let loader: DataLoader

    /// - Parameter shard: decode only this replica's share of every batch (``Datasets/LoaderShard``); nil: all of it.
    public init(data: LabeledData, pipeline: ImagePipeline, batchSize: Int, shuffle: Bool, seed: UInt64,
                scaling: TargetScaling? = nil, workers: Int = 1, shard: LoaderShard? = nil) throws {
        self.data = data; self.pipeline = pipeline; self.batchSize = batchSize; self.shuffle = shuffle; self.seed = seed
        self.scaling = scaling
        let inputs = data.inputs
        var options = LoaderOptions(batchSize: batchSize, shuffle: shuffle, seed: seed, workers: workers)
        options.shard = shard
        loader = try DataLoader(dataset: data, options: options) {
            (index: Int, g: inout SeededGenerator) throws(DatasetError) -> FloatImage in
            guard case .image(let path) = inputs[index] else { throw .unreadable(path: inputs[index].name, reason: "not an image input") }
            var options = DecodeOptions()
            options.target = pipeline.decodeTarget
            return pipeline.apply(try ImageDecoder.decode(contentsOf: path, options: options), generator: &g)
        }
    }

    public var sampleCount: Int { data.inputs.count }

    /// The same source decoding only positions `rank, rank + ranks, …` of every batch.
    public func shard(rank: Int, of ranks: Int) throws -> BatchSource {
        try ImageBatchSource(data: data, pipeline: pipeline, batchSize: batchSize, shuffle: shuffle, seed: seed, scaling: scaling,
                             workers: loader.options.workers, shard: LoaderShard(rank: rank, of: ranks))
    }

    public func batches(epoch: Int) throws -> BatchStream {
        let it = loader.epoch(epoch)
        let data = self.data, scaling = self.scaling
        return BatchStream(count: loader.batchesPerEpoch) {
            guard let b = try it.next() else { return nil }
            return Batch(inputs: b.images, targets: data.learnerTargets(b.indices, scaling: scaling), indices: b.indices)
        }
    }
}

/// Texts tokenized per batch (padded to the batch's longest), shuffled per epoch with a seed.
public struct TextBatchSource: BatchSource {
    public let data: LabeledData
    public let embedder: SentenceEmbedder
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64
    let scaling: TargetScaling?

    public init(data: LabeledData, embedder: SentenceEmbedder, batchSize: Int, shuffle: Bool, seed: UInt64, scaling: TargetScaling? = nil) {
        self.data = data; self.embedder = embedder; self.batchSize = batchSize; self.shuffle = shuffle; self.seed = seed
        self.scaling = scaling
    }

    public var sampleCount: Int { data.inputs.count }

    public func batches(epoch: Int) -> BatchStream {
        var order = Array(0..<sampleCount)
        if shuffle {
            var g = SeededGenerator.forEpoch(seed: seed, epoch: epoch)
            order = g.permutation(order.count)
        }
        let chunks = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<Swift.min(order.count, $0 + batchSize)]) }
        var next = 0
        let data = self.data, embedder = self.embedder, scaling = self.scaling
        return BatchStream(count: chunks.count) {
            guard next < chunks.count else { return nil }
            let idx = chunks[next]
            next += 1
            let texts = idx.map { i -> String in if case .text(let t, _) = data.inputs[i] { t } else { "" } }
            return Batch(inputs: .tokens(embedder.encode(texts)), targets: data.learnerTargets(idx, scaling: scaling), indices: idx)
        }
    }
}
