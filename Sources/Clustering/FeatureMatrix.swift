import Tensors

/// Row vectors `[rows, columns]` in row-major Float storage: the features clustering works on.
public struct FeatureMatrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "FeatureMatrix: \(values.count) values for \(rows)×\(columns)")
        self.rows = rows; self.columns = columns; self.values = values
    }

    /// The rows of a `[N, D]` tensor.
    public init(_ t: Tensor) {
        precondition(t.rank == 2, "FeatureMatrix: tensor \(t.shape) is not [N, D]")
        self.init(rows: t.shape[0], columns: t.shape[1], values: t.contiguous().toArray())
    }

    public var tensor: Tensor { Tensor(shape: [rows, columns], data: values) }

    public func row(_ i: Int) -> ArraySlice<Float> { values[(i * columns)..<((i + 1) * columns)] }

    /// Squared norms of the rows.
    public var squaredNorms: [Double] {
        (0..<rows).map { i in row(i).reduce(0.0) { $0 + Double($1) * Double($1) } }
    }

    /// Squared Euclidean distances `[rows, other.rows]` (‖a‖² + ‖b‖² − 2 a·b through one matrix product, clamped at 0).
    public func squaredDistances(to other: FeatureMatrix) -> [Double] {
        precondition(columns == other.columns, "squaredDistances: \(columns) vs \(other.columns) columns")
        let dots = withNoGrad { Tensor.matmul(tensor, other.tensor.transposed(0, 1).contiguous()) }.contiguous().toArray()
        let a = squaredNorms, b = other.squaredNorms
        var out = [Double](repeating: 0, count: rows * other.rows)
        for i in 0..<rows {
            for j in 0..<other.rows { out[i * other.rows + j] = Swift.max(0, a[i] + b[j] - 2 * Double(dots[i * other.rows + j])) }
        }
        return out
    }

    /// The rows at `indices`.
    public func selecting(_ indices: [Int]) -> FeatureMatrix {
        FeatureMatrix(rows: indices.count, columns: columns, values: indices.flatMap { row($0) })
    }
}
