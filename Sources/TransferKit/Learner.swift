import Foundation
import Layers
import Optimizers
import Tensors

/// The closed set of moments a ``Callback`` can act on (fastai's `_with_events`), in the order a fit meets them.
///
/// Within a training batch: `beforeBatch` (the batch may be replaced) → `afterPred` (the outputs may be replaced)
/// → `afterLoss` (the loss tensor may be replaced) → `beforeBackward` → backward → `beforeStep` (gradients are
/// readable and writable: clipping, all-reduce) → the optimizer step → `afterStep` → `afterBatch`. A callback that
/// throws a ``LearnerControl`` cancels part of the loop; `afterCancelBatch` / `afterCancelStep` /
/// `afterCancelEpoch` follow the cancellation.
public enum LearnerEvent: String, CaseIterable, Sendable {
    case beforeFit, beforeEpoch, beforeTrain, beforeBatch, afterPred, afterLoss, beforeBackward, beforeStep, afterStep
    case afterCancelStep, afterBatch, afterCancelBatch, afterTrain, afterCancelEpoch
    case beforeValidate, afterValidate, afterEpoch, afterFit
}

/// Something that reacts to learner events: progress, early stopping, checkpoints, logs, gradient clipping.
///
/// A callback reads and may replace ``Learner/batch``, ``Learner/outputs`` and ``Learner/loss`` at the events
/// where they are current, and cancels part of the loop by throwing a ``LearnerControl``.
open class Callback {
    /// Lower runs first.
    open var order: Int { 0 }
    /// Whether this callback writes files (checkpoints, logs): a data-parallel run keeps such callbacks on one
    /// process only, so that the ranks do not write the same files.
    open var writesFiles: Bool { false }
    public init() {}
    open func on(_ event: LearnerEvent, learner: Learner) throws {}
}

/// Cancellations thrown by callbacks (fastai's `CancelFitException`, `CancelBatchException`, …).
public enum LearnerControl: Error {
    /// End the fit after the current event (early stopping).
    case stopFit
    /// Skip the rest of this batch (no backward, no step); `afterCancelBatch` runs, then the next batch.
    case skipBatch
    /// Skip this optimizer step (thrown at `beforeStep`); `afterCancelStep` runs, then `afterBatch`.
    case skipStep
    /// End this epoch's training now; `afterCancelEpoch` runs, then validation.
    case stopEpoch
}

/// One epoch's record.
public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var phase: String
    public var trainLoss: Float
    public var validLoss: Float?
    /// The validation metric the run monitors (accuracy, or −MAE for regression).
    public var validMetric: Float?
    public var learningRate: Float
    public var seconds: Double

    public init(epoch: Int, phase: String, trainLoss: Float, validLoss: Float?, validMetric: Float?, learningRate: Float, seconds: Double) {
        self.epoch = epoch; self.phase = phase; self.trainLoss = trainLoss; self.validLoss = validLoss
        self.validMetric = validMetric; self.learningRate = learningRate; self.seconds = seconds
    }
}

/// Trains a module with a ``TrainingObjective`` and an optimizer, running callbacks at every ``LearnerEvent``.
///
/// The loop is fastai's `Learner.fit`: for each epoch, train over ``trainData`` (train mode, gradients), then
/// validate over ``validData`` (eval mode, no gradients). What a step computes is the objective's; everything else
/// (schedules, early stopping, checkpoints, progress, logs, clipping) is a ``Callback``.
public final class Learner {
    public let model: Module
    /// The prediction function: inputs → primary output (logits, or values for regression).
    public let forward: (BatchInputs) -> Tensor
    /// What a step computes: outputs and loss.
    public let objective: TrainingObjective
    public var optimizer: Optimizer
    public var trainData: BatchSource
    public var validData: BatchSource?
    public var callbacks: [Callback] { didSet { callbacks.sort { $0.order < $1.order } } }
    public var phase = "train"
    /// Seeds the stochastic layers before every step (with the step's number mixed in; see
    /// ``Layers/Module/reseedRandomness(_:)``), so a resumed fit draws the same dropout masks.
    public var seed: UInt64 = 0

    // State visible to callbacks; the batch, outputs and loss may be replaced where they are current.
    public internal(set) var epoch = 0
    public internal(set) var epochs = 0
    public internal(set) var iteration = 0
    public internal(set) var iterationsPerEpoch = 0
    /// The current batch (from `beforeBatch` to `afterBatch`).
    public var batch: Batch?
    /// The current outputs (from `afterPred`).
    public var outputs: Outputs?
    /// The current loss tensor (from `afterLoss`); backward runs from it.
    public var loss: Tensor?
    public internal(set) var lossValue: Float = .nan
    public internal(set) var trainLoss: Float = .nan
    public internal(set) var validLoss: Float?
    public internal(set) var validMetric: Float?
    public internal(set) var history: [EpochRecord] = []
    public internal(set) var epochStart = Date()
    public internal(set) var samplesSeenThisEpoch = 0
    /// Set by ``resume(from:)`` when the checkpoint was written at the end of a fit: the next fit does nothing.
    var resumedFinished = false
    /// Σ loss · batch size over this epoch's steps so far.
    var lossSum: Double = 0

    /// A learner whose batches may hold tensors or tokenized texts.
    public init(model: Module, forward: @escaping (BatchInputs) -> Tensor, objective: TrainingObjective, optimizer: Optimizer,
                trainData: BatchSource, validData: BatchSource?, callbacks: [Callback] = []) {
        self.model = model; self.forward = forward; self.objective = objective
        self.optimizer = optimizer; self.trainData = trainData; self.validData = validData
        self.callbacks = callbacks.sorted { $0.order < $1.order }
    }

    /// A learner over tensor batches (images, cached features) of a one-tensor model.
    public convenience init(model: Module & UnaryLayer, objective: TrainingObjective, optimizer: Optimizer,
                            trainData: BatchSource, validData: BatchSource?, callbacks: [Callback] = []) {
        self.init(model: model, forward: { inputs in
            guard let x = inputs.tensor else { preconditionFailure("this model takes tensors, but the batch holds tokenized texts") }
            return model(x)
        }, objective: objective, optimizer: optimizer, trainData: trainData, validData: validData, callbacks: callbacks)
    }

    public func add(_ callback: Callback) { callbacks.append(callback) }

    func emit(_ e: LearnerEvent) throws { for c in callbacks { try c.on(e, learner: self) } }

    /// Trains for `epochs` epochs (starting after any epochs already in ``history``, so a resumed run continues).
    public func fit(epochs: Int) throws {
        self.epochs = epochs
        if resumedFinished {
            resumedFinished = false
            return
        }
        let first = history.filter { $0.phase == phase }.count
        do {
            try emit(.beforeFit)
            for e in first..<epochs {
                epoch = e
                epochStart = Date()
                try emit(.beforeEpoch)
                try trainEpoch()
                try validate()
                history.append(EpochRecord(epoch: e, phase: phase, trainLoss: trainLoss, validLoss: validLoss,
                                           validMetric: validMetric, learningRate: optimizer.learningRates.last ?? 0,
                                           seconds: Date().timeIntervalSince(epochStart)))
                try emit(.afterEpoch)
            }
        } catch LearnerControl.stopFit {}
        try emit(.afterFit)
    }

    func trainEpoch() throws {
        model.train()
        let batches = try trainData.batches(epoch: epoch)
        iterationsPerEpoch = batches.count
        samplesSeenThisEpoch = 0
        try emit(.beforeTrain)
        lossSum = 0
        var stopped = false
        while !stopped, let b = try batches.next() {
            batch = b
            do {
                try oneBatch()
            } catch LearnerControl.skipBatch {
                try emit(.afterCancelBatch)
            } catch LearnerControl.stopEpoch {
                stopped = true
            }
            iteration += 1
            if !stopped {
                do { try emit(.afterBatch) } catch LearnerControl.stopEpoch { stopped = true }
            }
            if stopped { try emit(.afterCancelEpoch) }
        }
        trainLoss = Float(lossSum / Double(Swift.max(samplesSeenThisEpoch, 1)))
        outputs = nil
        loss = nil
        batch = nil
        try emit(.afterTrain)
    }

    /// One training step on ``batch``: the objective's forward and loss, backward, the optimizer step, with the
    /// events between them.
    func oneBatch() throws {
        try emit(.beforeBatch)
        model.reseedRandomness(seed &+ UInt64(iteration) &* 0x2545_F491_4F6C_DD1D)
        let prepared = objective.prepare(batch!, training: true)
        batch = prepared
        outputs = objective.outputs(prepared, forward: forward, training: true)
        try emit(.afterPred)
        loss = objective.loss(outputs!, batch: batch!)
        lossValue = loss!.item()
        lossSum += Double(lossValue) * Double(batch!.count)
        samplesSeenThisEpoch += batch!.count
        try emit(.afterLoss)
        try emit(.beforeBackward)
        optimizer.zeroGrad()
        loss!.backward()
        do {
            try emit(.beforeStep)
            optimizer.step()
            try emit(.afterStep)
        } catch LearnerControl.skipStep {
            try emit(.afterCancelStep)
        }
    }

    func validate() throws {
        guard let validData else { validLoss = nil; validMetric = nil; return }
        try emit(.beforeValidate)
        let (out, loss, targets) = try evaluate(validData)
        validLoss = loss
        validMetric = objective.metric(out, targets: targets)
        try emit(.afterValidate)
    }

    /// Primary outputs of every batch of `source` (eval mode, no gradients), with the mean objective loss and the
    /// targets in the same order.
    public func evaluate(_ source: BatchSource) throws -> (outputs: Tensor, loss: Float, targets: Targets) {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let stream = try source.batches(epoch: 0)
        var outs: [Tensor] = [], parts: [Targets] = []
        var total = 0.0, n = 0
        while let raw = try stream.next() {
            try withNoGrad {
                let b = objective.prepare(raw, training: false)
                let o = objective.outputs(b, forward: forward, training: false)
                total += Double(objective.loss(o, batch: b).item()) * Double(b.count)
                n += b.count
                outs.append(o.primary)
                parts.append(b.targets)
            }
        }
        guard !parts.isEmpty else { return (Tensor.zeros([0]), .nan, .classes([])) }
        return (Tensor.concat(outs, axis: 0), Float(total / Double(Swift.max(n, 1))), Targets.concatenated(parts))
    }

    /// Primary outputs of every batch of `source` (eval mode, no gradients), concatenated, with the targets in the
    /// same order.
    public func predict(_ source: BatchSource) throws -> (outputs: Tensor, targets: Targets) {
        let r = try evaluate(source)
        return (r.outputs, r.targets)
    }
}
