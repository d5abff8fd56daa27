/// Agglomerative clustering with Ward's linkage (Ward 1963), as scikit-learn's `AgglomerativeClustering(linkage="ward")`:
/// every point starts alone, and the two clusters whose merge increases the total within-cluster sum of squares least
/// are merged until `k` remain. Built with the nearest-neighbour chain (Murtagh 1983; what SciPy's `linkage(method=
/// "ward")` uses) and the Lance–Williams update on squared Ward distances, O(n²) time and memory; the tree is cut
/// by undoing its k − 1 highest merges.
public enum Agglomerative {
    public static func ward(_ x: FeatureMatrix, k: Int) -> ClusterAssignment {
        let n = x.rows
        precondition(k >= 1 && k <= n, "Agglomerative: k \(k) must be in 1…\(n)")
        // Condensed squared distances: index of (i, j), i < j.
        func idx(_ i: Int, _ j: Int) -> Int { let (a, b) = i < j ? (i, j) : (j, i); return a * n - a * (a + 1) / 2 + (b - a - 1) }
        let full = x.squaredDistances(to: x)
        var dist = [Double](repeating: 0, count: n * (n - 1) / 2)
        for i in 0..<n { for j in (i + 1)..<n { dist[idx(i, j)] = full[i * n + j] } }
        var size = [Int](repeating: 1, count: n)
        var active = [Bool](repeating: true, count: n)
        var merges: [(a: Int, b: Int, height: Double)] = []
        var chain: [Int] = []
        // In the condensed matrix, cluster slots are reused: a merge of (a, b) lives on in slot b.
        while merges.count < n - 1 {
            if chain.isEmpty { chain.append(active.firstIndex(of: true)!) }
            while true {
                let top = chain[chain.count - 1]
                let previous = chain.count > 1 ? chain[chain.count - 2] : -1
                var nearest = previous, best = previous >= 0 ? dist[idx(top, previous)] : Double.infinity
                for j in 0..<n where active[j] && j != top {
                    let d = dist[idx(top, j)]
                    if d < best { best = d; nearest = j }
                }
                if nearest == previous { break }
                chain.append(nearest)
            }
            let b = chain.removeLast(), a = chain.removeLast()
            let dab = dist[idx(a, b)]
            merges.append((a, b, dab))
            let na = Double(size[a]), nb = Double(size[b])
            for j in 0..<n where active[j] && j != a && j != b {
                let nj = Double(size[j])
                let updated = ((na + nj) * dist[idx(a, j)] + (nb + nj) * dist[idx(b, j)] - nj * dab) / (na + nb + nj)
                dist[idx(b, j)] = updated
            }
            active[a] = false
            size[b] += size[a]
        }
        // Cut: apply the n − k lowest merges (slot a joins slot b) with a union-find over the original points.
        var parent = Array(0..<n)
        func find(_ i: Int) -> Int { var r = i; while parent[r] != r { r = parent[r] }; var c = i; while parent[c] != r { let nx = parent[c]; parent[c] = r; c = nx }; return r }
        // Slots carry their cluster: merging slot a into slot b joins the point sets whose representatives are a, b.
        for m in merges.enumerated().sorted(by: { ($0.element.height, $0.offset) < ($1.element.height, $1.offset) }).prefix(n - k) {
            parent[find(m.element.a)] = find(m.element.b)
        }
        var ids: [Int: Int] = [:]
        let labels = (0..<n).map { i -> Int in
            let r = find(i)
            if let c = ids[r] { return c }
            ids[r] = ids.count
            return ids[r]!
        }
        return ClusterAssignment(labels: labels, k: k, inertia: ClusterMetrics.inertia(x, labels: labels), iterations: 0)
    }
}
