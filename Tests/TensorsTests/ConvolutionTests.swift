import Testing
@testable import Tensors

/// One convolution configuration of the reference comparisons.
struct Conv2dTestCase: CustomStringConvertible {
    var name: String
    var x: [Int]  // [N, Cin, H, W]
    var cout: Int
    var kernel: (Int, Int)
    var stride = (1, 1)
    var padding = Padding.symmetric(0, 0)
    var dilation = (1, 1)
    var groups = 1
    var bias = true
    var description: String { name }
}

let conv2dTestCases: [Conv2dTestCase] = [
    Conv2dTestCase(name: "plain 3x3", x: [2, 3, 6, 5], cout: 4, kernel: (3, 3)),
    Conv2dTestCase(name: "strided, padded 3x3", x: [2, 3, 7, 6], cout: 5, kernel: (3, 3), stride: (2, 2), padding: .symmetric(1, 1)),
    Conv2dTestCase(name: "1x5 kernel, stride (1, 2), pad (0, 2)", x: [1, 4, 5, 9], cout: 3, kernel: (1, 5), stride: (1, 2),
             padding: .symmetric(0, 2), bias: false),
    Conv2dTestCase(name: "explicit asymmetric padding", x: [2, 3, 6, 6], cout: 4, kernel: (3, 2),
             padding: .explicit(top: 0, bottom: 2, left: 1, right: 0)),
    Conv2dTestCase(name: "SAME, stride 2, even input", x: [2, 3, 8, 6], cout: 4, kernel: (3, 3), stride: (2, 2), padding: .same),
    Conv2dTestCase(name: "SAME, stride 1, 4x4 kernel", x: [1, 2, 5, 5], cout: 3, kernel: (4, 4), padding: .same, bias: false),
    Conv2dTestCase(name: "dilated 3x3, dilation (2, 3)", x: [2, 3, 9, 10], cout: 4, kernel: (3, 3), padding: .symmetric(2, 1),
             dilation: (2, 3)),
    Conv2dTestCase(name: "grouped, groups 2", x: [2, 4, 6, 6], cout: 6, kernel: (3, 3), padding: .symmetric(1, 1), groups: 2),
    Conv2dTestCase(name: "depthwise 3x3, stride 2", x: [2, 6, 7, 7], cout: 6, kernel: (3, 3), stride: (2, 2),
             padding: .symmetric(1, 1), groups: 6),
    Conv2dTestCase(name: "depthwise, multiplier 2, SAME", x: [1, 3, 6, 6], cout: 6, kernel: (3, 3), stride: (2, 2), padding: .same,
             groups: 3, bias: false),
    Conv2dTestCase(name: "1x1 pointwise, 16 channels", x: [2, 16, 4, 4], cout: 16, kernel: (1, 1)),
]

/// Direct convolution in Float64 over plain NCHW data (the definition PyTorch's conv2d documents).
private func naiveConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), padding: Padding,
                         dilation: (Int, Int), groups: Int) -> (Shape, [Float]) {
    let n = x.shape[0], cin = x.shape[1], h = x.shape[2], wd = x.shape[3]
    let cout = w.shape[0], cpg = w.shape[1], kh = w.shape[2], kw = w.shape[3]
    let pad = padding.amounts(input: (h, wd), kernel: (kh, kw), stride: stride, dilation: dilation)
    let oh = (h + pad.top + pad.bottom - (kh - 1) * dilation.0 - 1) / stride.0 + 1
    let ow = (wd + pad.left + pad.right - (kw - 1) * dilation.1 - 1) / stride.1 + 1
    let xv = x.toArray(), wv = w.toArray(), bv = b?.toArray()
    let opg = cout / groups
    var out = [Float](repeating: 0, count: n * cout * oh * ow)
    for b0 in 0..<n {
        for o in 0..<cout {
            let g = o / opg
            for i in 0..<oh {
                for j in 0..<ow {
                    var s = Double(bv?[o] ?? 0)
                    for c in 0..<cpg {
                        let ci = g * cpg + c
                        for p in 0..<kh {
                            let y = i * stride.0 - pad.top + p * dilation.0
                            if y < 0 || y >= h { continue }
                            for q in 0..<kw {
                                let xx = j * stride.1 - pad.left + q * dilation.1
                                if xx < 0 || xx >= wd { continue }
                                s += Double(xv[((b0 * cin + ci) * h + y) * wd + xx]) * Double(wv[((o * cpg + c) * kh + p) * kw + q])
                            }
                        }
                    }
                    out[((b0 * cout + o) * oh + i) * ow + j] = Float(s)
                }
            }
        }
    }
    return (Shape([n, cout, oh, ow]), out)
}

private func makeConvInputs(_ c: Conv2dTestCase, seed: UInt64) -> (x: Tensor, w: Tensor, b: Tensor?) {
    let x = randomTensor(Shape(c.x), seed: seed)
    let w = randomTensor([c.cout, c.x[1] / c.groups, c.kernel.0, c.kernel.1], seed: seed + 1, low: -0.5, high: 0.5)
    let b = c.bias ? randomTensor([c.cout], seed: seed + 2) : nil
    return (x, w, b)
}

@Suite struct ConvolutionTests {
    @Test(arguments: conv2dTestCases)
    func conv2dForwardMatchesNaiveReference(_ c: Conv2dTestCase) {
        let (x, w, b) = makeConvInputs(c, seed: 10)
        let y = Tensor.conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        let (shape, expected) = naiveConv2d(x, w, b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
        #expect(y.shape == shape, "\(c)")
        #expect(maxAbsDiff(y.toArray(), expected) < 1e-4, "\(c)")
    }

    @Test(arguments: conv2dTestCases)
    func conv2dGradientMatchesFiniteDifferences(_ c: Conv2dTestCase) {
        let (x, w, b) = makeConvInputs(c, seed: 20)
        let inputs = [x, w] + (b.map { [$0] } ?? [])
        expectGradients("conv2d \(c)", inputs) { t in
            Tensor.conv2d(t[0], weight: t[1], bias: t.count > 2 ? t[2] : nil, stride: c.stride, padding: c.padding,
                          dilation: c.dilation, groups: c.groups)
        }
        // Parameter gradients come back plain, in PyTorch's shapes.
        #expect(w.grad?.shape == w.shape && w.grad?.layout == nil, "\(c)")
        if let b { #expect(b.grad?.shape == b.shape && b.grad?.layout == nil, "\(c)") }
    }

    @Test func samePaddingIsAsymmetricForStrideTwoAndMatchesExplicitPadding() {
        // in 8, k 3, s 2: out 4, total pad (4 − 1) · 2 + 3 − 8 = 1 → top/left 0, bottom/right 1.
        let p = Padding.same.amounts(input: (8, 7), kernel: (3, 3), stride: (2, 2))
        #expect(p.top == 0 && p.bottom == 1 && p.left == 1 && p.right == 1)
        // Dilation widens the kernel: k 3, d 2 → range 5; in 6, s 1: total 4.
        let q = Padding.same.amounts(input: (6, 6), kernel: (3, 3), stride: (1, 1), dilation: (2, 2))
        #expect(q.top == 2 && q.bottom == 2)
        #expect(Padding.same.amounts(input: (9, 9), kernel: (1, 1), stride: (2, 2)).bottom == 0)
        let x = randomTensor([1, 2, 8, 7], seed: 3), w = randomTensor([3, 2, 3, 3], seed: 4)
        let same = Tensor.conv2d(x, weight: w, stride: (2, 2), padding: .same)
        let explicit = Tensor.conv2d(x, weight: w, stride: (2, 2), padding: .explicit(top: 0, bottom: 1, left: 1, right: 1))
        #expect(same.shape == [1, 3, 4, 4])
        #expect(same.toArray() == explicit.toArray())
    }

    @Test func frozenWeightsSkipBackwardWeightsAndFirstLayerSkipsBackwardData() {
        // A geometry used by no other test, so the primitive cache shows exactly which backward passes ran.
        let x = randomTensor([1, 5, 11, 13], seed: 5), w = randomTensor([7, 5, 3, 3], seed: 6), b = randomTensor([7], seed: 7)
        let geometry = Conv2dGeometry(n: 1, cin: 5, h: 11, w: 13, cout: 7, kh: 3, kw: 3, oh: 11, ow: 13, groups: 1,
                                      stride: (1, 1), dilation: (1, 1), top: 1, bottom: 1, left: 1, right: 1, hasBias: true)
        // Frozen layer (weight and bias need no gradient) inside a trainable network: only backward-data runs.
        x.requiresGrad = true
        Tensor.conv2d(x, weight: w, bias: b, padding: .symmetric(1, 1)).sum().backward()
        #expect(x.grad != nil && w.grad == nil && b.grad == nil)
        #expect(DNNL.isCached("conv2d.bwd_data|\(geometry.key)"))
        #expect(!DNNL.isCached("conv2d.bwd_weights|true|\(geometry.key)"))
        #expect(!DNNL.isCached("conv2d.bwd_weights|false|\(geometry.key)"))

        // First layer (input needs no gradient): backward-weights only, and the gradients match a full backward.
        let x2 = randomTensor([1, 5, 11, 13], seed: 5), w2 = randomTensor([7, 5, 3, 3], seed: 6)
        let b2 = randomTensor([7], seed: 7)
        w2.requiresGrad = true
        b2.requiresGrad = true
        let geometry2 = Conv2dGeometry(n: 1, cin: 5, h: 11, w: 13, cout: 7, kh: 3, kw: 3, oh: 6, ow: 7, groups: 1,
                                       stride: (2, 2), dilation: (1, 1), top: 1, bottom: 1, left: 1, right: 1, hasBias: true)
        Tensor.conv2d(x2, weight: w2, bias: b2, stride: (2, 2), padding: .symmetric(1, 1)).sum().backward()
        #expect(DNNL.isCached("conv2d.bwd_weights|true|\(geometry2.key)"))
        #expect(!DNNL.isCached("conv2d.bwd_data|\(geometry2.key)"))
        #expect(x2.grad == nil && w2.grad?.shape == [7, 5, 3, 3] && b2.grad?.shape == [7])

        // A trainable bias on a frozen weight (BitFit): the bias gradient is the per-channel sum of ∂L/∂y, here
        // arriving in the convolution's blocked layout through the relu's backward.
        let w3 = randomTensor([7, 5, 3, 3], seed: 6), b3 = randomTensor([7], seed: 7)
        b3.requiresGrad = true
        var gen = SeededGenerator(seed: 8)
        let upstream = Tensor.randn([1, 7, 6, 7], generator: &gen)
        let y3 = Tensor.conv2d(x2, weight: w3, bias: b3, stride: (2, 2), padding: .symmetric(1, 1))
        (y3.relu() * upstream).sum().backward()
        let positive = Tensor.compare(y3.detached(), Tensor.zeros([1]), greaterOrEqual: false)
        #expect(maxAbsDiff(b3.grad!.toArray(), (upstream * positive).sum(axes: [0, 2, 3]).toArray()) < 1e-4)
        #expect(w3.grad == nil)
    }

    @Test func blockedGradientsFromTwoBranchesAccumulate() {
        // h feeds two convolutions, so its two blocked input gradients meet in the tape's `+`; the sum must equal
        // the gradient through plain activations.
        let x = randomTensor([2, 16, 8, 8], seed: 50)
        let w0 = randomTensor([16, 16, 3, 3], seed: 51, low: -0.2, high: 0.2)
        let w1 = randomTensor([16, 16, 3, 3], seed: 52, low: -0.2, high: 0.2)
        let w2 = randomTensor([16, 16, 1, 1], seed: 53, low: -0.5, high: 0.5)
        var gen = SeededGenerator(seed: 54)
        let upstream = Tensor.randn([2, 16, 8, 8], generator: &gen)
        func gradients(plain: Bool) -> [[Float]] {
            for t in [x, w0, w1, w2] { t.requiresGrad = true; t.grad = nil }
            let h0 = Tensor.conv2d(x, weight: w0, padding: .symmetric(1, 1))
            if !plain { #expect(h0.layout != nil) }
            let h = plain ? h0 * 1 : h0
            let y = Tensor.conv2d(h, weight: w1, padding: .symmetric(1, 1)) + Tensor.conv2d(h, weight: w2) + h
            (y * upstream).sum().backward()
            return [x, w0, w1, w2].map { $0.grad!.toArray() }
        }
        let blocked = gradients(plain: false), plain = gradients(plain: true)
        for (i, (a, b)) in zip(blocked, plain).enumerated() {
            #expect(maxAbsDiff(a, b) < 1e-4, "gradient of input \(i)")
        }
    }

    @Test func conv2dStopsOnShapeErrors() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.conv2d(Tensor.zeros([1, 3, 8, 8]), weight: Tensor.zeros([4, 2, 3, 3]))  // Cin 3 vs weight's 2
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.conv2d(Tensor.zeros([1, 4, 8, 8]), weight: Tensor.zeros([4, 2, 3, 3]), groups: 3)  // 3 ∤ 4
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.conv2d(Tensor.zeros([3, 8, 8]), weight: Tensor.zeros([4, 3, 3, 3]))  // rank 3 input
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.conv2d(Tensor.zeros([1, 3, 2, 2]), weight: Tensor.zeros([4, 3, 3, 3]))  // kernel > input
        }
    }

    @Test func convBatchNormReluConvChainInBlockedLayoutMatchesPlainChain() {
        // 16 channels: oneDNN picks a blocked layout (nChw8c / nChw16c) for the activations.
        let x = randomTensor([2, 16, 9, 9], seed: 30)
        let w1 = randomTensor([16, 16, 3, 3], seed: 31, low: -0.2, high: 0.2), b1 = randomTensor([16], seed: 32)
        let gamma = randomTensor([16], seed: 33, low: 0.5, high: 1.5), beta = randomTensor([16], seed: 34)
        let w2 = randomTensor([32, 16, 3, 3], seed: 35, low: -0.2, high: 0.2)
        let params = [x, w1, b1, gamma, beta, w2]
        var mids: [Tensor] = []
        func chain(plain: Bool) -> (Tensor, [[Float]]) {
            for p in params { p.requiresGrad = true; p.grad = nil }
            // `* 1` is a recorded Swift op that returns plain data: the reference path never sees a blocked layout.
            func settle(_ t: Tensor) -> Tensor { plain ? t * 1 : t }
            let rm = Tensor.zeros([16]), rv = Tensor.ones([16])
            let c1 = settle(Tensor.conv2d(x, weight: w1, bias: b1, padding: .symmetric(1, 1)))
            let bn = settle(Tensor.batchNorm2d(c1, weight: gamma, bias: beta, runningMean: rm, runningVar: rv, training: true))
            let r = settle(bn.relu())
            let y = Tensor.conv2d(r, weight: w2, stride: (2, 2), padding: .symmetric(1, 1))
            if !plain { mids = [c1, bn, r] }
            var gen = SeededGenerator(seed: 36)
            (y * Tensor.randn(y.shape, generator: &gen)).sum().backward()
            return (y, params.map { $0.grad!.toArray() })
        }
        let (yb, gb) = chain(plain: false)
        #expect(mids.allSatisfy { $0.layout != nil }, "activations between oneDNN ops should stay blocked")
        let (yp, gp) = chain(plain: true)
        #expect(maxAbsDiff(yb.toArray(), yp.toArray()) < 1e-4)
        for (i, (a, b)) in zip(gb, gp).enumerated() {
            let scale = b.reduce(0) { Swift.max($0, Swift.abs($1)) }
            #expect(maxAbsDiff(a, b) <= 1e-4 * Swift.max(1, scale), "gradient of parameter \(i)")
        }
    }

    @Test func conv2dOutputOfInferenceIsNotRecorded() {
        let x = randomTensor([1, 3, 5, 5], seed: 40), w = randomTensor([4, 3, 3, 3], seed: 41)
        w.requiresGrad = true
        let y = withNoGrad { Tensor.conv2d(x, weight: w) }
        #expect(!y.requiresGrad && y.gradFunctionName == nil)
        #expect(Tensor.conv2d(x, weight: w).gradFunctionName == "conv2d")
    }
}
