import Foundation
import Tensors

/// A 2-D map of source and target feature rows: their projection on the first two principal components of both
/// together (PCA), for a report's "before/after" picture of domain alignment.
public struct FeatureMap: Sendable, Equatable {
    /// `(x, y)` of every row, source rows first.
    public var points: [(Double, Double)]
    /// How many of ``points`` are source rows (the rest are target rows).
    public var sourceCount: Int

    public static func == (a: FeatureMap, b: FeatureMap) -> Bool {
        a.sourceCount == b.sourceCount && a.points.count == b.points.count && zip(a.points, b.points).allSatisfy { $0 == $1 }
    }

    public init(points: [(Double, Double)], sourceCount: Int) { self.points = points; self.sourceCount = sourceCount }

    /// The PCA map of `source` `[n, d]` and `target` `[m, d]` rows.
    public init(source: Tensor, target: Tensor) {
        let d = source.shape[1], n = source.shape[0] + target.shape[0]
        let rows = source.toArray().map(Double.init) + target.toArray().map(Double.init)
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<n { for c in 0..<d { mean[c] += rows[r * d + c] } }
        for c in 0..<d { mean[c] /= Double(Swift.max(n, 1)) }
        var centred = rows
        for r in 0..<n { for c in 0..<d { centred[r * d + c] -= mean[c] } }
        let cov = CORAL.gemm(centred, centred, m: d, k: n, n: d, transposeA: true)
        var points = [(Double, Double)](repeating: (0, 0), count: n)
        if n > 1, let e = SymmetricEigen(cov, n: d) {
            let (k1, k2) = (d - 1, Swift.max(d - 2, 0))
            for r in 0..<n {
                var x = 0.0, y = 0.0
                for c in 0..<d { x += centred[r * d + c] * e.vectors[c * d + k1]; y += centred[r * d + c] * e.vectors[c * d + k2] }
                points[r] = (x, y)
            }
        }
        self.init(points: points, sourceCount: source.shape[0])
    }
}
