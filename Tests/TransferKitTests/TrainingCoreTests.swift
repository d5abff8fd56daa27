import Datasets
import Foundation
import Layers
import Optimizers
import Testing
@testable import Tensors
@testable import TransferKit

/// Replaces what a step computes at the events where the batch, the outputs and the loss are current.
final class StepRewriter: Callback {
    var zeroLoss = false, dropSecondHalf = false, scaleOutputs: Float?
    var sawBatchCounts: [Int] = [], gradNorms: [Float] = []
    override func on(_ event: LearnerEvent, learner l: Learner) throws {
        switch event {
        case .beforeBatch where dropSecondHalf:
            var b = l.batch!
            let keep = Array(0..<(b.count / 2))
            b = TransferKit.Batch(inputs: b.inputs.tensor!.indexSelect(axis: 0, indices: keep), targets: b.targets.rows(keep), indices: keep.map { b.indices[$0] })
            l.batch = b
        case .afterPred:
            sawBatchCounts.append(l.outputs!.primary.shape[0])
            if let s = scaleOutputs { l.outputs!.primary = l.outputs!.primary * s }
        case .afterLoss where zeroLoss:
            l.loss = l.loss! * 0
        case .beforeStep:
            let sq = l.model.trainableParameters().compactMap { $0.1.grad }.reduce(Float(0)) { acc, g in acc + g.toArray().reduce(0) { $0 + $1 * $1 } }
            gradNorms.append(sq.squareRoot())
        default: break
        }
    }
}

/// Throws a cancellation at one event for every batch.
final class Canceller: Callback {
    let event: LearnerEvent, control: LearnerControl
    var seen: [LearnerEvent] = []
    init(at event: LearnerEvent, throwing control: LearnerControl) { self.event = event; self.control = control }
    override func on(_ e: LearnerEvent, learner: Learner) throws {
        seen.append(e)
        if e == event { throw control }
    }
}

@Suite(.serialized) struct TrainingCoreTests {
    @Test func callbacksReplaceTheBatchTheOutputsAndTheLoss() throws {
        let rewriter = StepRewriter()
        rewriter.dropSecondHalf = true
        let (l, _) = makeLearner(callbacks: [rewriter])
        try l.fit(epochs: 1)
        #expect(rewriter.sawBatchCounts.allSatisfy { $0 == 8 }, "the replaced batch (half of 16) is what the model saw: \(rewriter.sawBatchCounts)")

        let frozen = StepRewriter()
        frozen.zeroLoss = true
        let (l2, head) = makeLearner(callbacks: [frozen])
        let before = head.stateDict().map { $0.tensor.toArray() }
        try l2.fit(epochs: 1)
        #expect(frozen.gradNorms.allSatisfy { $0 == 0 }, "backward ran from the replaced (zero) loss")
        #expect(head.namedParameters().map { $0.1.toArray() } == head.namedParameters().map { $0.1.toArray() })
        #expect(head.stateDict().map { $0.tensor.toArray() } == before, "a zero gradient moves nothing (AdamW without weight decay)")
    }

    @Test func gradientClippingAtBeforeStepBoundsTheNormTheOptimizerSees() throws {
        let clip = GradientClipping(maxNorm: 0.01)
        let after = StepRewriter()  // order 0 < clipping's? no: both order 0, so read after clipping by ordering below
        final class Late: Callback {
            var norms: [Float] = []
            override var order: Int { 10 }
            override func on(_ e: LearnerEvent, learner l: Learner) throws {
                guard e == .beforeStep else { return }
                let sq = l.model.trainableParameters().compactMap { $0.1.grad }.reduce(Float(0)) { a, g in a + g.toArray().reduce(0) { $0 + $1 * $1 } }
                norms.append(sq.squareRoot())
            }
        }
        let late = Late()
        let (l, _) = makeLearner(callbacks: [clip, late, after])
        try l.fit(epochs: 1)
        #expect(!late.norms.isEmpty && late.norms.allSatisfy { $0 <= 0.01 * 1.0001 }, "\(late.norms.max() ?? -1)")
        #expect(clip.lastNorm > 0.01, "the raw gradient was larger than the bound, so clipping did something")
    }

    @Test func skipStepKeepsTheWeightsAndSkipBatchSkipsTheForward() throws {
        let skipStep = Canceller(at: .beforeStep, throwing: .skipStep)
        let (l, head) = makeLearner(callbacks: [skipStep])
        let before = head.stateDict().map { $0.tensor.toArray() }
        try l.fit(epochs: 1)
        #expect(head.stateDict().map { $0.tensor.toArray() } == before)
        #expect(skipStep.seen.filter { $0 == .afterCancelStep }.count == 15)
        #expect(!skipStep.seen.contains(.afterStep))
        #expect(l.optimizer.stepCount == 0)

        let skipBatch = Canceller(at: .beforeBatch, throwing: .skipBatch)
        let (l2, _) = makeLearner(callbacks: [skipBatch])
        try l2.fit(epochs: 1)
        #expect(!skipBatch.seen.contains(.afterPred) && skipBatch.seen.filter { $0 == .afterCancelBatch }.count == 15)
        #expect(skipBatch.seen.filter { $0 == .afterBatch }.count == 15)

        let stopEpoch = Canceller(at: .afterStep, throwing: .stopEpoch)
        let (l3, _) = makeLearner(callbacks: [stopEpoch])
        try l3.fit(epochs: 2)
        #expect(l3.iteration == 2, "one step per epoch, then validation")
        #expect(stopEpoch.seen.filter { $0 == .afterCancelEpoch }.count == 2 && stopEpoch.seen.filter { $0 == .afterValidate }.count == 2)
    }

    @Test func softCrossEntropyMatchesHardCrossEntropyOnOneHotRowsAndFiniteDifferences() throws {
        var g = SeededGenerator(seed: 5)
        let logits = Tensor.randn([4, 3], generator: &g)
        logits.requiresGrad = true
        let labels = [0, 2, 1, 2]
        let hard = Tensor.crossEntropy(logits: logits, targets: labels)
        let soft = ClassificationObjective.softCrossEntropy(logits: logits, targets: BatchMixing.oneHot(labels, classCount: 3))
        #expect(Swift.abs(hard.item() - soft.item()) < 1e-6)
        // Gradient of a genuinely soft target against central differences (tolerance 2e-3 relative, Float32, h = 1e-2).
        let t = Tensor(shape: [4, 3], data: [0.7, 0.3, 0, 0.2, 0.2, 0.6, 0, 1, 0, 0.5, 0, 0.5])
        let loss = ClassificationObjective.softCrossEntropy(logits: logits, targets: t)
        loss.backward()
        let analytic = logits.grad!.toArray()
        let x0 = logits.toArray()
        for i in 0..<x0.count {
            func f(_ d: Float) -> Float {
                var x = x0; x[i] += d
                return withNoGrad { ClassificationObjective.softCrossEntropy(logits: Tensor(shape: [4, 3], data: x), targets: t).item() }
            }
            let numeric = (f(1e-2) - f(-1e-2)) / 2e-2
            #expect(Swift.abs(numeric - analytic[i]) < 2e-3 * Swift.max(1, Swift.abs(numeric)), "element \(i): \(numeric) vs \(analytic[i])")
        }
    }

    @Test func mixingObjectiveMixesTrainingBatchesOnlyAndRepeatsForTheSameSamples() throws {
        var g = SeededGenerator(seed: 9)
        let x = Tensor.randn([6, 3, 8, 8], generator: &g)
        let batch = TransferKit.Batch(inputs: x, targets: .classes([0, 1, 2, 0, 1, 2]), indices: [5, 3, 1, 0, 2, 4])
        for mixing in [BatchMixing.mixup(alpha: 0.4), .cutmix(alpha: 1)] {
            let obj = MixingObjective(mixing: mixing, classCount: 3, seed: 1)
            let valid = obj.prepare(batch, training: false)
            #expect(valid.inputs.tensor!.toArray() == x.toArray())
            let a = obj.prepare(batch, training: true), b = obj.prepare(batch, training: true)
            guard case .soft(let ta) = a.targets, case .soft(let tb) = b.targets else { Issue.record("soft targets expected"); continue }
            #expect(ta.toArray() == tb.toArray() && a.inputs.tensor!.toArray() == b.inputs.tensor!.toArray(), "same samples, same draw")
            #expect(a.inputs.tensor!.toArray() != x.toArray(), "\(mixing) changed the images")
            let rows = ta.toArray()
            for r in 0..<6 { #expect(Swift.abs(rows[(r * 3)..<(r * 3 + 3)].reduce(0, +) - 1) < 1e-5) }
            let loss = obj.loss(Outputs(Tensor.zeros([6, 3])), batch: a)
            #expect(Swift.abs(loss.item() - Foundation.log(3)) < 1e-5, "uniform logits: log C whatever the soft targets")
        }
    }

    @Test func zippedSourceCarriesASecondStreamAndRestartsItWhenShorter() throws {
        let (x, y) = blobs(48, seed: 1), (u, _) = blobs(20, seed: 2)
        let primary = TensorBatchSource(inputs: x, targets: .classes(y), batchSize: 16, shuffle: true, seed: 1)
        let unlabelled = TensorBatchSource(inputs: u, targets: .classes([Int](repeating: -1, count: 20)), batchSize: 8, shuffle: true, seed: 2)
        let zipped = ZippedBatchSource(primary: primary, others: [(name: "target", source: unlabelled)])
        let stream = try zipped.batches(epoch: 0)
        var seen: [Int] = []
        while let b = try stream.next() {
            #expect(b.count == 16)
            let t = try #require(b.streams["target"])
            seen += t.indices
        }
        #expect(seen.count == 3 * 8 - 4, "8 + 8 + 4 from the first pass; the third batch ends it")
        #expect(Set(seen).count == 20)
    }

    /// An objective that reads two streams: cross-entropy on the labelled batch plus entropy minimisation on the
    /// unlabelled one (Grandvalet & Bengio 2005), the shape of every domain-adaptation loss.
    final class EntropyMinimisation: TrainingObjective {
        func outputs(_ batch: TransferKit.Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs {
            var o = Outputs(forward(batch.inputs))
            if training, let t = batch.streams["target"] { o["target"] = forward(t.inputs) }
            return o
        }
        func loss(_ outputs: Outputs, batch: TransferKit.Batch) -> Tensor {
            let ce = ClassificationObjective().loss(outputs, batch: batch)
            guard let t = outputs["target"] else { return ce }
            let p = t.softmax(axis: 1)
            return ce + (-(p * t.logSoftmax(axis: 1)).sum() / Float(t.shape[0])) * 0.1
        }
    }

    @Test func anObjectiveOverTwoStreamsTrainsThroughTheLearner() throws {
        let (x, y) = blobs(240, seed: 10), (u, _) = blobs(120, seed: 12), (vx, vy) = blobs(90, seed: 11)
        let head = Head(.linear, inputs: 8, outputs: 3, seed: 1)
        let opt = AdamW(parameters: head.namedParameters().map { ($0.0, $0.1) }, learningRate: 0.05, weightDecay: 0)
        let source = ZippedBatchSource(primary: TensorBatchSource(inputs: x, targets: .classes(y), batchSize: 16, shuffle: true, seed: 1),
                                       others: [(name: "target", source: TensorBatchSource(inputs: u, targets: .classes([Int](repeating: 0, count: 120)),
                                                                                           batchSize: 16, shuffle: true, seed: 2))])
        let rec = StepRewriter()
        let l = Learner(model: head, objective: EntropyMinimisation(), optimizer: opt, trainData: source,
                        validData: TensorBatchSource(inputs: vx, targets: .classes(vy), batchSize: 64, shuffle: false), callbacks: [rec])
        try l.fit(epochs: 3)
        #expect(l.validMetric! > 0.9)
        #expect(l.history.allSatisfy { $0.trainLoss.isFinite })
    }
}
