import Foundation
import HeadFitting
import Testing
import Tensors
@testable import FewShot

@Suite struct EpisodeAndPairTests {
    @Test func confidenceIntervalIsEasyfslsFormula() {
        // accuracies 1, 0, 0.5, 0.5: mean 0.5, population σ = √(0.125) ≈ 0.35355, CI = 1.96 σ / √4.
        let s = AccuracySummary([1, 0, 0.5, 0.5])
        #expect(s.mean == 0.5)
        #expect(abs(s.std - 0.125.squareRoot()) < 1e-12)
        #expect(abs(s.ci95 - 1.96 * 0.125.squareRoot() / 2) < 1e-12)
        #expect(s.count == 4)
    }

    @Test func episodesDrawDistinctClassesAndDisjointSupportAndQuery() throws {
        let labels = (0..<60).map { $0 % 6 }  // 6 classes × 10
        let sampler = try EpisodeSampler(labels: labels, ways: 4, shots: 3, queries: 5)
        var g = SeededGenerator(seed: 1)
        for _ in 0..<20 {
            let e = sampler.sample(using: &g)
            #expect(Set(e.classes).count == 4)
            #expect(e.support.count == 12 && e.query.count == 20)
            #expect(Set(e.support).isDisjoint(with: e.query))
            for (i, l) in zip(e.support + e.query, e.supportLabels + e.queryLabels) { #expect(labels[i] == e.classes[l]) }
        }
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        #expect(sampler.sample(using: &a).query == sampler.sample(using: &b).query)
    }

    @Test func samplerRefusesTooFewClassesOrExamples() {
        #expect(throws: FewShotError.tooFewClasses(available: 3, ways: 4)) {
            try EpisodeSampler(labels: [0, 1, 2, 0, 1, 2], ways: 4, shots: 1, queries: 1)
        }
        #expect(throws: FewShotError.tooFewExamples(needed: 6, eligible: 1, ways: 2)) {
            try EpisodeSampler(labels: [0, 0, 0, 0, 0, 0, 1, 1], ways: 2, shots: 5, queries: 1)
        }
    }

    @Test func pairsAreBalancedAndLabelledAsSetFitSamplesThem() {
        let classes = [0, 0, 0, 1, 1, 2, 2, 2]
        let pairs = PairSampler.pairs(classes: classes, iterations: 3, seed: 0)
        #expect(pairs.count == 2 * 3 * classes.count)
        #expect(pairs.filter { $0.similarity == 1 }.count == pairs.count / 2)
        for p in pairs {
            #expect(p.a != p.b)
            #expect((classes[p.a] == classes[p.b]) == (p.similarity == 1))
        }
        // Multi-label: positive when the label sets share one label.
        let sets = [[0, 1], [1], [2], [0, 2]]
        for p in PairSampler.pairs(labels: sets, iterations: 2, seed: 1) {
            #expect(!Set(sets[p.a]).isDisjoint(with: sets[p.b]) == (p.similarity == 1))
        }
    }

    @Test func pairCountStaysLinearWithManyClassesAndRespectsTheBound() {
        let classes = (0..<2000).map { $0 % 500 }  // 500 classes of 4: 2,000² candidate combinations
        #expect(PairSampler.pairs(classes: classes, iterations: 2, seed: 0).count == 8000)
        #expect(PairSampler.pairs(classes: classes, iterations: 2, maxPairs: 300, seed: 0).count == 300)
    }
}

@Suite struct MultiLabelHeadTests {
    @Test func oneVersusRestHeadsRecoverLabelSets() {
        // Label l is present exactly when coordinate l is positive.
        var g = SeededGenerator(seed: 5)
        var values: [Double] = [], sets: [[Int]] = []
        for _ in 0..<60 {
            let row = (0..<3).map { _ in Double(g.nextFloat()) * 2 - 1 }
            values += row
            sets.append((0..<3).filter { row[$0] > 0 })
        }
        let x = FeatureMatrix(values: values, rows: 60, columns: 3)
        let head = MultiLabelHead(fitting: x, labels: sets, classCount: 3, c: 100)
        let p = head.predict(FeatureMatrix(values: [0.9, -0.8, 0.7, -0.6, 0.5, -0.9], rows: 2, columns: 3))
        #expect(p == [[0, 2], [1]])
    }
}
