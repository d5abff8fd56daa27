import Datasets
import Foundation
import Models
import Tensors

/// What a batch's targets are.
public enum Targets {
    /// Class indices, for softmax classification.
    case classes([Int])
    /// Multi-hot rows `[N, C]`, for multi-label classification.
    case multiHot(Tensor)
    /// Real values `[N, outputs]`, for regression.
    case values(Tensor)
    /// Class distributions `[N, C]` whose rows sum to 1 (mixup, cutmix, label smoothing, a teacher's soft labels).
    case soft(Tensor)

    public var count: Int {
        switch self {
        case .classes(let c): c.count
        case .multiHot(let t), .values(let t), .soft(let t): t.shape[0]
        }
    }

    /// The rows `idx` of these targets.
    public func rows(_ idx: [Int]) -> Targets {
        switch self {
        case .classes(let c): .classes(idx.map { c[$0] })
        case .multiHot(let m): .multiHot(m.indexSelect(axis: 0, indices: idx))
        case .values(let v): .values(v.indexSelect(axis: 0, indices: idx))
        case .soft(let s): .soft(s.indexSelect(axis: 0, indices: idx))
        }
    }

    /// Targets of several batches, in order (all of the first one's kind).
    public static func concatenated(_ parts: [Targets]) -> Targets {
        guard let first = parts.first else { return .classes([]) }
        func tensors() -> [Tensor] {
            parts.compactMap {
                switch $0 {
                case .classes: nil
                case .multiHot(let t), .values(let t), .soft(let t): t
                }
            }
        }
        switch first {
        case .classes:
            var all: [Int] = []
            for case .classes(let c) in parts { all += c }
            return .classes(all)
        case .multiHot: return .multiHot(Tensor.concat(tensors(), axis: 0))
        case .values: return .values(Tensor.concat(tensors(), axis: 0))
        case .soft: return .soft(Tensor.concat(tensors(), axis: 0))
        }
    }

    /// The multi-hot matrix of `.multiHot` targets.
    public var multiHot: Tensor? { if case .multiHot(let m) = self { m } else { nil } }
}

/// What a batch feeds the model: a tensor (images, cached features) or tokenized texts.
public enum BatchInputs {
    case tensor(Tensor)
    case tokens(BatchEncoding)

    /// The tensor of a `.tensor` batch, nil for tokenized texts.
    public var tensor: Tensor? {
        guard case .tensor(let t) = self else { return nil }
        return t
    }

    /// Number of samples.
    public var count: Int {
        switch self {
        case .tensor(let t): t.shape[0]
        case .tokens(let e): e.textCount
        }
    }
}

/// One mini-batch: model inputs, targets and the dataset indices the rows came from, plus any number of named
/// parts (domain labels, pair indices, masks, a teacher's outputs) and further streams (e.g. an unlabelled target
/// domain's batch drawn in the same step).
///
/// Every part is a value a ``TrainingObjective`` or a ``Callback`` may read, and a callback may replace the whole
/// batch at ``LearnerEvent/beforeBatch`` (fastai's `self.learn.xb`/`yb`).
public struct Batch {
    public var inputs: BatchInputs
    public var targets: Targets
    public var indices: [Int]
    /// Named tensors: masks, per-sample weights, a teacher's logits, …
    public var tensors: [String: Tensor]
    /// Named integer rows: domain labels, pair indices, group ids, …
    public var labels: [String: [Int]]
    /// Further streams of the same step, by name (``ZippedBatchSource`` fills them).
    public var streams: [String: Batch]

    public init(inputs: BatchInputs, targets: Targets, indices: [Int], tensors: [String: Tensor] = [:],
                labels: [String: [Int]] = [:], streams: [String: Batch] = [:]) {
        self.inputs = inputs; self.targets = targets; self.indices = indices
        self.tensors = tensors; self.labels = labels; self.streams = streams
    }
    public init(inputs: Tensor, targets: Targets, indices: [Int]) {
        self.init(inputs: .tensor(inputs), targets: targets, indices: indices)
    }
    public var count: Int { indices.count }
}

/// One epoch's batches, produced one at a time (so an image epoch never sits in memory whole).
public final class BatchStream {
    /// Batches this epoch will yield when no sample fails.
    public let count: Int
    private let produce: () throws -> Batch?

    public init(count: Int, next: @escaping () throws -> Batch?) { self.count = count; produce = next }

    /// A stream over batches already in memory.
    public convenience init(_ batches: [Batch]) {
        var i = 0
        self.init(count: batches.count) {
            defer { i += 1 }
            return i < batches.count ? batches[i] : nil
        }
    }

    /// The next batch, or nil at the end of the epoch.
    public func next() throws -> Batch? { try produce() }
}

/// A source of batches, one pass per epoch.
public protocol BatchSource {
    /// Number of samples in one pass.
    var sampleCount: Int { get }
    /// The batches of epoch `epoch` (shuffled by the source when it trains).
    func batches(epoch: Int) throws -> BatchStream
}

/// A source that can prepare one replica's share of each of its batches without preparing the rest (e.g. decode only
/// those images): positions `rank, rank + ranks, …` of every batch, a batch with fewer samples than `ranks` giving
/// none — the rows a data-parallel wrapper would otherwise select from whole batches.
public protocol ShardableBatchSource: BatchSource {
    func shard(rank: Int, of ranks: Int) throws -> BatchSource
}

/// In-memory rows (e.g. cached features) with their targets, shuffled per epoch with a seed.
public struct TensorBatchSource: BatchSource {
    public let inputs: Tensor
    public let targets: Targets
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64

    public init(inputs: Tensor, targets: Targets, batchSize: Int, shuffle: Bool, seed: UInt64 = 0) {
        precondition(inputs.shape[0] == targets.count, "TensorBatchSource: \(inputs.shape[0]) rows, \(targets.count) targets")
        self.inputs = inputs; self.targets = targets; self.batchSize = batchSize; self.shuffle = shuffle; self.seed = seed
    }

    public var sampleCount: Int { inputs.shape[0] }

    public func batches(epoch: Int) -> BatchStream {
        var order = Array(0..<sampleCount)
        if shuffle {
            var g = SeededGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        }
        return BatchStream(stride(from: 0, to: order.count, by: batchSize).map { start in
            let idx = Array(order[start..<Swift.min(order.count, start + batchSize)])
            return Batch(inputs: inputs.indexSelect(axis: 0, indices: idx), targets: targets.rows(idx), indices: idx)
        })
    }
}

/// Several sources read in step: each batch of the primary source carries the next batch of every other source in
/// ``Batch/streams`` under that source's name (labelled source data with unlabelled target data, as domain
/// adaptation trains). An epoch is one pass over the primary source; the others restart (with their next epoch's
/// order) whenever they run out, as TLlib's `ForeverDataIterator` does.
public struct ZippedBatchSource: BatchSource {
    public let primary: BatchSource
    public let others: [(name: String, source: BatchSource)]

    public init(primary: BatchSource, others: [(name: String, source: BatchSource)]) {
        self.primary = primary; self.others = others
    }

    public var sampleCount: Int { primary.sampleCount }

    public func batches(epoch: Int) throws -> BatchStream {
        let main = try primary.batches(epoch: epoch)
        var streams = try others.map { (name: $0.name, source: $0.source, pass: epoch, stream: try $0.source.batches(epoch: epoch)) }
        return BatchStream(count: main.count) {
            guard var b = try main.next() else { return nil }
            for i in streams.indices {
                var next = try streams[i].stream.next()
                if next == nil {
                    streams[i].pass += 1
                    streams[i].stream = try streams[i].source.batches(epoch: streams[i].pass)
                    next = try streams[i].stream.next()
                }
                if let next { b.streams[streams[i].name] = next }
            }
            return b
        }
    }
}
