import Foundation
import Tensors

/// The clustering algorithm.
public enum ClusterMethod: String, CaseIterable, Sendable, Codable {
    case kmeans, agglomerative
}

/// What ``Clusterer/cluster(_:k:method:restarts:seed:labels:)`` found.
public struct ClusteringResult: Sendable {
    public let assignment: ClusterAssignment
    public let method: ClusterMethod
    /// Mean silhouette of the chosen clustering (Euclidean).
    public let silhouette: Double
    /// With `k` chosen automatically: every k tried and its silhouette.
    public let search: [(k: Int, silhouette: Double)]?
    /// Agreement with the reference labels, when there are any.
    public let nmi: Double?, ari: Double?, purity: Double?
}

/// Clustering of feature vectors with k given or chosen by the mean silhouette.
public enum Clusterer {
    /// The k range `auto` searches: 2 … min(`maxK`, n − 1).
    public static func autoRange(points: Int, maxK: Int = 12) -> ClosedRange<Int> { 2...Swift.max(2, Swift.min(maxK, points - 1)) }

    /// Clusters `x` into `k` clusters, or, with `k` nil, into the k of ``autoRange(points:maxK:)`` with the highest
    /// mean silhouette (Rousseeuw 1987), then scores the result against `labels` when given.
    public static func cluster(_ x: FeatureMatrix, k: Int?, method: ClusterMethod, restarts: Int = 10, seed: UInt64 = 0,
                               labels: [Int]? = nil, maxK: Int = 12) -> ClusteringResult {
        let distances = ClusterMetrics.distances(x)
        func run(_ k: Int) -> ClusterAssignment {
            switch method {
            case .kmeans: KMeans.fit(x, k: k, restarts: restarts, seed: seed)
            case .agglomerative: Agglomerative.ward(x, k: k)
            }
        }
        func score(_ a: ClusterAssignment) -> Double {
            Set(a.labels).count >= 2 ? ClusterMetrics.silhouette(distances: distances, labels: a.labels) : 0
        }
        var search: [(k: Int, silhouette: Double)]?
        let chosen: ClusterAssignment, silhouette: Double
        if let k {
            chosen = run(k)
            silhouette = k >= 2 ? score(chosen) : 0
        } else {
            var best: (ClusterAssignment, Double)?
            search = []
            for k in autoRange(points: x.rows, maxK: maxK) {
                let a = run(k), s = score(a)
                search!.append((k, s))
                if best == nil || s > best!.1 { best = (a, s) }
            }
            chosen = best!.0
            silhouette = best!.1
        }
        return ClusteringResult(
            assignment: chosen, method: method, silhouette: silhouette, search: search,
            nmi: labels.map { ClusterMetrics.nmi($0, chosen.labels) }, ari: labels.map { ClusterMetrics.ari($0, chosen.labels) },
            purity: labels.map { ClusterMetrics.purity($0, chosen.labels) })
    }
}

/// Principal component analysis to a few dimensions for plotting: the centred data projected on the top
/// eigenvectors of its covariance, found by power iteration with deflation (each component's sign chosen so that its
/// largest |loading| is positive, scikit-learn's `svd_flip` convention).
public enum PCA {
    public static func project(_ x: FeatureMatrix, components: Int = 2, iterations: Int = 200) -> [[Double]] {
        let n = x.rows, d = x.columns
        var centred = x.values.map { Double($0) }
        for j in 0..<d {
            let m = (0..<n).reduce(0.0) { $0 + centred[$1 * d + j] } / Double(n)
            for i in 0..<n { centred[i * d + j] -= m }
        }
        let xt = Tensor(shape: [n, d], data: centred.map { Float($0) })
        let cov = withNoGrad { Tensor.matmul(xt.transposed(0, 1).contiguous(), xt) }.contiguous().toArray().map { Double($0) }
        var c = cov
        var vectors: [[Double]] = []
        for comp in 0..<components {
            var v: [Double] = (0..<d).map { j -> Double in Double((j * 7919 + comp * 104_729) % 1000) / 1000 + 0.1 }
            for _ in 0..<iterations {
                var w = [Double](repeating: 0, count: d)
                for i in 0..<d { var s = 0.0; for j in 0..<d { s += c[i * d + j] * v[j] }; w[i] = s }
                let norm = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard norm > 0 else { break }
                v = w.map { $0 / norm }
            }
            if let big = v.indices.max(by: { Swift.abs(v[$0]) < Swift.abs(v[$1]) }), v[big] < 0 { v = v.map { -$0 } }
            var lambda = 0.0
            for i in 0..<d { var s = 0.0; for j in 0..<d { s += c[i * d + j] * v[j] }; lambda += v[i] * s }
            for i in 0..<d { for j in 0..<d { c[i * d + j] -= lambda * v[i] * v[j] } }
            vectors.append(v)
        }
        return (0..<n).map { i in vectors.map { v in (0..<d).reduce(0.0) { $0 + centred[i * d + $1] * v[$1] } } }
    }
}
