import CBLAS
import Foundation

/// Rows of feature vectors with class labels, in double precision: what the solvers of this module fit.
public struct FeatureMatrix: Sendable {
    /// Row-major `[rows, columns]`.
    public var values: [Double]
    public let rows: Int, columns: Int

    public init(values: [Double], rows: Int, columns: Int) {
        precondition(values.count == rows * columns, "FeatureMatrix: \(values.count) values for \(rows)×\(columns)")
        self.values = values; self.rows = rows; self.columns = columns
    }

    /// The rows `idx`, in that order.
    public func rows(_ idx: [Int]) -> FeatureMatrix {
        var v = [Double](); v.reserveCapacity(idx.count * columns)
        for i in idx { v += values[(i * columns)..<((i + 1) * columns)] }
        return FeatureMatrix(values: v, rows: idx.count, columns: columns)
    }
}

/// Multinomial logistic regression with an L2 penalty, scikit-learn's `LogisticRegression(solver="lbfgs")`:
/// it minimises Σᵢ −log softmax(W xᵢ + b)[yᵢ] + ‖W‖² / (2C) (the bias is not penalised; every class has its own row
/// of W, as in scikit-learn's multinomial loss), divided by the number of rows as scikit-learn ≥ 1.1 does so that
/// `tol` means the same thing; solved with ``LBFGS`` from zero.
public struct LogisticRegression: Sendable {
    /// Inverse regularisation strength C (> 0).
    public var c: Double
    public var solver: LBFGS

    public init(c: Double = 1, maxIterations: Int = 100, tolerance: Double = 1e-4) {
        precondition(c > 0, "LogisticRegression: C must be > 0 (received \(c))")
        self.c = c; solver = LBFGS(maxIterations: maxIterations, gradientTolerance: tolerance)
    }

    /// A fitted model: `coefficients` `[classes, columns]` row-major and `intercepts` `[classes]`.
    public struct Model: Sendable {
        public var coefficients: [Double]
        public var intercepts: [Double]
        public let classes: Int, columns: Int
        public var iterations: Int
        public var converged: Bool

        /// Raw scores `[rows, classes]` (the logits).
        public func decision(_ x: FeatureMatrix) -> [Double] {
            LogisticRegression.scores(x, packed: coefficients + intercepts, classes: classes)
        }

        /// Class probabilities `[rows, classes]`.
        public func probabilities(_ x: FeatureMatrix) -> [Double] { softmaxRows(decision(x), classes: classes) }

        /// The most probable class of each row.
        public func predict(_ x: FeatureMatrix) -> [Int] { argmaxRows(decision(x), classes: classes) }
    }

    /// Fits labels `y` (0..<classes) of the rows of `x`, starting from `start` (a warm start) or zero.
    public func fit(_ x: FeatureMatrix, _ y: [Int], classes: Int, start: Model? = nil) -> Model {
        precondition(y.count == x.rows && y.allSatisfy { (0..<classes).contains($0) }, "LogisticRegression.fit: labels")
        let k = classes, d = x.columns, n = Double(Swift.max(x.rows, 1))
        let penalty = 1 / (c * n)
        let x0 = start.map { $0.coefficients + $0.intercepts } ?? [Double](repeating: 0, count: k * (d + 1))
        let r = solver.minimize(x0) { w in
            let z = Self.scores(x, packed: w, classes: k)
            var loss = 0.0
            var g = [Double](repeating: 0, count: x.rows * k)  // (P − Y) / n
            for i in 0..<x.rows {
                let row = z[(i * k)..<((i + 1) * k)]
                let m = row.max()!
                var sum = 0.0
                for j in 0..<k { sum += exp(row[row.startIndex + j] - m) }
                let lse = m + log(sum)
                loss += lse - z[i * k + y[i]]
                for j in 0..<k { g[i * k + j] = exp(z[i * k + j] - lse) / n }
                g[i * k + y[i]] -= 1 / n
            }
            var grad = [Double](repeating: 0, count: k * (d + 1))
            // gradW [k, d] = Gᵀ [k, rows] · X [rows, d]
            g.withUnsafeBufferPointer { pg in x.values.withUnsafeBufferPointer { px in grad.withUnsafeMutableBufferPointer { pw in
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(k), Int32(d), Int32(x.rows), 1,
                            pg.baseAddress, Int32(k), px.baseAddress, Int32(d), 0, pw.baseAddress, Int32(d))
            } } }
            var reg = 0.0
            for j in 0..<(k * d) { reg += w[j] * w[j]; grad[j] += penalty * w[j] }
            for i in 0..<x.rows { for j in 0..<k { grad[k * d + j] += g[i * k + j] } }
            return (loss / n + 0.5 * penalty * reg, grad)
        }
        return Model(coefficients: Array(r.x[0..<(k * d)]), intercepts: Array(r.x[(k * d)...]), classes: k, columns: d,
                     iterations: r.iterations, converged: r.converged)
    }

    /// X·Wᵀ + b for packed parameters (W `[classes, columns]` then b).
    static func scores(_ x: FeatureMatrix, packed w: [Double], classes k: Int) -> [Double] {
        let d = x.columns
        var z = [Double](repeating: 0, count: x.rows * k)
        for i in 0..<x.rows { for j in 0..<k { z[i * k + j] = w[k * d + j] } }
        guard x.rows > 0 else { return z }
        x.values.withUnsafeBufferPointer { px in w.withUnsafeBufferPointer { pw in z.withUnsafeMutableBufferPointer { pz in
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(x.rows), Int32(k), Int32(d), 1,
                        px.baseAddress, Int32(d), pw.baseAddress, Int32(d), 1, pz.baseAddress, Int32(k))
        } } }
        return z
    }
}


/// Row-wise softmax of `[rows, classes]`.
public func softmaxRows(_ z: [Double], classes k: Int) -> [Double] {
    var p = z
    for i in 0..<(z.count / Swift.max(k, 1)) {
        let m = z[(i * k)..<((i + 1) * k)].max()!
        var s = 0.0
        for j in 0..<k { p[i * k + j] = exp(z[i * k + j] - m); s += p[i * k + j] }
        for j in 0..<k { p[i * k + j] /= s }
    }
    return p
}

/// The index of each row's largest value (the first on ties).
public func argmaxRows(_ z: [Double], classes k: Int) -> [Int] {
    (0..<(z.count / Swift.max(k, 1))).map { i in
        var best = 0
        for j in 1..<k where z[i * k + j] > z[i * k + best] { best = j }
        return best
    }
}
