import Foundation
import Layers
import Models
import Optimizers
import Tensors

/// What a batch's targets are.
public enum Targets {
    /// Class indices, for softmax classification.
    case classes([Int])
    /// Multi-hot rows `[N, C]`, for multi-label classification.
    case multiHot(Tensor)
    /// Real values `[N, outputs]`, for regression.
    case values(Tensor)

    public var count: Int {
        switch self {
        case .classes(let c): c.count
        case .multiHot(let t), .values(let t): t.shape[0]
        }
    }
}

/// What a batch feeds the model: a tensor (images, cached features) or tokenized texts.
public enum BatchInputs {
    case tensor(Tensor)
    case tokens(BatchEncoding)

    /// The tensor of a `.tensor` batch (a forward pass that only takes tensors calls this).
    public var tensor: Tensor {
        guard case .tensor(let t) = self else { fatalError("this model takes tensors, but the batch holds tokenized texts") }
        return t
    }
}

/// One mini-batch: model inputs, targets, and the dataset indices the rows came from.
public struct Batch {
    public let inputs: BatchInputs
    public let targets: Targets
    public let indices: [Int]
    public init(inputs: BatchInputs, targets: Targets, indices: [Int]) {
        self.inputs = inputs; self.targets = targets; self.indices = indices
    }
    public init(inputs: Tensor, targets: Targets, indices: [Int]) {
        self.init(inputs: .tensor(inputs), targets: targets, indices: indices)
    }
    public var count: Int { indices.count }
}

/// One epoch's batches, produced one at a time (so an image epoch never sits in memory whole).
public final class BatchStream {
    /// Batches this epoch will yield when no sample fails.
    public let count: Int
    private let produce: () throws -> Batch?

    public init(count: Int, next: @escaping () throws -> Batch?) { self.count = count; produce = next }

    /// A stream over batches already in memory.
    public convenience init(_ batches: [Batch]) {
        var i = 0
        self.init(count: batches.count) {
            defer { i += 1 }
            return i < batches.count ? batches[i] : nil
        }
    }

    /// The next batch, or nil at the end of the epoch.
    public func next() throws -> Batch? { try produce() }
}

/// A source of batches, one pass per epoch.
public protocol BatchSource {
    /// Number of samples in one pass.
    var sampleCount: Int { get }
    /// The batches of epoch `epoch` (shuffled by the source when it trains).
    func batches(epoch: Int) throws -> BatchStream
}

/// In-memory rows (e.g. cached features) with their targets, shuffled per epoch with a seed.
public struct TensorBatchSource: BatchSource {
    public let inputs: Tensor
    public let targets: Targets
    public let batchSize: Int
    public let shuffle: Bool
    public let seed: UInt64

    public init(inputs: Tensor, targets: Targets, batchSize: Int, shuffle: Bool, seed: UInt64 = 0) {
        precondition(inputs.shape[0] == targets.count, "TensorBatchSource: \(inputs.shape[0]) rows, \(targets.count) targets")
        self.inputs = inputs; self.targets = targets; self.batchSize = batchSize; self.shuffle = shuffle; self.seed = seed
    }

    public var sampleCount: Int { inputs.shape[0] }

    public func batches(epoch: Int) -> BatchStream {
        var order = Array(0..<sampleCount)
        if shuffle {
            var g = SeededGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        }
        return BatchStream(stride(from: 0, to: order.count, by: batchSize).map { start in
            let idx = Array(order[start..<Swift.min(order.count, start + batchSize)])
            let t: Targets
            switch targets {
            case .classes(let c): t = .classes(idx.map { c[$0] })
            case .multiHot(let m): t = .multiHot(m.indexSelect(axis: 0, indices: idx))
            case .values(let v): t = .values(v.indexSelect(axis: 0, indices: idx))
            }
            return Batch(inputs: inputs.indexSelect(axis: 0, indices: idx), targets: t, indices: idx)
        })
    }
}

/// The closed set of moments a ``Callback`` can act on (fastai's `_with_events`), in the order a fit meets them.
public enum LearnerEvent: String, CaseIterable, Sendable {
    case beforeFit, beforeEpoch, beforeTrain, beforeBatch, afterLoss, afterStep, afterBatch, afterTrain
    case beforeValidate, afterValidate, afterEpoch, afterFit
}

/// Something that reacts to learner events: progress, early stopping, checkpoints, logs.
///
/// Throw ``LearnerControl/stopFit`` to end training after the current event (early stopping does).
open class Callback {
    /// Lower runs first.
    open var order: Int { 0 }
    public init() {}
    open func on(_ event: LearnerEvent, learner: Learner) throws {}
}

/// Control flow thrown by callbacks.
public enum LearnerControl: Error { case stopFit }

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
}

/// Trains a module on batches with a loss and an optimizer, running callbacks at every ``LearnerEvent``.
///
/// The loop is fastai's `Learner.fit`: for each epoch, train over ``trainData`` (train mode, gradients), then
/// validate over ``validData`` (eval mode, no gradients). Everything else — schedules, early stopping,
/// checkpoints, progress, logs — is a ``Callback``.
public final class Learner {
    public let model: Module
    /// The forward pass: inputs → outputs (logits, or values for regression).
    public let forward: (BatchInputs) -> Tensor
    /// The loss of outputs against a batch's targets.
    public let lossFunction: (Tensor, Targets) -> Tensor
    /// The validation metric, higher is better (accuracy by default).
    public let metric: (Tensor, Targets) -> Float
    public var optimizer: Optimizer
    public var trainData: BatchSource
    public var validData: BatchSource?
    public internal(set) var callbacks: [Callback]
    public var phase = "train"
    /// Seeds the stochastic layers before every step (with the step's number mixed in; see
    /// ``Layers/Module/reseedRandomness(_:)``), so a resumed fit draws the same dropout masks.
    public var seed: UInt64 = 0

    // State visible to callbacks.
    public internal(set) var epoch = 0
    public internal(set) var epochs = 0
    public internal(set) var iteration = 0
    public internal(set) var iterationsPerEpoch = 0
    public internal(set) var batch: Batch?
    public internal(set) var outputs: Tensor?
    public internal(set) var lossValue: Float = .nan
    public internal(set) var trainLoss: Float = .nan
    public internal(set) var validLoss: Float?
    public internal(set) var validMetric: Float?
    public internal(set) var history: [EpochRecord] = []
    public internal(set) var epochStart = Date()
    public internal(set) var samplesSeenThisEpoch = 0
    /// Set by ``resume(from:)`` when the checkpoint was written at the end of a fit: the next fit does nothing.
    var resumedFinished = false

    /// A learner whose batches may hold tensors or tokenized texts.
    public init(model: Module, forwardBatch: @escaping (BatchInputs) -> Tensor, loss: @escaping (Tensor, Targets) -> Tensor,
                metric: @escaping (Tensor, Targets) -> Float = Learner.accuracy, optimizer: Optimizer,
                trainData: BatchSource, validData: BatchSource?, callbacks: [Callback] = []) {
        self.model = model; self.forward = forwardBatch; self.lossFunction = loss; self.metric = metric
        self.optimizer = optimizer; self.trainData = trainData; self.validData = validData
        self.callbacks = callbacks.sorted { $0.order < $1.order }
    }

    /// A learner over tensor batches (images, cached features).
    public convenience init(model: Module, forward: @escaping (Tensor) -> Tensor, loss: @escaping (Tensor, Targets) -> Tensor,
                            metric: @escaping (Tensor, Targets) -> Float = Learner.accuracy, optimizer: Optimizer,
                            trainData: BatchSource, validData: BatchSource?, callbacks: [Callback] = []) {
        self.init(model: model, forwardBatch: { forward($0.tensor) }, loss: loss, metric: metric, optimizer: optimizer,
                  trainData: trainData, validData: validData, callbacks: callbacks)
    }

    public func add(_ callback: Callback) {
        callbacks.append(callback)
        callbacks.sort { $0.order < $1.order }
    }

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
        var total: Double = 0
        while let b = try batches.next() {
            batch = b
            try emit(.beforeBatch)
            model.reseedRandomness(seed &+ UInt64(iteration) &* 0x2545_F491_4F6C_DD1D)
            let out = forward(b.inputs)
            outputs = out
            let loss = lossFunction(out, b.targets)
            lossValue = loss.item()
            try emit(.afterLoss)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
            try emit(.afterStep)
            total += Double(lossValue) * Double(b.count)
            samplesSeenThisEpoch += b.count
            iteration += 1
            try emit(.afterBatch)
        }
        trainLoss = Float(total / Double(Swift.max(samplesSeenThisEpoch, 1)))
        outputs = nil
        batch = nil
        try emit(.afterTrain)
    }

    func validate() throws {
        guard let validData else { validLoss = nil; validMetric = nil; return }
        try emit(.beforeValidate)
        let (out, targets) = try predict(validData)
        validLoss = withNoGrad { lossFunction(out, targets).item() }
        validMetric = metric(out, targets)
        try emit(.afterValidate)
    }

    /// Model outputs for every batch of `source` (eval mode, no gradients), concatenated, with the targets in
    /// the same order.
    public func predict(_ source: BatchSource) throws -> (outputs: Tensor, targets: Targets) {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        let stream = try source.batches(epoch: 0)
        var outs: [Tensor] = [], parts: [Targets] = []
        while let b = try stream.next() {
            outs.append(withNoGrad { forward(b.inputs) })
            parts.append(b.targets)
        }
        guard let first = parts.first else { return (Tensor.zeros([0]), .classes([])) }
        let out = Tensor.concat(outs, axis: 0)
        switch first {
        case .classes:
            var all: [Int] = []
            for case .classes(let c) in parts { all += c }
            return (out, .classes(all))
        case .multiHot: return (out, .multiHot(Tensor.concat(parts.compactMap { if case .multiHot(let m) = $0 { m } else { nil } }, axis: 0)))
        case .values: return (out, .values(Tensor.concat(parts.compactMap { if case .values(let v) = $0 { v } else { nil } }, axis: 0)))
        }
    }

    /// Fraction of rows whose argmax is the target class.
    public static func accuracy(_ outputs: Tensor, _ targets: Targets) -> Float {
        guard case .classes(let c) = targets, !c.isEmpty else { return .nan }
        let pred = outputs.argmax(axis: 1)
        return Float(zip(pred, c).filter { $0 == $1 }.count) / Float(c.count)
    }

    /// Cross-entropy for class targets, binary cross-entropy for multi-hot, MSE for values.
    public static func defaultLoss(labelSmoothing: Float = 0) -> (Tensor, Targets) -> Tensor {
        { out, targets in
            switch targets {
            case .classes(let c): Tensor.crossEntropy(logits: out, targets: c, labelSmoothing: labelSmoothing)
            case .multiHot(let m): Tensor.binaryCrossEntropyWithLogits(logits: out, targets: m)
            case .values(let v): Tensor.mseLoss(out, v)
            }
        }
    }
}
