import Datasets
import Foundation
import Testing
import Tensors
import TransferKit
@testable import MPIDistributed

@Suite struct ShardedBatchSourceTests {
    /// The ranks' local batches of every step partition the global batch one process sees (DistributedSampler).
    @Test func shardsPartitionEveryGlobalBatchAndDropATailSmallerThanTheRanks() throws {
        let x = Tensor(shape: [23, 2], data: (0..<46).map(Float.init))
        let source = TensorBatchSource(inputs: x, targets: .classes(Array(0..<23)), batchSize: 8, shuffle: true, seed: 3)
        for epoch in 0..<2 {
            let global = try source.batches(epoch: epoch)
            let shards = try (0..<3).map { try ShardedBatchSource(source, rank: $0, of: 3).batches(epoch: epoch) }
            var steps = 0
            while let g = try global.next() {
                let locals = try shards.map { try $0.next() }
                guard g.count >= 3 else {
                    #expect(locals.allSatisfy { $0 == nil })
                    continue
                }
                steps += 1
                let parts = locals.compactMap { $0 }
                #expect(parts.count == 3)
                #expect(Set(parts.flatMap(\.indices)) == Set(g.indices))
                #expect(parts.map(\.count).reduce(0, +) == g.count)
                for p in parts {
                    guard case .classes(let c) = p.targets else { Issue.record("targets"); continue }
                    #expect(c == p.indices)
                    #expect(p.inputs.tensor!.toArray() == p.indices.flatMap { [Float(2 * $0), Float(2 * $0 + 1)] })
                }
            }
            #expect(steps == 3)  // 8, 8, 7 (a tail of 7 ≥ 3 ranks is kept)
        }
    }

    @Test func aPlainRunNeedsNoMPI() throws {
        #expect(ProcessInfo.processInfo.environment[Communicator.launcherVariable] == nil)
        #expect(try Communicator.fromEnvironment() == nil)
    }

    /// A loader's shard prepares only its rank's positions of every global batch: the shards' batches are exactly the
    /// rows a whole-batch split would select (same order, same samples), and an unreadable sample shortens only its
    /// own rank's batch.
    @Test func aLoaderShardPreparesOnlyItsRanksRowsOfEveryBatch() throws {
        let data = LabeledData(inputs: (0..<23).map { .image(path: "/nonexistent/\($0).png") }, labels: (0..<23).map { $0 % 3 }, classNames: ["a", "b", "c"])
        func loader(_ shard: LoaderShard?, failing: Int? = nil) throws -> DataLoader {
            var o = LoaderOptions(batchSize: 8, shuffle: true, seed: 9, workers: 0)
            o.shard = shard
            return try DataLoader(dataset: data, options: o) { (index: Int, _: inout SeededGenerator) throws(DatasetError) -> FloatImage in
                if index == failing { throw .unreadable(path: "\(index)", reason: "test") }
                return FloatImage(channels: 1, width: 1, height: 1, data: [Float(index)])
            }
        }
        let whole = try loader(nil)
        let shards = try (0..<3).map { try loader(LoaderShard(rank: $0, of: 3)) }
        #expect(shards.map(\.batchesPerEpoch) == [3, 3, 3])
        for epoch in 0..<2 {
            let global = try whole.batches(epoch: epoch)
            for (r, shard) in shards.enumerated() {
                let local = try shard.batches(epoch: epoch)
                #expect(local.count == global.count)
                for (l, g) in zip(local, global) {
                    let expected = stride(from: r, to: g.indices.count, by: 3).map { g.indices[$0] }
                    #expect(l.indices == expected)
                    #expect(l.images.toArray() == expected.map(Float.init))
                }
            }
        }
        // Sample 0's position in epoch 0: only its rank's batch is one shorter.
        let order = whole.order(epoch: 0), p = order.firstIndex(of: 0)!
        let failing = try (0..<3).map { try loader(LoaderShard(rank: $0, of: 3), failing: 0).batches(epoch: 0) }
        for (r, batches) in failing.enumerated() {
            let sizes = batches.map(\.indices.count), full = try shards[r].batches(epoch: 0).map(\.indices.count)
            #expect(sizes == full.enumerated().map { i, n in i == p / 8 && p % 8 % 3 == r ? n - 1 : n })
        }
    }
}
