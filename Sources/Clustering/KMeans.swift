import Foundation
import Tensors

/// A clustering of `n` points into `k` clusters.
public struct ClusterAssignment: Sendable, Equatable {
    /// The cluster of each point, 0 ..< k.
    public let labels: [Int]
    public let k: Int
    /// Σ squared distance of each point to its cluster's centroid (k-means' objective; Ward's criterion at the cut).
    public let inertia: Double
    /// Lloyd iterations of the winning restart (k-means), 0 otherwise.
    public let iterations: Int
}

/// k-means with k-means++ seeding and restarts, as scikit-learn's `KMeans(init="k-means++", n_init, max_iter=300,
/// tol=1e-4, algorithm="lloyd")`: greedy k-means++ (Arthur & Vassilvitskii, SODA 2007; 2 + ⌊ln k⌋ candidates per
/// centre, the one lowering the potential most kept), Lloyd iterations until no label changes or the squared
/// centre shift is at most `tol` × the mean per-feature variance, and the restart with the lowest inertia wins.
/// An emptied cluster takes the point farthest from its centre.
public enum KMeans {
    public static func fit(_ x: FeatureMatrix, k: Int, restarts: Int = 10, maxIterations: Int = 300, tol: Double = 1e-4,
                           seed: UInt64 = 0) -> ClusterAssignment {
        precondition(k >= 1 && k <= x.rows, "KMeans: k \(k) must be in 1…\(x.rows)")
        precondition(restarts >= 1, "KMeans: restarts \(restarts) must be ≥ 1")
        let tolerance = tol * meanVariance(x)
        var generator = SeededGenerator(seed: seed)
        var best: ClusterAssignment?
        for _ in 0..<restarts {
            let centres = plusPlus(x, k: k, generator: &generator)
            let run = lloyd(x, centres: centres, maxIterations: maxIterations, tolerance: tolerance)
            if best == nil || run.inertia < best!.inertia { best = run }
        }
        return best!
    }

    static func meanVariance(_ x: FeatureMatrix) -> Double {
        var total = 0.0
        for j in 0..<x.columns {
            var s = 0.0, s2 = 0.0
            for i in 0..<x.rows { let v = Double(x.values[i * x.columns + j]); s += v; s2 += v * v }
            let m = s / Double(x.rows)
            total += s2 / Double(x.rows) - m * m
        }
        return total / Double(x.columns)
    }

    /// Greedy k-means++ seeding (scikit-learn's `_kmeans_plusplus`).
    static func plusPlus(_ x: FeatureMatrix, k: Int, generator: inout SeededGenerator) -> FeatureMatrix {
        let n = x.rows, trials = 2 + Int(Foundation.log(Double(k)))
        var chosen = [Int.random(in: 0..<n, using: &generator)]
        var closest = x.squaredDistances(to: x.selecting(chosen))
        var potential = closest.reduce(0, +)
        while chosen.count < k {
            var candidates: [Int] = []
            for _ in 0..<trials {
                let r = Double.random(in: 0..<1, using: &generator) * potential
                var acc = 0.0, pick = n - 1
                for i in 0..<n { acc += closest[i]; if acc > r { pick = i; break } }
                candidates.append(pick)
            }
            let d = x.squaredDistances(to: x.selecting(candidates))  // [n, trials]
            var bestTrial = 0, bestPotential = Double.infinity
            for t in 0..<trials {
                var p = 0.0
                for i in 0..<n { p += Swift.min(closest[i], d[i * trials + t]) }
                if p < bestPotential { bestPotential = p; bestTrial = t }
            }
            chosen.append(candidates[bestTrial])
            for i in 0..<n { closest[i] = Swift.min(closest[i], d[i * trials + bestTrial]) }
            potential = bestPotential
        }
        return x.selecting(chosen)
    }

    /// Lloyd's iterations from `centres`.
    static func lloyd(_ x: FeatureMatrix, centres start: FeatureMatrix, maxIterations: Int, tolerance: Double) -> ClusterAssignment {
        let n = x.rows, k = start.rows, d = x.columns
        var centres = start
        var labels = [Int](repeating: -1, count: n)
        var iterations = 0
        for it in 1...maxIterations {
            iterations = it
            let dist = x.squaredDistances(to: centres)
            var newLabels = labels, best = [Double](repeating: 0, count: n)
            for i in 0..<n {
                var j0 = 0
                for j in 1..<Swift.max(k, 1) where dist[i * k + j] < dist[i * k + j0] { j0 = j }
                newLabels[i] = j0
                best[i] = dist[i * k + j0]
            }
            var sums = [Double](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
            for i in 0..<n {
                counts[newLabels[i]] += 1
                for j in 0..<d { sums[newLabels[i] * d + j] += Double(x.values[i * d + j]) }
            }
            for c in 0..<k where counts[c] == 0 {
                // Relocate an empty cluster to the point farthest from its centre.
                let far = (0..<n).max { best[$0] < best[$1] }!
                best[far] = 0
                counts[newLabels[far]] -= 1
                for j in 0..<d { sums[newLabels[far] * d + j] -= Double(x.values[far * d + j]) }
                newLabels[far] = c
                counts[c] = 1
                for j in 0..<d { sums[c * d + j] = Double(x.values[far * d + j]) }
            }
            var next = [Float](repeating: 0, count: k * d), shift = 0.0
            for c in 0..<k {
                for j in 0..<d {
                    let v = sums[c * d + j] / Double(counts[c])
                    next[c * d + j] = Float(v)
                    let delta = v - Double(centres.values[c * d + j])
                    shift += delta * delta
                }
            }
            let converged = newLabels == labels
            labels = newLabels
            centres = FeatureMatrix(rows: k, columns: d, values: next)
            if converged || shift <= tolerance { break }
        }
        // Final assignment to the final centres (scikit-learn's last E-step).
        let dist = x.squaredDistances(to: centres)
        var inertia = 0.0
        for i in 0..<n {
            var j0 = 0
            for j in 0..<k where dist[i * k + j] < dist[i * k + j0] { j0 = j }
            labels[i] = j0
            inertia += dist[i * k + j0]
        }
        return ClusterAssignment(labels: labels, k: k, inertia: inertia, iterations: iterations)
    }
}
