import Testing
@testable import Tensors

/// Finite-difference checks of every elementwise, reduction, shape and loss op (tolerances in GradCheck.swift).
@Suite struct ElementwiseGradientTests {
    @Test func binaryOpsBroadcastForwardMatchesNumPyRules() {
        let a = Tensor(shape: [3, 1], data: [1, 2, 3])
        let b = Tensor(shape: [1, 4], data: [10, 20, 30, 40])
        #expect((a + b).shape == [3, 4])
        #expect((a + b).toArray() == [11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43])
        #expect((b - a).toArray()[4] == 8)
        #expect((a * b).toArray().last == 120)
        #expect((b / a).toArray()[5] == 10)
        let s = Tensor(scalar: 2)
        #expect((a * s).toArray() == [2, 4, 6])
        #expect((2 - a).toArray() == [1, 0, -1])
        #expect((1 / a).toArray()[1] == 0.5)
    }

    @Test func binaryOpGradientsReduceOverBroadcastDimensions() {
        let shapes: [(Shape, Shape)] = [([3, 4], [3, 4]), ([3, 1], [1, 4]), ([2, 3, 4], [4]), ([2, 1, 4], [3, 1]), ([5], [])]
        for (i, (sa, sb)) in shapes.enumerated() {
            let a = randomTensor(sa, seed: UInt64(i)), b = randomTensor(sb, seed: UInt64(i + 100), low: 0.5, high: 2)
            expectGradients("add \(sa) \(sb)", [a, b]) { $0[0] + $0[1] }
            expectGradients("sub \(sa) \(sb)", [a, b]) { $0[0] - $0[1] }
            expectGradients("mul \(sa) \(sb)", [a, b]) { $0[0] * $0[1] }
            expectGradients("div \(sa) \(sb)", [a, b]) { $0[0] / $0[1] }
        }
    }

    @Test func binaryOpsOnStridedViewsMatchContiguousCopies() {
        let a = randomTensor([4, 6], seed: 1)
        let at = a.transposed(0, 1)  // [6, 4], strides [1, 6]
        #expect(!at.isContiguous)
        let b = randomTensor([6, 4], seed: 2)
        #expect((at + b).toArray() == (at.contiguous() + b).toArray())
        expectGradients("mul transposed view", [a, b]) { $0[0].transposed(0, 1) * $0[1] }
        let constant = a.sliced(axis: 1, start: 1, end: 5).copy()
        expectGradients("add sliced view", [a]) { $0[0].sliced(axis: 1, start: 1, end: 5) * 3 + constant }
    }

    @Test func maximumAndMinimumRouteGradientToTheSelectedOperand() {
        let a = randomTensor([3, 4], seed: 3), b = randomTensor([4], seed: 4)
        // A small ε: the finite difference must not step across the kink where a and b meet.
        expectGradients("maximum", [a, b], eps: 1e-3, atol: 5e-3) { Tensor.maximum($0[0], $0[1]) }
        expectGradients("minimum", [a, b], eps: 1e-3, atol: 5e-3) { Tensor.minimum($0[0], $0[1]) }
    }

    @Test func rowsScaledToUnitLengthHaveUnitNormAndFiniteDifferenceGradients() {
        let x = Tensor(shape: [3, 4], data: [1, -2, 0.5, 3, 0.2, 0.1, -0.3, 0.4, -1, 1, -1, 1])
        let u = x.l2NormalizedRows().toArray()
        for r in 0..<3 {
            let norm = (0..<4).map { u[r * 4 + $0] * u[r * 4 + $0] }.reduce(0, +).squareRoot()
            #expect(abs(norm - 1) < 1e-6, "row \(r) norm \(norm)")
        }
        #expect(abs(u[0] - 1 / Float(14.25).squareRoot()) < 1e-6)
        expectGradients("l2NormalizedRows", [x]) { $0[0].l2NormalizedRows() }
    }

    @Test func unaryOpGradientsMatchFiniteDifferences() {
        let x = randomTensor([3, 5], seed: 11, low: -2, high: 2, avoid: 0, margin: 0.05)
        let pos = randomTensor([3, 5], seed: 12, low: 0.3, high: 3)
        expectGradients("neg", [x]) { -$0[0] }
        expectGradients("affine", [x]) { $0[0] * 1.5 + 0.25 }
        expectGradients("exp", [x]) { $0[0].exp() }
        expectGradients("log", [pos]) { $0[0].log() }
        expectGradients("sqrt", [pos]) { $0[0].sqrt() }
        expectGradients("rsqrt", [pos]) { $0[0].rsqrt() }
        expectGradients("pow 3", [x]) { $0[0].pow(3) }
        expectGradients("pow 1.5", [pos]) { $0[0].pow(1.5) }
        expectGradients("square", [x]) { $0[0].square() }
        expectGradients("abs", [x]) { $0[0].abs() }
        expectGradients("relu", [x]) { $0[0].relu() }
        expectGradients("gelu erf", [x]) { $0[0].gelu() }
        expectGradients("gelu tanh", [x]) { $0[0].gelu(approximate: true) }
        expectGradients("silu", [x]) { $0[0].silu() }
        expectGradients("sigmoid", [x]) { $0[0].sigmoid() }
        expectGradients("tanh", [x]) { $0[0].tanh() }
        let wide = randomTensor([40], seed: 13, low: -8, high: 8)
        wide.withMutableData { d in for i in d.indices { for edge: Float in [-1, 0, 1, 6] where Swift.abs(d[i] - edge) < 0.1 { d[i] = edge + 0.3 } } }
        expectGradients("clamp", [wide]) { $0[0].clamp(min: -1, max: 1) }
        expectGradients("relu6", [wide]) { $0[0].relu6() }
    }

    @Test func unaryOpForwardValuesMatchReferenceFormulas() {
        let v: [Float] = [-7, -3, -0.5, 0, 0.4, 2, 5, 7.5]
        let x = Tensor(v)
        func close(_ a: [Float], _ b: [Float], _ tol: Float = 1e-5) -> Bool { maxAbsDiff(a, b) <= tol }
        #expect(close(x.relu6().toArray(), v.map { Swift.min(Swift.max($0, 0), 6) }))
        #expect(close(x.sigmoid().toArray(), v.map { 1 / (1 + Foundation.exp(-$0)) }))
        #expect(close(x.silu().toArray(), v.map { $0 / (1 + Foundation.exp(-$0)) }))
        let geluErf: [Float] = v.map { (u: Float) -> Float in 0.5 * u * (1 + Foundation.erf(u / Float(2).squareRoot())) }
        #expect(close(x.gelu().toArray(), geluErf))
        let c: Float = (2 / Float.pi).squareRoot()
        let geluTanh: [Float] = v.map { (u: Float) -> Float in
            let inner: Float = c * (u + 0.044715 * u * u * u)
            return 0.5 * u * (1 + Foundation.tanh(inner))
        }
        #expect(close(x.gelu(approximate: true).toArray(), geluTanh))
        #expect(close(x.tanh().toArray(), v.map { Foundation.tanh($0) }))
        #expect(close(x.clamp(min: -1, max: 2).toArray(), v.map { Swift.min(Swift.max($0, -1), 2) }))
        #expect(close(x.abs().toArray(), v.map { Swift.abs($0) }))
        let p = Tensor([0.25, 1, 4, 9])
        #expect(close(p.rsqrt().toArray(), [2, 1, 0.5, 1.0 / 3]))
        #expect(close(p.log().toArray(), [0.25, 1, 4, 9].map { Foundation.log($0) }))
    }

    @Test func reductionsOverSeveralAxesMatchLoopsAndGradients() {
        let x = randomTensor([2, 3, 4, 5], seed: 21)
        let v = x.toArray()
        // sum over axes 0 and 2 (non-adjacent) against a loop
        let s = x.sum(axes: [0, 2])
        #expect(s.shape == [3, 5])
        var ref = [Float](repeating: 0, count: 15)
        for a in 0..<2 { for b in 0..<3 { for c in 0..<4 { for d in 0..<5 { ref[b * 5 + d] += v[((a * 3 + b) * 4 + c) * 5 + d] } } } }
        #expect(maxAbsDiff(s.toArray(), ref) < 1e-5)
        #expect(x.sum(axes: [1, 3], keepDims: true).shape == [2, 1, 4, 1])
        #expect(Swift.abs(x.sum().item() - v.reduce(0, +)) < 1e-4)
        #expect(Swift.abs(x.max().item() - v.max()!) == 0)
        expectGradients("sum axes 0,2", [x]) { $0[0].sum(axes: [0, 2]) }
        expectGradients("sum all", [x]) { $0[0].sum() }
        expectGradients("mean axes 1,3 keepDims", [x]) { $0[0].mean(axes: [1, 3], keepDims: true) }
        // max/min: a small ε so that no probe steps across a tie with the runner-up.
        expectGradients("max axis -1", [x], eps: 1e-3, atol: 5e-3) { $0[0].max(axis: -1) }
        expectGradients("max axes 0,1", [x], eps: 1e-3, atol: 5e-3) { $0[0].max(axes: [0, 1]) }
        expectGradients("min axis 2", [x], eps: 1e-3, atol: 5e-3) { $0[0].min(axes: [2]) }
        expectGradients("variance axes 0,2,3", [x]) { $0[0].variance(axes: [0, 2, 3]) }
        expectGradients("variance population", [x]) { $0[0].variance(axes: [3], correction: 0) }
    }

    @Test func varianceMatchesTorchVarDefinitions() {
        let x = Tensor([1, 2, 3, 4])
        #expect(Swift.abs(x.variance().item() - 5.0 / 3.0) < 1e-6)
        #expect(Swift.abs(x.variance(correction: 0).item() - 1.25) < 1e-6)
    }

    @Test func maxGradientIsSharedAmongTies() {
        let x = Tensor([1, 3, 3, 2])
        x.requiresGrad = true
        x.max().backward()
        #expect(x.grad!.toArray() == [0, 0.5, 0.5, 0])
    }

    @Test func argmaxPicksFirstMaximumPerRow() {
        let x = Tensor(shape: [2, 3], data: [1, 5, 5, 7, 0, 2])
        #expect(x.argmax(axis: 1) == [1, 0])
        #expect(x.argmax(axis: 0) == [1, 0, 0])
    }
}

import Foundation
