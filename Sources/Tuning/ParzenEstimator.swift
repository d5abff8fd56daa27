import Foundation

/// Optuna's univariate Parzen estimator: a mixture of one kernel per observation plus a prior kernel, with the
/// observations weighted by ``TPESampler/weights(_:)`` and the prior by `priorWeight`.
///
/// - Numbers (in log space for log scales; ints widened by ±½): truncated normals on the range, each centred on an
///   observation with σ the larger gap to its sorted neighbours (the range's ends count as neighbours, except for
///   the outermost observations, Optuna's `consider_endpoints=False`), clipped to [range / min(100, 1 + n), range]
///   (`consider_magic_clip`); the prior is centred on the range's middle with σ = range.
/// - Categories: kernel i puts priorWeight / (n + 1) on every choice plus 1 on its observation; the prior is uniform.
struct ParzenEstimator {
    let distribution: Distribution
    var weights: [Double] = []
    var mus: [Double] = [], sigmas: [Double] = []
    var low = 0.0, high = 0.0, step = 0.0
    var categorical: [[Double]] = []

    init(_ observations: [Double], _ d: Distribution, priorWeight: Double) {
        distribution = d
        let w = TPESampler.weights(observations.count) + [priorWeight]
        let total = w.reduce(0, +)
        weights = w.map { $0 / total }
        switch d {
        case .categorical(let c):
            let n = observations.count + 1
            for o in observations {
                var row = [Double](repeating: priorWeight / Double(n), count: c.count)
                row[Swift.min(Swift.max(Int(o), 0), c.count - 1)] += 1
                let s = row.reduce(0, +)
                categorical.append(row.map { $0 / s })
            }
            categorical.append([Double](repeating: 1 / Double(c.count), count: c.count))
        case .float(let lo, let hi, let log):
            (low, high) = log ? (Foundation.log(lo), Foundation.log(hi)) : (lo, hi)
            numerical(observations)
        case .int(let lo, let hi, let log):
            (low, high) = log ? (Foundation.log(Double(lo) - 0.5), Foundation.log(Double(hi) + 0.5)) : (Double(lo) - 0.5, Double(hi) + 0.5)
            numerical(observations)
        }
    }

    mutating func numerical(_ obs: [Double]) {
        let range = Swift.max(high - low, 1e-12)
        let prior = 0.5 * (low + high)
        let withPrior = obs + [prior]
        let order = withPrior.indices.sorted { withPrior[$0] < withPrior[$1] }
        var sorted: [Double] = [low]
        for i in order { sorted.append(withPrior[i]) }
        sorted.append(high)
        var s: [Double] = []
        for j in 1..<(sorted.count - 1) {
            let left: Double = sorted[j] - sorted[j - 1], right: Double = sorted[j + 1] - sorted[j]
            s.append(Swift.max(left, right))
        }
        if sorted.count >= 4 {
            s[0] = sorted[2] - sorted[1]
            s[s.count - 1] = sorted[sorted.count - 2] - sorted[sorted.count - 3]
        }
        var sig = [Double](repeating: 0, count: withPrior.count)
        for (k, i) in order.enumerated() { sig[i] = s[k] }
        let minSigma = range / Swift.min(100, 1 + Double(withPrior.count))
        mus = withPrior
        sigmas = sig.prefix(obs.count).map { Swift.min(Swift.max($0, minSigma), range) } + [range]
    }

    func sample(_ g: inout TuningRandom) -> Double {
        var u = g.uniform(), k = 0
        while k < weights.count - 1 && u >= weights[k] { u -= weights[k]; k += 1 }
        if case .categorical = distribution {
            var v = g.uniform(), j = 0
            let row = categorical[k]
            while j < row.count - 1 && v >= row[j] { v -= row[j]; j += 1 }
            return Double(j)
        }
        for _ in 0..<1000 {  // a truncated normal by rejection (the kernels put ≥ ~1/3 of their mass in range)
            let x = mus[k] + sigmas[k] * normal(&g)
            if x >= low && x <= high { return x }
        }
        return Swift.min(Swift.max(mus[k], low), high)
    }

    func logDensity(_ x: Double) -> Double {
        var terms: [Double] = []
        for k in weights.indices {
            let p: Double
            if case .categorical = distribution {
                p = categorical[k][Swift.min(Swift.max(Int(x), 0), categorical[k].count - 1)]
            } else {
                let z = (x - mus[k]) / sigmas[k]
                let mass = phi((high - mus[k]) / sigmas[k]) - phi((low - mus[k]) / sigmas[k])
                p = exp(-0.5 * z * z) / (sigmas[k] * (2 * Double.pi).squareRoot()) / Swift.max(mass, 1e-300)
            }
            terms.append(log(weights[k]) + log(Swift.max(p, 1e-300)))
        }
        let m = terms.max()!
        return m + log(terms.reduce(0) { $0 + exp($1 - m) })
    }

    func phi(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }

    func normal(_ g: inout TuningRandom) -> Double {
        let u = Swift.max(g.uniform(), 1e-300), v = g.uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
