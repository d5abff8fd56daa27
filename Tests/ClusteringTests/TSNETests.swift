import Foundation
import Testing
import Tensors
@testable import Clustering

@Suite struct TSNETests {
    /// Three Gaussian blobs in 10-D, 30 points each, centres 8 apart (seeded).
    func blobs() -> (FeatureMatrix, [Int]) {
        var g = SeededGenerator(seed: 7)
        var values: [Float] = [], labels: [Int] = []
        for c in 0..<3 { for _ in 0..<30 {
            for d in 0..<10 { values.append(Float(d == c ? 8 : 0) + Float.random(in: -1...1, using: &g)) }
            labels.append(c)
        } }
        return (FeatureMatrix(rows: 90, columns: 10, values: values), labels)
    }

    @Test func affinitiesMatchTheRequestedPerplexityAndSumToOne() {
        let (x, _) = blobs()
        let (p, entropies) = TSNE.affinities(x, perplexity: 15)
        for h in entropies { #expect(Swift.abs(exp(h) - 15) < 1e-2) }
        #expect(Swift.abs(p.reduce(0, +) - 1) < 1e-6)
        #expect(p[1 * 90 + 5] == p[5 * 90 + 1])
    }

    @Test func embeddingKeepsSeparatedClustersApart() {
        let (x, labels) = blobs()
        let y = TSNE.embed(x, perplexity: 15, iterations: 500)
        // Each point's nearest neighbour in the map belongs to its own blob.
        var agree = 0
        for i in 0..<90 {
            let j = (0..<90).filter { $0 != i }.min { a, b in
                let da = pow(y[i][0] - y[a][0], 2) + pow(y[i][1] - y[a][1], 2)
                let db = pow(y[i][0] - y[b][0], 2) + pow(y[i][1] - y[b][1], 2)
                return da < db
            }!
            if labels[j] == labels[i] { agree += 1 }
        }
        #expect(agree >= 88, "1-NN agreement \(agree)/90")
        #expect(y.allSatisfy { $0[0].isFinite && $0[1].isFinite })
    }
}
