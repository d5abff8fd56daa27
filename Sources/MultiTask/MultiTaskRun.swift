import Foundation
import Optimizers
import Tensors
import TransferKit

/// Trains one head per task on a frozen backbone's cached features (the features strategy for several tasks):
/// features of every input once (cached), a seeded train/validation split, the heads with AdamW and a one-cycle
/// schedule under ``MultiTaskObjective``, and scores on validation and test data.
public struct MultiTaskRun {
    public var backbone: FeatureBackbone
    public var weighting: LossWeighting = .fixed
    public var epochs = 30
    public var learningRate: Float = 1e-2
    public var batchSize = 64
    public var validationFraction = 0.1
    public var seed: UInt64 = 0
    public var featureCacheRoot: URL
    /// Callbacks added to the learner (a progress bar, logs).
    public var callbacks: [Callback] = []

    public init(backbone: FeatureBackbone, featureCacheRoot: URL) {
        self.backbone = backbone; self.featureCacheRoot = featureCacheRoot
    }

    public struct Outcome {
        public var model: MultiTaskModel
        public var history: [EpochRecord]
        public var validation: [TaskScore]
        public var test: [TaskScore]?
        /// Each training epoch's mean loss per task, and the weights in force at the end (learned σ² or DWA's).
        public var epochLosses: [[Float]]
        public var finalWeights: [Float]
        public var skipped: [(String, String)]
    }

    public func run(_ data: MultiTaskData, test: MultiTaskData?) throws -> Outcome {
        guard (0..<1).contains(validationFraction), epochs >= 1, batchSize >= 1, learningRate > 0, learningRate <= 10 else {
            throw MultiTaskError.invalidSpec(file: "options", reason: "epochs \(epochs) (≥ 1), batch \(batchSize) (≥ 1), lr \(learningRate) in (0, 10], validation \(validationFraction) in [0, 1)")
        }
        let cache = backbone.featureCache(root: featureCacheRoot)
        let f = backbone.features(data.inputs, cache: cache, batchSize: 32)
        guard f.kept.count >= 2 else { throw TrainError.nothingToTrain("fewer than 2 readable inputs") }
        var order = Array(f.kept.indices)
        var g = SeededGenerator(seed: seed)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        let nValid = Int((Double(order.count) * validationFraction).rounded())
        let validRows = Array(order.prefix(nValid)).sorted(), trainRows = Array(order.dropFirst(nValid)).sorted()
        let trainX = f.features.indexSelect(axis: 0, indices: trainRows)
        let heads = MultiTaskHeads(tasks: data.tasks, inputs: backbone.dimension, weighting: weighting, seed: seed)
        heads.standardize(using: trainX)
        let objective = MultiTaskObjective(heads: heads, weighting: weighting)
        let opt = AdamW(parameters: heads.namedParameters().map { ($0.0, $0.1) }, learningRate: learningRate, weightDecay: 1e-4)
        opt.setSchedule(OneCycleSchedule(), totalSteps: Swift.max(1, epochs * ((trainRows.count + batchSize - 1) / batchSize)))
        let targets = { (rows: [Int]) in Targets.values(MultiTaskData.targetMatrix(data, rows: rows.map { f.kept[$0] })) }
        let validData: BatchSource? = validRows.isEmpty ? nil
            : TensorBatchSource(inputs: f.features.indexSelect(axis: 0, indices: validRows), targets: targets(validRows), batchSize: 256, shuffle: false)
        let learner = Learner(model: heads, forward: { $0.tensor ?? Tensor.zeros([0]) }, objective: objective, optimizer: opt,
                              trainData: TensorBatchSource(inputs: trainX, targets: targets(trainRows), batchSize: batchSize, shuffle: true, seed: seed),
                              validData: validData, callbacks: callbacks + [objective.epochCallback])
        learner.phase = "multitask"
        learner.seed = seed
        try learner.fit(epochs: epochs)
        heads.eval()
        let model = MultiTaskModel(backbone: backbone, heads: heads)
        model.featureCache = cache
        let valid = validRows.isEmpty ? [] : model.evaluate(data.subset(validRows.map { f.kept[$0] }))
        let finalWeights = heads.logVariance.map { $0.toArray().map { Foundation.exp(-$0) / 2 } } ?? objective.currentWeights()
        return Outcome(model: model, history: learner.history, validation: valid, test: test.map { model.evaluate($0) },
                       epochLosses: objective.epochLosses, finalWeights: finalWeights, skipped: f.failed)
    }
}
