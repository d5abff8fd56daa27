import Datasets
import Foundation
import Models
import Tensors
import Testing
import TransferKit
@testable import SelfSupervised

struct NTXentFixture: Decodable {
    let n: Int, d: Int, z: [Double]
    let loss_t05: Double, loss_t01: Double
    let grad_z0_t05: [Double], grad_z1_t05: [Double]
}

func ntxentFixture() throws -> NTXentFixture {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/ntxent", withExtension: "json"))
    return try JSONDecoder().decode(NTXentFixture.self, from: Data(contentsOf: url))
}

@Suite struct NTXentTests {
    /// Value and gradient against lightly's formulation (tools/make_ntxent_fixture.py, float64): 1e-4 in float32.
    @Test func lossAndGradientEqualLightlysNTXent() throws {
        let f = try ntxentFixture()
        let half = f.n * f.d
        let z0 = Tensor(shape: [f.n, f.d], data: f.z[..<half].map { Float($0) })
        let z1 = Tensor(shape: [f.n, f.d], data: f.z[half...].map { Float($0) })
        z0.requiresGrad = true
        z1.requiresGrad = true
        let loss = NTXent.loss(z0, z1, temperature: 0.5)
        #expect(abs(Double(loss.toArray()[0]) - f.loss_t05) < 1e-4)
        #expect(abs(Double(withNoGrad { NTXent.loss(z0, z1, temperature: 0.1) }.toArray()[0]) - f.loss_t01) < 1e-3)
        let g = Tensor.gradients(of: loss, wrt: [z0, z1])
        let g0 = try #require(g[0]).toArray(), g1 = try #require(g[1]).toArray()
        for (a, b) in zip(g0 + g1, f.grad_z0_t05 + f.grad_z1_t05) { #expect(abs(Double(a) - b) < 1e-4) }
    }

    /// Central differences in float64 arithmetic of the float32 loss: h = 1e-2, agreement within 2e-3.
    @Test func gradientMatchesFiniteDifferences() throws {
        let f = try ntxentFixture()
        let half = f.n * f.d
        var values = f.z.map { Float($0) }
        func lossAt(_ v: [Float]) -> Double {
            Double(withNoGrad { NTXent.loss(Tensor(shape: [f.n, f.d], data: Array(v[..<half])),
                                            Tensor(shape: [f.n, f.d], data: Array(v[half...])), temperature: 0.5) }.toArray()[0])
        }
        let z0 = Tensor(shape: [f.n, f.d], data: Array(values[..<half])), z1 = Tensor(shape: [f.n, f.d], data: Array(values[half...]))
        z0.requiresGrad = true
        z1.requiresGrad = true
        let g = Tensor.gradients(of: NTXent.loss(z0, z1, temperature: 0.5), wrt: [z0, z1])
        let analytic = try #require(g[0]).toArray() + (try #require(g[1]).toArray())
        let h: Float = 1e-2
        for i in stride(from: 0, to: values.count, by: 5) {
            let x = values[i]
            values[i] = x + h
            let up = lossAt(values)
            values[i] = x - h
            let down = lossAt(values)
            values[i] = x
            #expect(abs((up - down) / Double(2 * h) - Double(analytic[i])) < 2e-3, "element \(i)")
        }
    }

    @Test func positivesThatAgreeGiveALowerLossThanRandomPairs() {
        let a = Tensor(shape: [4, 3], data: [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0])
        let b = Tensor(shape: [4, 3], data: [0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1])
        #expect(NTXent.loss(a, a, temperature: 0.5).toArray()[0] < NTXent.loss(a, b, temperature: 0.5).toArray()[0])
    }
}
