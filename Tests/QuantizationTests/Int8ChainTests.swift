import Foundation
import Testing
@testable import Layers
import Quantization
import Tensors

/// Inverted-bottleneck pairs: the expansion's output goes to the depthwise convolution in `u8`, never in fp32.
@Suite struct Int8ChainTests {
    func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.contiguous().toArray(), b.contiguous().toArray()).map { abs($0 - $1) }.max() ?? 0
    }

    /// The expansion (1×1, BatchNorm, ReLU6) writes `u8` in the depthwise convolution's input scale and the
    /// depthwise reads it as it is: the same answer as the two int8 layers run one after the other through fp32
    /// (the quantisation is the same rounding; only an fp32 tie can flip one step), with a 1-byte intermediate.
    @Test func anExpansionDepthwisePairChainsU8AndMatchesTheSeparateInt8Layers() {
        var g = SeededGenerator(seed: 13)
        let expand = Conv2d(8, 48, kernel: (1, 1), padding: .same, bias: false)
        let dw = Conv2d(48, 48, kernel: (3, 3), stride: (2, 2), padding: .same, groups: 48, bias: false)
        let bn0 = BatchNorm2d(48), bn1 = BatchNorm2d(48)
        for bn in [bn0, bn1] {
            bn.runningMean.withMutableData { p in for i in 0..<48 { p[i] = Float(i % 5) * 0.1 - 0.2 } }
            bn.runningVar.withMutableData { p in for i in 0..<48 { p[i] = 0.5 + Float(i % 7) * 0.1 } }
            bn.eval()
        }
        let x = Tensor.randn([2, 8, 14, 14], generator: &g)
        expand.int8 = Int8Layer(input: .symmetric(absMax: 3, signed: true))
        dw.int8 = Int8Layer(input: .symmetric(absMax: 6, signed: false))
        let chained = withNoGrad {
            expand(x, batchNorm: bn0, activation: .relu6, thenDepthwise: dw, batchNorm: bn1, activation: .relu6)
        }
        let separate = withNoGrad { dw(expand(x, batchNorm: bn0, activation: .relu6), batchNorm: bn1, activation: .relu6) }
        #expect(chained.shape == [2, 48, 7, 7] && chained.shape == separate.shape)
        let step = dw.weight.contiguous().toArray().map(abs).max()! * 6 / 255 * 9 / Float(0.5).squareRoot()
        #expect(maxDiff(chained, separate) <= step, "max |chained − separate| \(maxDiff(chained, separate)), one step \(step)")
        let a = chained.contiguous().toArray(), b = separate.contiguous().toArray()
        let differing = zip(a, b).filter { abs($0 - $1) > 1e-4 }.count
        #expect(differing * 100 <= a.count, "\(differing) of \(a.count) outputs differ")

        // The intermediate is one byte per element.
        let f = withNoGrad { expand.foldedWeights(batchNorm: bn0) }
        let h = expand.int8!.conv2d(x, weight: f.weight, bias: f.bias, stride: (1, 1), padding: .same, dilation: (1, 1),
                                    groups: 1, residual: nil, activation: .relu6, output: dw.int8!.input)
        #expect(h.layout != nil && h.layout!.elementCount * 4 < h.count + 64, "\(String(describing: h.layout?.elementCount)) slots for \(h.count)")
    }

    /// The whole inverted bottleneck (expansion, depthwise, projection with the residual sum) chained in int8 gives
    /// the answer of its three int8 layers run one after the other through fp32, within one quantisation step's effect.
    @Test func aWholeInvertedBottleneckChainsAndMatchesTheSeparateInt8Layers() {
        var g = SeededGenerator(seed: 17)
        let expand = Conv2d(16, 96, kernel: (1, 1), padding: .same, bias: false)
        let dw = Conv2d(96, 96, kernel: (3, 3), padding: .same, groups: 96, bias: false)
        let project = Conv2d(96, 16, kernel: (1, 1), padding: .same, bias: false)
        let bns = [BatchNorm2d(96), BatchNorm2d(96), BatchNorm2d(16)]
        for bn in bns { bn.eval() }
        let x = Tensor.randn([2, 16, 10, 10], generator: &g)
        expand.int8 = Int8Layer(input: .symmetric(absMax: 3.5, signed: true))
        dw.int8 = Int8Layer(input: .symmetric(absMax: 6, signed: false))
        project.int8 = Int8Layer(input: .symmetric(absMax: 6, signed: false))
        let chained = withNoGrad {
            expand(x, batchNorm: bns[0], activation: .relu6, thenDepthwise: dw, batchNorm: bns[1], activation: .relu6,
                   thenProject: project, batchNorm: bns[2], residual: x)
        }
        let separate = withNoGrad {
            project(dw(expand(x, batchNorm: bns[0], activation: .relu6), batchNorm: bns[1], activation: .relu6),
                    batchNorm: bns[2], activation: nil, residual: x)
        }
        #expect(chained.shape == [2, 16, 10, 10] && separate.shape == chained.shape)
        let a = chained.contiguous().toArray(), b = separate.contiguous().toArray()
        let scale = b.map(abs).max() ?? 1
        let differing = zip(a, b).filter { abs($0 - $1) > 1e-4 * scale }.count
        #expect(maxDiff(chained, separate) <= 0.02 * scale && differing * 50 <= a.count,
                "max |chained − separate| \(maxDiff(chained, separate)) of \(scale); \(differing) of \(a.count) differ")
    }
}
