import Testing
@testable import Tensors

@Suite struct ShapeOpTests {
    @Test func viewsShareStorageAndCopiesDoNot() {
        let x = Tensor(shape: [2, 3], data: [0, 1, 2, 3, 4, 5])
        let t = x.transposed(0, 1)
        #expect(t.storage === x.storage)
        #expect(t.toArray() == [0, 3, 1, 4, 2, 5])
        #expect(x.reshaped(3, 2).storage === x.storage)
        #expect(t.reshaped(6).storage !== x.storage)  // reshape of a non-contiguous view copies
        #expect(x.sliced(axis: 1, start: 1, end: 3).toArray() == [1, 2, 4, 5])
        #expect(x.reshaped(-1, 2).shape == [3, 2])
        #expect(x.unsqueezed(0).shape == [1, 2, 3])
        #expect(x.unsqueezed(-1).shape == [2, 3, 1])
        #expect(x.unsqueezed(1).squeezed(1).shape == [2, 3])
        #expect(x.permuted([1, 0]).toArray() == t.toArray())
        let e = Tensor(shape: [3, 1], data: [1, 2, 3]).expanded(to: [2, 3, 4])
        #expect(e.strides == [0, 1, 0])
        #expect(e.toArray().prefix(8) == [1, 1, 1, 1, 2, 2, 2, 2])
    }

    @Test func concatStackIndexSelectAndGatherForwardValues() {
        let a = Tensor(shape: [2, 2], data: [1, 2, 3, 4]), b = Tensor(shape: [2, 1], data: [5, 6])
        #expect(Tensor.concat([a, b], axis: 1).toArray() == [1, 2, 5, 3, 4, 6])
        #expect(Tensor.concat([a, a], axis: 0).shape == [4, 2])
        let s = Tensor.stack([a, a * 2], axis: 1)
        #expect(s.shape == [2, 2, 2])
        #expect(s.toArray() == [1, 2, 2, 4, 3, 4, 6, 8])
        let w = Tensor(shape: [4, 2], data: [0, 1, 10, 11, 20, 21, 30, 31])
        #expect(w.indexSelect(axis: 0, indices: [3, 0, 3]).toArray() == [30, 31, 0, 1, 30, 31])
        #expect(w.gather(axis: 1, indices: [1, 0, 0, 1]).toArray() == [1, 10, 20, 31])
    }

    @Test func shapeOpGradientsMatchFiniteDifferences() {
        let x = randomTensor([2, 3, 4], seed: 31), y = randomTensor([2, 2, 4], seed: 32)
        expectGradients("reshape", [x]) { $0[0].reshaped(4, 6) * $0[0].reshaped(4, 6) }
        expectGradients("permute", [x]) { $0[0].permuted([2, 0, 1]) * Tensor.arange(3) }
        expectGradients("transpose+contiguous", [x]) { $0[0].transposed(0, 2).contiguous().exp() }
        expectGradients("slice", [x]) { $0[0].sliced(axis: 2, start: 1, end: 3).square() }
        expectGradients("slice negative", [x]) { $0[0].sliced(axis: 1, start: -2, end: 3) }
        expectGradients("concat", [x, y]) { Tensor.concat([$0[0], $0[1]], axis: 1).square() }
        expectGradients("stack", [x, x.copy()]) { Tensor.stack([$0[0], $0[1] * 2], axis: 3) }
        expectGradients("expand", [randomTensor([3, 1], seed: 33)]) { $0[0].expanded(to: [2, 3, 5]).square() }
        expectGradients("squeeze/unsqueeze", [randomTensor([3, 1, 2], seed: 34)]) { $0[0].squeezed().unsqueezed(0).exp() }
        expectGradients("indexSelect repeated", [randomTensor([5, 3], seed: 35)]) { $0[0].indexSelect(axis: 0, indices: [4, 1, 4, 0]).square() }
        expectGradients("indexSelect axis 1", [x]) { $0[0].indexSelect(axis: 1, indices: [2, 0]) }
        expectGradients("gather", [randomTensor([3, 4], seed: 36)]) { $0[0].gather(axis: 1, indices: [3, 0, 2]).exp() }
        expectGradients("flatten", [x]) { $0[0].flattened(from: 1).square() }
    }
}

@Suite struct LinalgTests {
    /// Naive reference matmul of row-major [m, k] × [k, n].
    func naive(_ a: [Float], _ b: [Float], _ m: Int, _ k: Int, _ n: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { var s: Float = 0; for p in 0..<k { s += a[i * k + p] * b[p * n + j] }; c[i * n + j] = s } }
        return c
    }

    @Test func matmulMatchesNaiveProductIncludingTransposedViews() {
        let a = randomTensor([5, 7], seed: 41), b = randomTensor([7, 3], seed: 42)
        #expect(maxAbsDiff(a.matmul(b).toArray(), naive(a.toArray(), b.toArray(), 5, 7, 3)) < 1e-5)
        let at = randomTensor([7, 5], seed: 43).transposed(0, 1), bt = randomTensor([3, 7], seed: 44).transposed(0, 1)
        #expect(maxAbsDiff(at.matmul(bt).toArray(), naive(at.contiguous().toArray(), bt.contiguous().toArray(), 5, 7, 3)) < 1e-5)
    }

    @Test func batchedMatmulBroadcastsBatchDimensions() {
        let a = randomTensor([2, 3, 4, 5], seed: 45), b = randomTensor([3, 5, 2], seed: 46)
        let c = a.matmul(b)
        #expect(c.shape == [2, 3, 4, 2])
        let av = a.toArray(), bv = b.toArray(), cv = c.toArray()
        for i in 0..<2 {
            for j in 0..<3 {
                let ref = naive(Array(av[((i * 3 + j) * 20)..<((i * 3 + j + 1) * 20)]), Array(bv[(j * 10)..<((j + 1) * 10)]), 4, 5, 2)
                #expect(maxAbsDiff(Array(cv[((i * 3 + j) * 8)..<((i * 3 + j + 1) * 8)]), ref) < 1e-5)
            }
        }
    }

    @Test func attentionHeadViewsMultiplyInOneOneDNNMatmulWithoutCopies() {
        // [B, T, H, d] activations seen as [B, H, T, d] heads, as multi-head attention does.
        let b = 2, t = 5, h = 3, d = 4
        let q = randomTensor([b, t, h, d], seed: 58).permuted([0, 2, 1, 3])
        let k = randomTensor([b, t, h, d], seed: 59).permuted([0, 2, 1, 3])
        let kt = k.transposed(-2, -1)
        let scores = q.matmul(kt)
        let qc = q.contiguous().toArray(), kc = kt.contiguous().toArray(), sv = scores.toArray()
        for i in 0..<(b * h) {
            let ref = naive(Array(qc[(i * t * d)..<((i + 1) * t * d)]), Array(kc[(i * d * t)..<((i + 1) * d * t)]), t, d, t)
            #expect(maxAbsDiff(Array(sv[(i * t * t)..<((i + 1) * t * t)]), ref) < 1e-5)
        }
        let p = Tensor.batchedPrimitive(q, kt, batch: [b, h], m: t, n: t, k: d)
        #expect(p != nil, "oneDNN offered only its reference matmul for strided attention heads")
        #expect(p.map { !$0.implementation.isEmpty } ?? false)
    }

    @Test func packedSelfAttentionEqualsSoftmaxOfScaledScoresPlusMaskTimesValues() {
        let b = 2, t = 5, heads = 3, d = 4, hidden = heads * d
        let qkv = randomTensor([b, t, 3 * hidden], seed: 60, low: -2, high: 2)
        let mask = Tensor([0, 0, -1e9, 0, -2, 0, 0, 0, -1e9, -1e9], shape: [b, 1, 1, t])
        func head(_ part: Int) -> Tensor {
            qkv.sliced(axis: 2, start: part * hidden, end: (part + 1) * hidden).reshaped(b, t, heads, d).permuted([0, 2, 1, 3])
        }
        let scores = head(0).matmul(head(1).transposed(-2, -1)) * (1 / Float(d).squareRoot())
        for m in [mask, nil] {
            let probs = (m.map { scores + $0 } ?? scores).softmax(axis: -1)
            let reference = probs.matmul(head(2)).permuted([0, 2, 1, 3]).reshaped(b, t, hidden)
            let packed = Tensor.packedSelfAttention(qkv, heads: heads, mask: m)
            #expect(packed != nil, "oneDNN offered only reference kernels for packed attention")
            if let packed { #expect(maxAbsDiff(packed.toArray(), reference.toArray()) < 1e-5) }
        }
        // Shapes it does not cover are declined, not guessed.
        #expect(Tensor.packedSelfAttention(qkv, heads: 5, mask: nil) == nil)
        #expect(Tensor.packedSelfAttention(qkv, heads: heads, mask: Tensor.zeros([1, 1, 1, t])) == nil)
    }

    @Test func matmulGradientsMatchFiniteDifferences() {
        expectGradients("matmul 2d", [randomTensor([4, 6], seed: 47), randomTensor([6, 3], seed: 48)]) { $0[0].matmul($0[1]) }
        expectGradients("matmul batched broadcast", [randomTensor([2, 4, 6], seed: 49), randomTensor([6, 3], seed: 50)]) { $0[0].matmul($0[1]) }
        expectGradients("matmul both batched", [randomTensor([2, 1, 4, 6], seed: 51), randomTensor([3, 6, 2], seed: 52)]) { $0[0].matmul($0[1]) }
        expectGradients("matmul transposed", [randomTensor([6, 4], seed: 53), randomTensor([3, 6], seed: 54)]) {
            $0[0].transposed(0, 1).matmul($0[1].transposed(0, 1))
        }
        expectGradients("linear", [randomTensor([2, 3, 6], seed: 55), randomTensor([4, 6], seed: 56), randomTensor([4], seed: 57)]) {
            Tensor.linear($0[0], weight: $0[1], bias: $0[2])
        }
    }
}

@Suite struct NNOpTests {
    @Test func softmaxRowsSumToOneAndGradientsMatch() {
        let x = randomTensor([3, 4, 5], seed: 61, low: -3, high: 3)
        let s = x.softmax(axis: 1)
        let sums = s.sum(axis: 1).toArray()
        #expect(sums.allSatisfy { Swift.abs($0 - 1) < 1e-5 })
        #expect(maxAbsDiff(x.logSoftmax(axis: 1).toArray(), s.log().toArray()) < 1e-5)
        expectGradients("softmax axis 1", [x]) { $0[0].softmax(axis: 1) }
        expectGradients("softmax axis -1", [x]) { $0[0].softmax(axis: -1) }
        expectGradients("logSoftmax axis 0", [x]) { $0[0].logSoftmax(axis: 0) }
    }

    @Test func crossEntropyMatchesDefinitionWithSmoothingAndIgnoreIndex() {
        let logits = randomTensor([4, 3], seed: 62, low: -2, high: 2)
        let targets = [2, 0, -100, 1]
        let lp = logits.logSoftmax(axis: 1).toArray()
        var ref: Float = 0
        for (i, t) in targets.enumerated() where t != -100 {
            let row = lp[(i * 3)..<(i * 3 + 3)]
            ref += -(0.9 * lp[i * 3 + t]) - 0.1 / 3 * row.reduce(0, +)
        }
        ref /= 3
        #expect(Swift.abs(Tensor.crossEntropy(logits: logits, targets: targets, labelSmoothing: 0.1).item() - ref) < 1e-5)
        expectGradients("crossEntropy", [logits]) { Tensor.crossEntropy(logits: $0[0], targets: targets, labelSmoothing: 0.1) }
        expectGradients("crossEntropy plain", [logits]) { Tensor.crossEntropy(logits: $0[0], targets: [0, 1, 2, 2]) }
    }

    @Test func regressionAndBinaryLossesMatchDefinitionsAndGradients() {
        let p = randomTensor([3, 4], seed: 63, low: -3, high: 3), t = randomTensor([3, 4], seed: 64)
        let y = Tensor(shape: [3, 4], data: (0..<12).map { Float($0 % 2) })
        let bce = Tensor.binaryCrossEntropyWithLogits(logits: p, targets: y).item()
        let pv = p.toArray(), yv = y.toArray()
        let ref = zip(pv, yv).map { x, t in -(t * Foundation.log(1 / (1 + Foundation.exp(-x))) + (1 - t) * Foundation.log(1 - 1 / (1 + Foundation.exp(-x)))) }.reduce(0, +) / 12
        #expect(Swift.abs(bce - ref) < 1e-5)
        expectGradients("bce", [p]) { Tensor.binaryCrossEntropyWithLogits(logits: $0[0], targets: y) }
        expectGradients("mse", [p, t]) { Tensor.mseLoss($0[0], $0[1]) }
        let d = Tensor([0.5, -2, 3]), z = Tensor([0, 0, 0])
        #expect(Swift.abs(Tensor.huberLoss(d, z, delta: 1).item() - (0.125 + 1.5 + 2.5) / 3) < 1e-6)
        expectGradients("huber", [p, t]) { Tensor.huberLoss($0[0], $0[1], delta: 0.7) }
    }

    @Test func dropoutIsSeededScaledAndIdentityInEval() {
        let x = Tensor.ones([1000])
        var g1 = SeededGenerator(seed: 5), g2 = SeededGenerator(seed: 5)
        let a = x.dropout(p: 0.25, training: true, generator: &g1).toArray()
        let b = x.dropout(p: 0.25, training: true, generator: &g2).toArray()
        #expect(a == b)
        #expect(Set(a) == [0, Float(1) / 0.75])
        let kept = a.filter { $0 > 0 }.count
        #expect(kept > 700 && kept < 800)
        var g3 = SeededGenerator(seed: 5)
        #expect(x.dropout(p: 0.25, training: false, generator: &g3) === x)
        // Gradient flows through the kept elements only, scaled.
        let v = randomTensor([50], seed: 65)
        v.requiresGrad = true
        var g4 = SeededGenerator(seed: 9)
        v.dropout(p: 0.5, training: true, generator: &g4).sum().backward()
        #expect(Set(v.grad!.toArray()) == [0, 2])
    }
}

import Foundation
