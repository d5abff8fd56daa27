import Testing
import Tensors
@testable import Layers

/// Counts its calls and sums nothing in (a job of one replica).
private final class OneReplica: BatchStatisticsReducer {
    var forward = 0, backward = 0
    func sumStatistics(_ values: inout [Double]) { forward += 1 }
    func sumGradientStatistics(_ values: inout [Double]) { backward += 1 }
}

@Suite struct BatchNormReducerTests {
    /// A BatchNorm with a reducer calls it where it normalises with batch statistics (train mode, not frozen, not
    /// keeping running statistics) and nowhere else; with one replica it computes exactly what it computes without one.
    @Test func batchNormCallsItsReducerOnlyWhereItUsesBatchStatistics() {
        var g = SeededGenerator(seed: 3)
        let x = Tensor.uniform([4, 2, 3, 3], low: -1, high: 2, generator: &g)
        x.requiresGrad = true  // the backward reduces only where the input needs its gradient
        let plain = BatchNorm2d(2), synced = BatchNorm2d(2)
        let reducer = OneReplica()
        synced.statisticsReducer = reducer
        plain.train(); synced.train()
        let y0 = plain(x), y1 = synced(x)
        #expect(reducer.forward == 1)
        #expect(zip(y0.toArray(), y1.toArray()).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(zip(plain.runningVar.toArray(), synced.runningVar.toArray()).allSatisfy { abs($0 - $1) < 1e-6 })
        (y1 * y1).sum().backward()
        #expect(reducer.backward == 1)
        synced.keepsRunningStatistics = true
        _ = synced(x)
        synced.keepsRunningStatistics = false
        synced.eval()
        _ = synced(x)
        #expect(reducer.forward == 1)
    }
}
