import Testing
@testable import Tensors

/// One pooling configuration of the reference comparisons.
struct Pool2dTestCase: CustomStringConvertible {
    var name: String
    var x: [Int]
    var kernel: (Int, Int)
    var stride: (Int, Int)? = nil
    var padding = Padding.symmetric(0, 0)
    var dilation = (1, 1)
    var ceilMode = false
    /// The output plane PyTorch's `pooling_output_shape` gives.
    var out: (Int, Int)
    var description: String { name }
}

let maxPool2dTestCases: [Pool2dTestCase] = [
    Pool2dTestCase(name: "2x2, default stride", x: [2, 3, 6, 8], kernel: (2, 2), out: (3, 4)),
    Pool2dTestCase(name: "3x3, stride 2, pad 1 (ResNet stem)", x: [2, 3, 9, 8], kernel: (3, 3), stride: (2, 2),
                   padding: .symmetric(1, 1), out: (5, 4)),
    Pool2dTestCase(name: "dilation 2, pad 1", x: [1, 2, 9, 9], kernel: (3, 2), stride: (1, 2), padding: .symmetric(1, 1),
                   dilation: (2, 2), out: (7, 5)),
    Pool2dTestCase(name: "ceil mode adds a window", x: [1, 2, 6, 5], kernel: (3, 2), stride: (2, 2), padding: .symmetric(1, 0),
                   ceilMode: true, out: (4, 3)),
    Pool2dTestCase(name: "ceil mode drops a window starting in the padding", x: [1, 2, 5, 5], kernel: (2, 2), stride: (2, 2),
                   padding: .symmetric(1, 1), ceilMode: true, out: (3, 3)),
    Pool2dTestCase(name: "explicit asymmetric padding", x: [2, 2, 7, 6], kernel: (3, 3), stride: (2, 1),
                   padding: .explicit(top: 0, bottom: 1, left: 1, right: 0), out: (3, 5)),
    Pool2dTestCase(name: "SAME, stride 2", x: [1, 3, 8, 7], kernel: (3, 3), stride: (2, 2), padding: .same, out: (4, 4)),
]

let avgPool2dTestCases: [Pool2dTestCase] = [
    Pool2dTestCase(name: "2x2, default stride", x: [2, 3, 6, 8], kernel: (2, 2), out: (3, 4)),
    Pool2dTestCase(name: "3x3, stride 2, pad 1", x: [2, 3, 7, 8], kernel: (3, 3), stride: (2, 2), padding: .symmetric(1, 1),
                   out: (4, 4)),
    Pool2dTestCase(name: "3x3, stride 1, pad 1", x: [1, 2, 5, 6], kernel: (3, 3), stride: (1, 1), padding: .symmetric(1, 1),
                   out: (5, 6)),
    Pool2dTestCase(name: "explicit asymmetric padding", x: [1, 2, 6, 6], kernel: (2, 3), stride: (2, 2),
                   padding: .explicit(top: 1, bottom: 0, left: 0, right: 1), out: (3, 3)),
]

/// Pooling by definition, in Float64, with PyTorch's divisor rule for `count_include_pad` (the window clipped to
/// the padded input). Also returns, for max pooling, the flat input index each output takes its value from.
private func naivePool2d(_ x: Tensor, _ c: Pool2dTestCase, max: Bool, countIncludePad: Bool) -> ([Float], [Int]) {
    let n = x.shape[0], ch = x.shape[1], h = x.shape[2], w = x.shape[3]
    let stride = c.stride ?? c.kernel
    let pad = c.padding.amounts(input: (h, w), kernel: c.kernel, stride: stride, dilation: c.dilation)
    let (oh, ow) = c.out
    let xv = x.toArray()
    var out: [Float] = [], arg: [Int] = []
    for p in 0..<(n * ch) {
        for i in 0..<oh {
            for j in 0..<ow {
                var best = -Double.infinity, bestIndex = -1, sum = 0.0, inside = 0
                for a in 0..<c.kernel.0 {
                    for b in 0..<c.kernel.1 {
                        let y = i * stride.0 - pad.top + a * c.dilation.0, xx = j * stride.1 - pad.left + b * c.dilation.1
                        guard y >= 0, y < h, xx >= 0, xx < w else { continue }
                        let k = (p * h + y) * w + xx
                        if Double(xv[k]) > best { best = Double(xv[k]); bestIndex = k }
                        sum += Double(xv[k])
                        inside += 1
                    }
                }
                if max {
                    out.append(Float(best))
                    arg.append(bestIndex)
                } else {
                    let hs = i * stride.0 - pad.top, ws = j * stride.1 - pad.left
                    let he = Swift.min(hs + c.kernel.0, h + pad.bottom), we = Swift.min(ws + c.kernel.1, w + pad.right)
                    let divisor = countIncludePad ? (he - hs) * (we - ws) : inside
                    out.append(Float(sum / Double(divisor)))
                }
            }
        }
    }
    return (out, arg)
}

/// Distinct values at least 0.01 apart in shuffled order, so a ±1e-3 finite-difference step never changes which
/// element of a window is the maximum.
private func distinctValues(_ shape: Shape, seed: UInt64) -> Tensor {
    var gen = SeededGenerator(seed: seed)
    var v = (0..<shape.count).map { Float($0) * 0.01 - Float(shape.count) * 0.005 }
    v.shuffle(using: &gen)
    return Tensor(shape: shape, data: v)
}

@Suite struct PoolingTests {
    @Test(arguments: maxPool2dTestCases)
    func maxPool2dForwardMatchesNaiveReferenceAndPyTorchOutputSize(_ c: Pool2dTestCase) {
        let x = randomTensor(Shape(c.x), seed: 1)
        let y = Tensor.maxPool2d(x, kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation,
                                 ceilMode: c.ceilMode)
        #expect(y.shape == Shape([c.x[0], c.x[1], c.out.0, c.out.1]), "\(c)")
        if y.shape.dims == [c.x[0], c.x[1], c.out.0, c.out.1] {
            #expect(y.toArray() == naivePool2d(x, c, max: true, countIncludePad: false).0, "\(c)")
        }
    }

    @Test(arguments: maxPool2dTestCases)
    func maxPool2dGradientGoesToTheWindowMaximum(_ c: Pool2dTestCase) {
        let x = distinctValues(Shape(c.x), seed: 2)
        let pool = { (t: Tensor) in
            Tensor.maxPool2d(t, kernel: c.kernel, stride: c.stride, padding: c.padding, dilation: c.dilation, ceilMode: c.ceilMode)
        }
        expectGradients("maxPool2d \(c)", [x], eps: 1e-3, atol: 1e-3) { pool($0[0]) }
        // Route an upstream gradient by hand: every output adds its gradient to its window's maximum.
        var gen = SeededGenerator(seed: 3)
        let upstream = Tensor.randn(Shape([c.x[0], c.x[1], c.out.0, c.out.1]), generator: &gen)
        x.grad = nil
        (pool(x) * upstream).sum().backward()
        var expected = [Float](repeating: 0, count: x.count)
        let u = upstream.toArray()
        for (o, k) in naivePool2d(x, c, max: true, countIncludePad: false).1.enumerated() { expected[k] += u[o] }
        #expect(maxAbsDiff(x.grad!.toArray(), expected) < 1e-5, "\(c)")
    }

    @Test(arguments: avgPool2dTestCases, [true, false])
    func avgPool2dMatchesNaiveReferenceAndFiniteDifferences(_ c: Pool2dTestCase, countIncludePad: Bool) {
        let x = randomTensor(Shape(c.x), seed: 4)
        let pool = { (t: Tensor) in
            Tensor.avgPool2d(t, kernel: c.kernel, stride: c.stride, padding: c.padding, countIncludePad: countIncludePad)
        }
        let y = pool(x)
        #expect(y.shape == Shape([c.x[0], c.x[1], c.out.0, c.out.1]), "\(c)")
        if y.shape.dims == [c.x[0], c.x[1], c.out.0, c.out.1] {
            let expected = naivePool2d(x, c, max: false, countIncludePad: countIncludePad).0
            #expect(maxAbsDiff(y.toArray(), expected) < 1e-5, "\(c) countIncludePad \(countIncludePad)")
        }
        expectGradients("avgPool2d \(c) countIncludePad \(countIncludePad)", [x]) { pool($0[0]) }
    }

    @Test func globalAvgPool2dIsThePlaneMeanWithGradientSpreadEvenly() {
        let x = randomTensor([3, 5, 4, 6], seed: 5)
        x.requiresGrad = true
        let y = Tensor.globalAvgPool2d(x)
        #expect(y.shape == [3, 5] && y.layout == nil)
        #expect(maxAbsDiff(y.toArray(), x.mean(axes: [2, 3]).toArray()) < 1e-5)
        var gen = SeededGenerator(seed: 6)
        let upstream = Tensor.randn([3, 5], generator: &gen)
        (y * upstream).sum().backward()
        let expected = (upstream.reshaped([3, 5, 1, 1]).expanded(to: [3, 5, 4, 6]) * (1 / 24.0)).toArray()
        #expect(maxAbsDiff(x.grad!.toArray(), expected) < 1e-6)
        expectGradients("globalAvgPool2d", [randomTensor([2, 3, 3, 5], seed: 7)]) { Tensor.globalAvgPool2d($0[0]) }
    }

    @Test func poolingStopsOnBadArguments() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.maxPool2d(Tensor.zeros([3, 8, 8]), kernel: (2, 2))  // rank 3
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.avgPool2d(Tensor.zeros([1, 1, 8, 8]), kernel: (3, 3), padding: .symmetric(2, 2))  // pad > k / 2
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.maxPool2d(Tensor.zeros([1, 1, 2, 2]), kernel: (3, 3))  // window larger than the input
        }
    }

    @Test func poolingConsumesAndKeepsBlockedLayouts() {
        // A 16-channel convolution output carries a oneDNN blocked layout; pooling reads it as is.
        let x = randomTensor([2, 8, 10, 10], seed: 8), w = randomTensor([16, 8, 3, 3], seed: 9, low: -0.3, high: 0.3)
        w.requiresGrad = true
        let c = Tensor.conv2d(x, weight: w, padding: .symmetric(1, 1))
        #expect(c.layout != nil)
        let m = Tensor.maxPool2d(c, kernel: (3, 3), stride: (2, 2), padding: .symmetric(1, 1))
        let a = Tensor.avgPool2d(c, kernel: (2, 2))
        let g = Tensor.globalAvgPool2d(c)
        #expect(m.layout != nil && a.layout != nil)
        let plain = c.contiguous()
        #expect(m.toArray() == Tensor.maxPool2d(plain, kernel: (3, 3), stride: (2, 2), padding: .symmetric(1, 1)).toArray())
        #expect(maxAbsDiff(a.toArray(), Tensor.avgPool2d(plain, kernel: (2, 2)).toArray()) < 1e-6)
        #expect(maxAbsDiff(g.toArray(), plain.mean(axes: [2, 3]).toArray()) < 1e-5)
        // Gradients through the blocked pools reach the weight in plain PyTorch layout.
        (m.sum() + a.sum() + g.sum()).backward()
        #expect(w.grad?.shape == [16, 8, 3, 3] && w.grad?.layout == nil)
    }
}
