// Gradients of intermediate tensors: Tensor.retainGrad(), Tensor.gradients(of:wrt:seed:retainGraph:), and a frozen
// backbone's feature map marked `requiresGrad = true`.
//
// Every analytic gradient is checked against central differences (L(t + ε) − L(t − ε)) / 2ε of the loss recomputed
// from that tensor onwards, with ε = 1e-2, L = Σ out ⊙ U for a fixed random U accumulated in Float64 from the
// Float32 outputs, at up to 48 probed elements. An element passes when |analytic − numeric| ≤ 2e-3 + 1e-2·|numeric|
// (GradCheck.swift's defaults: Float32 rounding noise in L is ~1e-6·|L|/ε). Gradients from two engine paths of the
// same computation (backward vs gradients(of:wrt:)) must agree to 1e-6 absolute.

import Testing
@testable import Tensors

/// `Σ out ⊙ upstream` in Float64.
private func weightedSum(_ out: Tensor, _ upstream: Tensor) -> Double {
    let o = out.toArray(), u = upstream.toArray()
    var s = 0.0
    for i in o.indices { s += Double(o[i]) * Double(u[i]) }
    return s
}

/// Checks `analytic` (the gradient of `loss` at `point`) against central differences at up to 48 elements.
/// `skip` leaves out elements where the difference would straddle a kink (e.g. a ReLU input within 2ε of 0).
private func expectFiniteDifferences(_ name: String, _ analytic: Tensor?, at point: Tensor, eps: Float = 1e-2,
                                     atol: Double = 2e-3, rtol: Double = 1e-2, skip: (Float) -> Bool = { _ in false },
                                     sourceLocation: SourceLocation = #_sourceLocation, _ loss: (Tensor) -> Double) {
    guard let analytic else {
        Issue.record("\(name): no gradient", sourceLocation: sourceLocation)
        return
    }
    #expect(analytic.shape == point.shape, "\(name): gradient shape", sourceLocation: sourceLocation)
    let a = analytic.toArray()
    let x = point.copy()  // a plain leaf with the same values, cut from the tape
    let n = x.count, maxProbes = 48
    let probes = n <= maxProbes ? Array(0..<n) : (0..<maxProbes).map { $0 * n / maxProbes + ($0 * 7) % Swift.max(1, n / maxProbes) }
    var failures: [String] = []
    var checked = 0
    withNoGrad {
        for i in probes {
            let orig = x.withMutableData { $0[i] }
            if skip(orig) { continue }
            checked += 1
            x.withMutableData { $0[i] = orig + eps }
            let lp = loss(x)
            x.withMutableData { $0[i] = orig - eps }
            let lm = loss(x)
            x.withMutableData { $0[i] = orig }
            let numeric = (lp - lm) / (2 * Double(eps))
            if Swift.abs(Double(a[i]) - numeric) > atol + rtol * Swift.abs(numeric) {
                failures.append("[\(i)] analytic \(a[i]) numeric \(numeric)")
            }
        }
    }
    #expect(failures.isEmpty, "\(name): \(failures.prefix(5))", sourceLocation: sourceLocation)
    #expect(checked >= probes.count / 2, "\(name): only \(checked) of \(probes.count) elements checked", sourceLocation: sourceLocation)
}

@Suite struct IntermediateGradientTests {
    /// conv(3→4) → relu → conv(4→5), everything trainable; shapes small enough for exhaustive-ish probing.
    struct ConvChain {
        var smooth = false
        func act(_ h: Tensor) -> Tensor { smooth ? h.tanh() : h.relu() }
        let x = randomTensor([2, 3, 6, 6], seed: 1)
        let w1 = randomTensor([4, 3, 3, 3], seed: 2, low: -0.4, high: 0.4)
        let b1 = randomTensor([4], seed: 3, low: -0.1, high: 0.1)
        let w2 = randomTensor([5, 4, 3, 3], seed: 4, low: -0.4, high: 0.4)
        let b2 = randomTensor([5], seed: 5, low: -0.1, high: 0.1)
        let upstream = randomTensor([2, 5, 6, 6], seed: 6)

        func head(_ a: Tensor) -> Tensor { Tensor.conv2d(a, weight: w2, bias: b2, padding: .symmetric(1, 1)) }
        func conv1(_ x: Tensor) -> Tensor { Tensor.conv2d(x, weight: w1, bias: b1, padding: .symmetric(1, 1)) }
    }

    @Test func retainGradKeepsConvolutionAndReluOutputGradientsMatchingFiniteDifferences() {
        let c = ConvChain()
        for t in [c.x, c.w1, c.b1, c.w2, c.b2] { t.requiresGrad = true }
        let h = c.conv1(c.x)
        let a = h.relu()
        h.retainGrad()
        a.retainGrad()
        #expect(h.retainsGrad && a.retainsGrad)
        (c.head(a) * c.upstream).sum().backward()
        expectFiniteDifferences("∂L/∂conv1", h.grad, at: h, skip: { Swift.abs($0) < 2e-2 }) {
            weightedSum(c.head($0.relu()), c.upstream)
        }
        expectFiniteDifferences("∂L/∂relu", a.grad, at: a) { weightedSum(c.head($0), c.upstream) }
        #expect(h.grad?.layout == nil, "retained gradients are plain, as leaves' are")
    }

    @Test func retainGradOnASmoothConvolutionChainMatchesFiniteDifferencesDownToTheInput() {
        let c = ConvChain(smooth: true)
        for t in [c.x, c.w1, c.b1, c.w2, c.b2] { t.requiresGrad = true }
        let h = c.conv1(c.x)
        let a = c.act(h)
        h.retainGrad()
        a.retainGrad()
        (c.head(a) * c.upstream).sum().backward()
        expectFiniteDifferences("∂L/∂conv1 (tanh)", h.grad, at: h) { weightedSum(c.head($0.tanh()), c.upstream) }
        expectFiniteDifferences("∂L/∂tanh", a.grad, at: a) { weightedSum(c.head($0), c.upstream) }
        expectFiniteDifferences("∂L/∂x (tanh)", c.x.grad, at: c.x) { weightedSum(c.head(c.conv1($0).tanh()), c.upstream) }
    }

    @Test func retainGradOnAFrozenWeightsChainMatchesFiniteDifferences() {
        // linear(6→8) → relu → linear(8→3) with frozen weights; only the input requires a gradient.
        let x = randomTensor([4, 6], seed: 11)
        let w1 = randomTensor([8, 6], seed: 12, low: -0.5, high: 0.5), b1 = randomTensor([8], seed: 13, low: -0.1, high: 0.1)
        let w2 = randomTensor([3, 8], seed: 14, low: -0.5, high: 0.5), b2 = randomTensor([3], seed: 15, low: -0.1, high: 0.1)
        let u = randomTensor([4, 3], seed: 16)
        func tail(_ r: Tensor) -> Tensor { Tensor.linear(r, weight: w2, bias: b2) }
        x.requiresGrad = true
        let h = Tensor.linear(x, weight: w1, bias: b1)
        let r = h.relu()
        h.retainGrad()
        r.retainGrad()
        (tail(r) * u).sum().backward()
        expectFiniteDifferences("∂L/∂h (frozen)", h.grad, at: h, skip: { Swift.abs($0) < 2e-2 }) { weightedSum(tail($0.relu()), u) }
        expectFiniteDifferences("∂L/∂relu (frozen)", r.grad, at: r) { weightedSum(tail($0), u) }
        expectFiniteDifferences("∂L/∂x (frozen)", x.grad, at: x) { weightedSum(tail(Tensor.linear($0, weight: w1, bias: b1).relu()), u) }
        #expect(w1.grad == nil && w2.grad == nil && b1.grad == nil, "frozen weights get no gradient")
    }

    @Test func retainGradAccumulatesOverRepeatedBackward() {
        let w = Tensor([1, 2, 3], shape: [3])
        w.requiresGrad = true
        let h = w * 2
        h.retainGrad()
        let loss = (h * h).sum()  // ∂loss/∂h = 2h = 4w
        loss.backward(retainGraph: true)
        #expect(h.grad?.toArray() == [4, 8, 12])
        loss.backward()
        #expect(h.grad?.toArray() == [8, 16, 24])
        #expect(w.grad?.toArray() == [16, 32, 48])
    }

    @Test func retainGradOnALeafChangesNothing() {
        let w = Tensor([1, 2], shape: [2])
        w.requiresGrad = true
        w.retainGrad()
        #expect(w.retainsGrad)
        (w * w).sum().backward()
        #expect(w.grad?.toArray() == [2, 4])
        let h = w * 3
        #expect(!h.retainsGrad, "an intermediate keeps no gradient unless asked")
    }

    @Test func aRetainedGradientKeepsNoIntermediateAlive() {
        let w = Tensor([1, -2, 3], shape: [3])
        w.requiresGrad = true
        weak var weakH: Tensor?
        let loss: Tensor
        do {
            let h = (w * 2).exp()
            h.retainGrad()
            weakH = h
            loss = (h + 1).sum()
        }
        #expect(weakH == nil, "the graph holds retained tensors weakly")
        loss.backward()
        #expect(w.grad != nil)
    }

    @Test func gradientsOfALossWrtLeavesAndIntermediatesMatchBackwardWithoutAccumulating() {
        let c = ConvChain(smooth: true)
        for t in [c.x, c.w1, c.b1, c.w2, c.b2] { t.requiresGrad = true }
        func run() -> (h: Tensor, a: Tensor, loss: Tensor) {
            let h = c.conv1(c.x)
            let a = c.act(h)
            return (h, a, (c.head(a) * c.upstream).sum())
        }
        let f = run()
        let gs = Tensor.gradients(of: f.loss, wrt: [f.h, c.x, f.a, c.w1])
        #expect(gs.count == 4 && gs.allSatisfy { $0 != nil })
        for t in [c.x, c.w1, c.b1, c.w2, c.b2] { #expect(t.grad == nil, "gradients(of:wrt:) must not accumulate") }
        expectFiniteDifferences("gradients ∂L/∂conv1", gs[0], at: f.h) { weightedSum(c.head($0.tanh()), c.upstream) }
        expectFiniteDifferences("gradients ∂L/∂x", gs[1], at: c.x) { weightedSum(c.head(c.conv1($0).tanh()), c.upstream) }
        expectFiniteDifferences("gradients ∂L/∂tanh", gs[2], at: f.a) { weightedSum(c.head($0), c.upstream) }

        // The same values as backward() with retained gradients.
        let b = run()
        b.h.retainGrad()
        b.a.retainGrad()
        b.loss.backward()
        for (got, want) in [(gs[0], b.h.grad), (gs[1], c.x.grad), (gs[2], b.a.grad), (gs[3], c.w1.grad)] {
            #expect(maxAbsDiff(got!.toArray(), want!.toArray()) <= 1e-6)
        }
    }

    @Test func gradientsWithASeedMatchFiniteDifferencesOfTheSeededSum() {
        let x = randomTensor([3, 5], seed: 21), w = randomTensor([4, 5], seed: 22, low: -0.5, high: 0.5)
        let seed = randomTensor([3, 4], seed: 23)
        x.requiresGrad = true
        let h = Tensor.linear(x, weight: w)
        let y = h.tanh()
        let gs = Tensor.gradients(of: y, wrt: [x, h], seed: seed)
        expectFiniteDifferences("seeded ∂/∂x", gs[0], at: x) { weightedSum(Tensor.linear($0, weight: w).tanh(), seed) }
        expectFiniteDifferences("seeded ∂/∂h", gs[1], at: h) { weightedSum($0.tanh(), seed) }
        #expect(x.grad == nil)
    }

    @Test func gradientsAreNilForTensorsTheOutputDoesNotDependOn() {
        let a = Tensor([1, 2], shape: [2]), b = Tensor([3, 4], shape: [2])
        a.requiresGrad = true
        b.requiresGrad = true
        let unused = b * 2
        let loss = (a * a).sum()
        let gs = Tensor.gradients(of: loss, wrt: [a, b, unused, Tensor([1], shape: [1])])
        #expect(gs[0]?.toArray() == [2, 4])
        #expect(gs[1] == nil && gs[2] == nil && gs[3] == nil)
        // The output itself, when it is asked for, gets the seed.
        #expect(Tensor.gradients(of: loss, wrt: [loss], retainGraph: true)[0]?.item() == 1)
    }

    @Test func gradientsWithRetainGraphLeaveTheGraphForALaterBackward() {
        let w = Tensor([1, 2, 3], shape: [3])
        w.requiresGrad = true
        let h = w * w
        let loss = h.sum()
        let g = Tensor.gradients(of: loss, wrt: [h, w], retainGraph: true)
        #expect(g[0]?.toArray() == [1, 1, 1] && g[1]?.toArray() == [2, 4, 6])
        loss.backward()
        #expect(w.grad?.toArray() == [2, 4, 6])
    }

    @Test func aFrozenBackbonesFeatureMapMarkedRequiresGradGetsItsGradient() {
        // The backbone is frozen and nothing below the feature map requires a gradient: it is not recorded.
        let x = randomTensor([2, 3, 6, 6], seed: 31)
        let wb = randomTensor([8, 3, 3, 3], seed: 32, low: -0.4, high: 0.4)
        let wh = randomTensor([4, 8, 3, 3], seed: 33, low: -0.3, high: 0.3), bh = randomTensor([4], seed: 34, low: -0.1, high: 0.1)
        let u = randomTensor([2, 4, 3, 3], seed: 35)
        wh.requiresGrad = true
        bh.requiresGrad = true
        func head(_ fm: Tensor) -> Tensor {
            Tensor.avgPool2d(Tensor.conv2d(fm, weight: wh, bias: bh, padding: .symmetric(1, 1)).relu(), kernel: (2, 2))
        }
        let fm = Tensor.conv2d(x, weight: wb, padding: .symmetric(1, 1)).relu()
        #expect(!fm.requiresGrad && fm.gradFunctionName == nil)
        fm.requiresGrad = true  // now a leaf from which the head records
        (head(fm) * u).sum().backward()
        expectFiniteDifferences("∂L/∂feature map", fm.grad, at: fm) { weightedSum(head($0), u) }
        #expect(wb.grad == nil && wh.grad != nil)
        // torch.autograd.grad-style, on a fresh forward: the same gradient, nothing accumulated.
        let before = fm.grad!.toArray()
        let g = Tensor.gradients(of: (head(fm) * u).sum(), wrt: [fm])[0]
        #expect(maxAbsDiff(g!.toArray(), before) <= 1e-6)
        #expect(fm.grad!.toArray() == before)
    }
}
