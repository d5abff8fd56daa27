import Foundation
import HeadFitting
import Testing
import Tensors
@testable import FewShot

@Suite struct PrototypeMathTests {
    let support = FeatureMatrix(values: [0, 0, 2, 0, 10, 10, 10, 12], rows: 4, columns: 2)

    @Test func prototypesAreClassMeansAndScoresAreNegativeSquaredDistances() {
        let p = Prototypes(fitting: support, labels: [0, 0, 1, 1], classes: 2, metric: .euclidean)
        #expect(p.centres.values == [1, 0, 10, 11])
        let q = FeatureMatrix(values: [1, 1, 9, 9], rows: 2, columns: 2)
        let expected: [Double] = [-1, -181, -145, -5]  // (1,1)→(1,0),(10,11); (9,9)→(1,0),(10,11)
        #expect(p.scores(q) == expected)
        #expect(p.predict(q) == [0, 1])
    }

    @Test func simpleShotCentresThenNormalises() {
        let t = SimpleShotTransform(mean: [1, 1])
        let x = t.apply(FeatureMatrix(values: [4, 5, 1, 1], rows: 2, columns: 2))
        #expect(abs(x.values[0] - 0.6) < 1e-12 && abs(x.values[1] - 0.8) < 1e-12)
        #expect(x.values[2] == 0 && x.values[3] == 0)
    }

    @Test func softKMeansStepMatchesTheHandComputedUpdate() {
        // One class-0 support point at 0, one class-1 point at 10 (1-D), one query at 4.
        let s = FeatureMatrix(values: [0, 10], rows: 2, columns: 1)
        let p = Prototypes(fitting: s, labels: [0, 1], classes: 2, metric: .euclidean)
        let q = FeatureMatrix(values: [4], rows: 1, columns: 1)
        let r = p.refined(support: s, labels: [0, 1], queries: q, iterations: 1, temperature: 0.1)
        // w = softmax(0.1 · (−16, −36)) = (1, e^−2)/(1 + e^−2)
        let w0 = 1 / (1 + exp(-2.0)), w1 = 1 - w0
        #expect(abs(r.centres.values[0] - (4 * w0) / (1 + w0)) < 1e-12)
        #expect(abs(r.centres.values[1] - (10 + 4 * w1) / (1 + w1)) < 1e-12)
    }

    @Test func prototypicalLossMatchesTheFormulaAndItsGradientFiniteDifferences() {
        // 2 ways, 1 shot, 1 query: support s0, s1, queries q0 (class 0), q1 (class 1).
        let v: [Float] = [1, 0, 0, 1, 0.8, 0.3, 0.2, 0.9]
        let x = Tensor(shape: [4, 2], data: v, requiresGrad: true)
        let loss = EpisodicTraining.prototypicalLoss(x, ways: 2, shots: 1, queries: 1, metric: .euclidean, scale: 1)
        func d2(_ a: Int, _ b: Int) -> Double { (0..<2).reduce(0) { $0 + pow(Double(v[a * 2 + $1] - v[b * 2 + $1]), 2) } }
        func ce(_ q: Int, _ c: Int) -> Double { let z = [-d2(q, 0), -d2(q, 1)]; return -(z[c] - log(exp(z[0]) + exp(z[1]))) }
        #expect(abs(Double(loss.toArray()[0]) - (ce(2, 0) + ce(3, 1)) / 2) < 1e-5)
        loss.backward()
        let g = x.grad!.toArray()
        for i in 0..<8 {
            var plus = v, minus = v
            plus[i] += 1e-2; minus[i] -= 1e-2
            let ep = EpisodicTraining.prototypicalLoss(Tensor(shape: [4, 2], data: plus), ways: 2, shots: 1, queries: 1, metric: .euclidean, scale: 1)
            let em = EpisodicTraining.prototypicalLoss(Tensor(shape: [4, 2], data: minus), ways: 2, shots: 1, queries: 1, metric: .euclidean, scale: 1)
            let fd = (ep.toArray()[0] - em.toArray()[0]) / 2e-2
            #expect(abs(fd - g[i]) < 2e-3, "dL/dx[\(i)]: autograd \(g[i]), finite differences \(fd)")
        }
    }

    @Test func cosineSimilarityLossGradientMatchesFiniteDifferences() {
        let uv: [Float] = [0.3, -0.2, 0.9, 0.5, 0.1, -0.4, 0.7, 0.2, -0.6, 0.4, 0.4, 0.8]
        let u = Tensor(shape: [2, 3], data: Array(uv[0..<6]), requiresGrad: true)
        let v = Tensor(shape: [2, 3], data: Array(uv[6...]))
        let loss = SetFit.cosineSimilarityLoss(u, v, targets: [1, 0])
        func cos(_ a: [Float], _ b: [Float]) -> Float {
            let d = zip(a, b).map(*).reduce(0, +), na = a.map { $0 * $0 }.reduce(0, +).squareRoot(), nb = b.map { $0 * $0 }.reduce(0, +).squareRoot()
            return d / (na * nb)
        }
        let c0 = cos(Array(uv[0..<3]), Array(uv[6..<9])), c1 = cos(Array(uv[3..<6]), Array(uv[9..<12]))
        #expect(abs(loss.toArray()[0] - ((c0 - 1) * (c0 - 1) + c1 * c1) / 2) < 1e-6)
        loss.backward()
        let g = u.grad!.toArray()
        for i in 0..<6 {
            var p = Array(uv[0..<6]), m = p
            p[i] += 1e-2; m[i] -= 1e-2
            let lp = SetFit.cosineSimilarityLoss(Tensor(shape: [2, 3], data: p), v, targets: [1, 0]).toArray()[0]
            let lm = SetFit.cosineSimilarityLoss(Tensor(shape: [2, 3], data: m), v, targets: [1, 0]).toArray()[0]
            #expect(abs((lp - lm) / 2e-2 - g[i]) < 2e-3)
        }
    }
}
