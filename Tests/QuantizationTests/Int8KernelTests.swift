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
