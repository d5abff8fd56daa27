import Datasets
import Foundation
import Tensors

/// A whole `transfer train` run as a library call: split, train per the strategy, evaluate on validation (and test)
/// data, write the bundle (manifest with the run's configuration and headline metrics, thresholds, weights) and
/// remove the run's checkpoints. The CLI calls this and only prints; a library user gets the same bundle.
public struct TrainingRun {
    public var backbone: FeatureBackbone
    public var options: TrainOptions
    /// The data's name for the manifest and reports (e.g. the path given to `--data`).
    public var dataName: String
    /// Most confidently wrong predictions to keep for a report (classification).
    public var mistakes = 0
    /// Continue from the checkpoints in ``TrainOptions/checkpointDirectory`` instead of starting over.
    public var resume = false
    /// Objective override and extra callbacks, passed to ``TransferTrainer``.
    public var objective: ((_ phase: String, _ task: TaskKind, _ outputs: Int) -> TrainingObjective)?
    public var callbacks: [Callback] = []

    public init(backbone: FeatureBackbone, options: TrainOptions, dataName: String) {
        self.backbone = backbone; self.options = options; self.dataName = dataName
    }

    /// What the run produced.
    public struct Outcome {
        public var result: TrainResult
        public var trainSize: Int
        public var validation: MetricsReport?
        public var test: MetricsReport?
        public var mistakes: [Mistake]
        public var skipped: [(path: String, reason: String)]
        /// The configuration recorded in the manifest (`training`).
        public var configuration: [String: String]
        /// The headline metrics recorded in the manifest (`metrics`).
        public var metrics: [String: Double]
        public var seconds: Double
    }

    /// Trains on `data` (split by ``TrainOptions/validationFraction``), evaluates on `test` when given, and writes the
    /// bundle to `bundle`.
    public func run(_ data: LabeledData, test: LabeledData?, bundle: URL) throws -> Outcome {
        let start = Date()
        let (train, valid) = try data.split(validation: options.validationFraction, seed: options.seed)
        if !resume, let dir = options.checkpointDirectory { try? FileManager.default.removeItem(at: dir) }
        if !resume, let dir = options.logDirectory {
            for f in ["metrics.csv", "metrics.jsonl"] { try? FileManager.default.removeItem(at: dir.appendingPathComponent(f)) }
        }
        let trainer = TransferTrainer(backbone: backbone, options: options)
        trainer.objective = objective
        trainer.callbacks = callbacks
        let result = try trainer.train(train, validation: valid)
        var skipped = result.skipped, testMetrics: MetricsReport?, mistakes: [Mistake] = []
        if let test {
            let r = try result.model.evaluateWithMistakes(test, mistakes: self.mistakes)
            testMetrics = r.metrics
            mistakes = r.mistakes
            skipped += r.skipped.map { (path: $0.0, reason: $0.1) }
        }
        let validEval = valid.inputs.isEmpty ? nil : try result.model.evaluateWithMistakes(valid, mistakes: test == nil ? self.mistakes : 0)
        if mistakes.isEmpty { mistakes = validEval?.mistakes ?? [] }
        var metrics: [String: Double] = [:]
        if let v = validEval?.metrics { metrics.merge(v.headlineValues(prefix: "validation")) { $1 } }
        if let t = testMetrics { metrics.merge(t.headlineValues(prefix: "test")) { $1 } }
        let config = configuration(task: data.task, headLearningRate: result.headLearningRate)
        try ModelBundle.save(result.model, to: bundle, training: config, metrics: metrics)
        if let dir = options.checkpointDirectory { try? FileManager.default.removeItem(at: dir) }
        return Outcome(result: result, trainSize: train.inputs.count, validation: validEval?.metrics, test: testMetrics,
                       mistakes: mistakes, skipped: skipped, configuration: config, metrics: metrics,
                       seconds: Date().timeIntervalSince(start))
    }

    /// The options as the manifest records them.
    func configuration(task: TaskKind, headLearningRate: Float) -> [String: String] {
        var c: [String: String] = ["data": dataName, "strategy": options.strategy.rawValue, "task": task.flag]
        c["seed"] = String(options.seed)
        c["lr"] = String(options.learningRate)
        c["head_lr"] = String(headLearningRate)
        c["batch_size"] = String(options.batchSize)
        c["augment"] = options.augment.rawValue
        c["views"] = String(options.augmentedViews)
        c["unfreeze"] = options.unfreeze.map(String.init) ?? "all"
        c["head_epochs"] = String(options.headEpochs)
        c["fine_tune_epochs"] = String(options.fineTuneEpochs)
        if let m = options.mixing { c["mixing"] = m.description }
        return c
    }
}

extension MetricsReport {
    /// Flat headline numbers for a bundle's manifest (`validation_accuracy`, `test_macro_f1`, …).
    public func headlineValues(prefix: String) -> [String: Double] {
        switch self {
        case .classification(let c): [prefix + "_accuracy": c.accuracy, prefix + "_macro_f1": c.macroF1]
        case .multiLabel(let c): [prefix + "_micro_f1": c.microF1, prefix + "_macro_f1": c.macroF1]
        case .regression(let r): [prefix + "_mae": r.mae, prefix + "_rmse": r.rmse, prefix + "_r2": r.r2]
        }
    }
}
