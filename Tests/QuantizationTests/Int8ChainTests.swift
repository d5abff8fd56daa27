import Foundation
import Testing
@testable import Layers
import Models
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

    /// The residual stream of two chained EfficientNet blocks (the first with stride 2, the second adding its input)
    /// and a head convolution: the first block writes `s8` in the second's expansion scale, the second adds that
    /// integer input in real units and writes `s8` in the head's scale. Against the same int8 layers with fp32 block outputs, the only
    /// difference is the quantised residual (half a step of the second block's input scale) and one rounding step
    /// of the head's input, propagated through the head's weights.
    @Test func twoBlocksAndAHeadChainAnS8ResidualStreamAndMatchTheFP32Stream() {
        var g = SeededGenerator(seed: 29)
        let b1 = MBConvBlock(inChannels: 16, outChannels: 16, kernel: 3, stride: 2, expandRatio: 6, seed: 1)
        let b2 = MBConvBlock(inChannels: 16, outChannels: 16, kernel: 3, stride: 1, expandRatio: 6, seed: 2)
        let head = Conv2d(16, 32, kernel: (1, 1), padding: .same, bias: false), hbn = BatchNorm2d(32)
        for m in [b1, b2, hbn] as [Module] { m.eval() }
        let x = Tensor.randn([2, 16, 12, 12], generator: &g)
        #expect(!b1.hasResidual && b2.hasResidual)
        // Calibrate every input on this batch in fp32 (as min-max calibration would).
        func absMax(_ t: Tensor) -> Float { t.contiguous().toArray().map(abs).max()! }
        func convs(_ b: MBConvBlock) -> [Conv2d] { [b.expandConv!, b.depthwiseConv, b.projectConv].map { $0 as! Conv2d } }
        let ranges: [Float] = withNoGrad {
            let y1 = b1(x), y2 = b2(y1)
            return [absMax(x), absMax(y1), absMax(y2)]
        }
        for (b, r) in [(b1, ranges[0]), (b2, ranges[1])] {
            let c = convs(b)
            c[0].int8 = Int8Layer(input: .symmetric(absMax: r, signed: true))
            c[1].int8 = Int8Layer(input: .symmetric(absMax: 6, signed: false))
            c[2].int8 = Int8Layer(input: .symmetric(absMax: 6, signed: false))
        }
        head.int8 = Int8Layer(input: .symmetric(absMax: ranges[2], signed: true))
        let (chained, streamed): (Tensor, [Bool]) = withNoGrad {
            let qh = head.int8UnitInput(batchNorm: hbn)
            let q2 = b2.int8Input(writing: qh)
            #expect(qh != nil && q2 == convs(b2)[0].int8!.input && b1.int8Input(writing: q2) != nil)
            #expect(b2.int8Input(writing: nil) == nil, "a block adding its input streams integers only if it writes them")
            #expect(b1(x, int8Output: nil).holdsIntegers == false && b2(b1(x), int8Output: qh).holdsIntegers == false,
                    "no integers without a request, nor from an fp32 input with a residual")
            let h1 = b1(x, int8Output: q2), h2 = b2(h1, int8Output: qh)
            return (head(h2, batchNorm: hbn, activation: nil), [h1.holdsIntegers, h2.holdsIntegers])
        }
        let separate = withNoGrad { head(b2(b1(x)), batchNorm: hbn, activation: nil) }
        #expect(streamed == [true, true], "block outputs hold integers: \(streamed)")
        #expect(chained.shape == [2, 32, 6, 6] && separate.shape == chained.shape)
        let w = withNoGrad { head.foldedWeights(batchNorm: hbn).weight }.contiguous().toArray()
        let rowSum = (0..<32).map { o in (0..<16).map { abs(w[o * 16 + $0]) }.reduce(0, +) }.max()!
        let s2 = ranges[1] / 127, sh = ranges[2] / 127
        let bound = rowSum * (s2 / 2 + sh) + 1e-4
        #expect(maxDiff(chained, separate) <= bound, "max |chained − separate| \(maxDiff(chained, separate)), bound \(bound)")
        let scale = separate.contiguous().toArray().map(abs).max()!
        #expect(maxDiff(chained, separate) <= 0.05 * scale, "\(maxDiff(chained, separate)) of \(scale)")
    }

    /// ResNet's basic block: `conv1` writes `u8` in `conv2`'s input scale (after its ReLU) and `conv2` reads it as it
    /// is, adding the identity and applying ReLU: the answer of the two int8 units run one after the other through
    /// fp32 (the same rounding of the same values; only an fp32 tie can flip one step).
    @Test func aBasicBlockChainsU8BetweenItsConvolutionsAndMatchesTheSeparateInt8Units() {
        var g = SeededGenerator(seed: 31)
        let block = BasicBlock(inChannels: 16, outChannels: 16)
        block.eval()
        let x = Tensor.randn([2, 16, 10, 10], generator: &g).relu()
        let c1 = block.conv1 as! Conv2d, c2 = block.conv2 as! Conv2d
        let b1 = block.bn1 as! BatchNorm2d, b2 = block.bn2 as! BatchNorm2d
        let mid = withNoGrad { c1(x, batchNorm: b1, activation: .relu) }.contiguous().toArray().max()!
        c1.int8 = Int8Layer(input: .symmetric(absMax: x.contiguous().toArray().max()!, signed: false))
        c2.int8 = Int8Layer(input: .symmetric(absMax: mid, signed: false))
        let chained = withNoGrad { block(x) }
        let separate = withNoGrad { c2(c1(x, batchNorm: b1, activation: .relu), batchNorm: b2, activation: .relu, residual: x) }
        let a = chained.contiguous().toArray(), b = separate.contiguous().toArray()
        let scale = b.map(abs).max() ?? 1
        let differing = zip(a, b).filter { abs($0 - $1) > 1e-4 * scale }.count
        #expect(chained.shape == [2, 16, 10, 10] && differing * 50 <= a.count && maxDiff(chained, separate) <= 0.02 * scale,
                "max |chained − separate| \(maxDiff(chained, separate)) of \(scale); \(differing) of \(a.count) differ")
        let (h, unitInput) = withNoGrad {
            let f = c1.foldedWeights(batchNorm: b1)
            return (c1.int8!.conv2d(x, weight: f.weight, bias: f.bias, stride: (1, 1), padding: .symmetric(1, 1),
                                    dilation: (1, 1), groups: 1, residual: nil, activation: .relu, output: c2.int8!.input),
                    c2.int8UnitInput(batchNorm: b2))
        }
        #expect(h.holdsIntegers && unitInput == c2.int8!.input)
        #expect(c2.int8UnitInput(batchNorm: b2) == nil, "recording gradients: the unit runs fp32")
    }

    /// EfficientNet's stem and first block (no expansion, no residual) and a head: the stem writes `u8` in the
    /// block's depthwise input scale, the depthwise `u8` in the projection's, the projection `s8` in the head's.
    /// Every hop quantises the same values with the same rounding as the int8 layers run through fp32, so the head's
    /// outputs differ at most by one step of its input, through its weights.
    @Test func theStemAndABlockWithoutExpansionStreamIntegersAndMatchTheFP32Hops() {
        var g = SeededGenerator(seed: 37)
        let stem = Conv2d(3, 16, kernel: (3, 3), stride: (2, 2), padding: .same, bias: false), sbn = BatchNorm2d(16)
        let b0 = MBConvBlock(inChannels: 16, outChannels: 8, kernel: 3, stride: 1, expandRatio: 1, seed: 3)
        let head = Conv2d(8, 24, kernel: (1, 1), padding: .same, bias: false), hbn = BatchNorm2d(24)
        for m in [sbn, b0, hbn] as [Module] { m.eval() }
        let x = Tensor.randn([2, 3, 16, 16], generator: &g)
        func absMax(_ t: Tensor) -> Float { t.contiguous().toArray().map(abs).max()! }
        let out = withNoGrad { b0(stem(x, batchNorm: sbn, activation: .relu6)) }
        stem.int8 = Int8Layer(input: .symmetric(absMax: absMax(x), signed: true))
        (b0.depthwiseConv as! Conv2d).int8 = Int8Layer(input: .symmetric(absMax: 6, signed: false))
        (b0.projectConv as! Conv2d).int8 = Int8Layer(input: .symmetric(absMax: 6, signed: false))
        head.int8 = Int8Layer(input: .symmetric(absMax: absMax(out), signed: true))
        let (chained, integers): (Tensor, [Bool]) = withNoGrad {
            let qh = head.int8UnitInput(batchNorm: hbn)
            let q0 = b0.int8Input(writing: qh)
            #expect(q0 == (b0.depthwiseConv as! Conv2d).int8!.input)
            let h0 = stem(x, batchNorm: sbn, activation: .relu6, int8Output: q0)
            let h1 = b0(h0, int8Output: qh)
            return (head(h1, batchNorm: hbn, activation: nil), [h0.holdsIntegers, h1.holdsIntegers])
        }
        let separate = withNoGrad { head(b0(stem(x, batchNorm: sbn, activation: .relu6)), batchNorm: hbn, activation: nil) }
        #expect(integers == [true, true], "stem and block outputs hold integers: \(integers)")
        #expect(chained.shape == [2, 24, 8, 8] && separate.shape == chained.shape)
        let w = withNoGrad { head.foldedWeights(batchNorm: hbn).weight }.contiguous().toArray()
        let rowSum = (0..<24).map { o in (0..<8).map { abs(w[o * 8 + $0]) }.reduce(0, +) }.max()!
        let bound = rowSum * absMax(out) / 127 + 1e-4
        #expect(maxDiff(chained, separate) <= bound, "max |chained − separate| \(maxDiff(chained, separate)), bound \(bound)")
    }
}
