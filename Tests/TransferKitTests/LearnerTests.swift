import Checkpoints
import Foundation
import Layers
import Optimizers
import Testing
@testable import Tensors
@testable import TransferKit

/// Three Gaussian blobs in 8-D: a linear head must separate them.
func blobs(_ n: Int, seed: UInt64) -> (Tensor, [Int]) {
    var g = SeededGenerator(seed: seed)
    var data: [Float] = [], labels: [Int] = []
    for i in 0..<n {
        let c = i % 3
        labels.append(c)
        for d in 0..<8 { data.append((d % 3 == c ? 2 : 0) + 0.7 * g.nextNormal()) }
    }
    return (Tensor(shape: [n, 8], data: data), labels)
}

func makeLearner(seed: UInt64 = 1, callbacks: [Callback] = [], lr: Float = 0.05) -> (Learner, Head) {
    let (x, y) = blobs(240, seed: 10), (vx, vy) = blobs(90, seed: 11)
    let head = Head(.linear, inputs: 8, outputs: 3, seed: seed)
    let opt = AdamW(parameters: head.namedParameters().map { ($0.0, $0.1) }, learningRate: lr, weightDecay: 0)
    let learner = Learner(model: head, objective: ClassificationObjective(), optimizer: opt,
                          trainData: TensorBatchSource(inputs: x, targets: .classes(y), batchSize: 16, shuffle: true, seed: seed),
                          validData: TensorBatchSource(inputs: vx, targets: .classes(vy), batchSize: 64, shuffle: false),
                          callbacks: callbacks)
    return (learner, head)
}

/// Throws after epoch `epoch` is checkpointed, as a kill would end the run.
final class CrashAfter: Callback {
    struct Crash: Error {}
    let epoch: Int
    init(epoch: Int) { self.epoch = epoch }
    override var order: Int { 99 }
    override func on(_ event: LearnerEvent, learner: Learner) throws {
        if event == .afterEpoch && learner.epoch == epoch { throw Crash() }
    }
}

/// Records the events a fit emits.
final class EventRecorder: Callback {
    var events: [LearnerEvent] = []
    override func on(_ event: LearnerEvent, learner: Learner) throws { events.append(event) }
}

@Suite(.serialized) struct LearnerTests {
    @Test func fitLearnsAndEmitsTheClosedSetOfEventsInOrder() throws {
        let rec = EventRecorder()
        let (l, _) = makeLearner(callbacks: [rec])
        try l.fit(epochs: 3)
        #expect(l.history.count == 3)
        #expect(l.validMetric! > 0.9, "validation accuracy \(l.validMetric!)")
        #expect(rec.events.first == .beforeFit && rec.events.last == .afterFit)
        let cancels: Set<LearnerEvent> = [.afterCancelBatch, .afterCancelStep, .afterCancelEpoch]
        #expect(Set(rec.events) == Set(LearnerEvent.allCases).subtracting(cancels))
        let perEpoch = rec.events.filter { $0 == .afterBatch }.count / 3
        #expect(perEpoch == 15)  // 240 / 16
    }

    @Test func earlyStoppingStopsAndRestoresTheBestWeights() throws {
        // A huge learning rate makes validation loss bounce; early stopping must stop and restore the best epoch.
        let stopper = EarlyStopping(monitor: .validLoss, patience: 2)
        let bestFile = FileManager.default.temporaryDirectory.appendingPathComponent("tk-best-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: bestFile) }
        let checkpoint = BestCheckpoint(path: bestFile)
        let (l, head) = makeLearner(callbacks: [stopper, checkpoint], lr: 3)
        try l.fit(epochs: 40)
        // The best-checkpoint file holds the weights early stopping restored.
        #expect(checkpoint.bestEpoch == stopper.bestEpoch)
        let saved = try SafeTensorsFile(path: bestFile.path).tensors()
        for (k, t) in head.stateDict() { #expect(saved[k]?.toArray() == t.toArray(), "\(k)") }
        #expect(stopper.stoppedEarly)
        #expect(l.history.count < 40)
        let best = l.history.min { ($0.validLoss ?? .infinity) < ($1.validLoss ?? .infinity) }!
        #expect(best.epoch == stopper.bestEpoch)
        let (out, targets) = try l.predict(l.validData!)
        let restoredLoss = withNoGrad { ClassificationObjective().loss(Outputs(out), batch: Batch(inputs: out, targets: targets, indices: [])).item() }
        #expect(Swift.abs(restoredLoss - best.validLoss!) < 1e-5)
        _ = head
    }

    @Test func earlyStoppingStateSurvivesAResumeAndAFinishedCheckpointEndsTheFit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-resume-es-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fullStopper = EarlyStopping(monitor: .validLoss, patience: 2)
        let (full, fullHead) = makeLearner(callbacks: [fullStopper], lr: 3)
        try full.fit(epochs: 40)
        #expect(fullStopper.stoppedEarly)
        let ckpt = dir.appendingPathComponent("resume.safetensors")
        let crashAt = full.history.count - 2  // after the best epoch or while waiting: the stopper's state matters
        let (first, _) = makeLearner(callbacks: [EarlyStopping(monitor: .validLoss, patience: 2), ResumeCheckpoint(path: ckpt),
                                                 CrashAfter(epoch: crashAt)], lr: 3)
        #expect(throws: CrashAfter.Crash.self) { try first.fit(epochs: 40) }
        let stopper = EarlyStopping(monitor: .validLoss, patience: 2)
        let (second, secondHead) = makeLearner(callbacks: [stopper, ResumeCheckpoint(path: ckpt)], lr: 3)
        try second.resume(from: ckpt)
        try second.fit(epochs: 40)
        #expect(second.history == full.history.map { var r = $0; r.seconds = second.history[$0.epoch].seconds; return r })
        #expect(stopper.stoppedEarly && stopper.bestEpoch == fullStopper.bestEpoch)
        for ((_, a), (_, b)) in zip(fullHead.stateDict(), secondHead.stateDict()) { #expect(a.toArray() == b.toArray()) }
        // The checkpoint written at the end is marked finished: resuming from it trains nothing more.
        let (third, thirdHead) = makeLearner(callbacks: [ResumeCheckpoint(path: ckpt)], lr: 3)
        try third.resume(from: ckpt)
        try third.fit(epochs: 40)
        #expect(third.history.count == full.history.count)
        for ((_, a), (_, b)) in zip(fullHead.stateDict(), thirdHead.stateDict()) { #expect(a.toArray() == b.toArray()) }
    }

    @Test func resumedRunFinishesWithTheSameWeightsAsAnUninterruptedOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-resume-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (full, fullHead) = makeLearner()
        try full.fit(epochs: 4)
        // Killed during the third epoch (the checkpoint of epoch 2 is what survives), then resumed in a fresh learner.
        let ckpt = dir.appendingPathComponent("resume.safetensors")
        let (first, _) = makeLearner(callbacks: [ResumeCheckpoint(path: ckpt), CrashAfter(epoch: 1)])
        #expect(throws: CrashAfter.Crash.self) { try first.fit(epochs: 4) }
        let (second, secondHead) = makeLearner(callbacks: [ResumeCheckpoint(path: ckpt)])
        #expect(try second.resume(from: ckpt))
        try second.fit(epochs: 4)
        #expect(second.history.count == 4)
        for ((_, a), (_, b)) in zip(fullHead.stateDict(), secondHead.stateDict()) { #expect(a.toArray() == b.toArray()) }
    }

    @Test func metricsLogWritesCSVAndJSONLines() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-log-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (l, _) = makeLearner(callbacks: [MetricsLog(directory: dir)])
        try l.fit(epochs: 2)
        let csv = try String(contentsOf: dir.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 3 && csv[0].hasPrefix("phase,epoch"))
        let jsonl = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(jsonl.count == 2 && jsonl[0].contains("\"train_loss\""))
    }
}
