import Foundation
import Layers
import Tensors
import Testing
@testable import Adaptation

/// The losses and layers of domain adaptation against finite differences and PyTorch/TLlib golden values
/// (`tools/adaptation_fixtures.py`).
@Suite struct AdaptationLossTests {
    struct Fixture: Decodable {
        struct Coral: Decodable {
            let source: [Double], source_shape: [Int], target: [Double], target_shape: [Int]
            let loss: Double, grad_source: [Double], grad_target: [Double]
        }
        struct MCC: Decodable { let logits: [Double], shape: [Int], temperature: Float, loss: Double, grad: [Double] }
        let coral: Coral
        let mcc: MCC
    }

    static func fixture() throws -> Fixture {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/adaptation", withExtension: "json"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    static func close(_ a: [Float], _ b: [Double], tolerance: Double) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { Swift.abs(Double($0) - $1) <= tolerance * Swift.max(1, Swift.abs($1)) }
    }

    @Test func gradientReversalIsIdentityForwardAndMinusLambdaTimesTheFiniteDifferenceGradient() throws {
        var g = SeededGenerator(seed: 3)
        let x0 = Tensor.randn([4, 3], generator: &g)
        let w = Tensor.randn([4, 3], generator: &g)
        let grl = GradientReversal(coefficient: 0.7)
        // L(x) = Σ w ⊙ tanh(R(x))², R the reversal layer.
        func loss(_ x: Tensor, reversed: Bool) -> Tensor {
            let h = (reversed ? grl(x) : x).tanh()
            return (w * h * h).sum()
        }
        let x = x0.copy()
        x.requiresGrad = true
        let y = grl(x)
        #expect(y.toArray() == x0.toArray())
        loss(x, reversed: true).backward()
        let analytic = try #require(x.grad).toArray()
        // Central differences of L without the layer (forward values are the same): the layer's gradient must be −λ times it.
        let eps: Float = 1e-3
        var base = x0.toArray()
        for i in base.indices {
            let v = base[i]
            base[i] = v + eps
            let up = withNoGrad { loss(Tensor(shape: [4, 3], data: base), reversed: false).item() }
            base[i] = v - eps
            let down = withNoGrad { loss(Tensor(shape: [4, 3], data: base), reversed: false).item() }
            base[i] = v
            let numeric = (up - down) / (2 * eps)
            #expect(Swift.abs(analytic[i] - (-0.7 * numeric)) < 2e-3, "element \(i): autograd \(analytic[i]), −λ·FD \(-0.7 * numeric)")
        }
    }

    @Test func ganinScheduleRisesFromZeroTowardsOne() {
        let s = GaninSchedule()
        #expect(s.coefficient(progress: 0) == 0)
        #expect(Swift.abs(s.coefficient(progress: 0.5) - Float(2 / (1 + Foundation.exp(-5.0)) - 1)) < 1e-6)
        #expect(Swift.abs(s.coefficient(progress: 1) - Float(2 / (1 + Foundation.exp(-10.0)) - 1)) < 1e-6)
        #expect(s.coefficient(progress: 0.2) < s.coefficient(progress: 0.4))
    }

    @Test func deepCORALLossAndGradientsMatchPyTorch() throws {
        let f = try Self.fixture().coral
        let s = Tensor(shape: .init(f.source_shape), data: f.source.map(Float.init)), t = Tensor(shape: .init(f.target_shape), data: f.target.map(Float.init))
        s.requiresGrad = true
        t.requiresGrad = true
        let loss = CORAL.loss(source: s, target: t)
        #expect(Swift.abs(Double(loss.item()) - f.loss) < 1e-5 * Swift.max(1, f.loss), "loss \(loss.item()) vs PyTorch \(f.loss)")
        loss.backward()
        #expect(Self.close(try #require(s.grad).toArray(), f.grad_source, tolerance: 1e-5))
        #expect(Self.close(try #require(t.grad).toArray(), f.grad_target, tolerance: 1e-5))
    }

    @Test func mccLossAndGradientMatchTLlib() throws {
        let f = try Self.fixture().mcc
        let logits = Tensor(shape: .init(f.shape), data: f.logits.map(Float.init))
        logits.requiresGrad = true
        let loss = MinimumClassConfusion.loss(logits: logits, temperature: f.temperature)
        #expect(Swift.abs(Double(loss.item()) - f.loss) < 1e-5, "loss \(loss.item()) vs TLlib \(f.loss)")
        loss.backward()
        #expect(Self.close(try #require(logits.grad).toArray(), f.grad, tolerance: 1e-5))
    }

    @Test func coralTransformGivesSourceRowsTheTargetMeanAndCovariance() {
        var g = SeededGenerator(seed: 11)
        let a = Tensor.randn([6, 6], generator: &g)
        let source = Tensor.randn([400, 6], generator: &g) * 2 + 1
        let target = Tensor.randn([300, 6], generator: &g).matmul(a) - 0.5
        let moved = CORALTransform(source: source, target: target, regularization: 1e-9).apply(source)
        let (m1, c1) = CORAL.moments(moved), (m2, c2) = CORAL.moments(target)
        #expect(zip(m1, m2).allSatisfy { Swift.abs($0 - $1) < 1e-3 })
        #expect(zip(c1, c2).allSatisfy { Swift.abs($0 - $1) < 1e-2 * Swift.max(1, Swift.abs($1)) })
    }

    @Test func sndIsTheEntropyOfEachRowsSoftNeighbourhoodAndRisesWithDensity() {
        // k tight clusters of 40/k one-hot-like rows: each row's neighbourhood is spread over the 40/k − 1 rows of its
        // cluster (cross-cluster similarities vanish at τ = 0.05), so SND ≈ ln(40/k − 1).
        func rows(clusters k: Int) -> Tensor {
            var v: [Float] = []
            for i in 0..<40 { for c in 0..<4 { v.append(c == i % k ? 0.97 : 0.01) } }
            return Tensor(shape: [40, 4], data: v)
        }
        let four = Validator.softNeighborhoodDensity(rows(clusters: 4), temperature: 0.05)
        let two = Validator.softNeighborhoodDensity(rows(clusters: 2), temperature: 0.05)
        #expect(Swift.abs(four - Foundation.log(9.0)) < 1e-3, "SND \(four), expected ln 9")
        #expect(Swift.abs(two - Foundation.log(19.0)) < 1e-3, "SND \(two), expected ln 19")
    }

    @Test func adaBNReplacesBatchNormStatisticsWithTheTargetsCumulativeAverage() {
        let bn = BatchNorm2d(3, eps: 1e-3, momentum: 0.01)
        let net = Sequential(bn)
        net.freeze()
        var g = SeededGenerator(seed: 5)
        let batches = (0..<4).map { _ in Tensor.randn([8, 3, 4, 4], generator: &g) * 2 + 3 }
        let weight = bn.weight.toArray(), bias = bn.bias.toArray()
        let updated = AdaBN.adapt(net, batches: batches) { net($0) }
        #expect(updated == 1)
        // Expected: the mean over batches of each batch's channel mean and unbiased variance.
        var mean = [Double](repeating: 0, count: 3), variance = [Double](repeating: 0, count: 3)
        for b in batches {
            let v = b.toArray(), per = 16, n = Double(8 * per)
            for c in 0..<3 {
                var s = 0.0, sq = 0.0
                for i in 0..<8 { for j in 0..<per { let x = Double(v[(i * 3 + c) * per + j]); s += x; sq += x * x } }
                let m = s / n
                mean[c] += m / 4
                variance[c] += (sq / n - m * m) * n / (n - 1) / 4
            }
        }
        #expect(zip(bn.runningMean.toArray(), mean).allSatisfy { Swift.abs(Double($0) - $1) < 1e-4 }, "\(bn.runningMean.toArray()) vs \(mean)")
        #expect(zip(bn.runningVar.toArray(), variance).allSatisfy { Swift.abs(Double($0) - $1) < 1e-3 }, "\(bn.runningVar.toArray()) vs \(variance)")
        #expect(bn.weight.toArray() == weight && bn.bias.toArray() == bias)
        #expect(!bn.weight.requiresGrad && !bn.isTraining && !bn.averagesCumulatively)
    }
}
