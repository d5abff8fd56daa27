import Checkpoints
import Foundation
import Optimizers
import Tensors
import Testing

/// One golden fixture of tools/make_optimizer_fixtures.py: p0 [4, 3] and p1 [5] in two groups, 10 fixed gradients
/// per parameter, and PyTorch's parameters after each step.
struct OptimizerFixture {
    static let steps = 10
    let name: String
    let file: SafeTensorsFile
    let grad0: [Float], grad1: [Float], expected0: [Float], expected1: [Float]

    init(_ name: String) throws {
        let path = try #require(Bundle.module.path(forResource: name, ofType: "safetensors", inDirectory: "Fixtures"),
                                "fixture Fixtures/\(name).safetensors is missing from the test bundle")
        self.name = name
        file = try SafeTensorsFile(path: path)
        grad0 = try file.tensor("grad.p0").toArray()
        grad1 = try file.tensor("grad.p1").toArray()
        expected0 = try file.tensor("expected.p0").toArray()
        expected1 = try file.tensor("expected.p1").toArray()
    }

    /// A number from the header metadata (the configuration PyTorch ran with).
    func meta(_ key: String) throws -> Float {
        let text = try #require(file.metadata[key], "\(name): metadata has no '\(key)'")
        return try #require(Float(text), "\(name): metadata '\(key)' = '\(text)' is not a number")
    }

    /// Fresh trainable copies of the initial parameters.
    func parameters() throws -> (Tensor, Tensor) {
        let p0 = try file.tensor("p0.initial").copy(), p1 = try file.tensor("p1.initial").copy()
        p0.requiresGrad = true
        p1.requiresGrad = true
        return (p0, p1)
    }

    /// The two groups of the fixture (learning rates and weight decays from the metadata).
    func groups(_ p0: Tensor, _ p1: Tensor) throws -> [ParameterGroup] {
        [ParameterGroup(name: "first", parameters: [("p0", p0)], learningRate: try meta("lr0"), weightDecay: try meta("wd0")),
         ParameterGroup(name: "second", parameters: [("p1", p1)], learningRate: try meta("lr1"), weightDecay: try meta("wd1"))]
    }

    /// Sets the gradients of step `k` (fresh tensors, as backward() would give).
    func setGradients(step k: Int, _ p0: Tensor, _ p1: Tensor) {
        p0.grad = Tensor(shape: [4, 3], data: Array(grad0[k * 12..<(k + 1) * 12]))
        p1.grad = Tensor(shape: [5], data: Array(grad1[k * 5..<(k + 1) * 5]))
    }

    /// The largest |Δ| between the parameters and PyTorch's after step `k`.
    func maxDiff(step k: Int, _ p0: Tensor, _ p1: Tensor) -> Float {
        let a = maxAbsDiff(p0.toArray(), Array(expected0[k * 12..<(k + 1) * 12]))
        let b = maxAbsDiff(p1.toArray(), Array(expected1[k * 5..<(k + 1) * 5]))
        return max(a, b)
    }

    /// Replays steps `range` through `optimizer`; returns the largest |Δ| against PyTorch over those steps.
    /// `beforeStep` runs after the gradients are set (e.g. to clip them).
    func replay(_ optimizer: Optimizer, _ p0: Tensor, _ p1: Tensor, steps range: Range<Int>,
                beforeStep: (Int) -> Void = { _ in }) -> Float {
        var worst: Float = 0
        for k in range {
            setGradients(step: k, p0, p1)
            beforeStep(k)
            optimizer.step()
            worst = max(worst, maxDiff(step: k, p0, p1))
        }
        return worst
    }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// The bit patterns of a tensor's values (for bit-for-bit comparisons).
func bits(_ t: Tensor) -> [UInt32] { t.toArray().map(\.bitPattern) }

/// The largest relative difference, |a − b| / max(|b|, 1e-30).
func maxRelDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / max(abs($1.1), 1e-30)) }
}
