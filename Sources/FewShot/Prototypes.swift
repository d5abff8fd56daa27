import Foundation
import HeadFitting

/// How a query is compared with a class prototype.
public enum PrototypeMetric: String, Sendable, CaseIterable, Codable {
    /// Negative squared Euclidean distance (Snell et al. 2017, Prototypical Networks; easyfsl's `PrototypicalNetworks`).
    case euclidean
    /// Cosine similarity (SimpleShot's nearest mean after L2 normalisation).
    case cosine
}

/// Class prototypes: the mean feature of each class's examples, and nearest-prototype classification
/// (Snell et al. 2017, "Prototypical Networks for Few-shot Learning", eq. 1–2, on frozen features as easyfsl does).
public struct Prototypes: Sendable {
    /// `[classes, columns]`: prototype c is row c.
    public var centres: FeatureMatrix
    public var metric: PrototypeMetric

    public init(centres: FeatureMatrix, metric: PrototypeMetric) { self.centres = centres; self.metric = metric }

    /// The mean of the rows of `x` of each class `0..<classes` (a class without rows gets a zero prototype).
    public init(fitting x: FeatureMatrix, labels: [Int], classes: Int, metric: PrototypeMetric) {
        precondition(labels.count == x.rows && labels.allSatisfy { (0..<classes).contains($0) }, "Prototypes: labels")
        var sums = [Double](repeating: 0, count: classes * x.columns), counts = [Double](repeating: 0, count: classes)
        for (r, c) in labels.enumerated() {
            counts[c] += 1
            for j in 0..<x.columns { sums[c * x.columns + j] += x.values[r * x.columns + j] }
        }
        for c in 0..<classes where counts[c] > 0 { for j in 0..<x.columns { sums[c * x.columns + j] /= counts[c] } }
        self.init(centres: FeatureMatrix(values: sums, rows: classes, columns: x.columns), metric: metric)
    }

    public var classes: Int { centres.rows }

    /// Scores `[rows, classes]`: −‖q − p‖² (euclidean) or cos(q, p) (cosine); the larger, the nearer.
    public func scores(_ q: FeatureMatrix) -> [Double] {
        precondition(q.columns == centres.columns, "Prototypes.scores: \(q.columns) columns, prototypes have \(centres.columns)")
        let k = classes, d = q.columns
        let p = metric == .cosine ? centres.l2Normalized() : centres
        let x = metric == .cosine ? q.l2Normalized() : q
        var s = [Double](repeating: 0, count: q.rows * k)
        for i in 0..<q.rows {
            for c in 0..<k {
                var acc = 0.0
                for j in 0..<d {
                    let a = x.values[i * d + j], b = p.values[c * d + j]
                    acc += metric == .cosine ? a * b : (a - b) * (a - b)
                }
                s[i * k + c] = metric == .cosine ? acc : -acc
            }
        }
        return s
    }

    /// The nearest prototype of each row.
    public func predict(_ q: FeatureMatrix) -> [Int] { argmaxRows(scores(q), classes: classes) }

    /// Transductive refinement by soft k-means over unlabelled queries (Ren et al. 2018, "Meta-Learning for
    /// Semi-Supervised Few-Shot Classification", §4.1): each query is softly assigned to the prototypes,
    /// w = softmax(score · `temperature`), and each prototype becomes the weighted mean of its support examples
    /// (weight 1) and the queries (weight w), `iterations` times.
    public func refined(support: FeatureMatrix, labels: [Int], queries: FeatureMatrix, iterations: Int = 3,
                        temperature: Double? = nil) -> Prototypes {
        let k = classes, d = centres.columns
        let tau = temperature ?? (metric == .cosine ? 10 : 1)
        var sums = [Double](repeating: 0, count: k * d), counts = [Double](repeating: 0, count: k)
        for (r, c) in labels.enumerated() {
            counts[c] += 1
            for j in 0..<d { sums[c * d + j] += support.values[r * d + j] }
        }
        var current = self
        for _ in 0..<iterations {
            let w = softmaxRows(current.scores(queries).map { $0 * tau }, classes: k)
            var s = sums, n = counts
            for i in 0..<queries.rows {
                for c in 0..<k {
                    let wi = w[i * k + c]
                    n[c] += wi
                    for j in 0..<d { s[c * d + j] += wi * queries.values[i * d + j] }
                }
            }
            for c in 0..<k where n[c] > 0 { for j in 0..<d { s[c * d + j] /= n[c] } }
            current = Prototypes(centres: FeatureMatrix(values: s, rows: k, columns: d), metric: metric)
        }
        return current
    }
}
