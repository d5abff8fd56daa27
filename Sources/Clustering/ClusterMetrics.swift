import Foundation

/// Agreement of a clustering with reference labels, and its internal quality, computed as scikit-learn does.
public enum ClusterMetrics {
    /// The contingency table `[true classes][clusters]` and its margins.
    static func contingency(_ truth: [Int], _ predicted: [Int]) -> (table: [[Double]], rows: [Double], columns: [Double]) {
        precondition(truth.count == predicted.count, "contingency: \(truth.count) vs \(predicted.count) labels")
        let t = Dictionary(uniqueKeysWithValues: Set(truth).sorted().enumerated().map { ($1, $0) })
        let p = Dictionary(uniqueKeysWithValues: Set(predicted).sorted().enumerated().map { ($1, $0) })
        var table = [[Double]](repeating: [Double](repeating: 0, count: p.count), count: t.count)
        for (a, b) in zip(truth, predicted) { table[t[a]!][p[b]!] += 1 }
        return (table, table.map { $0.reduce(0, +) }, (0..<p.count).map { j in table.reduce(0) { $0 + $1[j] } })
    }

    static func entropy(_ counts: [Double]) -> Double {
        let n = counts.reduce(0, +)
        return -counts.filter { $0 > 0 }.reduce(0) { $0 + $1 / n * Foundation.log($1 / n) }
    }

    /// Normalised mutual information with the arithmetic mean of the entropies (scikit-learn's
    /// `normalized_mutual_info_score`, `average_method="arithmetic"`); 1 when both labelings have one class.
    public static func nmi(_ truth: [Int], _ predicted: [Int]) -> Double {
        let (table, rows, columns) = contingency(truth, predicted)
        if rows.count == 1 && columns.count == 1 { return 1 }
        let n = Double(truth.count)
        var mi = 0.0
        for (i, row) in table.enumerated() {
            for (j, c) in row.enumerated() where c > 0 { mi += c / n * Foundation.log(c * n / (rows[i] * columns[j])) }
        }
        let normaliser = (entropy(rows) + entropy(columns)) / 2
        return normaliser > 0 ? Swift.max(0, mi) / normaliser : 0
    }

    /// The adjusted Rand index (Hubert & Arabie 1985; scikit-learn's `adjusted_rand_score`, pair-counting form).
    public static func ari(_ truth: [Int], _ predicted: [Int]) -> Double {
        let (table, rows, columns) = contingency(truth, predicted)
        func pairs(_ x: Double) -> Double { x * (x - 1) / 2 }
        let n = Double(truth.count)
        let sumCells = table.joined().reduce(0) { $0 + pairs($1) }
        let sumRows = rows.reduce(0) { $0 + pairs($1) }, sumColumns = columns.reduce(0) { $0 + pairs($1) }
        let expected = sumRows * sumColumns / pairs(n)
        let maximum = (sumRows + sumColumns) / 2
        if maximum == expected { return 1 }
        return (sumCells - expected) / (maximum - expected)
    }

    /// Purity: the fraction of points whose cluster's most common true class is theirs.
    public static func purity(_ truth: [Int], _ predicted: [Int]) -> Double {
        let (table, _, columns) = contingency(truth, predicted)
        let hits = columns.indices.reduce(0.0) { acc, j in acc + (table.map { $0[j] }.max() ?? 0) }
        return hits / Double(truth.count)
    }

    /// Mean silhouette coefficient (Rousseeuw 1987; scikit-learn's `silhouette_score`, Euclidean): per point
    /// (b − a) / max(a, b) with a the mean distance to its own cluster and b the smallest mean distance to another;
    /// 0 for a point alone in its cluster. `distances` are the pairwise Euclidean distances `[n, n]`.
    public static func silhouette(distances: [Double], labels: [Int]) -> Double {
        let n = labels.count
        precondition(distances.count == n * n, "silhouette: \(distances.count) distances for \(n) points")
        let k = (labels.max() ?? 0) + 1
        var sizes = [Double](repeating: 0, count: k)
        for l in labels { sizes[l] += 1 }
        precondition(sizes.filter { $0 > 0 }.count >= 2, "silhouette needs at least 2 clusters")
        var total = 0.0
        var sums = [Double](repeating: 0, count: k)
        for i in 0..<n {
            for c in 0..<k { sums[c] = 0 }
            for j in 0..<n { sums[labels[j]] += distances[i * n + j] }
            let own = labels[i]
            guard sizes[own] > 1 else { continue }
            let a = sums[own] / (sizes[own] - 1)
            var b = Double.infinity
            for c in 0..<k where c != own && sizes[c] > 0 { b = Swift.min(b, sums[c] / sizes[c]) }
            total += (b - a) / Swift.max(a, b)
        }
        return total / Double(n)
    }

    /// Euclidean distances `[n, n]` between the rows of `x`.
    public static func distances(_ x: FeatureMatrix) -> [Double] {
        var d = x.squaredDistances(to: x)
        for i in 0..<x.rows { d[i * x.rows + i] = 0 }
        return d.map { $0.squareRoot() }
    }

    /// Σ squared distance of each point to its cluster's mean.
    public static func inertia(_ x: FeatureMatrix, labels: [Int]) -> Double {
        let k = (labels.max() ?? 0) + 1, d = x.columns
        var sums = [Double](repeating: 0, count: k * d), counts = [Double](repeating: 0, count: k)
        for (i, l) in labels.enumerated() {
            counts[l] += 1
            for j in 0..<d { sums[l * d + j] += Double(x.values[i * d + j]) }
        }
        var total = 0.0
        for (i, l) in labels.enumerated() {
            for j in 0..<d { let v = Double(x.values[i * d + j]) - sums[l * d + j] / counts[l]; total += v * v }
        }
        return total
    }
}
