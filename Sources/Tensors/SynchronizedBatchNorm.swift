/// Sums batch-normalisation statistics over the replicas of a data-parallel job, so that a batch norm normalises
/// every replica's rows with the statistics of the whole global batch (PyTorch's `torch.nn.SyncBatchNorm`, whose
/// forward all-reduces the per-channel sum, sum of squares and count, and whose backward all-reduces the two
/// per-channel gradient sums).
///
/// Every replica must make the same calls in the same order (a collective per batch norm in forward, and one in
/// backward where the input needs a gradient). The methods cannot fail: an implementation that cannot reduce leaves
/// the values as they are and reports its failure before the optimizer step.
public protocol BatchStatisticsReducer: AnyObject {
    /// Forward. On entry this replica's per-channel Σx (C values), Σx² (C values) and its count of values per
    /// channel (1 value); on return the same sums over every replica.
    func sumStatistics(_ values: inout [Double])

    /// Backward. On entry this replica's per-channel Σ∂ℓ/∂y and Σ∂ℓ/∂y·x̂ (2C values), where ℓ is this replica's own
    /// loss; on return Σ_s (w_s / w_r) · values_s over every replica s, where the job's loss is Σ_s w_s ℓ_s and r is
    /// this replica (PyTorch's plain sum when every w_s is equal, e.g. equal local batches of mean losses).
    func sumGradientStatistics(_ values: inout [Double])
}

extension Tensor {
    /// Batch normalisation in train mode over the global batch of a data-parallel job (``BatchStatisticsReducer``):
    /// the mean and biased variance of every channel are those of all replicas' rows together, the running
    /// statistics are updated with them (the unbiased variance of the global count, as PyTorch's `SyncBatchNorm`), and
    /// the input gradient is the global batch's: with m the global count and x̂ the normalised input,
    /// `∂x = γ/σ · (∂y − R(Σ∂y)/m − x̂ · R(Σ∂y·x̂)/m)`, R the reducer's gradient sum; the weight and bias gradients are
    /// this replica's own sums (the data-parallel gradient average adds them up).
    ///
    /// - Parameters: as ``batchNorm2d(_:weight:bias:runningMean:runningVar:training:momentum:eps:)`` in train mode.
    ///   The output is plain NCHW; forward and backward are plain loops over the per-channel planes.
    public static func batchNorm2d(_ x0: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                                   momentum: Float, eps: Float, reducer: BatchStatisticsReducer) -> Tensor {
        require(x0.rank == 4, "batchNorm2d: input \(x0.shape) must be [N, C, H, W] (running mean \(runningMean.shape))")
        let n = x0.shape[0], c = x0.shape[1], plane = x0.shape[2] * x0.shape[3]
        for (what, t) in [("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar)] {
            if let t { require(t.shape == Shape([c]), "batchNorm2d: \(what) \(t.shape) does not match the \(c) channels of input \(x0.shape)") }
        }
        let x = x0.plainData()
        let xp = x.basePointer
        var stats = [Double](repeating: 0, count: 2 * c + 1)
        for i in 0..<n {
            for ch in 0..<c {
                let p = xp + (i * c + ch) * plane
                var s = 0.0, q = 0.0
                for k in 0..<plane { let v = Double(p[k]); s += v; q += v * v }
                stats[ch] += s; stats[c + ch] += q
            }
        }
        stats[2 * c] = Double(n * plane)
        reducer.sumStatistics(&stats)
        let m = stats[2 * c]
        require(m > 1, "batchNorm2d: training needs more than one value per channel over all replicas, input \(x0.shape) has \(n * plane)")
        let mean = (0..<c).map { stats[$0] / m }
        let variance = (0..<c).map { Swift.max(stats[c + $0] / m - mean[$0] * mean[$0], 0) }
        let invStd = variance.map { 1 / (Double($0) + Double(eps)).squareRoot() }
        let gamma = weight?.toArray() ?? [Float](repeating: 1, count: c), beta = bias?.toArray() ?? [Float](repeating: 0, count: c)
        let out = Tensor(uninitialized: x0.shape)
        let op = out.storage.pointer
        for i in 0..<n {
            for ch in 0..<c {
                let base = (i * c + ch) * plane
                let a = Float(invStd[ch]) * gamma[ch], b = beta[ch] - Float(mean[ch]) * a
                for k in 0..<plane { op[base + k] = xp[base + k] * a + b }
            }
        }
        withNoGrad {
            let f = Double(momentum), unbiased = m / (m - 1)
            runningMean.withMutableData { r in for i in 0..<c { r[i] = Float((1 - f) * Double(r[i]) + f * mean[i]) } }
            runningVar.withMutableData { r in for i in 0..<c { r[i] = Float((1 - f) * Double(r[i]) + f * variance[i] * unbiased) } }
        }
        let inputs = [x0] + [weight, bias].compactMap { $0 }
        guard GradMode.records(inputs) else { return out }
        return out.recorded("syncBatchNorm2d", inputs) { gy, needs in
            let g = gy.plainData()
            let gp = g.basePointer
            var sums = [Double](repeating: 0, count: 2 * c)
            for i in 0..<n {
                for ch in 0..<c {
                    let base = (i * c + ch) * plane
                    let mu = mean[ch], inv = invStd[ch]
                    var sdy = 0.0, sdyx = 0.0
                    for k in 0..<plane {
                        let dy = Double(gp[base + k])
                        sdy += dy; sdyx += dy * (Double(xp[base + k]) - mu) * inv
                    }
                    sums[ch] += sdy; sums[c + ch] += sdyx
                }
            }
            let local = sums
            var grads: [Tensor?] = []
            if needs[0] {
                reducer.sumGradientStatistics(&sums)
                let dx = Tensor(uninitialized: x0.shape)
                let dp = dx.storage.pointer
                for i in 0..<n {
                    for ch in 0..<c {
                        let base = (i * c + ch) * plane
                        let mu = mean[ch], inv = invStd[ch], scale = Double(gamma[ch]) * inv
                        let meanDy = sums[ch] / m, meanDyX = sums[c + ch] / m
                        for k in 0..<plane {
                            let xhat = (Double(xp[base + k]) - mu) * inv
                            dp[base + k] = Float(scale * (Double(gp[base + k]) - meanDy - xhat * meanDyX))
                        }
                    }
                }
                grads.append(dx)
            } else {
                grads.append(nil)
            }
            withExtendedLifetime(x) {}
            if weight != nil { grads.append(needs[1] ? Tensor(shape: Shape([c]), data: (0..<c).map { Float(local[c + $0]) }) : nil) }
            if bias != nil {
                grads.append(needs[weight != nil ? 2 : 1] ? Tensor(shape: Shape([c]), data: (0..<c).map { Float(local[$0]) }) : nil)
            }
            return grads
        }
    }
}
