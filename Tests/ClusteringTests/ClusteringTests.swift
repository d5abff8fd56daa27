import Foundation
import Testing
@testable import Clustering

/// Fixture: tools/sklearn_cluster_reference.py --fixture (scikit-learn 1.9.1 on iris and standardised wine).
struct SklearnSet: Decodable {
    struct Scores: Decodable { let nmi: Double, ari: Double, silhouette: Double }
    let name: String, k: Int, points: [[Float]], labels: [Int]
    let kmeans_labels: [Int], kmeans_inertia: Double, kmeans_scores: Scores
    let ward_labels: [Int], ward_scores: Scores
    var matrix: FeatureMatrix { FeatureMatrix(rows: points.count, columns: points[0].count, values: points.flatMap { $0 }) }
}
struct SklearnFixture: Decodable {
    struct Pair: Decodable { let truth: [Int], predicted: [Int], nmi: Double, ari: Double }
    let sets: [SklearnSet]
    let pair: Pair
}

func sklearnFixture() throws -> SklearnFixture {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/sklearn_clusters", withExtension: "json"))
    return try JSONDecoder().decode(SklearnFixture.self, from: Data(contentsOf: url))
}

@Suite struct ClusteringTests {
    @Test func nmiAriAndSilhouetteEqualScikitLearns() throws {
        let f = try sklearnFixture()
        #expect(abs(ClusterMetrics.nmi(f.pair.truth, f.pair.predicted) - f.pair.nmi) < 1e-12)
        #expect(abs(ClusterMetrics.ari(f.pair.truth, f.pair.predicted) - f.pair.ari) < 1e-12)
        #expect(ClusterMetrics.nmi(f.pair.truth, f.pair.truth.map { 7 - $0 }) == 1)
        #expect(ClusterMetrics.purity([0, 0, 1, 1], [0, 0, 0, 1]) == 0.75)
        for s in f.sets {
            let d = ClusterMetrics.distances(s.matrix)
            for (labels, ref) in [(s.kmeans_labels, s.kmeans_scores), (s.ward_labels, s.ward_scores)] {
                #expect(abs(ClusterMetrics.nmi(s.labels, labels) - ref.nmi) < 1e-12, "\(s.name)")
                #expect(abs(ClusterMetrics.ari(s.labels, labels) - ref.ari) < 1e-12, "\(s.name)")
                // Float32 points: distances through a float matrix product differ from NumPy's by ~1e-6 relative.
                #expect(abs(ClusterMetrics.silhouette(distances: d, labels: labels) - ref.silhouette) < 1e-4, "\(s.name)")
            }
        }
    }

    @Test func kMeansPlusPlusWithRestartsReachesScikitLearnsOptimumOnRealTables() throws {
        for s in try sklearnFixture().sets {
            let ours = KMeans.fit(s.matrix, k: s.k, restarts: 30, seed: 0)
            print("k-means \(s.name): inertia \(ours.inertia) vs scikit-learn \(s.kmeans_inertia)")
            #expect(ours.inertia <= s.kmeans_inertia * (1 + 1e-4), "\(s.name)")
            #expect(ClusterMetrics.ari(s.kmeans_labels, ours.labels) == 1, "\(s.name): same partition up to names")
            #expect(abs(ours.inertia - ClusterMetrics.inertia(s.matrix, labels: ours.labels)) < 1e-3 * ours.inertia)
        }
    }

    @Test func wardLinkageGivesScikitLearnsPartition() throws {
        for s in try sklearnFixture().sets {
            let ours = Agglomerative.ward(s.matrix, k: s.k)
            #expect(Set(ours.labels).count == s.k)
            #expect(ClusterMetrics.ari(s.ward_labels, ours.labels) == 1, "\(s.name)")
        }
    }

    @Test func autoKSearchesTwoToTwelveAndKeepsTheBestSilhouette() throws {
        let iris = try sklearnFixture().sets[0]
        let r = Clusterer.cluster(iris.matrix, k: nil, method: .kmeans, restarts: 3, labels: iris.labels)
        let search = try #require(r.search)
        #expect(search.map(\.k) == Array(2...12))
        let best = search.max { $0.silhouette < $1.silhouette }!
        #expect(r.assignment.k == best.k && r.silhouette == best.silhouette)
        #expect(r.nmi != nil && r.ari != nil && r.purity != nil)
        #expect(Clusterer.autoRange(points: 5) == 2...4)
    }

    @Test func pcaFindsTheDirectionOfLargestVariance() {
        // Points along (3, 4)/5 with a little spread along (−4, 3)/5.
        let pts: [Float] = (0..<50).flatMap { i -> [Float] in
            let t = Float(i) - 25, e = Float(i % 3) - 1
            return [0.6 * t - 0.8 * 0.1 * e, 0.8 * t + 0.6 * 0.1 * e]
        }
        let p = PCA.project(FeatureMatrix(rows: 50, columns: 2, values: pts), components: 2)
        let v0 = p.map { $0[0] * $0[0] }.reduce(0, +), v1 = p.map { $0[1] * $0[1] }.reduce(0, +)
        #expect(v0 > 100 * v1)
        #expect(abs(abs(p[0][0]) - 24.5) < 1e-3)  // t − mean(t) of the first point
    }
}
