import Models
import Tensors
import TransferKit

/// One rank's share of every global batch of another source (the semantics of PyTorch's `DistributedSampler` with
/// `batch_size = B / N`): epoch `e`'s shuffled order is the wrapped source's, identical on every rank (same seed);
/// each global batch of B samples is split by position, rank `r` of `N` taking positions `r, r + N, r + 2N, …`.
///
/// The union of the ranks' local batches of a step is exactly the global batch one process would train on, so
/// averaging the ranks' gradients weighted by their local counts (``DataParallel``) gives the one-process gradient.
/// Unlike `DistributedSampler` nothing is padded or repeated: a last global batch that does not divide evenly gives
/// some ranks one sample fewer. A last global batch with fewer samples than ranks would leave a rank with nothing
/// to train on, so it is dropped on every rank.
///
/// A base that can prepare its own share (``TransferKit/ShardableBatchSource``, e.g. image files) prepares only this
/// rank's rows: each rank decodes its own images, not the whole global batch. Other bases' batches are made whole
/// and this rank's rows selected; further streams (``TransferKit/Batch/streams``, e.g. domain adaptation's target
/// batches) are split by their own positions the same way.
public struct ShardedBatchSource: BatchSource {
    public let base: BatchSource
    public let rank: Int
    public let ranks: Int
    /// The base's own shard, when it can prepare one.
    let prepared: BatchSource?

    public init(_ base: BatchSource, rank: Int, of ranks: Int) throws {
        precondition(ranks >= 1 && (0..<ranks).contains(rank), "ShardedBatchSource: rank \(rank) of \(ranks)")
        self.base = base; self.rank = rank; self.ranks = ranks
        prepared = try (base as? ShardableBatchSource)?.shard(rank: rank, of: ranks)
    }

    /// Whether the base prepares only this rank's rows (rather than whole batches cut here).
    public var preparesOwnRowsOnly: Bool { prepared != nil }

    /// This rank's samples per epoch (about ``base``'s count divided by the number of ranks).
    public var sampleCount: Int { (base.sampleCount - rank + ranks - 1) / ranks }

    public func batches(epoch: Int) throws -> BatchStream {
        if let prepared { return try prepared.batches(epoch: epoch) }
        let global = try base.batches(epoch: epoch)
        let rank = self.rank, ranks = self.ranks
        return BatchStream(count: global.count) {
            while let b = try global.next() {
                guard b.count >= ranks else { continue }
                var local = b.rows(Array(stride(from: rank, to: b.count, by: ranks)))
                for (name, s) in b.streams where s.count != b.count && s.count >= ranks {
                    local.streams[name] = s.rows(Array(stride(from: rank, to: s.count, by: ranks)))
                }
                return local
            }
            return nil
        }
    }
}

extension Batch {
    /// The rows `idx` of every part of this batch: inputs, targets, indices, named tensors and labels, and the same
    /// rows of every further stream that has as many rows.
    public func rows(_ idx: [Int]) -> Batch {
        let ins: BatchInputs
        switch inputs {
        case .tensor(let t): ins = .tensor(t.indexSelect(axis: 0, indices: idx))
        case .tokens(let e): ins = .tokens(e.rows(idx))
        }
        let n = count
        return Batch(inputs: ins, targets: targets.rows(idx), indices: idx.map { indices[$0] },
                     tensors: tensors.mapValues { $0.shape.dims.first == n ? $0.indexSelect(axis: 0, indices: idx) : $0 },
                     labels: labels.mapValues { row in row.count == n ? idx.map { row[$0] } : row },
                     streams: streams.mapValues { $0.count == n ? $0.rows(idx) : $0 })
    }
}

extension BatchEncoding {
    /// The texts `idx` (all their rows, padded to the same length as this batch).
    func rows(_ texts: [Int]) -> BatchEncoding {
        let length = shape.dims.count > 1 ? shape[1] : 0
        let idx = owners.map { o in texts.flatMap { t in o.indices.filter { o[$0] == t } } } ?? texts
        func pick<T>(_ a: [T]) -> [T] { idx.flatMap { a[($0 * length)..<(($0 + 1) * length)] } }
        var e = self
        e.owners = owners.map { o in idx.map { r in texts.firstIndex(of: o[r]) ?? 0 } }
        e.ids = pick(ids)
        e.typeIds = pick(typeIds)
        e.mask = pick(mask)
        e.lengths = idx.map { lengths[$0] }
        e.shape = Shape([idx.count, length])
        return e
    }
}
