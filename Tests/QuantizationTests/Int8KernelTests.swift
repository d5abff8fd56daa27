import Foundation
import Testing
@testable import Quantization
import Tensors

/// The int8 kernels against fp32 on fake-quantised operands: the same `q · scale` inputs and per-channel weights,
/// run through the fp32 convolution / linear layer, must give the int8 primitive's output up to fp32 rounding
/// (the int8 product accumulates exactly in s32), so any error in scales, bias units or post-ops shows.
@Suite struct Int8KernelTests {
    /// `x` with each element replaced by `dequantize(quantize(x))` at `scale`.
    func fakeQuantized(_ x: Tensor, scale: Float, signed: Bool) -> Tensor {
        Tensor(shape: x.shape, data: x.contiguous().toArray().map {
            Int8Math.dequantize(Int8Math.quantize($0, scale: scale, signed: signed), scale: scale)
        })
    }

    /// The weight with each output channel rounded to its own `s8` grid.
    func fakeQuantizedWeight(_ w: Tensor) -> Tensor {
        let scales = Int8Math.channelScales(w), per = w.count / w.shape[0]
        let v = w.contiguous().toArray()
        return Tensor(shape: w.shape, data: v.indices.map { i in
            Int8Math.dequantize(Int8Math.quantize(v[i], scale: scales[i / per], signed: true), scale: scales[i / per])
        })
    }

    func maxAbs(_ t: Tensor) -> Float { t.contiguous().toArray().map(abs).max() ?? 0 }
    func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.contiguous().toArray(), b.contiguous().toArray()).map { abs($0 - $1) }.max() ?? 0
    }

    @Test func int8ConvolutionMatchesFP32OnFakeQuantisedOperandsWithBiasResidualAndActivation() {
        var g = SeededGenerator(seed: 7)
        let cases: [(Bool, Int, Int, FusedActivation?, Bool)] = [
            (true, 1, 1, nil, true), (false, 1, 2, .relu, false), (false, 16, 2, .relu6, false), (true, 16, 1, .relu6, true),
        ]
        for (signed, groups, stride, activation, withResidual) in cases {
            let raw = Tensor.randn([2, 16, 9, 9], generator: &g)
            let x = signed ? raw : raw.relu()
            let w = Tensor.randn([16, 16 / groups, 3, 3], generator: &g, std: 0.3)
            let b = Tensor.randn([16], generator: &g)
            let q = Int8InputQuantization.symmetric(absMax: maxAbs(x) * 0.8, signed: signed)  // some inputs saturate
            let layer = Int8Layer(input: q)
            let oh = (9 + 2 - 3) / stride + 1
            let residual = withResidual ? Tensor.randn([2, 16, oh, oh], generator: &g) : nil
            let y = layer.conv2d(x, weight: w, bias: b, stride: (stride, stride), padding: .symmetric(1, 1), dilation: (1, 1),
                                 groups: groups, residual: residual, activation: activation)
            let xq = fakeQuantized(x, scale: q.scale, signed: signed)
            var ref = Tensor.conv2d(xq, weight: fakeQuantizedWeight(w), bias: b, stride: (stride, stride),
                                    padding: .symmetric(1, 1), groups: groups)
            if let residual { ref = ref + residual }
            if let activation { ref = activation.apply(ref) }
            #expect(y.shape == ref.shape)
            let err = maxDiff(y, ref)
            #expect(err <= 1e-4 * Swift.max(maxAbs(ref), 1), "signed \(signed) groups \(groups): max |int8 − fp32| \(err)")
            // A second call reuses the cached weight and primitive and gives the same answer.
            let again = layer.conv2d(x, weight: w, bias: b, stride: (stride, stride), padding: .symmetric(1, 1),
                                     dilation: (1, 1), groups: groups, residual: residual, activation: activation)
            #expect(maxDiff(again, y) == 0)
        }
    }

    @Test func int8LinearMatchesFP32OnFakeQuantisedOperandsWithGELUAndResidual() {
        var g = SeededGenerator(seed: 11)
        let x = Tensor.randn([2, 5, 24], generator: &g)
        let w = Tensor.randn([12, 24], generator: &g, std: 0.2), b = Tensor.randn([12], generator: &g)
        let residual = Tensor.randn([2, 5, 12], generator: &g)
        let q = Int8InputQuantization.symmetric(absMax: maxAbs(x), signed: true)
        let layer = Int8Layer(input: q)
        let y = layer.linear(x, weight: w, bias: b, activation: .gelu, residual: residual)
        let ref = FusedActivation.gelu.apply(Tensor.linear(fakeQuantized(x, scale: q.scale, signed: true),
                                                           weight: fakeQuantizedWeight(w), bias: b)) + residual
        #expect(y.shape == [2, 5, 12])
        #expect(maxDiff(y, ref) <= 1e-4 * Swift.max(maxAbs(ref), 1), "max |int8 − fp32| \(maxDiff(y, ref))")
        // Without post-ops, and quantisation error against the exact fp32 layer stays within a few steps.
        let plain = layer.linear(x, weight: w, bias: b, activation: nil, residual: nil)
        let exact = Tensor.linear(x, weight: w, bias: b)
        #expect(maxDiff(plain, exact) < 0.05 * maxAbs(exact), "int8 vs exact fp32: \(maxDiff(plain, exact))")
    }

    /// An int8 linear layer that writes integers in the next int8 layer's input quantisation (BERT's expansion →
    /// output projection) gives that layer what it would have quantised from the fp32 output itself, up to a
    /// rounding tie; one that writes bf16 gives the fp32 output rounded to bf16, which the next layer quantises as
    /// it would the same values in fp32.
    @Test func int8LinearWritesIntegersAndBF16ThatTheNextInt8LayerReads() {
        var g = SeededGenerator(seed: 5)
        let x = Tensor.randn([3, 7, 32], generator: &g)
        let w1 = Tensor.randn([48, 32], generator: &g, std: 0.2), b1 = Tensor.randn([48], generator: &g)
        let w2 = Tensor.randn([16, 48], generator: &g, std: 0.2), b2 = Tensor.randn([16], generator: &g)
        let first = Int8Layer(input: .symmetric(absMax: maxAbs(x), signed: true))
        let hidden = first.linear(x, weight: w1, bias: b1, activation: .gelu, residual: nil)
        for signed in [true, false] {
            let q2 = Int8InputQuantization.symmetric(absMax: maxAbs(hidden) * 0.7, signed: signed)  // some saturate
            let second = Int8Layer(input: q2)
            let integers = first.linear(x, weight: w1, bias: b1, activation: .gelu, residual: nil, output: .integers(q2))
            #expect(integers.holdsIntegers && integers.shape == [3, 7, 48])
            let viaIntegers = second.linear(integers, weight: w2, bias: b2, activation: nil, residual: nil)
            let viaFP32 = second.linear(hidden, weight: w2, bias: b2, activation: nil, residual: nil)
            // At most one quantisation step per input element apart (a rounding tie decided the other way).
            let rowSum = w2.abs().sum(axis: 1).toArray().max() ?? 0
            #expect(maxDiff(viaIntegers, viaFP32) <= q2.scale * rowSum * 1.01, "signed \(signed): \(maxDiff(viaIntegers, viaFP32))")
            let same = zip(viaIntegers.toArray(), viaFP32.toArray()).filter { abs($0 - $1) <= 1e-5 * Swift.max(abs($1), 1) }.count
            #expect(same * 10 >= viaFP32.count * 9, "signed \(signed): only \(same) of \(viaFP32.count) outputs agree")
        }
        let bf16 = first.linear(x, weight: w1, bias: b1, activation: .gelu, residual: nil, output: .bf16)
        #expect(!bf16.holdsIntegers && bf16.layout?.isBF16 == true)
        let asFloats = bf16.contiguous()
        #expect(maxDiff(asFloats, hidden) <= maxAbs(hidden) / 128, "bf16 output vs fp32: \(maxDiff(asFloats, hidden))")
        let second = Int8Layer(input: .symmetric(absMax: maxAbs(hidden), signed: true))
        let fromBF16 = second.linear(bf16, weight: w2, bias: b2, activation: nil, residual: nil)
        let fromFloats = second.linear(asFloats, weight: w2, bias: b2, activation: nil, residual: nil)
        #expect(maxDiff(fromBF16, fromFloats) == 0)
    }

    @Test func aChangedWeightIsQuantisedAgain() {
        var g = SeededGenerator(seed: 3)
        let x = Tensor.randn([1, 8], generator: &g), w = Tensor.randn([4, 8], generator: &g)
        let layer = Int8Layer(input: .symmetric(absMax: maxAbs(x), signed: true))
        let before = layer.linear(x, weight: w, bias: nil, activation: nil, residual: nil)
        w.assign(w * 2)
        let after = layer.linear(x, weight: w, bias: nil, activation: nil, residual: nil)
        #expect(maxDiff(after, before * 2) <= 1e-4 * maxAbs(after))
    }
}
