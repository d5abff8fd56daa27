import Checkpoints
import Foundation
import Optimizers
import Tensors
import Testing

/// The generic walk: which parameters a step touches, state save and restore, gradient clipping, groups.
@Suite struct OptimizerBehaviourTests {
    /// Every kind of optimizer, over `groups`.
    static func optimizers(_ groups: [ParameterGroup]) -> [Optimizer] {
        [SGD(groups: groups, momentum: 0.9), SGD(groups: groups, momentum: 0.9, nesterov: true), Adam(groups: groups),
         AdamW(groups: groups), Optimizer(groups: groups)]
    }

    static func randomTensor(_ shape: Shape, seed: UInt64) -> Tensor {
        var g = SeededGenerator(seed: seed)
        let t = Tensor.randn(shape, generator: &g)
        t.requiresGrad = true
        return t
    }

    @Test(arguments: 0..<5)
    func frozenParametersStayBitIdenticalAndGetNoState(kind: Int) {
        let trained = Self.randomTensor([3, 4], seed: 1), frozen = Self.randomTensor([6], seed: 2)
        frozen.requiresGrad = false
        let before = bits(frozen)
        let opt = Self.optimizers([ParameterGroup(parameters: [("trained", trained), ("frozen", frozen)],
                                                  learningRate: 0.1, weightDecay: 0.01)])[kind]
        for k in 0..<3 {
            trained.grad = Self.randomTensor([3, 4], seed: 10 + UInt64(k))
            // A stale gradient on a frozen parameter must not move it either.
            frozen.grad = Self.randomTensor([6], seed: 20 + UInt64(k))
            opt.step()
        }
        #expect(bits(frozen) == before)
        #expect(opt.states["frozen"] == nil)
        #expect(opt.states["trained"]?.step == 3)
    }

    /// A parameter without a gradient is skipped: untouched, no state, and its own step count (which drives
    /// Adam's bias correction) starts when it first gets a gradient, as in PyTorch.
    @Test(arguments: 0..<5)
    func parametersWithoutGradientAreSkippedAndStartTheirStepCountLater(kind: Int) {
        let a = Self.randomTensor([4], seed: 3), late = Self.randomTensor([2, 3], seed: 4)
        let reference = late.copy()
        reference.requiresGrad = true
        let before = bits(late)
        let groups = [ParameterGroup(parameters: [("a", a)], learningRate: 0.05, weightDecay: 0.1),
                      ParameterGroup(parameters: [("late", late)], learningRate: 0.02, weightDecay: 0.01)]
        let opt = Self.optimizers(groups)[kind]
        for k in 0..<3 {
            a.grad = Self.randomTensor([4], seed: 30 + UInt64(k))
            opt.step()
        }
        #expect(bits(late) == before)
        #expect(opt.states["late"] == nil)
        // From now on `late` moves exactly as under a fresh optimizer that only ever saw its gradients.
        let alone = Self.optimizers([ParameterGroup(parameters: [("late", reference)], learningRate: 0.02,
                                                    weightDecay: 0.01)])[kind]
        for k in 0..<4 {
            a.grad = Self.randomTensor([4], seed: 40 + UInt64(k))
            late.grad = Self.randomTensor([2, 3], seed: 50 + UInt64(k))
            reference.grad = late.grad
            opt.step()
            alone.step()
        }
        #expect(bits(late) == bits(reference))
        #expect(opt.states["late"]?.step == 4 && opt.states["a"]?.step == 7)
    }

    @Test func zeroGradSetsEveryGradientToNil() {
        let a = Self.randomTensor([2], seed: 5), b = Self.randomTensor([3], seed: 6)
        a.grad = .ones([2])
        b.grad = .ones([3])
        let opt = SGD(parameters: [("a", a), ("b", b)], learningRate: 0.1)
        opt.zeroGrad()
        #expect(a.grad == nil && b.grad == nil)
    }

    /// After the first step, a step creates no tensors: the state tensors and the parameter storage stay the same
    /// objects, and the buffer pool makes no fresh allocation.
    @Test(arguments: 0..<5)
    func steadyStateStepKeepsStateObjectsAndAllocatesNoBuffers(kind: Int) {
        let p = Self.randomTensor([64, 33], seed: 7), q = Self.randomTensor([33], seed: 8)
        let opt = Self.optimizers([ParameterGroup(parameters: [("p", p), ("q", q)], learningRate: 0.01,
                                                  weightDecay: 0.01)])[kind]
        opt.maxGradNorm = 0.5
        opt.setSchedule(OneCycleSchedule(), totalSteps: 100)
        p.grad = Self.randomTensor([64, 33], seed: 9)
        q.grad = Self.randomTensor([33], seed: 10)
        opt.step()
        let stateIDs = opt.states.mapValues { $0.tensors.mapValues { ObjectIdentifier($0) } }
        let storage = p.storage.pointer
        // Other suites may allocate concurrently; one clean window of 20 steps out of five proves the point.
        var clean = false
        for _ in 0..<5 where !clean {
            let before = BufferPool.shared.freshAllocations
            for _ in 0..<20 { opt.step() }
            clean = BufferPool.shared.freshAllocations == before
        }
        #expect(clean)
        #expect(opt.states.mapValues { $0.tensors.mapValues { ObjectIdentifier($0) } } == stateIDs)
        #expect(p.storage.pointer == storage)
    }

    /// A tensor above the threading threshold is updated in chunks on several threads; each element's update is
    /// independent, so the result equals updating its pieces (small enough to run inline) one by one.
    @Test(arguments: 0..<5)
    func largeTensorsUpdatedInParallelChunksEqualTheirPiecesBitForBit(kind: Int) {
        let n = 300_000, piece = 100_000
        let big = Self.randomTensor([n], seed: 60)
        let pieces = (0..<3).map { i in
            Tensor(shape: [piece], data: Array(big.toArray()[i * piece..<(i + 1) * piece]), requiresGrad: true)
        }
        let whole = Self.optimizers([ParameterGroup(parameters: [("big", big)], learningRate: 0.01, weightDecay: 0.1)])[kind]
        let split = Self.optimizers([ParameterGroup(parameters: pieces.enumerated().map { ("piece\($0.offset)", $0.element) },
                                                    learningRate: 0.01, weightDecay: 0.1)])[kind]
        for k in 0..<3 {
            let g = Self.randomTensor([n], seed: 70 + UInt64(k)).toArray()
            big.grad = Tensor(shape: [n], data: g)
            for (i, p) in pieces.enumerated() { p.grad = Tensor(shape: [piece], data: Array(g[i * piece..<(i + 1) * piece])) }
            whole.step()
            split.step()
        }
        #expect(bits(big) == pieces.flatMap(bits))
    }

    // MARK: Clipping

    @Test func clipGradNormReturnsTheGlobalNormAndScalesOnlyAboveTheLimit() {
        let a = Self.randomTensor([2], seed: 11), b = Self.randomTensor([2], seed: 12)
        a.grad = Tensor([3, 0])
        b.grad = Tensor([0, 4])
        let opt = SGD(parameters: [("a", a), ("b", b)], learningRate: 0.1)
        #expect(opt.clipGradNorm(maxNorm: 10) == 5)
        #expect(a.grad!.toArray() == [3, 0] && b.grad!.toArray() == [0, 4])
        #expect(opt.clipGradNorm(maxNorm: 1) == 5)
        let coef: Float = 1 / (5 + 1e-6)
        #expect(a.grad!.toArray() == [3 * coef, 0] && b.grad!.toArray() == [0, 4 * coef])
    }

    @Test func clipGradNormScalesAGradientSharedByTwoParametersOnce() {
        let a = Self.randomTensor([2], seed: 13), b = Self.randomTensor([2], seed: 14)
        let shared = Tensor([3, 4])
        a.grad = shared
        b.grad = shared
        let opt = SGD(parameters: [("a", a), ("b", b)], learningRate: 0.1)
        let norm = opt.clipGradNorm(maxNorm: 1)
        #expect(abs(norm - Float(50).squareRoot()) < 1e-6)
        let coef: Float = 1 / (norm + 1e-6)
        #expect(shared.toArray() == [3 * coef, 4 * coef])
    }

    @Test func clipGradNormIgnoresFrozenParameters() {
        let a = Self.randomTensor([1], seed: 15), frozen = Self.randomTensor([1], seed: 16)
        frozen.requiresGrad = false
        a.grad = Tensor([3])
        frozen.grad = Tensor([400])
        let opt = SGD(parameters: [("a", a), ("frozen", frozen)], learningRate: 0.1)
        #expect(opt.clipGradNorm(maxNorm: 1) == 3)
        #expect(frozen.grad!.toArray() == [400])
    }

    // MARK: State dictionary

    /// Train 10 steps; separately, train 5, save the state to a safetensors file, build a fresh optimizer over
    /// copies of the parameters, load the file and train the last 5: the parameters agree bit for bit. With a
    /// one-cycle schedule and clipping, so the step count and group rates must come back too.
    @Test(arguments: 0..<5)
    func savedStateResumesTrainingBitForBit(kind: Int) throws {
        let fx = try OptimizerFixture("adamw_clip")
        let (p0, p1) = try fx.parameters()
        func make(_ p0: Tensor, _ p1: Tensor) throws -> Optimizer {
            let opt = Self.optimizers(try fx.groups(p0, p1))[kind]
            opt.maxGradNorm = 1
            opt.setSchedule(OneCycleSchedule(), totalSteps: OptimizerFixture.steps)
            return opt
        }
        let opt = try make(p0, p1)
        _ = fx.replay(opt, p0, p1, steps: 0..<5)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("optimizer-state-\(kind)-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write(opt.stateDict(), to: path)
        let saved0 = p0.copy(), saved1 = p1.copy()
        _ = fx.replay(opt, p0, p1, steps: 5..<10)

        saved0.requiresGrad = true
        saved1.requiresGrad = true
        let resumed = try make(saved0, saved1)
        try resumed.loadStateDict(try SafeTensorsFile(path: path).tensors())
        #expect(resumed.stepCount == 5)
        _ = fx.replay(resumed, saved0, saved1, steps: 5..<10)
        #expect(bits(saved0) == bits(p0))
        #expect(bits(saved1) == bits(p1))
    }

    @Test func stateDictUsesPyTorchStateNamesAndIsASnapshot() {
        let p = Self.randomTensor([2, 2], seed: 17)
        let opt = Adam(parameters: [("layer.weight", p)], learningRate: 0.1, weightDecay: 0.5)
        p.grad = .ones([2, 2])
        opt.step()
        let dict = opt.stateDict()
        #expect(Set(dict.keys) == ["step", "param_groups.0.lr", "param_groups.0.weight_decay", "state.layer.weight.step",
                                   "state.layer.weight.exp_avg", "state.layer.weight.exp_avg_sq"])
        #expect(dict["step"]!.item() == 1 && dict["state.layer.weight.step"]!.item() == 1)
        #expect(dict["param_groups.0.lr"]!.item() == 0.1 && dict["param_groups.0.weight_decay"]!.item() == 0.5)
        let m = dict["state.layer.weight.exp_avg"]!.toArray()
        opt.step()
        #expect(dict["state.layer.weight.exp_avg"]!.toArray() == m)
    }

    @Test func loadingRestoresGroupRatesAndStepCount() throws {
        let p = Self.randomTensor([3], seed: 18)
        let source = SGD(parameters: [("w", p)], learningRate: 0.3, momentum: 0.9, weightDecay: 0.2)
        p.grad = .ones([3])
        source.step()
        source.step()
        let target = SGD(parameters: [("w", p)], learningRate: 1, momentum: 0.9)
        try target.loadStateDict(source.stateDict())
        #expect(target.stepCount == 2 && target.groups[0].learningRate == 0.3 && target.groups[0].weightDecay == 0.2)
        #expect(target.states["w"]?.step == 2)
        #expect(bits(target.states["w"]!["momentum_buffer"]!) == bits(source.states["w"]!["momentum_buffer"]!))
    }

    /// Bad dictionaries fail with an error naming the key (and the shapes), and leave the optimizer as it was.
    @Test func malformedStateDictionariesThrowTypedErrorsAndChangeNothing() throws {
        let p = Self.randomTensor([4, 3], seed: 19)
        let opt = Adam(parameters: [("p", p)], learningRate: 0.1)
        p.grad = .ones([4, 3])
        opt.step()
        let good = opt.stateDict()
        let snapshot = bits(opt.states["p"]!["exp_avg"]!)

        func attempt(_ edit: (inout [String: Tensor]) -> Void) -> OptimizerError? {
            var d = good
            edit(&d)
            do {
                try opt.loadStateDict(d)
                return nil
            } catch {
                return error
            }
        }
        #expect(attempt { $0["state.p.exp_avg"] = .zeros([3, 4]) }
                    == .shapeMismatch(key: "state.p.exp_avg", expected: [4, 3], found: [3, 4]))
        #expect(attempt { $0["state.q.exp_avg"] = .zeros([4, 3]) } == .unexpectedKey("state.q.exp_avg"))
        #expect(attempt { $0["state.p.momentum_buffer"] = .zeros([4, 3]) } == .unexpectedKey("state.p.momentum_buffer"))
        #expect(attempt { $0["param_groups.1.lr"] = Tensor(scalar: 1) } == .unexpectedKey("param_groups.1.lr"))
        #expect(attempt { $0["state.p.exp_avg_sq"] = nil } == .missingKey("state.p.exp_avg_sq"))
        #expect(attempt { $0["state.p.step"] = nil } == .missingKey("state.p.step"))
        #expect(attempt { $0["step"] = nil } == .missingKey("step"))
        #expect(attempt { $0["step"] = Tensor(scalar: 2.5) }
                    == .invalidValue(key: "step", value: 2.5, reason: "not a step count (an integer in 0 ... 2^24)"))
        #expect(attempt { $0["state.p.step"] = .zeros([2]) } == .shapeMismatch(key: "state.p.step", expected: [], found: [2]))
        #expect(attempt { $0["param_groups.0.lr"] = Tensor(scalar: -1) }
                    == .invalidValue(key: "param_groups.0.lr", value: -1, reason: "must be finite and ≥ 0"))
        #expect(opt.stepCount == 1 && opt.groups[0].learningRate == 0.1)
        #expect(bits(opt.states["p"]!["exp_avg"]!) == snapshot)
        let message = OptimizerError.shapeMismatch(key: "state.p.exp_avg", expected: [4, 3], found: [3, 4]).description
        #expect(message.contains("state.p.exp_avg") && message.contains("[3, 4]") && message.contains("[4, 3]"))
    }

    // MARK: Groups

    @Test func splitAssignsParametersByDottedPrefixWithACatchAllLastGroup() throws {
        let names = ["_conv_stem.weight", "_bn0.weight", "_blocks.0.conv.weight", "_blocks.1.conv.weight",
                     "_blocks.10.conv.weight", "_blocks.10.bn.bias", "_fc.weight", "_fc.bias"]
        let named = names.map { ($0, Tensor.zeros([1])) }
        let groups = try ParameterGroup.split(
            named, prefixes: [["_conv_stem", "_bn0", "_blocks.0", "_blocks.1"], ["_blocks"], []],
            learningRates: evenlySpacedRates(maxLR: 1e-3, count: 3), weightDecay: 0.01)
        #expect(groups.map { $0.parameters.map(\.name) } == [
            ["_conv_stem.weight", "_bn0.weight", "_blocks.0.conv.weight", "_blocks.1.conv.weight"],
            ["_blocks.10.conv.weight", "_blocks.10.bn.bias"], ["_fc.weight", "_fc.bias"],
        ])
        #expect(groups.map(\.name) == ["group0", "group1", "group2"])
        #expect(groups.allSatisfy { $0.weightDecay == 0.01 })
        #expect(groups[2].learningRate == 1e-3)
    }

    @Test func splitRejectsUnmatchedParametersAndMiscountedRates() {
        let named = [("body.weight", Tensor.zeros([1])), ("head.weight", Tensor.zeros([1]))]
        #expect(throws: OptimizerError.unmatchedParameter("head.weight")) {
            try ParameterGroup.split(named, prefixes: [["body"]], learningRates: [0.1])
        }
        #expect(throws: OptimizerError.countMismatch(what: "learning rates", expected: 2, found: 1)) {
            try ParameterGroup.split(named, prefixes: [["body"], []], learningRates: [0.1])
        }
    }

    /// fastai's `slice(lr/10, lr)` over 3 groups is `even_mults(lr/10, lr, 3)` = lr · [0.1, 10^-0.5, 1].
    @Test func evenlySpacedRatesSpreadFastaiSliceGeometrically() {
        let rates = evenlySpacedRates(maxLR: 1e-3, count: 3, divisor: 10)
        #expect(maxRelDiff(rates, [1e-4, 1e-3 / Float(10).squareRoot(), 1e-3]) < 1e-6)
        #expect(maxRelDiff(evenlySpacedRates(maxLR: 0.01, count: 5, divisor: 100), [1e-4, 1e-3 / Float(10).squareRoot(), 1e-3, 1e-2 / Float(10).squareRoot(), 1e-2]) < 1e-6)
        #expect(evenlySpacedRates(maxLR: 0.5, count: 1) == [0.5])
    }

    /// Each group trains at its own rate: the same gradient moves the low-rate group a tenth as far.
    @Test func discriminativeLearningRatesApplyPerGroup() {
        let body = Tensor(shape: [2], data: [1, 1], requiresGrad: true)
        let head = Tensor(shape: [2], data: [1, 1], requiresGrad: true)
        let opt = SGD(groups: [ParameterGroup(parameters: [("body", body)], learningRate: 0.01),
                               ParameterGroup(parameters: [("head", head)], learningRate: 0.1)])
        body.grad = .ones([2])
        head.grad = .ones([2])
        opt.step()
        #expect(body.toArray() == [1 - Float(0.01), 1 - Float(0.01)])
        #expect(head.toArray() == [1 - Float(0.1), 1 - Float(0.1)])
    }
}
