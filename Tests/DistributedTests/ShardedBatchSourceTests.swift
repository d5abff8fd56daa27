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
}
