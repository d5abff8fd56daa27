import Foundation
import Tensors

// MARK: - Image sources

/// A dataset whose samples can be read as RGB images, decoded at a reduced size when the caller will shrink them
/// anyway (see ``DecodeOptions/target``).
public protocol ImageSource: Dataset {
    /// Sample `index` as an RGB image; a JPEG is decoded at the smallest libjpeg scale that still meets `target`.
    func loadImage(_ index: Int, target: DecodeTarget?) throws(DatasetError) -> RGBImage
}

extension ImageFolderDataset: ImageSource {
    /// Decodes image `index` with this dataset's ``decodeOptions`` (pixel limit, EXIF orientation) and `target`.
    public func loadImage(_ index: Int, target: DecodeTarget?) throws(DatasetError) -> RGBImage {
        try checkIndex(index)
        return try decodeImageFile(samples[index], index: index, count: count, options: decodeOptions, target: target)
    }
}

extension CSVManifestDataset: ImageSource {
    /// Decodes image `index` with this dataset's ``decodeOptions`` (pixel limit, EXIF orientation) and `target`.
    public func loadImage(_ index: Int, target: DecodeTarget?) throws(DatasetError) -> RGBImage {
        try checkIndex(index)
        return try decodeImageFile(samples[index], index: index, count: count, options: decodeOptions, target: target)
    }
}

/// The image file of `sample` (sample `index` of `count`) decoded with `options` at `target`.
private func decodeImageFile(_ sample: Sample, index: Int, count: Int, options: DecodeOptions,
                             target: DecodeTarget?) throws(DatasetError) -> RGBImage {
    guard case .path(let path) = sample.source else { throw .indexOutOfRange(index: index, count: count) }
    var options = options
    options.target = target
    return try ImageDecoder.decode(contentsOf: path, options: options)
}

extension FashionMNIST: ImageSource {
    /// Image `index` with its grey level replicated to RGB (28×28; `target` does not apply).
    public func loadImage(_ index: Int, target: DecodeTarget?) throws(DatasetError) -> RGBImage {
        try checkIndex(index)
        return rgbImage(index)
    }
}

// MARK: - Loader types

/// A sample the loader could not read, and why.
public struct SkippedSample: Sendable, Equatable, CustomStringConvertible {
    /// The dataset index.
    public let index: Int
    /// The file (or `#row` for in-memory data).
    public let path: String
    /// What went wrong.
    public let error: DatasetError
    /// The error's message.
    public var reason: String { error.description }
    public var description: String { "\(path): \(reason)" }
}

/// Why a loader cannot produce batches.
public enum LoaderError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Batch size, worker count, prefetch depth or an index is unusable.
    case invalidOptions(String)
    /// Every sample of an epoch failed to load (`failures` lists them, up to 20).
    case noLoadableSamples(attempted: Int, failures: [SkippedSample])
    /// A sample's transform produced a different `[C, H, W]` than the batch's first sample (a pipeline without a
    /// final fixed-size crop or resize).
    case sampleShapeMismatch(index: Int, path: String, expected: [Int], got: [Int])

    public var description: String {
        switch self {
        case .invalidOptions(let reason):
            return "data loader: \(reason)"
        case .noLoadableSamples(let attempted, let failures):
            let listed = failures.prefix(5).map { "  " + $0.description }.joined(separator: "\n")
            let more = attempted > 5 ? "\n  … (\(attempted - 5) more)" : ""
            return "none of the \(attempted) samples could be loaded; the first failures:\n\(listed)\(more)"
        case .sampleShapeMismatch(let index, let path, let expected, let got):
            return "\(path) (sample \(index)): transformed to shape \(got), but the batch holds \(expected); end the pipeline with a fixed-size crop or resize"
        }
    }
}

/// How a ``DataLoader`` batches and schedules.
public struct LoaderOptions: Sendable, Equatable {
    /// Samples per batch (the last batch of an epoch may be smaller unless ``dropLast``).
    public var batchSize: Int
    /// Whether each epoch visits the samples in a fresh seeded order.
    public var shuffle: Bool
    /// Whether a final batch smaller than ``batchSize`` is dropped.
    public var dropLast: Bool
    /// Seeds the shuffle and every sample's augmentation.
    public var seed: UInt64
    /// Worker threads that decode and transform (0 = on the calling thread).
    public var workers: Int
    /// How many batches' worth of samples workers may prepare ahead of the consumer.
    public var prefetchBatches: Int
    /// Prepare only one replica's share of every batch (data-parallel training); nil: whole batches.
    public var shard: LoaderShard?

    public init(batchSize: Int, shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0,
                workers: Int = Threads.count, prefetchBatches: Int = 2) {
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.seed = seed
        self.workers = workers
        self.prefetchBatches = prefetchBatches
    }
}

/// One replica's share of every batch, as PyTorch's `DistributedSampler` with a local batch of B / N: replica `rank`
/// of `count` takes positions `rank, rank + count, …` of each global batch of ``LoaderOptions/batchSize`` samples of
/// the epoch's order (the same order on every replica), and prepares no other sample.
///
/// A global batch with fewer samples than replicas gives no batch (on every replica). An unreadable sample shortens
/// its replica's batch instead of being replaced by a following sample (those belong to other replicas).
public struct LoaderShard: Sendable, Equatable {
    public let rank: Int
    public let count: Int

    public init(rank: Int, of count: Int) throws(LoaderError) {
        guard count >= 1, (0..<count).contains(rank) else { throw .invalidOptions("shard rank \(rank) of \(count): need 0 ≤ rank < count") }
        self.rank = rank; self.count = count
    }

    /// This replica's positions of `order` cut into global batches of `batchSize`, and where each local batch ends.
    func plan(_ order: [Int], batchSize: Int, dropLast: Bool) -> (order: [Int], ends: [Int]) {
        var mine: [Int] = [], ends: [Int] = []
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let size = Swift.min(batchSize, order.count - start)
            guard size >= count, !(dropLast && size < batchSize) else { continue }
            mine += stride(from: start + rank, to: start + size, by: count).map { order[$0] }
            ends.append(mine.count)
        }
        return (mine, ends)
    }
}

/// One batch: images, their targets and dataset indices, in the same order.
public struct Batch {
    /// `[B, C, H, W]`.
    public let images: Tensor
    /// The samples' targets.
    public let targets: [Target]
    /// The samples' dataset indices.
    public let indices: [Int]

    public var count: Int { indices.count }

    /// The class indices, or nil when a target is not a single class.
    public var classIndices: [Int]? {
        var out: [Int] = []
        out.reserveCapacity(targets.count)
        for t in targets {
            guard case .classIndex(let c) = t else { return nil }
            out.append(c)
        }
        return out
    }

    /// Targets as a tensor: `[B, classCount]` one-hot (single class) or multi-hot (multi-label) rows, or `[B, 1]`
    /// values (regression).
    public func targetTensor(classCount: Int) -> Tensor {
        if targets.allSatisfy({ if case .regression = $0 { return true }; return false }) {
            return Tensor(shape: [targets.count, 1], data: targets.map { if case .regression(let v) = $0 { return v }; return 0 })
        }
        var data = [Float](repeating: 0, count: targets.count * classCount)
        for (i, t) in targets.enumerated() {
            switch t {
            case .classIndex(let c): if c >= 0 && c < classCount { data[i * classCount + c] = 1 }
            case .multiLabel(let cs): for c in cs where c >= 0 && c < classCount { data[i * classCount + c] = 1 }
            case .regression: break
            }
        }
        return Tensor(shape: [targets.count, classCount], data: data)
    }
}

// MARK: - DataLoader

/// Batches of transformed samples from a dataset, prepared on worker threads.
///
/// - **Order.** Each epoch visits the selected samples once, shuffled with a generator derived from
///   (seed, epoch) — different every epoch, the same for every run with the same seed. Samples enter batches in that
///   order whatever the worker count or timing: workers may finish out of order, but the consumer takes results by
///   position.
/// - **Randomness.** Sample `i` of epoch `e` is transformed with ``SeededGenerator/forSample(seed:epoch:index:)``, so
///   its augmentation does not depend on which thread ran it or on what failed before it.
/// - **Bounded prefetch and memory.** Workers claim positions at most `prefetchBatches × batchSize` ahead of the
///   consumer, so at most that many transformed samples (plus the batch being assembled) exist at once, and each
///   worker decodes one image at a time. JPEGs are decoded at a reduced size when the pipeline's first step allows it,
///   and the dataset's pixel limit (``DecodeOptions/maxPixels``) rejects a huge image from its header before any
///   pixel buffer is allocated.
/// - **Bad files.** A sample that fails to load (corrupt, truncated, not an image, too large, unreadable) is skipped:
///   the batch is filled from the following samples, the failure is listed once in ``skipped`` and counted per epoch
///   (``EpochIterator/skippedCount``). An epoch in which every sample fails throws ``LoaderError/noLoadableSamples(attempted:failures:)``.
///
/// A loader and its epoch iterators are used from one thread (the training loop); only the workers run elsewhere.
public final class DataLoader {
    /// Transforms one sample: its dataset index and its generator in, a `[C, H, W]` float image out.
    public typealias SampleFunction = @Sendable (_ index: Int, _ generator: inout SeededGenerator) throws(DatasetError) -> FloatImage

    public let options: LoaderOptions
    /// The dataset indices visited each epoch (before shuffling).
    public let indices: [Int]
    /// Every sample of the dataset (indexed by dataset index).
    public let samples: [Sample]
    let transform: SampleFunction
    /// Samples that failed to load, each listed once, in the order first met.
    public private(set) var skipped: [SkippedSample] = []
    private var skippedSet = Set<Int>()

    /// A loader of `dataset`'s images through `pipeline` (decoding JPEGs at ``ImagePipeline/decodeTarget``).
    /// - Parameter indices: the samples to visit (e.g. a training split); all of them when nil.
    public convenience init<D: ImageSource>(dataset: D, pipeline: ImagePipeline, indices: [Int]? = nil,
                                            options: LoaderOptions) throws(LoaderError) {
        let target = pipeline.decodeTarget
        try self.init(dataset: dataset, indices: indices, options: options) {
            (index: Int, generator: inout SeededGenerator) throws(DatasetError) -> FloatImage in
            let image = try dataset.loadImage(index, target: target)
            return pipeline.apply(image, generator: &generator)
        }
    }

    /// A loader of any dataset with a custom per-sample transform (which reads the item itself, e.g. through
    /// `dataset.load(index)`).
    public init<D: Dataset>(dataset: D, indices: [Int]? = nil, options: LoaderOptions,
                            transform: @escaping SampleFunction) throws(LoaderError) {
        guard options.batchSize >= 1 else { throw .invalidOptions("batch size \(options.batchSize) must be at least 1") }
        guard options.workers >= 0 else { throw .invalidOptions("worker count \(options.workers) must not be negative") }
        guard options.prefetchBatches >= 1 else {
            throw .invalidOptions("prefetch depth \(options.prefetchBatches) must be at least 1 batch")
        }
        let n = dataset.count
        if let indices, let bad = indices.first(where: { $0 < 0 || $0 >= n }) {
            throw .invalidOptions("index \(bad) is outside the dataset's 0..<\(n)")
        }
        self.options = options
        self.indices = indices ?? Array(0..<n)
        self.samples = dataset.samples
        self.transform = transform
    }

    /// The number of samples visited per epoch.
    public var count: Int { indices.count }

    /// Batches per epoch when no sample fails.
    public var batchesPerEpoch: Int {
        if let shard = options.shard { return shard.plan(indices, batchSize: options.batchSize, dropLast: options.dropLast).ends.count }
        return options.dropLast ? count / options.batchSize : (count + options.batchSize - 1) / options.batchSize
    }

    /// The dataset indices in epoch `epoch`'s visiting order.
    public func order(epoch: Int) -> [Int] {
        guard options.shuffle else { return indices }
        var g = SeededGenerator.forEpoch(seed: options.seed, epoch: epoch)
        return g.permutation(indices.count).map { indices[$0] }
    }

    /// Starts epoch `epoch`: workers begin preparing its first batches at once.
    public func epoch(_ epoch: Int) -> EpochIterator { EpochIterator(loader: self, epoch: epoch) }

    /// Every batch of epoch `epoch`.
    public func batches(epoch: Int) throws(LoaderError) -> [Batch] {
        let it = self.epoch(epoch)
        var out: [Batch] = []
        while let b = try it.next() { out.append(b) }
        return out
    }

    /// The work one sample costs: its generator, the transform, the outcome.
    func work(epoch: Int) -> @Sendable (Int) -> Result<FloatImage, DatasetError> {
        let transform = self.transform, seed = options.seed
        return { index in
            var g = SeededGenerator.forSample(seed: seed, epoch: epoch, index: index)
            do throws(DatasetError) {
                return .success(try transform(index, &g))
            } catch {
                return .failure(error)
            }
        }
    }

    func recordSkip(index: Int, error: DatasetError) -> SkippedSample {
        let s = SkippedSample(index: index, path: samples[index].source.description, error: error)
        if skippedSet.insert(index).inserted { skipped.append(s) }
        return s
    }
}

/// One epoch of a ``DataLoader``: call ``next()`` until it returns nil. Dropping the iterator early stops its
/// workers (after the images they are decoding).
public final class EpochIterator {
    public let epoch: Int
    /// The dataset indices in this epoch's order (this replica's share of them with ``LoaderOptions/shard``).
    public let order: [Int]
    /// With ``LoaderOptions/shard``: the end of each local batch in ``order``.
    private let batchEnds: [Int]?
    private var batchNumber = 0
    /// Samples of this epoch skipped so far.
    public private(set) var skippedCount = 0
    /// Samples of this epoch delivered in batches so far.
    public private(set) var deliveredCount = 0
    /// The most samples workers had claimed ahead of the consumer at any time (never above ``prefetchLimit``).
    public var peakPrefetched: Int { queue?.peakAhead ?? 0 }
    /// `prefetchBatches × batchSize`.
    public let prefetchLimit: Int

    private let loader: DataLoader
    private let queue: WorkQueue?
    private let inlineWork: (@Sendable (Int) -> Result<FloatImage, DatasetError>)?
    private var position = 0
    private var sampleShape: [Int]?
    private var failures: [SkippedSample] = []
    private var finished = false

    init(loader: DataLoader, epoch: Int) {
        self.loader = loader
        self.epoch = epoch
        if let shard = loader.options.shard {
            (order, batchEnds) = shard.plan(loader.order(epoch: epoch), batchSize: loader.options.batchSize, dropLast: loader.options.dropLast)
        } else {
            order = loader.order(epoch: epoch)
            batchEnds = nil
        }
        self.prefetchLimit = loader.options.prefetchBatches * loader.options.batchSize
        let work = loader.work(epoch: epoch)
        if loader.options.workers > 0 && !order.isEmpty {
            queue = WorkQueue(order: order, window: prefetchLimit, workers: loader.options.workers, work: work)
            inlineWork = nil
        } else {
            queue = nil
            inlineWork = work
        }
    }

    deinit { queue?.shutdown() }

    /// The next batch, or nil at the end of the epoch.
    public func next() throws(LoaderError) -> Batch? {
        guard !finished else { return nil }
        let batchSize = loader.options.batchSize
        var images: [FloatImage] = []
        var indices: [Int] = []
        images.reserveCapacity(batchSize)
        func take() throws(LoaderError) {
            let p = position
            position += 1
            let index = order[p]
            let outcome = queue?.take(p) ?? inlineWork!(index)
            switch outcome {
            case .success(let image):
                let shape = [image.channels, image.height, image.width]
                if let expected = sampleShape, expected != shape {
                    finish()
                    throw .sampleShapeMismatch(index: index, path: loader.samples[index].source.description,
                                               expected: expected, got: shape)
                }
                sampleShape = shape
                images.append(image)
                indices.append(index)
            case .failure(let error):
                let s = loader.recordSkip(index: index, error: error)
                skippedCount += 1
                if failures.count < 20 { failures.append(s) }
            }
        }
        if let ends = batchEnds {
            // Sharded: the next local batch (the one after, while every sample of one failed).
            while images.isEmpty && batchNumber < ends.count {
                while position < ends[batchNumber] { try take() }
                batchNumber += 1
            }
        } else {
            while images.count < batchSize && position < order.count { try take() }
        }
        if images.isEmpty || (batchEnds == nil && loader.options.dropLast && images.count < batchSize) {
            finish()
            if deliveredCount == 0 && images.isEmpty && skippedCount > 0 {
                throw .noLoadableSamples(attempted: order.count, failures: failures)
            }
            return nil
        }
        if position >= order.count { finish() }
        deliveredCount += images.count
        let shape = sampleShape!
        let per = shape[0] * shape[1] * shape[2]
        let tensor = Tensor.zeros(Shape([images.count] + shape))
        tensor.withMutableData { dst in
            for (i, image) in images.enumerated() {
                image.data.withUnsafeBufferPointer { src in
                    (dst.baseAddress! + i * per).update(from: src.baseAddress!, count: per)
                }
            }
        }
        return Batch(images: tensor, targets: indices.map { loader.samples[$0].target }, indices: indices)
    }

    private func finish() {
        finished = true
        queue?.shutdown()
    }
}

/// The positions of one epoch, processed by worker threads in a sliding window ahead of the consumer.
///
/// Thread safety: `order`, `window` and `work` are immutable; every mutable property is read and written only while
/// `condition` is locked (workers run `work` with the lock released, on a position no other thread touches). That
/// is what makes the `@unchecked Sendable` conformance sound.
final class WorkQueue: @unchecked Sendable {
    typealias Outcome = Result<FloatImage, DatasetError>

    private let condition = NSCondition()
    private let order: [Int]
    private let window: Int
    private let work: @Sendable (Int) -> Outcome
    /// The next position a worker may claim.
    private var nextClaim = 0
    /// Positions below this have been taken by the consumer.
    private var consumed = 0
    /// Finished positions not yet taken.
    private var results: [Int: Outcome] = [:]
    private var cancelled = false
    private var running: Int
    private var peak = 0

    init(order: [Int], window: Int, workers: Int, work: @escaping @Sendable (Int) -> Outcome) {
        self.order = order
        self.window = window
        self.work = work
        self.running = workers
        for w in 0..<workers {
            let thread = Thread { [self] in self.workerLoop() }
            thread.name = "DataLoader worker \(w)"
            thread.start()
        }
    }

    /// The most positions ever claimed and not yet taken.
    var peakAhead: Int {
        condition.lock()
        defer { condition.unlock() }
        return peak
    }

    private func workerLoop() {
        condition.lock()
        while true {
            while !cancelled && nextClaim < order.count && nextClaim >= consumed + window { condition.wait() }
            if cancelled || nextClaim >= order.count { break }
            let p = nextClaim
            nextClaim += 1
            peak = Swift.max(peak, nextClaim - consumed)
            condition.unlock()
            let outcome = work(order[p])
            condition.lock()
            if !cancelled { results[p] = outcome }
            condition.broadcast()
        }
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// The outcome of position `p`, waiting for a worker to finish it. Positions are taken in increasing order.
    func take(_ p: Int) -> Outcome {
        condition.lock()
        defer { condition.unlock() }
        while results[p] == nil { condition.wait() }
        let outcome = results.removeValue(forKey: p)!
        consumed = p + 1
        condition.broadcast()
        return outcome
    }

    /// Stops the workers after their current sample and waits for them to exit.
    func shutdown() {
        condition.lock()
        cancelled = true
        results.removeAll()
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}
