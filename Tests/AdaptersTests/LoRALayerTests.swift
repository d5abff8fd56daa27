import Foundation
import Layers
import Testing
import Tensors
@testable import Adapters

/// Random values from a seeded stream.
func randomTensor(_ dims: [Int], seed: UInt64, std: Float = 1) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.randn(Shape(dims), generator: &g, std: std)
}

/// Sets a LoRA layer's B (zero when new) to random values, through the one mutation path.
func randomizeB(_ layer: any LoRALayer, seed: UInt64) throws {
    try layer.load(["lora_A": layer.loraA.copy(), "lora_B": randomTensor(layer.loraB.shape.dims, seed: seed, std: 0.5)], strict: false)
}

/// Largest |a − b| relative to the largest |b|.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    let x = a.toArray(), y = b.toArray()
    let scale = Swift.max(y.map(abs).max() ?? 0, 1e-12)
    return zip(x, y).map { abs($0 - $1) }.max().map { $0 / scale } ?? 0
}

/// Central finite differences of `loss` with respect to each element of `t` (in double the step's effect).
func numericGradient(_ t: Tensor, eps: Float = 1e-2, _ loss: () -> Float) -> [Float] {
    var out: [Float] = []
    for i in 0..<t.count {
        let orig = t.toArray()[i]
        t.withMutableData { $0[i] = orig + eps }
        let up = loss()
        t.withMutableData { $0[i] = orig - eps }
        let down = loss()
        t.withMutableData { $0[i] = orig }
        out.append((up - down) / (2 * eps))
    }
    return out
}

@Suite struct LoRALayerTests {
    /// The analytic gradients of x, A and B through a LoRA linear and convolution agree with central finite
    /// differences (float32, step 1e-2, on a quadratic-free loss Σ y·u: the differences are exact up to rounding).
    @Test func gradientsMatchFiniteDifferences() throws {
        Initializer.seed(1)
        let lin = LoRALinear(wrapping: Linear(5, 4), rank: 2, alpha: 4)
        try randomizeB(lin, seed: 2)
        Initializer.seed(3)
        let conv = LoRAConv2d(wrapping: Conv2d(3, 4, kernel: 3, stride: 2, padding: .symmetric(1, 1)), rank: 2, alpha: 3)
        try randomizeB(conv, seed: 4)
        let cases: [(any LoRALayer, Tensor)] = [(lin, randomTensor([2, 3, 5], seed: 5)), (conv, randomTensor([2, 3, 5, 5], seed: 6))]
        for (layer, x) in cases {
            x.requiresGrad = true
            let u = randomTensor(layer(x).shape.dims, seed: 7)
            func loss() -> Float { withNoGrad { (layer(x) * u).sum().item() } }
            for t in [x, layer.loraA, layer.loraB] { t.grad = nil }
            (layer(x) * u).sum().backward()
            for (name, t) in [("x", x), ("lora_A", layer.loraA), ("lora_B", layer.loraB)] {
                let analytic = try #require(t.grad).toArray()
                let numeric = numericGradient(t, loss)
                let scale = Swift.max(numeric.map(abs).max() ?? 1, 1)
                let err = zip(analytic, numeric).map { abs($0 - $1) }.max() ?? 0
                #expect(err / scale < 2e-3, "\(type(of: layer)) d/d\(name): max error \(err) at scale \(scale)")
            }
            // The base weight is frozen by LoRA.apply, not by the layer: here it trains too and gets a gradient.
            #expect(layer.baseWeight.grad != nil)
        }
    }

    /// A new adapter (B = 0) leaves the layer's output bit for bit as the base layer's.
    @Test func zeroInitialisedAdapterEqualsBaseExactly() {
        Initializer.seed(11)
        let base = Linear(6, 3)
        let x = randomTensor([4, 6], seed: 12)
        let before = base(x).toArray()
        #expect(LoRALinear(wrapping: base, rank: 4, alpha: 8)(x).toArray() == before)
        let conv = Conv2d(3, 5, kernel: 1)
        let y = randomTensor([2, 3, 4, 4], seed: 13)
        let cb = conv(y).toArray()
        let adapted = LoRAConv2d(wrapping: conv, rank: 2, alpha: 2)
        #expect(adapted(y).toArray() == cb)
        adapted.eval()
        #expect(adapted(y).toArray() == cb)
    }

    /// Merging `(α/r)·B·A` into the base weight gives the unmerged output (relative error ≤ 1e-5 of the largest
    /// output) for a linear layer and 1×1 and 3×3 convolutions; unmerging restores the base weight (≤ 1e-6).
    @Test func mergedOutputEqualsUnmerged() throws {
        Initializer.seed(21)
        let layers: [(any LoRALayer, Tensor)] = [
            (LoRALinear(wrapping: Linear(8, 6), rank: 3, alpha: 6), randomTensor([5, 8], seed: 22)),
            (LoRAConv2d(wrapping: Conv2d(4, 6, kernel: 1), rank: 2, alpha: 4), randomTensor([2, 4, 5, 5], seed: 23)),
            (LoRAConv2d(wrapping: Conv2d(4, 6, kernel: 3, stride: 2, padding: .same), rank: 3, alpha: 1), randomTensor([2, 4, 7, 7], seed: 24)),
        ]
        for (i, (layer, x)) in layers.enumerated() {
            try randomizeB(layer, seed: 30 + UInt64(i))
            layer.eval()
            let w0 = layer.baseWeight.copy()
            let unmerged = withNoGrad { layer(x) }
            layer.merge()
            #expect(layer.isMerged)
            let merged = withNoGrad { layer(x) }
            #expect(relativeError(merged, unmerged) <= 1e-5, "\(type(of: layer)) \(i): merged vs unmerged")
            #expect(relativeError(layer.baseWeight, w0) > 1e-3, "the merge changed the base weight")
            layer.unmerge()
            #expect(relativeError(layer.baseWeight, w0) <= 1e-6)
            #expect(relativeError(withNoGrad { layer(x) }, unmerged) <= 1e-5)
        }
    }
}
