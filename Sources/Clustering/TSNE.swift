import Foundation

/// t-SNE (van der Maaten & Hinton, "Visualizing Data using t-SNE", JMLR 2008) with the exact gradient, as
/// scikit-learn's `TSNE(method="exact", init="pca", learning_rate="auto")` runs it: conditional probabilities whose
/// perplexity is matched by binary search, symmetrised; a Student-t kernel in 2-D; 250 iterations of early
/// exaggeration (12) with momentum 0.5, then momentum 0.8; per-coordinate gains (delta-bar-delta, minimum 0.01).
/// Quadratic in the number of points: meant for maps of a few thousand points.
public enum TSNE {
    /// The affinities `P` (row-major `[n, n]`, symmetric, summing to 1) of `x` at `perplexity`, and each point's
    /// conditional entropy in nats (log of its achieved perplexity).
    public static func affinities(_ x: FeatureMatrix, perplexity: Double) -> (p: [Double], entropies: [Double]) {
        let n = x.rows, d2 = x.squaredDistances(to: x), target = log(perplexity)
        var conditional = [Double](repeating: 0, count: n * n), entropies = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let others = (0..<n).filter { $0 != i }
            let dmin = others.map { d2[i * n + $0] }.min() ?? 0
            var beta = 1.0, lo = -Double.infinity, hi = Double.infinity
            var row = [Double](repeating: 0, count: n), entropy = 0.0
            for _ in 0..<200 {
                var sum = 0.0, weighted = 0.0
                for j in others {
                    let shifted = d2[i * n + j] - dmin, e = exp(-beta * shifted)
                    row[j] = e; sum += e; weighted += shifted * e
                }
                entropy = log(sum) + beta * weighted / sum
                for j in others { row[j] /= sum }
                if Swift.abs(entropy - target) < 1e-5 { break }
                if entropy > target { lo = beta; beta = hi.isFinite ? (beta + hi) / 2 : beta * 2 } else {
                    hi = beta; beta = lo.isFinite ? (beta + lo) / 2 : beta / 2
                }
            }
            entropies[i] = entropy
            for j in others { conditional[i * n + j] = row[j] }
        }
        var p = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n where j != i { p[i * n + j] = Swift.max((conditional[i * n + j] + conditional[j * n + i]) / Double(2 * n), 1e-12) } }
        return (p, entropies)
    }

    /// A 2-D embedding of the rows of `x` (perplexity capped below n/3 for tiny sets).
    public static func embed(_ x: FeatureMatrix, perplexity: Double = 30, iterations: Int = 1000) -> [[Double]] {
        let n = x.rows
        guard n > 2 else { return (0..<n).map { [Double($0), 0] } }
        let p = affinities(x, perplexity: Swift.min(perplexity, Double(n - 1) / 3)).p
        let exaggeration = 12.0, rate = Swift.max(Double(n) / exaggeration / 4, 50)
        // PCA initialisation scaled to a first-coordinate standard deviation of 1e-4 (scikit-learn's init="pca").
        let pca = PCA.project(x, components: 2)
        let mean0 = pca.reduce(0) { $0 + $1[0] } / Double(n)
        let sd = (pca.reduce(0) { $0 + ($1[0] - mean0) * ($1[0] - mean0) } / Double(n)).squareRoot()
        var y = pca.flatMap { [$0[0], $0[1]] }.map { $0 / Swift.max(sd, 1e-12) * 1e-4 }
        var update = [Double](repeating: 0, count: 2 * n), gains = [Double](repeating: 1, count: 2 * n)
        var num = [Double](repeating: 0, count: n * n), grad = [Double](repeating: 0, count: 2 * n)
        for iteration in 0..<iterations {
            let early = iteration < 250, scale = early ? exaggeration : 1, momentum = early ? 0.5 : 0.8
            var total = 0.0
            for i in 0..<n { for j in (i + 1)..<n {
                let dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1], q = 1 / (1 + dx * dx + dy * dy)
                num[i * n + j] = q; num[j * n + i] = q; total += 2 * q
            } }
            for i in 0..<n {
                var gx = 0.0, gy = 0.0
                for j in 0..<n where j != i {
                    let q = num[i * n + j], m = (scale * p[i * n + j] - q / total) * q
                    gx += m * (y[2 * i] - y[2 * j]); gy += m * (y[2 * i + 1] - y[2 * j + 1])
                }
                grad[2 * i] = 4 * gx; grad[2 * i + 1] = 4 * gy
            }
            for k in 0..<(2 * n) {
                gains[k] = (update[k] * grad[k] < 0) ? gains[k] + 0.2 : Swift.max(gains[k] * 0.8, 0.01)
                update[k] = momentum * update[k] - rate * gains[k] * grad[k]
                y[k] += update[k]
            }
        }
        return (0..<n).map { [y[2 * $0], y[2 * $0 + 1]] }
    }
}
