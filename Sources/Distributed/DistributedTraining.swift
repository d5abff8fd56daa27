import Datasets
import Foundation
import TransferKit

/// A `transfer train` run spread over the ranks of an `mpirun` job.
///
/// - Features: every rank extracts the backbone features of its share of the inputs (positions `r, r + N, …`) into
///   the one shared ``TransferKit/FeatureCache`` (one file per input, keyed by content: ranks never write the same
///   file), then all wait for each other; afterwards every lookup is a cache hit.
/// - `--strategy features`: the head is then trained once, by rank 0 (the other ranks are done).
/// - Other strategies: rank 0 runs the whole ``TransferKit/TrainingRun`` (its lock, checkpoints, logs, bundle, run
///   record) with a ``DataParallel`` callback; the other ranks run ``worker(_:options:data:resume:headSolver:adapter:)``
///   — the same phases on the same split, their learners joined to rank 0's by the callback, writing nothing.
public struct DistributedTraining {
    public let communicator: Communicator
    /// Most gradient values per fused all-reduce (``DataParallel/bucketCapacity``).
    public var bucketCapacity = DataParallel.defaultBucketCapacity

    public init(communicator: Communicator) { self.communicator = communicator }

    /// What this rank's share of feature extraction did.
    public struct ExtractionReport: Sendable {
        /// Inputs in this rank's share, and how many of them the backbone computed (the rest were cached).
        public var shareCount: Int, computed: Int
        /// Seconds this rank computed, and until every rank had finished.
        public var seconds: Double, secondsUntilAllDone: Double
    }

    /// The inputs whose features a run needs before training: the data's, and for ``TransferKit/Strategy/features``
    /// the test data's (evaluated through the cache).
    public static func inputsNeedingFeatures(_ data: LabeledData, test: LabeledData?, strategy: Strategy) -> [LabeledInput] {
        data.inputs + (strategy == .features ? test?.inputs ?? [] : [])
    }

    /// This rank's share of `inputs`: positions `rank, rank + size, …`.
    public func share<T>(_ inputs: [T]) -> [T] {
        Array(stride(from: communicator.rank, to: inputs.count, by: communicator.size).map { inputs[$0] })
    }

    /// Extracts the features of this rank's share of `inputs` into `backbone`'s cache under `options`, then waits for
    /// every rank (a barrier), so that all features are cached when it returns.
    public func extractFeatures(_ backbone: FeatureBackbone, inputs: [LabeledInput], options: TrainOptions) throws -> ExtractionReport {
        try extractFeatures(backbone, inputs: inputs, cacheRoot: options.featureCacheRoot, batchSize: options.batchSize, progress: options.progress)
    }

    /// Extracts the features of this rank's share of `inputs` into `backbone`'s cache under `cacheRoot`, then waits
    /// for every rank.
    public func extractFeatures(_ backbone: FeatureBackbone, inputs: [LabeledInput], cacheRoot: URL, batchSize: Int, progress: Bool) throws -> ExtractionReport {
        let start = Date()
        let mine = share(inputs)
        let r = backbone.features(mine, cache: backbone.featureCache(root: cacheRoot), batchSize: batchSize,
                                  progress: progress ? { done, total in ProgressLine.draw("features (rank \(communicator.rank))", done: done, total: total, start: start) } : nil)
        let seconds = Date().timeIntervalSince(start)
        try communicator.barrier()
        return ExtractionReport(shareCount: mine.count, computed: r.computed, seconds: seconds, secondsUntilAllDone: Date().timeIntervalSince(start))
    }

    /// Runs `body` on this rank's share of `inputs` (e.g. to fill a cache keyed by input that every rank reads
    /// afterwards, such as a teacher's outputs), then waits for every rank.
    public func sharded<T>(_ inputs: [T], _ body: ([T]) throws -> Void) throws {
        try body(share(inputs))
        try communicator.barrier()
    }

    /// The callback that joins a learner's steps to the other ranks'.
    public func dataParallel() -> DataParallel { DataParallel(communicator: communicator, bucketCapacity: bucketCapacity) }

    /// A rank other than 0: trains the same phases as rank 0's ``TransferKit/TrainingRun`` on the same split, in step
    /// with it, and writes nothing. `options` are rank 0's; their checkpoints are read (with `resume`), never
    /// written. Returns the data-parallel callback (its all-reduce timings).
    @discardableResult
    public func worker(_ backbone: FeatureBackbone, options: TrainOptions, data: LabeledData, resume: Bool,
                       headSolver: HeadSolver?, adapter: BackboneAdapter?) throws -> DataParallel {
        var o = options
        o.progress = false
        o.logDirectory = nil
        // Without --resume, rank 0 deletes old checkpoints when it starts: read none.
        if !resume { o.checkpointDirectory = nil }
        let (train, valid) = try data.split(validation: o.validationFraction, seed: o.seed)
        let trainer = TransferTrainer(backbone: backbone, options: o)
        let dp = dataParallel()
        trainer.callbacks = [dp]
        trainer.headSolver = headSolver
        trainer.adapter = adapter
        _ = try trainer.train(train, validation: valid)
        return dp
    }
}
