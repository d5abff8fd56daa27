import Foundation
@testable import HeadFitting
import Testing

/// scikit-learn 1.9's lbfgs `LogisticRegression`, `LogisticRegressionCV` and `StratifiedKFold` on a synthetic 3-class
/// set (tools/sklearn_logistic_fixture.py).
struct LogisticRegressionTests {
    struct Fixture: Decodable {
        struct Fit: Decodable { let c: Double; let coef: [[Double]]; let intercept: [Double]; let proba: [[Double]] }
        let x: [[Double]]; let y: [Int]; let fits: [Fit]; let folds5: [Int]; let cv_c: Double; let cv_scores: [Double]
        var matrix: FeatureMatrix { FeatureMatrix(values: x.flatMap { $0 }, rows: x.count, columns: x[0].count) }
    }

    func fixture() throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/logistic", withExtension: "json"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    @Test func lbfgsSolutionMatchesScikitLearnCoefficientsAndProbabilitiesAtThreeRegularisationStrengths() throws {
        let f = try fixture()
        for fit in f.fits {
            let m = LogisticRegression(c: fit.c, maxIterations: 10_000, tolerance: 1e-10).fit(f.matrix, f.y, classes: 3)
            #expect(m.converged, "C=\(fit.c)")
            let coef = fit.coef.flatMap { $0 }
            let worst = zip(m.coefficients + m.intercepts, coef + fit.intercept).map { abs($0 - $1) }.max()!
            // Coefficients to 1e-4 absolute (they range up to ~3 at C=100).
            #expect(worst < 1e-4, "C=\(fit.c): largest coefficient difference \(worst)")
            let p = m.probabilities(f.matrix.rows(Array(0..<10)))
            let pw = zip(p, fit.proba.flatMap { $0 }).map { abs($0 - $1) }.max()!
            #expect(pw < 1e-5, "C=\(fit.c): largest probability difference \(pw)")
        }
    }

    @Test func defaultToleranceStopsNearTheOptimum() throws {
        let f = try fixture()
        let fit = f.fits[1]
        let m = LogisticRegression(c: fit.c).fit(f.matrix, f.y, classes: 3)
        let p = m.probabilities(f.matrix.rows(Array(0..<10)))
        #expect(zip(p, fit.proba.flatMap { $0 }).map { abs($0 - $1) }.max()! < 1e-3)
    }

    @Test func stratifiedFoldsAreScikitLearnsAndKeepClassProportions() throws {
        let f = try fixture()
        let folds = try StratifiedKFold(folds: 5).assignment(f.y)
        #expect(folds == f.folds5)
        for fold in 0..<5 {
            for c in 0..<3 {
                let inFold = zip(folds, f.y).filter { $0 == fold && $1 == c }.count
                let total = f.y.filter { $0 == c }.count
                #expect(abs(Double(inFold) - Double(total) / 5) < 1, "fold \(fold) class \(c): \(inFold) of \(total)")
            }
        }
        #expect(StratifiedKFold.folds(preferred: 5, labels: [0, 0, 0, 1, 1]) == 2)
        #expect(StratifiedKFold.folds(preferred: 5, labels: [0, 0, 1]) == nil)
        #expect(throws: HeadFittingError.self) { try StratifiedKFold(folds: 1) }
    }

    @Test func groupedFoldsKeepAnInputAndItsAugmentedViewsOnOneSide() throws {
        // 12 inputs of 3 classes, then two augmented views of each (rows 12..<36 repeat the inputs' groups).
        let inputs = Array(0..<12), labels = inputs.map { $0 % 3 }
        let groups = inputs + inputs + inputs, y = labels + labels + labels
        let splits = try StratifiedKFold(folds: 4).splits(y, groups: groups)
        var heldOut = [Int](repeating: 0, count: 12)
        for s in splits {
            let trainGroups = Set(s.train.map { groups[$0] }), testGroups = Set(s.test.map { groups[$0] })
            #expect(trainGroups.isDisjoint(with: testGroups), "a group on both sides: \(trainGroups.intersection(testGroups))")
            #expect(s.test.count == 9 && Set(s.test.map { y[$0] }) == [0, 1, 2])
            for g in testGroups { heldOut[g] += 1 }
        }
        #expect(heldOut == [Int](repeating: 1, count: 12))
        // Without repeated groups the folds are the plain stratified ones.
        #expect(try StratifiedKFold(folds: 4).splits(labels, groups: inputs).map(\.test) == StratifiedKFold(folds: 4).splits(labels).map(\.test))
    }

    @Test func crossValidationChoosesScikitLearnsCAndHeldOutLogLosses() throws {
        let f = try fixture()
        var cv = LogisticRegressionCV()
        cv.tolerance = 1e-8; cv.maxIterations = 10_000
        let r = try cv.fit(f.matrix, f.y, classes: 3)
        #expect(abs(log10(r.c) - log10(f.cv_c)) < 1e-9, "chose C=\(r.c), scikit-learn \(f.cv_c)")
        // Held-out log-loss per C: to 1e-4 where the problem is well conditioned (C ≤ 1), to 3% for the nearly
        // unregularised fits of separable folds, where both solvers stop on their tolerances far from a finite optimum.
        for (i, (mine, theirs)) in zip(r.scores, f.cv_scores).enumerated() {
            let tolerance = cv.cs[i] <= 1 ? 1e-4 : 0.03 * theirs
            #expect(abs(mine - theirs) < tolerance, "C=\(cv.cs[i]): held-out log-loss \(mine), scikit-learn \(theirs)")
        }
        #expect(r.folds == 5)
    }
}
