import Datasets
import Foundation
import HeadFitting
import Tensors
import TransferKit

/// What `transfer tune` searches.
public enum TuneSpace: String, Sendable, CaseIterable {
    /// Head-only trials on the cached features (cheap): head kind (logistic, linear, mlp), the logistic head's C, the
    /// gradient-trained heads' learning rate, weight decay, epochs and label smoothing.
    case head
    /// Head trials and fine-tune trials (the head space plus the top group's learning rate, the unfreeze depth, the
    /// augmentation policy and the fine-tuning epochs, pruned per epoch): each fine-tune trial trains the backbone.
    case all
}

/// The validation score a search optimises.
public enum TuneMetric: String, Sendable, CaseIterable {
    /// Validation log-loss (minimised): smoother than accuracy on a small validation split.
    case logLoss = "log-loss"
    /// Validation accuracy (maximised).
    case accuracy
    var direction: Direction { self == .accuracy ? .maximize : .minimize }
}

/// Which sampler proposes trials.
public enum SamplerKind: String, Sendable, CaseIterable { case tpe, random }

/// Options of a search.
public struct TuneOptions: Sendable {
    /// The options every trial starts from (strategy, batch size, seed, …); trials override what they sample.
    public var base = TrainOptions()
    public var space: TuneSpace = .head
    public var sampler: SamplerKind = .tpe
    public var budget: Budget = .trials(30)
    public var metric: TuneMetric = .logLoss
    /// Successive-halving pruning of gradient-trained trials (per epoch), and of cross-validated trials (per fold).
    public var pruning = true
    /// Folds of the cross-validated head trials of a search with no validation split (2…20; fewer when a class has
    /// fewer examples).
    public var folds = 5
    public static let foldsRange = 2...20
    public init() {}
}

/// One trial's configuration as `transfer train` options.
public struct TrialConfiguration: Sendable {
    public var options: TrainOptions
    /// The logistic head's fixed C (nil: cross-validated).
    public var logisticC: Double?

    /// The configuration as `transfer train --config` keys (the flags' names): what ``TransferTuner`` writes.
    public func trainConfig(model: String) -> [String: Any] {
        let o = options
        var c: [String: Any] = ["model": model, "strategy": o.strategy.rawValue, "head": o.head.rawValue, "seed": o.seed,
                                "batch-size": o.batchSize, "val-split": o.validationFraction, "label-smoothing": Double(o.labelSmoothing)]
        if o.head == .logistic {
            if let logisticC { c["logistic-c"] = logisticC }
        } else {
            c["head-epochs"] = o.headEpochs
            c["head-weight-decay"] = Double(o.headWeightDecay)
            if let lr = o.headLearningRate { c["head-lr"] = Double(lr) }
        }
        if o.strategy != .features {
            c["lr"] = Double(o.learningRate); c["epochs"] = o.fineTuneEpochs; c["augment"] = o.augment.rawValue
            c["unfreeze"] = o.unfreeze.map { String($0) } ?? "all"
        }
        return c
    }
}

/// A hyper-parameter search over TransferKit's head and fine-tuning options, with the samplers and pruner of this
/// module: head trials train on the cached features (nothing touches the backbone) and are scored on a validation
/// split or, with none, by stratified k-fold cross-validation on the training rows (scikit-learn's
/// `LogisticRegressionCV` protocol, applied to every head kind); fine-tune trials start from the pretrained weights
/// each time and are scored on the validation split.
public final class TransferTuner {
    public let backbone: FeatureBackbone
    public let options: TuneOptions
    /// Called after every trial: the progress line and the seam where an experiment tracker records trials.
    public var onTrialFinished: ((FrozenTrial) -> Void)?

    public init(backbone: FeatureBackbone, options: TuneOptions) {
        self.backbone = backbone; self.options = options
    }

    /// What a search found.
    public struct Result {
        public var trials: [FrozenTrial]
        public var best: FrozenTrial
        public var bestConfiguration: TrialConfiguration
        public var seconds: Double
    }

    /// Runs the search on `train`, scoring each trial on `validation` (classification), or by cross-validation on
    /// `train` when `validation` is empty (head space only).
    public func tune(train: LabeledData, validation: LabeledData) throws -> Result {
        let start = Date()
        try options.base.validate()
        guard train.task == .classification else { throw TuningError.invalidOption(name: "--data", value: train.task.reportName, accepted: "classification data") }
        guard TuneOptions.foldsRange.contains(options.folds) else {
            throw TuningError.invalidOption(name: "--folds", value: "\(options.folds)", accepted: "a whole number in \(TuneOptions.foldsRange)")
        }
        let crossValidate = validation.inputs.isEmpty
        guard !crossValidate || options.space == .head else {
            throw TuningError.invalidOption(name: "--val-split", value: "0", accepted: "a fraction > 0 with --space all (fine-tune trials are scored on the validation split)")
        }
        var quiet = options.base
        quiet.progress = false; quiet.checkpointDirectory = nil; quiet.logDirectory = nil
        let prepared = try TransferTrainer(backbone: backbone, options: quiet).prepare(train, validation)
        let labels = prepared.headRows.map { train.labels[$0] }, validLabels = prepared.validKept.map { validation.labels[$0] }
        let splits = crossValidate ? try crossValidationSplits(labels: labels, groups: prepared.headRows) : []
        let pretrained = options.space == .all ? Dictionary(uniqueKeysWithValues: backbone.module.stateDict().map { ($0.key, $0.tensor.copy()) }) : [:]
        let sampler: Sampler = options.sampler == .tpe ? TPESampler(seed: options.base.seed) : RandomSampler(seed: options.base.seed)
        let study = Study(direction: options.metric.direction, sampler: sampler, pruner: options.pruning ? try SuccessiveHalvingPruner() : nil)
        study.onTrialFinished = onTrialFinished
        var configurations: [Int: TrialConfiguration] = [:]
        try study.optimize(budget: options.budget) { trial in
            let config = try self.configuration(trial, base: quiet)
            configurations[trial.number] = config
            if crossValidate {
                return try self.crossValidatedHeadTrial(config, trial: trial, prepared: prepared, labels: labels, splits: splits, train: train)
            }
            if config.options.strategy == .features {
                return try self.headTrial(config, trial: trial, prepared: prepared, labels: labels, validLabels: validLabels,
                                          train: train, validation: validation)
            }
            defer { _ = try? self.backbone.module.load(pretrained) }
            return try self.fineTuneTrial(config, trial: trial, train: train, validation: validation)
        }
        guard let best = study.bestTrial, let config = configurations[best.number] else { throw TuningError.noCompletedTrial(trials: study.trials.count) }
        return Result(trials: study.trials, best: best, bestConfiguration: config, seconds: Date().timeIntervalSince(start))
    }

    /// The trial's options, sampled define-by-run.
    func configuration(_ t: TrialHandle, base: TrainOptions) throws -> TrialConfiguration {
        var o = base, c: Double?
        o.strategy = .features
        if options.space == .all, try t.suggestCategorical("strategy", ["features", "fine-tune"]) == "fine-tune" { o.strategy = .fineTune }
        o.head = HeadKind(rawValue: try t.suggestCategorical("head", ["logistic", "linear", "mlp"]))!
        if o.head == .logistic {
            c = try t.suggestFloat("logistic-c", 1e-4, 1e4, log: true)
        } else {
            o.headLearningRate = Float(try t.suggestFloat("head-lr", 1e-4, 1e-1, log: true))
            o.headWeightDecay = Float(try t.suggestFloat("head-weight-decay", 1e-6, 1, log: true))
            o.headEpochs = try t.suggestInt("head-epochs", 5, 100, log: true)
            o.labelSmoothing = Float(try t.suggestFloat("label-smoothing", 0, 0.2))
        }
        if o.strategy == .fineTune {
            o.learningRate = Float(try t.suggestFloat("lr", 1e-5, 1e-2, log: true))
            o.unfreeze = try t.suggestInt("unfreeze", 1, Swift.max(1, backbone.blockGroups.count))
            o.fineTuneEpochs = try t.suggestInt("epochs", 1, 10)
            if backbone.takesImages { o.augment = AugmentationPolicy(rawValue: try t.suggestCategorical("augment", ["none", "light", "strong"]))! }
        }
        return TrialConfiguration(options: o, logisticC: c)
    }

    /// A head on the cached features, scored on the validation rows; gradient-trained heads report after every
    /// epoch and stop when pruned.
    func headTrial(_ config: TrialConfiguration, trial: TrialHandle, prepared p: PreparedFeatures, labels: [Int], validLabels: [Int],
                   train: LabeledData, validation: LabeledData) throws -> Double {
        let o = config.options
        let head = Head(o.head, inputs: backbone.dimension, outputs: p.outputs, seed: o.seed)
        head.standardize(using: p.trainX)
        let score = { () -> Double in head.eval(); return self.score(head(p.validX), validLabels, classes: p.outputs) }
        if o.head == .logistic {
            let x = FeatureMatrix(head.standardized(p.trainX))
            LogisticRegression(c: config.logisticC ?? 1).fit(x, labels, classes: p.outputs).assign(to: head)
            return withNoGrad { score() }
        }
        let trainer = TransferTrainer(backbone: backbone, options: o)
        let learner = trainer.headLearner(p, head: head, train: train, validation: validation, learningRate: o.headLearningRate ?? 1e-3)
        learner.callbacks.append(PruningCallback(trial: trial) { _ in withNoGrad { score() } })
        try learner.fit(epochs: o.headEpochs)
        return withNoGrad { score() }
    }

    /// A fine-tuning run from the pretrained weights, reporting its validation score after every fine-tuning epoch.
    func fineTuneTrial(_ config: TrialConfiguration, trial: TrialHandle, train: LabeledData, validation: LabeledData) throws -> Double {
        let trainer = TransferTrainer(backbone: backbone, options: config.options)
        trainer.headSolver = LogisticHeadSolver(c: config.logisticC)
        let metric = options.metric
        trainer.callbacks = [PruningCallback(trial: trial, phase: "fine-tune") { l in
            Double(metric == .accuracy ? (l.validMetric ?? .nan) : (l.validLoss ?? .nan))
        }]
        let result = try trainer.train(train, validation: validation)
        let (probs, kept, _) = result.model.predict(validation.inputs)
        return score(probabilities: probs, kept.map { validation.labels[$0] }, classes: result.model.head.outputs)
    }

    func score(_ logits: Tensor, _ labels: [Int], classes: Int) -> Double {
        score(probabilities: logits.softmax(axis: 1), labels, classes: classes)
    }

    func score(probabilities: Tensor, _ labels: [Int], classes: Int) -> Double {
        let p = probabilities.toArray().map { Double($0) }
        switch options.metric {
        case .logLoss: return meanLogLoss(p, labels, classes: classes)
        case .accuracy: return Double(zip(argmaxRows(p, classes: classes), labels).filter { $0 == $1 }.count) / Double(Swift.max(labels.count, 1))
        }
    }
}

/// Reports a learner's validation score to a trial after every epoch of `phase` (all phases when nil) and stops the
/// fit with ``TrialPruned`` when the study's pruner says so.
final class PruningCallback: Callback {
    let trial: TrialHandle
    let phase: String?
    let value: (Learner) -> Double

    init(trial: TrialHandle, phase: String? = nil, value: @escaping (Learner) -> Double) {
        self.trial = trial; self.phase = phase; self.value = value
    }

    override func on(_ event: LearnerEvent, learner l: Learner) throws {
        guard event == .afterEpoch, phase == nil || l.phase == phase else { return }
        trial.report(value(l), step: l.epoch + 1)
        if trial.shouldPrune() { throw TrialPruned() }
    }
}
