import Foundation
import HeadFitting
import Tensors

extension FeatureMatrix {
    /// Each row divided by its L2 norm (rows of norm 0 stay 0).
    public func l2Normalized() -> FeatureMatrix {
        var v = values
        for r in 0..<rows {
            var s = 0.0
            for c in 0..<columns { s += v[r * columns + c] * v[r * columns + c] }
            let n = Swift.max(s.squareRoot(), 1e-12)
            for c in 0..<columns { v[r * columns + c] /= n }
        }
        return FeatureMatrix(values: v, rows: rows, columns: columns)
    }

    /// The mean row (`columns` values; zeros when there are no rows).
    public func meanRow() -> [Double] {
        var m = [Double](repeating: 0, count: columns)
        for r in 0..<rows { for c in 0..<columns { m[c] += values[r * columns + c] } }
        return m.map { $0 / Double(Swift.max(rows, 1)) }
    }

    /// Every row minus `mean`.
    public func centred(on mean: [Double]) -> FeatureMatrix {
        precondition(mean.count == columns, "FeatureMatrix.centred: \(mean.count) values for \(columns) columns")
        var v = values
        for r in 0..<rows { for c in 0..<columns { v[r * columns + c] -= mean[c] } }
        return FeatureMatrix(values: v, rows: rows, columns: columns)
    }

    /// Row `r`.
    public func row(_ r: Int) -> ArraySlice<Double> { values[(r * columns)..<((r + 1) * columns)] }

    /// The rows as a float tensor `[rows, columns]`.
    public func tensor() -> Tensor { Tensor(shape: [rows, columns], data: values.map { Float($0) }) }
}

/// SimpleShot's feature transform (Wang et al. 2019, "SimpleShot: Revisiting Nearest-Neighbor Classification for
/// Few-Shot Learning"): CL2N, centring on a mean feature (of the base classes, or of the support set when there are
/// none) and then L2 normalisation, after which nearest class mean by Euclidean distance is nearest by cosine.
public struct SimpleShotTransform: Sendable {
    /// The mean subtracted before normalising (nil: normalise only, SimpleShot's L2N).
    public var mean: [Double]?

    public init(mean: [Double]?) { self.mean = mean }

    public func apply(_ x: FeatureMatrix) -> FeatureMatrix {
        (mean.map { x.centred(on: $0) } ?? x).l2Normalized()
    }
}
