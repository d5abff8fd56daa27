import CBLAS

/// Eigen-decomposition of a real symmetric matrix (LAPACK `dsyevd`, in double precision).
public struct SymmetricEigen {
    /// Eigenvalues in ascending order.
    public let values: [Double]
    /// Eigenvectors as columns of a row-major `n × n` matrix: `vectors[i * n + k]` is component `i` of vector `k`.
    public let vectors: [Double]
    public let n: Int

    /// Decomposes the row-major symmetric `n × n` matrix `matrix` (only its upper triangle is read). Returns nil
    /// when LAPACK reports a failure (non-convergence).
    public init?(_ matrix: [Double], n: Int) {
        require(matrix.count == n * n, "SymmetricEigen: \(matrix.count) values for a \(n)×\(n) matrix")
        guard n > 0 else { values = []; vectors = []; self.n = 0; return }
        // Row-major symmetric equals column-major symmetric; LAPACK returns eigenvectors as columns (column-major),
        // i.e. as rows of a row-major matrix, transposed below.
        var a = matrix, w = [Double](repeating: 0, count: n)
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0
        var jobz = Int8(UInt8(ascii: "V")), uplo = Int8(UInt8(ascii: "L"))
        var lwork: Int32 = -1, liwork: Int32 = -1
        var wq = [Double](repeating: 0, count: 1), iwq = [Int32](repeating: 0, count: 1)
        dsyevd_(&jobz, &uplo, &nn, &a, &lda, &w, &wq, &lwork, &iwq, &liwork, &info)
        guard info == 0 else { return nil }
        lwork = Int32(wq[0]); liwork = iwq[0]
        var work = [Double](repeating: 0, count: Int(lwork)), iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &nn, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        guard info == 0 else { return nil }
        var v = [Double](repeating: 0, count: n * n)
        for k in 0..<n { for i in 0..<n { v[i * n + k] = a[k * n + i] } }
        values = w; vectors = v; self.n = n
    }

    /// `V · diag(f(λ)) · Vᵀ`, row-major: a function of the matrix (its square root, inverse square root, …).
    public func applying(_ f: (Double) -> Double) -> [Double] {
        let fl = values.map(f)
        var out = [Double](repeating: 0, count: n * n)
        var scaled = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for k in 0..<n { scaled[i * n + k] = vectors[i * n + k] * fl[k] } }
        scaled.withUnsafeBufferPointer { s in
            vectors.withUnsafeBufferPointer { v in
                out.withUnsafeMutableBufferPointer { o in
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(n), Int32(n), 1,
                                s.baseAddress, Int32(n), v.baseAddress, Int32(n), 0, o.baseAddress, Int32(n))
                }
            }
        }
        return out
    }
}
