import CMPI
import Foundation
import Layers
import Tensors
import TransferKit

/// Data-parallel training over MPI (Horovod's `DistributedOptimizer`, PyTorch's `DistributedDataParallel`): every
/// rank holds the whole model, trains on its shard of each global batch (``ShardedBatchSource``), and before each
/// optimizer step the ranks' gradients are averaged, so every rank takes the same step one process would take on
/// the global batch.
///
/// - **Buckets started during backward.** The trainable parameters are grouped, in reverse registration order
///   (roughly the order backward produces their gradients), into buckets of at most ``bucketCapacity`` values
///   (Horovod's tensor fusion, DDP's `bucket_cap_mb`). A ``Tensors/Tensor/registerGradientReadyHook(_:)`` on each
///   parameter counts its bucket down; when a bucket is complete its gradients are packed into one buffer and an
///   `MPI_Iallreduce` starts at once, while backward continues below it. Buckets start in index order on every rank
///   (MPI needs the same order of collectives everywhere). Later hooks drive MPI's progress (`MPI_Test`); at
///   ``Learner``'s `beforeStep` the rest is awaited and unpacked.
/// - **Exact weighting.** Each rank packs `n_r · ∂L_r/∂θ` (its local mean-loss gradient times its local batch size)
///   and `n_r` itself; the sums divided by `Σ n_r` are the gradient of the mean loss over the global batch, also
///   when a last batch splits unevenly.
/// - **BatchNorm.** Where a BatchNorm layer trains with batch statistics, it normalises with the statistics of the
///   global batch (``synchronizesBatchStatistics``, PyTorch's `SyncBatchNorm`): the layer's
///   ``Layers/BatchNorm2d/statisticsReducer`` all-reduces the per-channel sums in forward and the gradient sums in
///   backward, so the step is the one a single process takes on the global batch. Without it, each rank normalises
///   with its local batch's statistics and the running statistics are averaged after every step (Horovod without
///   `SyncBatchNorm`).
/// - **One writer.** On ranks other than 0 the callbacks that write files (``TransferKit/Callback/writesFiles``:
///   checkpoints, logs) are removed at `beforeFit`; rank 0's state is broadcast to all at `beforeFit`, so a resumed
///   or freshly initialised fit starts from the same weights everywhere.
public final class DataParallel: Callback {
    public let communicator: Communicator
    /// Most gradient values per fused all-reduce.
    public let bucketCapacity: Int
    /// Whether BatchNorm layers that train with batch statistics use the global batch's (see the type's summary).
    public let synchronizesBatchStatistics: Bool
    /// Seconds spent waiting for all-reduces at `beforeStep` (communication not hidden behind backward), summed.
    public private(set) var waitSeconds: Double = 0
    /// Seconds from the first bucket's start to the last bucket's completion, summed over steps.
    public private(set) var allReduceSeconds: Double = 0
    /// Optimizer steps whose gradients were averaged.
    public private(set) var steps = 0
    /// Gradient values all-reduced per step (the trainable parameters, plus one count per bucket).
    public private(set) var valuesPerStep = 0

    private var buckets: [GradientBucket] = []
    private var bucketOf: [ObjectIdentifier: Int] = [:]
    private var hooks: [GradientReadyHook] = []
    private var nextToStart = 0
    private var localCount: Float = 0
    private var firstStart: Date?
    private let batchStatistics: SynchronizedBatchStatistics
    private var synchronizedLayers: [BatchNorm2d] = []

    /// The default fusion size: 2¹⁸ values (1 MiB of float32). Smaller than DDP's 25 MB or Horovod's 64 MB: on CPUs
    /// backward is slow enough that more, smaller buckets hide more of the communication behind it, and on this
    /// machine Open MPI's shared-memory all-reduce of 1 MiB stays below a millisecond while 4 MiB switches to a far
    /// slower large-message protocol (see docs/distributed.md).
    public static let defaultBucketCapacity = 1 << 18

    public init(communicator: Communicator, bucketCapacity: Int = DataParallel.defaultBucketCapacity, synchronizesBatchStatistics: Bool = true) {
        precondition(bucketCapacity > 0, "DataParallel: bucketCapacity \(bucketCapacity) must be positive")
        self.communicator = communicator
        self.bucketCapacity = bucketCapacity
        self.synchronizesBatchStatistics = synchronizesBatchStatistics
        batchStatistics = SynchronizedBatchStatistics(communicator: communicator)
    }

    /// Forward all-reduces of batch statistics so far (one per BatchNorm layer that trained with batch statistics, per step).
    public var batchStatisticsReductions: Int { batchStatistics.forwardReductions }

    /// Before every other callback at `beforeStep` (clipping must see averaged gradients).
    public override var order: Int { -100 }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        switch event {
        case .beforeFit: try begin(l)
        case .beforeBackward: startStep(l)
        case .beforeStep: try finishStep()
        case .afterStep: if !synchronizesBatchStatistics { try synchroniseBatchNorm(l.model) }
        case .afterFit: end()
        default: break
        }
    }

    func begin(_ l: Learner) throws {
        if !communicator.isRoot { l.callbacks.removeAll { $0.writesFiles } }
        if !(l.trainData is ShardedBatchSource) {
            l.trainData = try ShardedBatchSource(l.trainData, rank: communicator.rank, of: communicator.size)
        }
        try broadcastState(l.model)
        end()
        if synchronizesBatchStatistics {
            synchronizedLayers = l.model.namedModules().compactMap { $0.1 as? BatchNorm2d }
            for bn in synchronizedLayers { bn.statisticsReducer = batchStatistics }
        }
        let params = l.model.trainableParameters().map(\.1).reversed()
        var total = [Float(params.count)]
        try communicator.allReduceSum(&total)
        guard Int(total[0]) == params.count * communicator.size else {
            throw DistributedError.ranksDisagree(what: "the trainable parameters", detail: "\(params.count) on rank \(communicator.rank)")
        }
        var current: [Tensor] = [], size = 0
        for p in params {
            if size + p.count > bucketCapacity && !current.isEmpty {
                buckets.append(GradientBucket(current))
                current = []; size = 0
            }
            current.append(p); size += p.count
        }
        if !current.isEmpty { buckets.append(GradientBucket(current)) }
        for (i, b) in buckets.enumerated() {
            for p in b.parameters {
                bucketOf[ObjectIdentifier(p)] = i
                hooks.append(p.registerGradientReadyHook { [unowned self] t in self.ready(t) })
            }
        }
        valuesPerStep = buckets.reduce(0) { $0 + $1.buffer.count }
    }

    /// Rank 0's parameters and buffers, copied into every rank's model.
    func broadcastState(_ model: Module) throws {
        let state = model.stateDict()
        var flat = communicator.isRoot ? state.flatMap { $0.tensor.toArray() } : [Float](repeating: 0, count: state.reduce(0) { $0 + $1.tensor.count })
        try communicator.broadcast(&flat)
        guard !communicator.isRoot else { return }
        var loaded: [String: Tensor] = [:], offset = 0
        for (k, t) in state {
            loaded[k] = Tensor(shape: t.shape, data: Array(flat[offset..<(offset + t.count)]))
            offset += t.count
        }
        try model.load(loaded)
    }

    func startStep(_ l: Learner) {
        localCount = Float(l.batch?.count ?? 0)
        batchStatistics.localCount = Double(localCount)
        nextToStart = 0
        firstStart = nil
        for b in buckets { b.reset() }
    }

    /// A parameter's gradient is complete: count its bucket down and start every bucket that may start.
    func ready(_ t: Tensor) {
        guard let i = bucketOf[ObjectIdentifier(t)] else { return }
        buckets[i].pending -= 1
        do {
            try startReadyBuckets()
            for b in buckets[..<nextToStart] where !b.done { b.done = try communicator.test(&b.request) }
        } catch {
            // Reported at beforeStep, where the learner can throw.
            buckets[i].failure = error as? DistributedError
        }
    }

    func startReadyBuckets() throws {
        while nextToStart < buckets.count, buckets[nextToStart].pending == 0 {
            if firstStart == nil { firstStart = Date() }
            try buckets[nextToStart].start(scale: localCount, communicator: communicator)
            nextToStart += 1
        }
    }

    func finishStep() throws {
        if let failure = buckets.compactMap(\.failure).first ?? batchStatistics.failure { throw failure }
        let t0 = Date()
        // Parameters that received no gradient this step (unused by the loss) count as zero.
        for b in buckets where b.pending > 0 { b.pending = 0 }
        try startReadyBuckets()
        for b in buckets where !b.done { try communicator.wait(&b.request); b.done = true }
        let now = Date()
        waitSeconds += now.timeIntervalSince(t0)
        allReduceSeconds += now.timeIntervalSince(firstStart ?? t0)
        steps += 1
        for b in buckets { try b.unpack() }
    }

    /// Averages the running statistics of every BatchNorm layer that trains with batch statistics.
    func synchroniseBatchNorm(_ model: Module) throws {
        let bns = model.namedModules().compactMap { $0.1 as? BatchNorm2d }.filter(\.usesBatchStatistics)
        guard !bns.isEmpty else { return }
        var flat = bns.flatMap { $0.runningMean.toArray() + $0.runningVar.toArray() }
        try communicator.allReduceSum(&flat)
        let n = Float(communicator.size)
        var offset = 0
        for bn in bns {
            for t in [bn.runningMean, bn.runningVar] {
                let values = flat[offset..<(offset + t.count)].map { $0 / n }
                t.withMutableData { d in for i in d.indices { d[i] = values[i] } }
                offset += t.count
            }
        }
    }

    func end() {
        for bn in synchronizedLayers { bn.statisticsReducer = nil }
        synchronizedLayers = []
        for h in hooks { h.remove() }
        hooks = []
        buckets = []
        bucketOf = [:]
    }
}

/// One fused all-reduce: the gradients of some parameters packed into one buffer, followed by the local count.
final class GradientBucket {
    let parameters: [Tensor]
    /// Σ sizes + 1 (the last value is the rank's local sample count).
    var buffer: UnsafeMutableBufferPointer<Float>
    var pending: Int
    var request: MPI_Request?
    var done = true
    var failure: DistributedError?

    init(_ parameters: [Tensor]) {
        self.parameters = parameters
        buffer = .allocate(capacity: parameters.reduce(0) { $0 + $1.count } + 1)
        pending = parameters.count
    }

    deinit { buffer.deallocate() }

    func reset() {
        pending = parameters.count
        done = true
        request = nil
        failure = nil
    }

    /// Packs `scale · grad` of every parameter (zeros where it has none) and `scale`, and starts the all-reduce.
    func start(scale: Float, communicator: Communicator) throws {
        var offset = 0
        for p in parameters {
            let dst = buffer.baseAddress! + offset
            if let g = p.grad {
                g.withUnsafeBufferPointer { src in for i in 0..<p.count { dst[i] = src[i] * scale } }
            } else {
                dst.update(repeating: 0, count: p.count)
            }
            offset += p.count
        }
        buffer[offset] = scale
        request = try communicator.startAllReduceSum(buffer.baseAddress!, count: buffer.count)
        done = false
    }

    /// The averaged gradients, written as each parameter's gradient.
    func unpack() throws {
        let total = buffer[buffer.count - 1]
        guard total > 0 else { throw DistributedError.ranksDisagree(what: "the batch", detail: "no rank had a sample in this step") }
        var offset = 0
        for p in parameters {
            let values = Array(UnsafeBufferPointer(start: buffer.baseAddress! + offset, count: p.count)).map { $0 / total }
            p.grad = Tensor(shape: p.shape, data: values)
            offset += p.count
        }
    }
}
