import Checkpoints
import Foundation
import Testing
@testable import Layers
@testable import Tensors

/// Loads a fixture written by tools/make_layer_fixtures.py.
func layerFixture(_ name: String) throws -> SafeTensorsFile {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "safetensors") else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Fixtures/\(name).safetensors"])
    }
    return try SafeTensorsFile(path: url.path)
}

/// |a − b| ≤ atol + rtol·|b| elementwise; returns the largest excess (≤ 0 passes).
func closeness(_ a: Tensor, _ b: Tensor, atol: Float = 1e-4, rtol: Float = 1e-4) -> Float {
    precondition(a.shape == b.shape, "closeness: \(a.shape) vs \(b.shape)")
    return zip(a.toArray(), b.toArray()).reduce(-Float.infinity) { Swift.max($0, Swift.abs($1.0 - $1.1) - (atol + rtol * Swift.abs($1.1))) }
}

/// The Swift twin of `cnn_stack()` in tools/make_layer_fixtures.py.
func makeCNNStack() -> Sequential {
    Sequential(
        Conv2d(3, 8, kernel: 3, padding: .symmetric(1, 1)),
        BatchNorm2d(8),
        Activation(.relu),
        Conv2d(8, 8, kernel: 3, stride: 2, padding: .symmetric(1, 1), groups: 8, bias: false),
        BatchNorm2d(8, eps: 1e-3),
        Activation(.relu6),
        GlobalAvgPool(),
        Flatten(),
        Linear(8, 4))
}

/// The Swift twin of `AttentionBlock` in tools/make_layer_fixtures.py.
final class AttentionBlock: Module {
    let attention = MultiHeadSelfAttention(hidden: 16, heads: 2)
    let dense = Linear(16, 16)
    let norm1 = LayerNorm(16, eps: 1e-12)
    let up = Linear(16, 32)
    let down = Linear(32, 16)
    let norm2 = LayerNorm(16, eps: 1e-12)

    override init() {
        super.init()
        child("attention", attention); child("dense", dense); child("norm1", norm1)
        child("up", up); child("down", down); child("norm2", norm2)
    }

    func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
        let h = norm1(x + dense(attention(x, mask: mask)))
        return norm2(h + down(up(h).gelu()))
    }
}

/// Fixture tensors under `prefix.` with the prefix removed.
func prefixed(_ f: SafeTensorsFile, _ prefix: String) throws -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for k in f.keys where k.hasPrefix(prefix + ".") { out[String(k.dropFirst(prefix.count + 1))] = try f.tensor(k) }
    return out
}

@Suite struct LayerStackGoldenTests {
    // Tolerance: |Swift − PyTorch| ≤ 1e-4 + 1e-4·|PyTorch| per element, forward, every gradient and buffer.

    func check(_ model: Module, _ f: SafeTensorsFile, forward: (Tensor) -> Tensor) throws {
        try model.load(prefixed(f, "param"))
        model.train()
        let x = try f.tensor("input")
        x.requiresGrad = true
        let out = forward(x)
        #expect(closeness(out, try f.tensor("output")) <= 0, "output")
        (out * (try f.tensor("upstream"))).sum().backward()
        #expect(closeness(x.grad!, try f.tensor("grad.input")) <= 0, "grad.input")
        for (k, p) in model.namedParameters() {
            #expect(closeness(p.grad!, try f.tensor("grad." + k)) <= 0, "grad.\(k)")
        }
        for (k, b) in model.namedBuffers() {
            #expect(closeness(b, try f.tensor("after." + k), atol: 1e-5) <= 0, "after.\(k)")
        }
    }

    @Test func convBatchNormStackMatchesPyTorchForwardBackwardAndRunningStats() throws {
        let model = makeCNNStack()
        try check(model, try layerFixture("cnn_stack")) { model($0) }
    }

    @Test func attentionLayerNormStackMatchesPyTorchForwardAndBackward() throws {
        let f = try layerFixture("attention_block")
        let block = AttentionBlock()
        let mask = MultiHeadSelfAttention.additiveMask(try f.tensor("keep"))
        try check(block, f) { block($0, mask: mask) }
        // Inference takes the packed path (one QKV matmul, strided heads, fused scale and mask): same answer.
        let inferred = withNoGrad { block(try! f.tensor("input"), mask: mask) }
        #expect(block.attention.packed != nil, "inference should have used the packed projection")
        #expect(closeness(inferred, try f.tensor("output")) <= 0, "inference output")
    }
}

@Suite struct StateDictTests {
    @Test func parameterPathsAreThePyTorchStateDictKeys() {
        let keys = makeCNNStack().stateDict().map(\.key)
        #expect(keys == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
                         "3.weight", "4.weight", "4.bias", "4.running_mean", "4.running_var", "4.num_batches_tracked",
                         "8.weight", "8.bias"])
        #expect(AttentionBlock().namedParameters().map(\.0).prefix(3) == ["attention.query.weight", "attention.query.bias", "attention.key.weight"])
    }

    @Test func stateDictRoundTripRestoresEveryValue() throws {
        Initializer.seed(1)
        let a = makeCNNStack()
        Initializer.seed(2)
        let b = makeCNNStack()
        #expect(a.stateDict()[0].tensor.toArray() != b.stateDict()[0].tensor.toArray())
        let saved = Dictionary(uniqueKeysWithValues: a.stateDict().map { ($0.key, $0.tensor.copy()) })
        try b.load(saved)
        for ((ka, ta), (kb, tb)) in zip(a.stateDict(), b.stateDict()) {
            #expect(ka == kb && ta.toArray() == tb.toArray())
        }
        // Through a safetensors file as well.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tk-roundtrip-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write(saved, to: path)
        let c = makeCNNStack()
        try c.load(try SafeTensorsFile(path: path).tensors())
        #expect(c.stateDict().map { $0.tensor.toArray() } == a.stateDict().map { $0.tensor.toArray() })
    }

    @Test func strictLoadNamesEveryMissingUnexpectedAndMisshapenKeyAndChangesNothing() {
        let m = makeCNNStack()
        var state = Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.key, $0.tensor.copy() + 1) })
        state["0.bias"] = nil
        state["1.running_var"] = nil
        state["9.weight"] = Tensor.zeros([2])
        state["8.weight"] = Tensor.zeros([4, 9])
        let before = m.stateDict().map { $0.tensor.toArray() }
        do {
            try m.load(state)
            Issue.record("strict load accepted a bad state dict")
        } catch {
            #expect(error.report.missing == ["0.bias", "1.running_var"])
            #expect(error.report.unexpected == ["9.weight"])
            #expect(error.report.mismatched == [.init(key: "8.weight", expected: [4, 8], found: [4, 9])])
            #expect(error.description.contains("8.weight: model expects [4, 8], checkpoint has [4, 9]"))
        }
        #expect(m.stateDict().map { $0.tensor.toArray() } == before)
        // Non-strict: loads what matches and reports the rest.
        let report = try? m.load(state, strict: false)
        #expect(report?.missing.count == 2)
        #expect(m.stateDict()[0].tensor.toArray() == before[0].map { $0 + 1 })
    }
}

@Suite struct FreezingTests {
    @Test func frozenParametersStayBitIdenticalGetNoGradientAndFrozenBatchNormKeepsItsStatistics() {
        Initializer.seed(3)
        let m = makeCNNStack()
        m.freeze(where: { !$0.hasPrefix("8.") })  // everything but the head
        #expect(m.parameterCount.trainable == 8 * 4 + 4)
        #expect(m.parameterCount.total > m.parameterCount.trainable)
        let frozenBefore = m.stateDict().filter { !$0.key.hasPrefix("8.") }.map { $0.tensor.toArray() }
        var g = SeededGenerator(seed: 4)
        m.train()
        #expect((m.layers[1] as! BatchNorm2d).usesBatchStatistics == false)
        for _ in 0..<3 {
            let x = Tensor.randn([4, 3, 8, 8], generator: &g)
            let loss = Tensor.crossEntropy(logits: m(x), targets: [0, 1, 2, 3])
            loss.backward()
            withNoGrad { for (_, p) in m.trainableParameters() { p.assign(p - p.grad! * 0.1); p.grad = nil } }
        }
        let frozenAfter = m.stateDict().filter { !$0.key.hasPrefix("8.") }.map { $0.tensor.toArray() }
        #expect(frozenAfter == frozenBefore)  // weights and BN running statistics (and counters) unchanged
        #expect(m.namedParameters().filter { !$0.0.hasPrefix("8.") }.allSatisfy { $0.1.grad == nil })
    }

    @Test func frozenBackboneRecordsNoBackwardBelowTheFirstTrainableLayer() {
        let m = makeCNNStack()
        m.freeze(prefix: "0")
        m.freeze(prefix: "1")
        let x = Tensor.ones([2, 3, 8, 8])
        let h = (m.layers[2])((m.layers[1])((m.layers[0])(x)))
        #expect(!h.requiresGrad)  // nothing recorded for the frozen prefix
        m.unfreeze()
        #expect(m.parameterCount.trainable == m.parameterCount.total)
    }

    @Test func freezeByPrefixMatchesWholePathComponents() {
        let outer = Sequential((0..<11).map { _ in Linear(2, 2) as any UnaryLayer })
        outer.freeze(prefix: "1")
        let frozen = outer.namedParameters().filter { !$0.1.requiresGrad }.map(\.0)
        #expect(frozen == ["1.weight", "1.bias"])
    }

    @Test func trainAndEvalPropagateThroughTheTree() {
        let m = makeCNNStack()
        m.eval()
        #expect(m.namedModules().allSatisfy { !$0.1.isTraining })
        m.train()
        #expect((m.layers[4] as! BatchNorm2d).usesBatchStatistics)
    }
}

@Suite struct FusedConvolutionTests {
    /// A BatchNorm with non-trivial running statistics and affine parameters.
    func batchNorm(_ c: Int, seed: UInt64) -> BatchNorm2d {
        let bn = BatchNorm2d(c, eps: 1e-3)
        var r = SeededGenerator(seed: seed)
        withNoGrad {
            bn.weight.assign(Tensor.uniform([c], low: 0.5, high: 1.5, generator: &r))
            bn.bias.assign(Tensor.uniform([c], low: -0.5, high: 0.5, generator: &r))
            bn.runningMean.assign(Tensor.uniform([c], low: -0.3, high: 0.3, generator: &r))
            bn.runningVar.assign(Tensor.uniform([c], low: 0.2, high: 2, generator: &r))
        }
        bn.eval()
        return bn
    }

    @Test func foldedBatchNormWithResidualAndActivationPostOpsMatchesTheOpsOneByOne() {
        var g = SeededGenerator(seed: 7)
        let cases: [(conv: Conv2d, act: FusedActivation?, residual: Bool)] = [
            (Conv2d(8, 16, kernel: (3, 3), padding: .symmetric(1, 1), bias: false), .relu, true),
            (Conv2d(8, 16, kernel: (1, 1), stride: (2, 2), bias: false), nil, false),
            (Conv2d(16, 16, kernel: (3, 3), padding: .same, groups: 16, bias: false), .relu6, false),
            (Conv2d(16, 8, kernel: (1, 1), bias: true), nil, true),
        ]
        for (i, c) in cases.enumerated() {
            let cin = c.conv.weight.shape[1] * c.conv.groups, cout = c.conv.weight.shape[0]
            let x = Tensor.randn([2, cin, 9, 9], generator: &g)
            let bn = batchNorm(cout, seed: UInt64(10 * i))
            // Reference: the ops one by one (parameters require gradients, so nothing fuses).
            var ref = bn(c.conv(x))
            let residual = c.residual ? Tensor.randn(ref.shape, generator: &g) : nil
            let residualBefore = residual?.toArray()
            if let residual { ref = ref + residual }
            if let act = c.act { ref = act.apply(ref) }
            let unfused = c.conv(x, batchNorm: bn, activation: c.act, residual: residual)
            let fused = withNoGrad { c.conv(x, batchNorm: bn, activation: c.act, residual: residual) }
            #expect(unfused.requiresGrad, "case \(i): with trainable weights the unit must be recorded")
            #expect(!fused.requiresGrad)
            #expect(closeness(unfused.contiguous(), ref.contiguous(), atol: 1e-6, rtol: 1e-6) <= 0, "case \(i)")
            // Folding BN into the weights changes rounding only: |Δ| ≤ 1e-5 + 1e-5·|y| on outputs of magnitude ~1–5.
            #expect(closeness(fused.contiguous(), ref.contiguous(), atol: 1e-5, rtol: 1e-5) <= 0, "case \(i)")
            #expect(residual?.toArray() == residualBefore, "case \(i): the residual input must not change")
        }
    }

    @Test(.enabled(if: Precision.bf16.unsupportedReason == nil, "needs a CPU with avx512_bf16"))
    func bf16ConvolutionAndLinearStayWithinBFloat16RoundingOfFP32() {
        var g = SeededGenerator(seed: 9)
        let conv = Conv2d(16, 32, kernel: (3, 3), padding: .symmetric(1, 1), bias: false)
        let bn = batchNorm(32, seed: 5)
        let x = Tensor.randn([2, 16, 12, 12], generator: &g)
        let residual = Tensor.randn([2, 32, 12, 12], generator: &g)
        let fp32 = withNoGrad { conv(x, batchNorm: bn, activation: .relu, residual: residual) }.contiguous()
        let half = withPrecision(.bf16) { withNoGrad { conv(x, batchNorm: bn, activation: .relu, residual: residual) } }
        #expect(half.layout?.isBF16 == true, "the bf16 convolution's output should stay bf16")
        // bf16 keeps 8 significant bits: inputs and weights round by ≤ 2⁻⁹ relative; 144-term dot products of
        // magnitude ~5 then differ by a few hundredths.
        #expect(closeness(half.contiguous(), fp32, atol: 0.08, rtol: 0.02) <= 0)
        #expect(half.contiguous().toArray() != fp32.toArray())
        let linear = Linear(64, 48)
        let h = Tensor.randn([5, 7, 64], generator: &g)
        let ref = withNoGrad { linear(h, activation: .gelu) }
        let low = withPrecision(.bf16) { withNoGrad { linear(h, activation: .gelu) } }
        #expect(low.shape == ref.shape)
        #expect(closeness(low, ref, atol: 0.03, rtol: 0.02) <= 0)
        // Recording (training) ignores the bf16 scope.
        let trained = withPrecision(.bf16) { linear(h) }
        #expect(closeness(trained, withNoGrad { linear(h) }, atol: 1e-6, rtol: 1e-6) <= 0)
    }

    @Test func precisionRefusalNamesTheMissingInstructionsAndTheCPUsISA() {
        #expect(Precision.fp32.unsupportedReason == nil)
        let message = Precision.bf16Refusal(isaName: "avx2")
        #expect(message.contains("avx512_bf16") && message.contains("avx2") && message.contains("--precision fp32"))
    }

    @Test func foldedWeightsAreReusedUntilAnySourceTensorChanges() {
        var g = SeededGenerator(seed: 11)
        let conv = Conv2d(6, 8, kernel: (3, 3), padding: .symmetric(1, 1), bias: true)
        let bn = batchNorm(8, seed: 21)
        let x = Tensor.randn([2, 6, 7, 7], generator: &g)
        func fused() -> [Float] { withNoGrad { conv(x, batchNorm: bn, activation: .relu) }.contiguous().toArray() }
        func reference() -> Tensor { withNoGrad { bn(conv(x)).relu() }.contiguous() }
        func expectMatches(_ what: String) {
            #expect(closeness(Tensor(fused(), shape: [2, 8, 7, 7]), reference(), atol: 1e-5, rtol: 1e-5) <= 0, "\(what)")
        }
        let first = fused()
        let cached = conv.folded?.prepared
        #expect(cached != nil)
        #expect(fused() == first)
        #expect(conv.folded?.prepared === cached, "a second call with unchanged weights must reuse the prepared weight")
        conv.weight.assign(Tensor.randn(conv.weight.shape, generator: &g))
        expectMatches("after assigning new convolution weights")
        conv.bias!.withMutableData { b in for i in b.indices { b[i] += 0.5 } }  // how optimizers write
        expectMatches("after an in-place update of the bias")
        bn.runningMean.assign(Tensor.randn([8], generator: &g))
        expectMatches("after new BatchNorm running statistics")
        bn.weight.assign(Tensor.uniform([8], low: 0.5, high: 2, generator: &g))
        expectMatches("after a new BatchNorm scale")
        if Precision.bf16.unsupportedReason == nil {
            let half = withPrecision(.bf16) { fused() }
            #expect(half != fused(), "a cached fp32 weight must not serve a bf16 call")
            expectMatches("back in fp32 after bf16")
        }
    }

    @Test func expansionWithDepthwisePostOpMatchesTheTwoConvolutions() {
        var g = SeededGenerator(seed: 12)
        // (input size, depthwise stride, padding): TF "SAME" (left pad 1 at stride 1, 0 at stride 2 on an even
        // input, 1 on an odd one) and symmetric 1.
        // oneDNN fuses for real (`jit_1x1` with the depthwise row kernel) from about this size; smaller pairs get
        // its `ref_fused_convolution` wrapper, which the function declines.
        let cases: [(Int, Int, Padding)] = [(56, 1, .same), (56, 2, .same), (55, 2, .same), (56, 2, .symmetric(1, 1))]
        for (size, stride, padding) in cases {
            let x = Tensor.randn([2, 16, size, size], generator: &g)
            let w = Tensor.randn([96, 16, 1, 1], generator: &g) * 0.3, b = Tensor.randn([96], generator: &g) * 0.1
            let dw = Tensor.randn([96, 1, 3, 3], generator: &g) * 0.3, db = Tensor.randn([96], generator: &g) * 0.1
            let reference = withNoGrad {
                Tensor.conv2d(Tensor.conv2d(x, weight: w, bias: b).relu6(), weight: dw, bias: db, stride: (stride, stride),
                              padding: padding, groups: 96).relu6()
            }
            var prepared: Tensor?, preparedDepthwise: Tensor?
            let fused = Tensor.conv2dThenDepthwise(x, weight: w, bias: b, activation: .relu6, depthwiseWeight: dw,
                                                   depthwiseBias: db, stride: stride, padding: padding,
                                                   depthwiseActivation: .relu6, preparedWeight: &prepared,
                                                   preparedDepthwiseWeight: &preparedDepthwise)
            #expect(fused != nil, "oneDNN offered no fused kernel for size \(size), stride \(stride), \(padding)")
            if let fused {
                #expect(fused.shape == reference.shape)
                #expect(closeness(fused.contiguous(), reference.contiguous(), atol: 1e-5, rtol: 1e-5) <= 0,
                        "size \(size), stride \(stride), \(padding)")
            }
        }
        // Padding oneDNN would derive differently (2 on the left) is declined, not approximated.
        var p: Tensor?, q: Tensor?
        #expect(Tensor.conv2dThenDepthwise(Tensor.randn([1, 4, 8, 8], generator: &g), weight: Tensor.randn([8, 4, 1, 1], generator: &g),
                                           bias: nil, activation: nil, depthwiseWeight: Tensor.randn([8, 1, 3, 3], generator: &g),
                                           depthwiseBias: Tensor.zeros([8]), stride: 1, padding: .symmetric(2, 2),
                                           depthwiseActivation: nil, preparedWeight: &p, preparedDepthwiseWeight: &q) == nil)
    }

    @Test func invertedBottleneckExpansionFusesWithItsDepthwiseConvolutionInInference() {
        var g = SeededGenerator(seed: 13)
        let expand = Conv2d(16, 96, kernel: (1, 1), padding: .same, bias: false)
        let depthwise = Conv2d(96, 96, kernel: (3, 3), stride: (2, 2), padding: .same, groups: 96, bias: false)
        let bn0 = batchNorm(96, seed: 3), bn1 = batchNorm(96, seed: 4)
        // 4 × 96 × 148 × 148 floats ≥ 32 MiB expanded: large enough for the layer to fuse.
        let x = Tensor.randn([4, 16, 148, 148], generator: &g)
        let reference = withNoGrad { depthwise(expand(x, batchNorm: bn0, activation: .relu6), batchNorm: bn1, activation: .relu6) }
        let fused = withNoGrad {
            expand(x, batchNorm: bn0, activation: .relu6, thenDepthwise: depthwise, batchNorm: bn1, activation: .relu6)
        }
        #expect(fused.shape == [4, 96, 74, 74])
        #expect(closeness(fused.contiguous(), reference.contiguous(), atol: 1e-5, rtol: 1e-5) <= 0)
        let recorded = expand(x, batchNorm: bn0, activation: .relu6, thenDepthwise: depthwise, batchNorm: bn1, activation: .relu6)
        #expect(recorded.requiresGrad, "with trainable weights the pair runs as recorded ops")
        #expect(closeness(recorded.contiguous(), reference.contiguous(), atol: 1e-5, rtol: 1e-5) <= 0)
    }

    @Test func batchNormInTrainingModeIsNeverFolded() {
        var g = SeededGenerator(seed: 8)
        let conv = Conv2d(4, 6, kernel: (3, 3), padding: .symmetric(1, 1), bias: false)
        let bn = batchNorm(6, seed: 99)
        bn.train()
        let x = Tensor.randn([4, 4, 5, 5], generator: &g)
        let before = bn.runningMean.toArray()
        let y = withNoGrad { conv(x, batchNorm: bn, activation: .relu) }
        // Batch statistics were used (and the running mean moved), as an unfused train-mode BatchNorm does.
        #expect(bn.runningMean.toArray() != before)
        bn.eval()
        let yEval = withNoGrad { conv(x, batchNorm: bn, activation: .relu) }
        #expect(closeness(y.contiguous(), yEval.contiguous(), atol: 1e-3, rtol: 1e-3) > 0)
    }
}

@Suite struct FusedLinearAndAttentionTests {
    @Test func fusedLinearWithActivationAndResidualMatchesTheOpsOneByOne() {
        var g = SeededGenerator(seed: 31)
        let linear = Linear(12, 10)
        let x = Tensor.randn([3, 4, 12], generator: &g)
        let residual = Tensor.randn([3, 4, 10], generator: &g)
        for activation in [nil, FusedActivation.gelu, .relu] {
            // Reference: recorded ops (the parameters require gradients, so nothing fuses).
            let y = linear(x)
            let ref = (activation?.apply(y) ?? y) + residual
            let recorded = linear(x, activation: activation, residual: residual)
            let fused = withNoGrad { linear(x, activation: activation, residual: residual) }
            #expect(recorded.requiresGrad && !fused.requiresGrad)
            #expect(closeness(recorded, ref, atol: 1e-6, rtol: 1e-6) <= 0, "\(String(describing: activation))")
            #expect(closeness(fused, ref, atol: 1e-5, rtol: 1e-5) <= 0, "\(String(describing: activation))")
        }
    }

    @Test(.enabled(if: Precision.bf16.unsupportedReason == nil, "needs a CPU with avx512_bf16"))
    func bf16LinearsPassBF16BetweenThemAndReuseTheirConvertedWeights() {
        var g = SeededGenerator(seed: 32)
        let up = Linear(64, 96), down = Linear(96, 32)
        let x = Tensor.randn([4, 5, 64], generator: &g)
        let residual = Tensor.randn([4, 5, 32], generator: &g)
        func chain() -> (hidden: Tensor, out: Tensor) {
            withNoGrad {
                let h = up(x, activation: .gelu, keepsPrecision: true)
                return (h, down(h, activation: nil, residual: residual))
            }
        }
        let ref = chain()
        #expect(ref.hidden.layout == nil, "outside bf16 scope keepsPrecision changes nothing")
        let half = withPrecision(.bf16) { chain() }
        #expect(half.hidden.layout?.isBF16 == true, "the hidden activation should stay bf16")
        #expect(half.out.layout == nil, "without keepsPrecision the output is fp32")
        // Inputs and weights round by ≤ 2⁻⁹ relative; 64- and 96-term dot products of magnitude ~1–3.
        #expect(closeness(half.hidden.contiguous(), ref.hidden, atol: 0.03, rtol: 0.02) <= 0)
        #expect(closeness(half.out, ref.out, atol: 0.05, rtol: 0.02) <= 0)
        let converted = up.prepared?.prepared
        #expect(converted?.layout?.isBF16 == true)
        _ = withPrecision(.bf16) { chain() }
        #expect(up.prepared?.prepared === converted, "unchanged weights must reuse the converted copy")
        up.weight.withMutableData { w in for i in w.indices { w[i] *= -1 } }  // how optimizers write
        let flipped = withPrecision(.bf16) { chain() }
        #expect(up.prepared?.prepared !== converted)
        let flippedRef = chain()
        #expect(closeness(flipped.out, flippedRef.out, atol: 0.05, rtol: 0.02) <= 0, "after an in-place weight update")
    }

    @Test(.enabled(if: Precision.bf16.unsupportedReason == nil, "needs a CPU with avx512_bf16"))
    func bf16ResidualSumAndLayerNormStayBF16ForTheNextLinear() {
        var g = SeededGenerator(seed: 35)
        let dense = Linear(48, 32), norm = LayerNorm(32, eps: 1e-12)
        withNoGrad {
            norm.weight.assign(Tensor.uniform([32], low: 0.5, high: 1.5, generator: &g))
            norm.bias.assign(Tensor.uniform([32], low: -0.5, high: 0.5, generator: &g))
        }
        let x = Tensor.randn([3, 5, 48], generator: &g), residual = Tensor.randn([3, 5, 32], generator: &g)
        func block() -> Tensor { withNoGrad { norm(dense(x, activation: nil, residual: residual, keepsPrecision: true)) } }
        let fp32 = block()
        let half = withPrecision(.bf16) { block() }
        #expect(fp32.layout == nil)
        #expect(half.layout?.isBF16 == true, "the LayerNorm of a bf16 sum should stay bf16")
        // Normalised values of magnitude ~1–3: bf16 rounding of the sum, the products and the output, ≤ ~2⁻⁸ relative each.
        #expect(closeness(half.contiguous(), fp32, atol: 0.04, rtol: 0.02) <= 0)
        // A bf16 residual is added as it is.
        let again = withPrecision(.bf16) { withNoGrad { dense(x, activation: nil, residual: half) } }
        let reference = withNoGrad { dense(x) + half.contiguous() }
        #expect(closeness(again, reference, atol: 0.05, rtol: 0.02) <= 0)
    }

    /// The attention layer with random weights, input and a padding mask.
    func attentionCase(seed: UInt64) -> (MultiHeadSelfAttention, Tensor, Tensor) {
        Initializer.seed(seed)
        let attention = MultiHeadSelfAttention(hidden: 24, heads: 3)
        var g = SeededGenerator(seed: seed)
        let x = Tensor.randn([2, 7, 24], generator: &g)
        let keep = Tensor([1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1], shape: [2, 7])
        return (attention, x, MultiHeadSelfAttention.additiveMask(keep))
    }

    @Test func packedSelfAttentionMatchesTheComposedOps() throws {
        let (attention, x, mask) = attentionCase(seed: 33)
        let composed = attention(x, mask: mask)  // recorded: the ops one by one
        let packed = withNoGrad { attention(x, mask: mask) }
        #expect(attention.packed != nil)
        #expect(closeness(packed, composed, atol: 1e-5, rtol: 1e-5) <= 0)
        // A mask that only broadcasts ([1, 1, 1, T]) is not the packed kernel's shape: the ops compose, same answer.
        let shared = mask.sliced(axis: 0, start: 1, end: 2)
        let broadcast = withNoGrad { attention(x, mask: shared) }
        #expect(closeness(broadcast, attention(x, mask: shared), atol: 1e-5, rtol: 1e-5) <= 0)
        // Without a mask.
        #expect(closeness(withNoGrad { attention(x) }, attention(x), atol: 1e-5, rtol: 1e-5) <= 0)
        // New weights invalidate the packed copy.
        let value = try #require(attention.value as? Linear)
        withNoGrad { value.weight.assign(value.weight * 2) }
        #expect(closeness(withNoGrad { attention(x, mask: mask) }, attention(x, mask: mask), atol: 1e-5, rtol: 1e-5) <= 0)
    }

    @Test(.enabled(if: Precision.bf16.unsupportedReason == nil, "needs a CPU with avx512_bf16"))
    func bf16PackedSelfAttentionStaysWithinBFloat16RoundingOfFP32() {
        let (attention, x, mask) = attentionCase(seed: 34)
        let fp32 = withNoGrad { attention(x, mask: mask) }
        let half = withPrecision(.bf16) { withNoGrad { attention(x, mask: mask) } }
        #expect(half.layout?.isBF16 == true, "the context should stay bf16 for the output projection")
        // Context values are averages of V (magnitude ~1); bf16 Q, K, V and probabilities round by ≤ 2⁻⁹ relative.
        #expect(closeness(half.contiguous(), fp32, atol: 0.02, rtol: 0.02) <= 0)
        #expect(half.contiguous().toArray() != fp32.toArray())
    }
}
