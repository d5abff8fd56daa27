import Testing
@testable import Layers
@testable import Tensors

/// A minimal adapter: the wrapped layer's output times a constant (the shape of a LoRA wrapper, without factors).
final class ScaledOutput: WrappingModule, UnaryLayer {
    let layer: any UnaryLayer
    let factor: Float

    init(_ layer: any UnaryLayer, by factor: Float) {
        self.layer = layer
        self.factor = factor
        super.init(wrapping: layer)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { layer(x) * factor }
}

/// A parent with a child declared through a typed slot (not a unary layer) and one held directly.
final class TypedParent: Module {
    @Child var attention: MultiHeadSelfAttention
    let norm = LayerNorm(8)

    override init() {
        attention = MultiHeadSelfAttention(hidden: 8, heads: 2)
        super.init()
        child("attention", $attention)
        child("norm", norm)
    }
}

func randomTensor(_ shape: Shape, seed: UInt64) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor.randn(shape, generator: &g)
}

@Suite struct ModuleSurgeryTests {
    @Test func wrappingAChildKeepsEveryStateDictKeyInOrderAndStrictLoadStillFillsTheWrappedLayer() throws {
        Initializer.seed(1)
        let model = makeCNNStack()
        let keys = model.stateDict().map(\.key)
        let conv = try #require(model.module(at: "0") as? Conv2d)
        let tap = ActivationTap(conv)
        try model.replaceModule(at: "0", with: tap)
        try model.replaceModule(at: "3", with: ScaledOutput(model[3], by: 1))
        #expect(model.stateDict().map(\.key) == keys)
        #expect(try model.module(at: "0") === tap)
        #expect(model.parameterCount.total == makeCNNStack().parameterCount.total)

        Initializer.seed(2)
        let source = makeCNNStack()
        var state: [String: Tensor] = [:]
        for (k, t) in source.stateDict() { state[k] = t }
        try model.load(state)  // strict
        #expect(conv.weight.toArray() == (source[0] as? Conv2d)?.weight.toArray())
        let x = randomTensor([2, 3, 8, 8], seed: 3)
        model.eval(); source.eval()
        #expect(withNoGrad { model(x) }.toArray() == withNoGrad { source(x) }.toArray())
    }

    @Test func aReplacedChildIsWhatItsParentCalls() throws {
        Initializer.seed(4)
        let model = makeCNNStack()
        model.eval()
        let x = randomTensor([2, 3, 8, 8], seed: 5)
        let before = withNoGrad { model(x) }
        try model.replaceModule(at: "8", with: ScaledOutput(model[8], by: 2))
        #expect(closeness(withNoGrad { model(x) }, before * 2, atol: 1e-6, rtol: 1e-6) <= 0)
        // Undo: the wrapped layer goes back in its place.
        let wrapper = try #require(model.module(at: "8") as? WrappingModule)
        try model.replaceModule(at: "8", with: wrapper.wrapped)
        #expect(withNoGrad { model(x) }.toArray() == before.toArray())
    }

    @Test func replacedProjectionsBypassThePackedAttentionPath() throws {
        Initializer.seed(6)
        let attention = MultiHeadSelfAttention(hidden: 16, heads: 2)
        attention.eval()
        let x = randomTensor([2, 5, 16], seed: 7)
        let before = withNoGrad { attention(x) }
        #expect(attention.packed != nil)
        let query = try #require(attention.query as? Linear)
        try attention.replaceModule(at: "query", with: ScaledOutput(query, by: -1))
        let replaced = withNoGrad { attention(x) }
        // The same as negating the query weights, computed with the ops one by one (recorded).
        let reference = MultiHeadSelfAttention(hidden: 16, heads: 2)
        try reference.load(Dictionary(uniqueKeysWithValues: attention.stateDict().map { ($0.key, $0.tensor) }))
        let refQuery = try #require(reference.query as? Linear)
        withNoGrad {
            refQuery.weight.assign(refQuery.weight * -1)
            refQuery.bias?.assign(refQuery.bias! * -1)
        }
        #expect(closeness(replaced, reference(x), atol: 1e-5, rtol: 1e-5) <= 0)
        #expect(closeness(replaced, before, atol: 1e-3, rtol: 1e-3) > 0)
    }

    @Test func fusedConvolutionUnitsFuseOnlyTheOriginalLayers() throws {
        Initializer.seed(8)
        let conv = Conv2d(3, 4, kernel: 3, padding: .symmetric(1, 1)), bn = BatchNorm2d(4)
        withNoGrad { bn.runningMean.assign(Tensor(shape: [4], data: [0.1, -0.2, 0.3, 0])) }
        bn.eval()
        let x = randomTensor([1, 3, 6, 6], seed: 9)
        let layer: any UnaryLayer = conv, norm: any UnaryLayer = bn
        let fused = withNoGrad { layer(x, batchNorm: norm, activation: .relu) }
        #expect(conv.folded != nil, "the original pair should fold")
        #expect(closeness(fused, bn(conv(x)).relu(), atol: 1e-5, rtol: 1e-5) <= 0)
        conv.folded = nil
        let scaled = withNoGrad { ScaledOutput(conv, by: 3)(x, batchNorm: norm, activation: .relu) }
        #expect(conv.folded == nil, "a replaced convolution must not be folded")
        #expect(closeness(scaled, bn(conv(x) * 3).relu(), atol: 1e-5, rtol: 1e-5) <= 0)
        let tappedNorm = ActivationTap(bn)
        let unfused = withNoGrad { layer(x, batchNorm: tappedNorm, activation: .relu) }
        #expect(closeness(unfused, fused, atol: 1e-5, rtol: 1e-5) <= 0)
        #expect(tappedNorm.output != nil, "the replaced norm must run")
    }

    @Test func badPathsNameTheMissingComponentAndTheChildrenThere() throws {
        let block = AttentionBlock()
        #expect(throws: ModuleSurgeryError.noSuchModule(path: "attention.qurey", component: "qurey", parent: "attention",
                                                         available: ["query", "key", "value", "dropout"])) {
            try block.module(at: "attention.qurey")
        }
        do {
            _ = try block.module(at: "atention.query")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("'atention'"))
            #expect(error.description.contains("the root module"))
            #expect(error.description.contains("attention, dense, norm1, up, down, norm2"))
        }
        #expect(throws: ModuleSurgeryError.noSuchModule(path: "dense.weight", component: "weight", parent: "dense",
                                                         available: [])) {
            try block.replaceModule(at: "dense.weight", with: Linear(2, 2))
        }
        #expect(throws: ModuleSurgeryError.noParent(type: "AttentionBlock")) { try block.replaceModule(at: "", with: Linear(2, 2)) }
        // AttentionBlock registers its children with child(_:_:) and calls them directly: not replaceable.
        #expect(throws: ModuleSurgeryError.notReplaceable(path: "dense", parentType: "AttentionBlock")) {
            try block.replaceModule(at: "dense", with: Linear(16, 16))
        }
    }

    @Test func aSlotRefusesATypeItsParentCannotCallAndNamesBoth() throws {
        let parent = TypedParent()
        do {
            try parent.replaceModule(at: "attention", with: Linear(8, 8))
            Issue.record("expected an error")
        } catch {
            #expect(error == .typeNotAccepted(path: "attention", accepted: "MultiHeadSelfAttention", found: "Linear"))
            #expect(error.description.contains("Linear") && error.description.contains("MultiHeadSelfAttention"))
        }
        #expect(throws: ModuleSurgeryError.notReplaceable(path: "norm", parentType: "TypedParent")) {
            try parent.replaceModule(at: "norm", with: LayerNorm(8))
        }
        // Unary slots take any unary layer, and name themselves "any UnaryLayer".
        try parent.replaceModule(at: "attention.key", with: ActivationTap(parent.attention.key))
        #expect(parent.attention.key is ActivationTap)
        // A module cannot go inside itself.
        let loop = Sequential(Flatten())
        #expect(throws: ModuleSurgeryError.cycle(path: "0", type: "Sequential")) { try loop.replaceModule(at: "0", with: loop) }
        let outer = Sequential(loop)
        #expect(throws: ModuleSurgeryError.cycle(path: "0.0", type: "Sequential")) {
            try outer.replaceModule(at: "0.0", with: Sequential(outer))
        }
    }

    @Test func pathsThroughAWrapperReachTheWrappedModulesChildren() throws {
        Initializer.seed(10)
        let inner = Sequential(Linear(4, 4), Activation(.tanh))
        let outer = Sequential(inner, Linear(4, 2))
        let tap = ActivationTap(inner)
        try outer.replaceModule(at: "0", with: tap)
        #expect(try outer.module(at: "0.0") === inner[0])
        try outer.replaceModule(at: "0.1", with: Activation(.relu))
        #expect((inner[1] as? Activation)?.kind == .relu)
        #expect(outer.stateDict().map(\.key) == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"])
        // The tree's mode reaches the wrapped module; a replacement takes its parent's mode.
        outer.eval()
        #expect(!inner.isTraining && !inner[0].isTraining)
        let fresh = Linear(4, 2)
        try outer.replaceModule(at: "1", with: fresh)
        #expect(!fresh.isTraining)
    }

    @Test func modulesMatchingAStarMatchOneWholePathComponent() {
        let outer = Sequential(Sequential(Linear(2, 2), Linear(2, 2)), Sequential(Linear(2, 2)), Linear(2, 2))
        #expect(outer.modules(matching: "*.0").map(\.path) == ["0.0", "1.0"])
        #expect(outer.modules(matching: "*").map(\.path) == ["0", "1", "2"])
        #expect(outer.modules(matching: "0.*").map(\.path) == ["0.0", "0.1"])
        #expect(outer.modules(matching: "*.*.*").isEmpty)
        #expect(outer.modules(matching: "").map(\.path) == [""])
        #expect(outer.modules(matching: "2").first?.module is Linear)
        let block = AttentionBlock()
        #expect(block.modules(matching: "attention.*").map(\.path)
                == ["attention.query", "attention.key", "attention.value", "attention.dropout"])
    }

    @Test func insertingAWrapperLeavesTheOtherLayersRandomStreams() throws {
        Initializer.seed(11)
        let model = Sequential(Linear(6, 6), Dropout(0.5), Linear(6, 6), Dropout(0.5))
        let x = randomTensor([4, 6], seed: 12)
        model.reseedRandomness(99)
        let before = withNoGrad { model(x) }
        try model.replaceModule(at: "0", with: ActivationTap(model[0]))
        model.reseedRandomness(99)
        #expect(withNoGrad { model(x) }.toArray() == before.toArray())
    }
}

@Suite struct ActivationTapTests {
    /// A small conv net, smooth after the tapped map (tanh), frozen as a whole.
    func frozenNet() -> Sequential {
        Initializer.seed(21)
        let net = Sequential(
            Conv2d(3, 4, kernel: 3, padding: .symmetric(1, 1)),
            BatchNorm2d(4),
            Activation(.tanh),
            Conv2d(4, 5, kernel: 3, stride: 2, padding: .symmetric(1, 1)),
            Activation(.tanh),
            GlobalAvgPool(),
            Flatten(),
            Linear(5, 3))
        withNoGrad {
            let bn = net[1] as? BatchNorm2d
            bn?.runningMean.assign(Tensor(shape: [4], data: [0.2, -0.1, 0.05, 0.3]))
            bn?.runningVar.assign(Tensor(shape: [4], data: [1.5, 0.7, 1.1, 0.9]))
        }
        net.freeze()
        return net
    }

    @Test func gradientOfAFrozenNetWithRespectToATappedFeatureMapMatchesFiniteDifferences() throws {
        let net = frozenNet()
        let tap = ActivationTap(net[2], requireGradient: true)
        try net.replaceModule(at: "2", with: tap)
        let x = randomTensor([2, 3, 6, 6], seed: 22)
        let w = randomTensor([2, 3], seed: 23)
        let loss = (net(x) * w).sum()
        #expect(loss.requiresGrad, "the tap should make the loss differentiable in a frozen net")
        loss.backward()
        let map = try #require(tap.output)
        let grad = try #require(map.grad).toArray()
        #expect(grad.count == 2 * 4 * 6 * 6)
        #expect(net.namedParameters().allSatisfy { $0.1.grad == nil })

        // d(loss)/d(map) by central differences through the layers after the tap.
        let rest = Sequential((3..<net.count).map { net[$0] })
        let base = map.contiguous().toArray()
        func lossAt(_ values: [Float]) -> Float {
            withNoGrad { (rest(Tensor(shape: map.shape, data: values)) * w).sum().toArray()[0] }
        }
        let eps: Float = 1e-2
        var worst: Float = 0
        for i in 0..<base.count {
            var plus = base, minus = base
            plus[i] += eps
            minus[i] -= eps
            let fd = (lossAt(plus) - lossAt(minus)) / (2 * eps)
            worst = max(worst, abs(fd - grad[i]) - (2e-4 + 1e-2 * abs(fd)))
        }
        #expect(worst <= 0, "largest excess over tolerance \(worst)")
    }

    @Test func withoutRequireGradientAFrozenNetStaysUnrecordedAndTheTapOnlyKeepsTheOutput() throws {
        let net = frozenNet()
        let tap = ActivationTap(net[2])
        try net.replaceModule(at: "2", with: tap)
        let x = randomTensor([2, 3, 6, 6], seed: 24)
        let y = net(x)
        #expect(!y.requiresGrad)
        #expect(tap.output?.shape == [2, 4, 6, 6])
        tap.clear()
        #expect(tap.output == nil)
    }

    @Test func aRecordedOutputIsKeptOnTheTapeNotCutAndRetainsItsGradient() throws {
        let net = frozenNet()
        net.unfreeze(prefix: "0")
        let tap = ActivationTap(net[2], requireGradient: true)
        try net.replaceModule(at: "2", with: tap)
        let x = randomTensor([2, 3, 6, 6], seed: 25)
        let loss = net(x).sum()
        let expected = try #require(Tensor.gradients(of: loss, wrt: [tap.output!], retainGraph: true)[0])
        loss.backward()
        #expect(tap.output?.gradFunctionName != nil)
        #expect((net[0] as? Conv2d)?.weight.grad != nil, "the layers below the tap still get their gradients")
        let kept = try #require(tap.output?.grad, "a recorded output retains its gradient")
        #expect(zip(kept.toArray(), expected.toArray()).allSatisfy { Swift.abs($0 - $1) <= 1e-6 })
    }
}
