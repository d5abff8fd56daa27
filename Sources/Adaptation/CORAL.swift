import CBLAS
import Foundation
import Tensors

/// CORrelation ALignment (Sun, Feng & Saenko 2016, "Return of Frustratingly Easy Domain Adaptation"; Sun & Saenko
/// 2016, "Deep CORAL").
public enum CORAL {
    /// The covariance `[d, d]` of rows `x` `[n, d]` (divided by n − 1), differentiable: `(xᵀx − (1ᵀx)ᵀ(1ᵀx)/n) / (n − 1)`.
    public static func covariance(_ x: Tensor) -> Tensor {
        require(x.rank == 2 && x.shape[0] > 1, "CORAL.covariance: rows \(x.shape) must be [n > 1, d]")
        let n = Float(x.shape[0])
        let centred = x - x.mean(axis: 0, keepDims: true)
        return centred.transposed().matmul(centred) / (n - 1)
    }

    /// The Deep CORAL loss `‖C_S − C_T‖²_F / (4 d²)` between the feature covariances of a source batch and a target
    /// batch (both `[n, d]`, any n > 1), differentiable in both (TLlib `CorrelationAlignmentLoss` divides by the
    /// number of entries instead of 4d², i.e. 4× this; the paper's form is kept).
    public static func loss(source: Tensor, target: Tensor) -> Tensor {
        require(source.rank == 2 && target.rank == 2 && source.shape[1] == target.shape[1],
                "CORAL.loss: source \(source.shape) and target \(target.shape) must be [n, d] with the same d")
        let d = Float(source.shape[1])
        let diff = covariance(source) - covariance(target)
        return (diff * diff).sum() / (4 * d * d)
    }

    /// Column means and the covariance (divided by n − 1) of rows `x`, in double precision.
    static func moments(_ x: Tensor) -> (mean: [Double], covariance: [Double]) {
        let n = x.shape[0], d = x.shape[1], v = x.toArray()
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<n { for c in 0..<d { mean[c] += Double(v[r * d + c]) } }
        for c in 0..<d { mean[c] /= Double(n) }
        var centred = [Double](repeating: 0, count: n * d)
        for r in 0..<n { for c in 0..<d { centred[r * d + c] = Double(v[r * d + c]) - mean[c] } }
        var cov = gemm(centred, centred, m: d, k: n, n: d, transposeA: true)
        for i in 0..<(d * d) { cov[i] /= Double(n - 1) }
        return (mean, cov)
    }

    /// `op(A) · B` for row-major `A` (`[m, k]`, or `[k, m]` when `transposeA`) and `B` `[k, n]` (BLAS `dgemm`).
    static func gemm(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int, transposeA: Bool = false) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { po in
                    cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                                pa.baseAddress, Int32(transposeA ? m : k), pb.baseAddress, Int32(n), 0, po.baseAddress, Int32(n))
                }
            }
        }
        return out
    }
}

/// Closed-form CORAL (Sun, Feng & Saenko 2016): the map that recolours source features with the target's
/// second-order statistics, `x' = (x − μ_S) · C_S^{−1/2} · C_T^{1/2} + μ_T` with `C = cov + λ I` (the paper's
/// regularisation, λ scaled to the source features' mean variance so that it is 1 for standardised features). A
/// classifier trained on recoloured source features is then applied to the target's own. Computed in double
/// precision (LAPACK `dsyevd`).
public struct CORALTransform {
    public let dimension: Int
    let sourceMean: [Double], targetMean: [Double]
    /// `C_S^{−1/2} · C_T^{1/2}`, row-major `[d, d]`.
    let matrix: [Double]

    /// The transform fitted on source rows and target rows (both `[n > 1, d]`).
    public init(source: Tensor, target: Tensor, regularization: Double = 1) {
        require(source.rank == 2 && target.rank == 2 && source.shape[1] == target.shape[1] && source.shape[0] > 1 && target.shape[0] > 1,
                "CORALTransform: source \(source.shape) and target \(target.shape) must be [n > 1, d] with the same d")
        let d = source.shape[1]
        let (ms, cs) = CORAL.moments(source), (mt, ct) = CORAL.moments(target)
        let scale = Swift.max(regularization * (0..<d).reduce(0.0) { $0 + cs[$1 * d + $1] } / Double(d), 1e-12)
        var rs = cs, rt = ct
        for i in 0..<d { rs[i * d + i] += scale; rt[i * d + i] += scale }
        guard let es = SymmetricEigen(rs, n: d), let et = SymmetricEigen(rt, n: d) else {
            preconditionFailure("CORALTransform: the eigen-decomposition of a regularised covariance did not converge")
        }
        let whiten = es.applying { 1 / Swift.max($0, 1e-12).squareRoot() }
        let colour = et.applying { Swift.max($0, 0).squareRoot() }
        dimension = d; sourceMean = ms; targetMean = mt
        matrix = CORAL.gemm(whiten, colour, m: d, k: d, n: d)
    }

    /// Rows `x` `[n, d]` recoloured.
    public func apply(_ x: Tensor) -> Tensor {
        require(x.rank == 2 && x.shape[1] == dimension, "CORALTransform.apply: rows \(x.shape), fitted on \(dimension) columns")
        let n = x.shape[0], d = dimension, v = x.toArray()
        var centred = [Double](repeating: 0, count: n * d)
        for r in 0..<n { for c in 0..<d { centred[r * d + c] = Double(v[r * d + c]) - sourceMean[c] } }
        let moved = CORAL.gemm(centred, matrix, m: n, k: d, n: d)
        var out = [Float](repeating: 0, count: n * d)
        for r in 0..<n { for c in 0..<d { out[r * d + c] = Float(moved[r * d + c] + targetMean[c]) } }
        return Tensor(shape: [n, d], data: out)
    }
}
