import Foundation
import Testing
@testable import Tensors

/// A reducer for one of two replicas on one process: the other replica's contributions are given.
private final class TwoShardReducer: BatchStatisticsReducer {
    let otherStatistics: [Double], otherGradientSums: [Double]
    /// The loss weights of this replica and the other (the job's loss is Σ w_s ℓ_s).
    let weight: Double, otherWeight: Double
    var calls = 0

    init(otherStatistics: [Double], otherGradientSums: [Double], weight: Double, otherWeight: Double) {
        self.otherStatistics = otherStatistics; self.otherGradientSums = otherGradientSums
        self.weight = weight; self.otherWeight = otherWeight
    }

    func sumStatistics(_ values: inout [Double]) {
        calls += 1
        for i in values.indices { values[i] += otherStatistics[i] }
    }

    func sumGradientStatistics(_ values: inout [Double]) {
        calls += 1
        for i in values.indices { values[i] += otherWeight / weight * otherGradientSums[i] }
    }
}

@Suite struct SynchronizedBatchNormTests {
    /// Rows `rows` of an NCHW array with `per` values per row.
    func rows(_ a: [Float], _ rows: Range<Int>, per: Int) -> [Float] { Array(a[(rows.lowerBound * per)..<(rows.upperBound * per)]) }

    /// Two uneven shards (3 and 5 rows) of a batch, each with its mean loss, synchronised through the reducer with
    /// loss weights 3 and 5 (DataParallel's weighting): outputs, running statistics and the input gradients equal the
    /// one-process batch norm of the whole batch (oneDNN, checked against PyTorch elsewhere) with its mean loss, and
    /// the weighted sum of the shards' weight and bias gradients equals the whole batch's.
    @Test func twoShardsThroughTheReducerEqualTheWholeBatch() throws {
        let n = 8, c = 3, plane = 4, per = c * plane
        let split = 3
        let x = randomTensor([n, c, 2, 2], seed: 1, low: -2, high: 3)
        let w = randomTensor([n, c, 2, 2], seed: 2)  // the loss is mean over rows of Σ w ⊙ y
        let gamma0 = randomTensor([c], seed: 3, low: 0.5, high: 1.5), beta0 = randomTensor([c], seed: 4)
        let xs = x.toArray(), ws = w.toArray()

        // One process, the whole batch.
        let xf = Tensor(shape: x.shape, data: xs, requiresGrad: true)
        let gf = Tensor(shape: [c], data: gamma0.toArray(), requiresGrad: true), bf = Tensor(shape: [c], data: beta0.toArray(), requiresGrad: true)
        let rmF = Tensor.zeros([c]), rvF = Tensor.ones([c])
        let yf = Tensor.batchNorm2d(xf, weight: gf, bias: bf, runningMean: rmF, runningVar: rvF, training: true)
        ((yf * w).sum() * (1 / Float(n))).backward()

        // Global statistics in Float64, for the other shard's contributions.
        var mean = [Double](repeating: 0, count: c), sq = [Double](repeating: 0, count: c)
        for i in 0..<n { for ch in 0..<c { for k in 0..<plane { let v = Double(xs[(i * c + ch) * plane + k]); mean[ch] += v; sq[ch] += v * v } } }
        let m = Double(n * plane)
        let mu = mean.map { $0 / m }
        let inv = (0..<c).map { 1 / (sq[$0] / m - mu[$0] * mu[$0] + 1e-5).squareRoot() }
        func statistics(_ r: Range<Int>) -> [Double] {
            var s = [Double](repeating: 0, count: 2 * c + 1)
            for i in r { for ch in 0..<c { for k in 0..<plane { let v = Double(xs[(i * c + ch) * plane + k]); s[ch] += v; s[c + ch] += v * v } } }
            s[2 * c] = Double(r.count * plane)
            return s
        }
        /// Σ∂ℓ/∂y and Σ∂ℓ/∂y·x̂ of a shard whose loss is its rows' mean.
        func gradientSums(_ r: Range<Int>) -> [Double] {
            var s = [Double](repeating: 0, count: 2 * c)
            for i in r {
                for ch in 0..<c {
                    for k in 0..<plane {
                        let j = (i * c + ch) * plane + k
                        let dy = Double(ws[j]) / Double(r.count)
                        s[ch] += dy; s[c + ch] += dy * (Double(xs[j]) - mu[ch]) * inv[ch]
                    }
                }
            }
            return s
        }

        let shards = [0..<split, split..<n]
        var dgamma = [Float](repeating: 0, count: c), dbeta = [Float](repeating: 0, count: c)
        for (s, r) in shards.enumerated() {
            let other = shards[1 - s]
            let reducer = TwoShardReducer(otherStatistics: statistics(other), otherGradientSums: gradientSums(other),
                                          weight: Double(r.count), otherWeight: Double(other.count))
            let xr = Tensor(shape: [r.count, c, 2, 2], data: rows(xs, r, per: per), requiresGrad: true)
            let g = Tensor(shape: [c], data: gamma0.toArray(), requiresGrad: true), b = Tensor(shape: [c], data: beta0.toArray(), requiresGrad: true)
            let rm = Tensor.zeros([c]), rv = Tensor.ones([c])
            let y = Tensor.batchNorm2d(xr, weight: g, bias: b, runningMean: rm, runningVar: rv, momentum: 0.1, eps: 1e-5, reducer: reducer)
            #expect(maxAbsDiff(y.toArray(), rows(yf.toArray(), r, per: per)) < 1e-5)
            #expect(maxAbsDiff(rm.toArray(), rmF.toArray()) < 1e-6)
            #expect(maxAbsDiff(rv.toArray(), rvF.toArray()) < 1e-5)
            let wr = Tensor(shape: [r.count, c, 2, 2], data: rows(ws, r, per: per))
            ((y * wr).sum() * (1 / Float(r.count))).backward()
            #expect(reducer.calls == 2)
            // The shard's loss enters the job's with weight n_r / n: so do its gradients.
            let share = Float(r.count) / Float(n)
            #expect(maxAbsDiff(xr.grad!.toArray().map { $0 * share }, rows(xf.grad!.toArray(), r, per: per)) < 1e-5)
            for ch in 0..<c {
                dgamma[ch] += share * g.grad!.toArray()[ch]
                dbeta[ch] += share * b.grad!.toArray()[ch]
            }
        }
        #expect(maxAbsDiff(dgamma, gf.grad!.toArray()) < 1e-5)
        #expect(maxAbsDiff(dbeta, bf.grad!.toArray()) < 1e-5)
    }
}
