import Testing
@testable import Tensors

/// ‖a − b‖₂ / ‖b‖₂.
private func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    let x = a.toArray(), y = b.toArray()
    precondition(x.count == y.count)
    let num = zip(x, y).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    let den = y.reduce(Float(0)) { $0 + $1 * $1 }
    return (num / Swift.max(den, 1e-30)).squareRoot()
}

/// bf16 keeps 8 significant bits, so each operand rounds by at most 2⁻⁹ (0.2 %) relative; a product of two rounded
/// operands is off by ≤ 0.4 %, and sums of many such products with fp32 accumulation stay within about 1 % of the
/// fp32 result in the L2 sense. Below 1e-5 the bf16 path cannot have run.
private let bf16Tolerance: Float = 1e-2
private let bf16Floor: Float = 1e-5

@Suite(.serialized) struct BF16TrainingTests {
    /// Forward output and gradients of x, weight and bias in fp32 and under bf16 mixed precision (every pass bf16).
    private func convGradients(_ c: Conv2dTestCase, precision: Precision) throws -> [Tensor] {
        let x = randomTensor(Shape(c.x), seed: 71)
        let w = randomTensor([c.cout, c.x[1] / c.groups, c.kernel.0, c.kernel.1], seed: 72, low: -0.3, high: 0.3)
        let b: Tensor? = c.bias ? randomTensor([c.cout], seed: 73) : nil
        for t in [x, w] + (b.map { [$0] } ?? []) { t.requiresGrad = true }
        let y = try BF16Training.$policy.withValue(.everyPass) {
            try withTrainingPrecision(precision) {
                Tensor.conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation,
                              groups: c.groups)
            }
        }
        let upstream = randomTensor(y.shape, seed: 74)
        (y * upstream).sum().backward()
        return [y.contiguous(), x.grad!.contiguous(), w.grad!] + (b.map { [$0.grad!] } ?? [])
    }

    @Test(arguments: [
        Conv2dTestCase(name: "dense 3x3, 32 channels", x: [4, 32, 10, 10], cout: 32, kernel: (3, 3), padding: .symmetric(1, 1)),
        Conv2dTestCase(name: "strided 3x3 with bias", x: [2, 16, 11, 11], cout: 24, kernel: (3, 3), stride: (2, 2),
                       padding: .symmetric(1, 1)),
        Conv2dTestCase(name: "1x1, no bias", x: [2, 48, 7, 7], cout: 32, kernel: (1, 1), bias: false),
        Conv2dTestCase(name: "7x7 stem, stride 2", x: [2, 3, 20, 20], cout: 16, kernel: (7, 7), stride: (2, 2),
                       padding: .symmetric(3, 3), bias: false),
        Conv2dTestCase(name: "depthwise 3x3", x: [2, 32, 9, 9], cout: 32, kernel: (3, 3), padding: .symmetric(1, 1), groups: 32),
    ])
    func bf16ConvolutionGradientsMatchFP32WithinBF16Rounding(_ c: Conv2dTestCase) throws {
        guard Precision.bf16.unsupportedReason == nil else {
            #expect(throws: UnsupportedPrecisionError.self) { try withTrainingPrecision(.bf16) {} }
            return
        }
        let reference = try convGradients(c, precision: .fp32)
        let mixed = try convGradients(c, precision: .bf16)
        for (name, (got, want)) in zip(["output", "∂x", "∂weight", "∂bias"], zip(mixed, reference)) {
            #expect(got.shape == want.shape)
            let e = relativeError(got, want)
            #expect(e < bf16Tolerance, "\(c.name) \(name): relative error \(e)")
            #expect(e > bf16Floor, "\(c.name) \(name): identical to fp32 (\(e)); the bf16 path did not run")
        }
    }

    @Test func bf16LinearGradientsMatchFP32WithinBF16Rounding() throws {
        guard Precision.bf16.unsupportedReason == nil else { return }
        func run(_ precision: Precision) throws -> [Tensor] {
            let x = randomTensor([3, 40, 96], seed: 81), w = randomTensor([64, 96], seed: 82, low: -0.2, high: 0.2)
            let b = randomTensor([64], seed: 83)
            for t in [x, w, b] { t.requiresGrad = true }
            let y = try withTrainingPrecision(precision) { Tensor.linear(x, weight: w, bias: b) }
            (y * randomTensor(y.shape, seed: 84)).sum().backward()
            return [y, x.grad!, w.grad!, b.grad!]
        }
        let reference = try run(.fp32), mixed = try run(.bf16)
        for (name, (got, want)) in zip(["output", "∂x", "∂weight"], zip(mixed, reference)) {
            #expect(got.shape == want.shape)
            let e = relativeError(got, want)
            #expect(e < bf16Tolerance && e > bf16Floor, "linear \(name): relative error \(e)")
        }
        // The bias gradient (row sums of the fp32 output gradient) is computed in fp32.
        #expect(relativeError(mixed[3], reference[3]) < 1e-6)
    }

    @Test func eachWeightIsConvertedToBF16OncePerDataVersion() throws {
        guard Precision.bf16.unsupportedReason == nil else { return }
        BF16Training.clearCache()
        let x = randomTensor([2, 8, 6, 6], seed: 91), w = randomTensor([8, 8, 3, 3], seed: 92)
        w.requiresGrad = true
        func step() throws {
            w.grad = nil
            let y = try withTrainingPrecision(.bf16) {
                Tensor.conv2d(Tensor.conv2d(x, weight: w, padding: .symmetric(1, 1)), weight: w, padding: .symmetric(1, 1))
            }
            y.sum().backward()
        }
        try step()
        let afterFirst = BF16Training.cachedCount
        #expect(afterFirst >= 1 && afterFirst <= 2, "one bf16 copy per layout the primitives want, got \(afterFirst)")
        try step()
        #expect(BF16Training.cachedCount == afterFirst, "a second step on unchanged weights converts nothing new")
        // An optimizer-style in-place update bumps the data version: the stale copies are replaced, not kept.
        let before = w.toArray()
        w.withMutableData { $0[0] += 1 }
        try step()
        #expect(BF16Training.cachedCount == afterFirst)
        w.withMutableData { $0[0] = before[0] }
    }

    @Test func trainingPrecisionIsScopedAndRefusedOnlyWhereUnsupported() throws {
        #expect(Precision.training == .fp32)
        try withTrainingPrecision(.fp32) { #expect(Precision.training == .fp32) }
        if let reason = Precision.bf16.unsupportedReason {
            #expect(throws: UnsupportedPrecisionError(precision: .bf16, reason: reason)) {
                try withTrainingPrecision(.bf16) {}
            }
        } else {
            try withTrainingPrecision(.bf16) { #expect(Precision.training == .bf16) }
        }
        #expect(Precision.training == .fp32)
        let e = UnsupportedPrecisionError(precision: .bf16, reason: Precision.bf16Refusal(isaName: "avx2"))
        #expect(e.description.contains("avx512_bf16") && e.description.contains("avx2"))
    }
}
