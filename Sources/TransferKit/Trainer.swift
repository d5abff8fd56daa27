import Datasets
import Foundation
import Layers
import Models
import Optimizers
import Tensors

/// What a training run produced.
public struct TrainResult {
    public var history: [EpochRecord]
    public var skipped: [(path: String, reason: String)]
    public var featureSeconds: Double
    /// The head phase's peak learning rate (given, or found by the sweep).
    public var headLearningRate: Float
    public var backboneForwards: Int
    public var seconds: Double
    public var model: TransferModel
    /// What a ``HeadSolver`` recorded of the head phase (e.g. the chosen C), for the manifest's training record.
    public var headNotes: [String: String] = [:]
}

/// Calibrates a trained classifier on validation data after training (e.g. the `HeadFitting` module's temperature
/// scaling, folded into the head's weights), so that the bundle's probabilities are calibrated.
public protocol ModelCalibrator {
    /// Changes `model` so that its probabilities on `validation` are better calibrated; returns what it fitted and
    /// measured (e.g. `temperature`), recorded among the manifest's metrics.
    func calibrate(_ model: TransferModel, validation: LabeledData) throws -> [String: Double]
}

/// Trains phase 1's head by another method than the gradient-trained learner (e.g. the `HeadFitting` module's
/// L-BFGS logistic regression with its L2 strength chosen by cross-validation, or a cross-validated choice of weight
/// decay and epochs): ``TransferTrainer`` asks it first, and runs its own learner for the kinds it does not solve.
public protocol HeadSolver {
    /// Whether this solver trains heads of `kind`.
    func solves(_ kind: HeadKind) -> Bool
    /// Trains `head` (already standardised on `prepared.trainX`) on the training rows of `prepared`, whose class
    /// labels are `labels` (one per row of `trainX`); `trainer` gives its options and learners. Returns entries for
    /// the manifest's training record and the epochs it ran (if any).
    func train(_ head: Head, prepared: PreparedFeatures, labels: [Int], train: LabeledData, validation: LabeledData,
               trainer: TransferTrainer) throws -> (notes: [String: String], history: [EpochRecord])
}

/// Cached backbone features and targets of a run's data: what the head phase trains on.
public struct PreparedFeatures {
    /// The head's training rows: the features of the kept inputs, then of each augmented view.
    public var trainX: Tensor
    /// The input index of each row of `trainX`.
    public var headRows: [Int]
    public var trainKept: [Int], validX: Tensor, validKept: [Int]
    public var task: TaskKind, scaling: TargetScaling?, outputs: Int
    public var featureSeconds: Double

    public init(trainX: Tensor, headRows: [Int], trainKept: [Int], validX: Tensor, validKept: [Int], task: TaskKind,
                scaling: TargetScaling?, outputs: Int, featureSeconds: Double) {
        self.trainX = trainX; self.headRows = headRows; self.trainKept = trainKept; self.validX = validX; self.validKept = validKept
        self.task = task; self.scaling = scaling; self.outputs = outputs; self.featureSeconds = featureSeconds
    }

    /// One cross-validation fold of the training rows: rows `train` (indices into ``trainX``) train, rows `test` stand
    /// in for the validation split (their ``headRows`` become ``validKept``). Shared by every cross-validated head
    /// choice, so each fold is built the same way.
    public func fold(train: [Int], test: [Int]) -> PreparedFeatures {
        PreparedFeatures(trainX: trainX.indexSelect(axis: 0, indices: train), headRows: train.map { headRows[$0] }, trainKept: trainKept,
                         validX: trainX.indexSelect(axis: 0, indices: test), validKept: test.map { headRows[$0] }, task: task, scaling: scaling,
                         outputs: outputs, featureSeconds: 0)
    }
}

/// Runs the strategies of ``Strategy`` on ``LabeledData`` as composable phases: ``prepare(_:_:)`` (cached
/// features), ``makeHead(_:train:validation:)`` and ``headLearner(_:head:train:validation:learningRate:)`` (phase 1,
/// the head on the features), ``fineTuneLearner(head:prepared:train:validation:)`` (phase 2, the top groups on the
/// inputs), ``finish(head:prepared:validation:)`` (the model, with tuned thresholds). ``train(_:validation:)`` runs
/// them in order. The objective of each phase is the task's (``TaskKind/objective(regressionLoss:labelSmoothing:)``)
/// unless ``objective`` says otherwise; ``callbacks`` are added to every phase's learner.
public final class TransferTrainer {
    public let backbone: FeatureBackbone
    public let options: TrainOptions
    /// The objective of a phase ("head" or "fine-tune") for a task with `outputs` outputs; nil: the task's, with
    /// ``TrainOptions/mixing`` in fine-tuning.
    public var objective: ((_ phase: String, _ task: TaskKind, _ outputs: Int) -> TrainingObjective)?
    /// Callbacks added to every phase's learner (beside progress, early stopping, checkpoints and logs).
    public var callbacks: [Callback] = []
    /// Trains the head phase instead of the learner, for the head kinds it solves (required for
    /// ``HeadKind/logistic``).
    public var headSolver: HeadSolver?
    /// What phase 2 of ``Strategy/lora`` trains in the frozen backbone (required by that strategy).
    public var adapter: BackboneAdapter?
    /// What ``Strategy/setfit`` runs on the backbone before the head (required by that strategy).
    public var preparation: BackbonePreparation?
    public private(set) var skipped: [(path: String, reason: String)] = []
    public private(set) var backboneForwards = 0

    public init(backbone: FeatureBackbone, options: TrainOptions) {
        self.backbone = backbone; self.options = options
    }

    /// The objective phase `phase` trains with.
    public func objective(phase: String, task: TaskKind, outputs: Int) -> TrainingObjective {
        if let objective { return objective(phase, task, outputs) }
        if phase == "fine-tune", task == .classification, let m = options.mixing {
            return MixingObjective(mixing: m, classCount: outputs, seed: options.seed, labelSmoothing: options.labelSmoothing)
        }
        return task.objective(regressionLoss: options.regressionLoss, labelSmoothing: options.labelSmoothing)
    }

    /// Features of every input (cached); inputs that cannot be read are skipped and listed. Returns the rows that
    /// survived, as indices into `data.inputs`.
    public func features(_ data: LabeledData) throws -> (features: Tensor, kept: [Int]) {
        let start = Date()
        let r = backbone.features(data.inputs, cache: backbone.featureCache(root: options.featureCacheRoot), batchSize: options.batchSize,
                                  progress: options.progress ? { done, total in ProgressLine.draw("features", done: done, total: total, start: start) } : nil)
        skipped += r.failed.map { (path: $0.0, reason: $0.1) }
        backboneForwards += r.computed
        return (r.features, r.kept)
    }

    func phaseCallbacks(phase: String) -> [Callback] {
        var cbs = callbacks
        if let p = options.earlyStoppingPatience { cbs.append(EarlyStopping(monitor: .validLoss, patience: p)) }
        if options.progress { cbs.append(ProgressBar()) }
        if let dir = options.checkpointDirectory { cbs.append(ResumeCheckpoint(path: dir.appendingPathComponent("\(phase).safetensors"))) }
        if let dir = options.logDirectory { cbs.append(MetricsLog(directory: dir)) }
        return cbs
    }

    /// Fits `learner` for `epochs`, first resuming from this phase's checkpoint when there is one.
    public func fit(_ learner: Learner, epochs: Int) throws {
        if let dir = options.checkpointDirectory {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try learner.resume(from: dir.appendingPathComponent("\(learner.phase).safetensors"))
        }
        try learner.fit(epochs: epochs)
    }

    /// Cached features of `train` and `validation` (plus augmented views, ``TrainOptions/augmentedViews``) and the
    /// target standardisation of a regression task.
    public func prepare(_ train: LabeledData, _ validation: LabeledData) throws -> PreparedFeatures {
        let t0 = Date()
        let (trainX, trainKept) = try features(train)
        let (validX, validKept) = try features(validation)
        guard !trainKept.isEmpty else { throw TrainError.nothingToTrain("no readable training inputs") }
        if !validation.inputs.isEmpty && validation.task != train.task {
            throw TrainError.unsupportedTask("validation data holds \(validation.task.reportName) targets, training data \(train.task.reportName)")
        }
        let scaling = train.task == .regression ? TargetScaling(fitting: trainKept.map { train.values[$0] }) : nil
        var rows = [trainX], headRows = trainKept
        if options.augmentedViews > 0, options.augment != .none, let image = backbone.encoder as? ImageEncoder {
            let pipeline = image.preprocessing.trainingPipeline(options.augment)
            let kept = train.subset(trainKept).inputs
            for view in 1...options.augmentedViews {
                let cache = FeatureCache(root: options.featureCacheRoot,
                                         key: backbone.cacheKey + "|\(options.augment.rawValue)|seed \(options.seed)|view \(view)",
                                         dimension: backbone.dimension)
                let start = Date()
                let r = backbone.features(kept, cache: cache, batchSize: options.batchSize, augmentation: (pipeline, options.seed, view),
                                          progress: options.progress ? { done, total in ProgressLine.draw("view \(view)", done: done, total: total, start: start) } : nil)
                backboneForwards += r.computed
                rows.append(r.features)
                headRows += r.kept.map { trainKept[$0] }
            }
        }
        return PreparedFeatures(trainX: rows.count == 1 ? trainX : Tensor.concat(rows, axis: 0), headRows: headRows,
                                trainKept: trainKept, validX: validX, validKept: validKept, task: train.task, scaling: scaling,
                                outputs: train.task == .regression ? 1 : train.classNames.count, featureSeconds: Date().timeIntervalSince(t0))
    }

    /// Phase 1's learner: the head on cached features, AdamW with a one-cycle schedule.
    public func headLearner(_ p: PreparedFeatures, head: Head, train: LabeledData, validation: LabeledData, learningRate: Float) -> Learner {
        let opt = AdamW(parameters: head.namedParameters().map { ($0.0, $0.1) }, learningRate: learningRate, weightDecay: options.headWeightDecay)
        let steps = options.headEpochs * ((p.headRows.count + options.batchSize - 1) / options.batchSize)
        opt.setSchedule(OneCycleSchedule(), totalSteps: Swift.max(steps, 1))
        let learner = Learner(model: head, objective: objective(phase: "head", task: p.task, outputs: p.outputs), optimizer: opt,
                              trainData: TensorBatchSource(inputs: p.trainX, targets: train.learnerTargets(p.headRows, scaling: p.scaling),
                                                           batchSize: options.batchSize, shuffle: true, seed: options.seed),
                              validData: p.validKept.isEmpty ? nil
                                  : TensorBatchSource(inputs: p.validX, targets: validation.learnerTargets(p.validKept, scaling: p.scaling),
                                                      batchSize: 256, shuffle: false),
                              callbacks: phaseCallbacks(phase: "head"))
        learner.phase = "head"
        learner.seed = options.seed
        return learner
    }

    /// A new head standardised on the training features, its learning rate (given or swept) and phase 1's learner.
    public func makeHead(_ p: PreparedFeatures, train: LabeledData, validation: LabeledData) throws -> (Head, Float, Learner) {
        let head = Head(options.head, inputs: backbone.dimension, outputs: p.outputs, seed: options.seed)
        head.standardize(using: p.trainX)
        let lr = try options.headLearningRate ?? suggestedHeadLearningRate(p, head: head, train: train, validation: validation)
        return (head, lr, headLearner(p, head: head, train: train, validation: validation, learningRate: lr))
    }

    /// The head phase's learning rate when none is given: fastai's `valley` of a sweep over the cached features
    /// (about a second), kept within 1e-4…1e-1. The sweep leaves the head as it was.
    public func suggestedHeadLearningRate(_ p: PreparedFeatures, head: Head, train: LabeledData, validation: LabeledData) throws -> Float {
        let sweep = headLearner(p, head: head, train: train, validation: validation, learningRate: 1e-3)
        sweep.callbacks = []
        let r = try sweep.findLearningRate(start: 1e-7, end: 10, iterations: 100)
        return Swift.min(Swift.max(r.valley, 1e-4), 1e-1)
    }

    /// Trains per ``TrainOptions/strategy`` on `train`, validating on `validation`.
    public func train(_ train: LabeledData, validation: LabeledData) throws -> TrainResult {
        let t0 = Date()
        let preparationNotes = try prepareBackbone(train)
        let p = try prepare(train, validation)
        var history: [EpochRecord] = [], headNotes: [String: String] = [:]
        let head: Head, headLR: Float
        if let solver = headSolver, solver.solves(options.head) {
            guard p.task == .classification else {
                throw TrainError.unsupportedTask("the \(options.head.rawValue) head classifies; \(train.task.reportName) targets need --head linear or mlp")
            }
            head = Head(options.head, inputs: backbone.dimension, outputs: p.outputs, seed: options.seed)
            head.standardize(using: p.trainX)
            headLR = 0
            (headNotes, history) = try solver.train(head, prepared: p, labels: p.headRows.map { train.labels[$0] }, train: train,
                                                    validation: validation, trainer: self)
        } else if options.head == .logistic {
            throw TrainError.unsupportedTask("the logistic head needs a HeadSolver (HeadFitting's LogisticHeadSolver); none was given")
        } else {
            let made = try makeHead(p, train: train, validation: validation)
            head = made.0
            headLR = made.1
            try fit(made.2, epochs: options.headEpochs)
            history = made.2.history
        }
        headNotes.merge(preparationNotes) { a, _ in a }
        if options.strategy.hasFineTunePhase {
            let ft = try fineTuneLearner(head: head, prepared: p, train: train.subset(p.trainKept), validation: validation.subset(p.validKept))
            try fit(ft, epochs: options.fineTuneEpochs)
            backbone.module.eval()
            history += ft.history
        }
        let model = finish(head: head, prepared: p, classNames: train.classNames, validation: validation)
        return TrainResult(history: history, skipped: skipped, featureSeconds: p.featureSeconds, headLearningRate: headLR,
                           backboneForwards: backboneForwards, seconds: Date().timeIntervalSince(t0), model: model, headNotes: headNotes)
    }

    /// The trained model: backbone and head, and for a multi-label task per-class thresholds that maximise each
    /// class's F1 on validation (0.5 without validation data).
    public func finish(head: Head, prepared p: PreparedFeatures, classNames: [String], validation: LabeledData) -> TransferModel {
        let model = TransferModel(backbone: backbone, head: head, task: p.task, classNames: classNames, strategy: options.strategy,
                                  scaling: p.scaling)
        if options.strategy == .lora { model.adapter = adapter }
        if options.strategy == .features { model.featureCache = backbone.featureCache(root: options.featureCacheRoot) }
        if p.task == .multiLabel {
            if p.validKept.isEmpty {
                model.thresholds = [Float](repeating: 0.5, count: p.outputs)
            } else {
                let (probs, kept, _) = model.predict(validation.inputs)
                model.thresholds = MultiLabelMetrics.tuneThresholds(probabilities: probs, targets: validation.learnerTargets(kept).multiHot!)
            }
        }
        return model
    }

    /// Which phase a learning-rate sweep runs.
    public enum SweepPhase: String, Sendable, CaseIterable {
        /// The head on cached features (what `--head-lr` sets).
        case head
        /// The unfrozen top groups and the head, after a full head phase (what `--lr` sets).
        case fineTune = "fine-tune"
    }

    /// A learning-rate sweep (fastai `lr_find`) of one phase; nothing is kept of the training it does.
    public func findLearningRate(_ train: LabeledData, validation: LabeledData, phase: SweepPhase,
                                 start: Float = 1e-7, end: Float = 10, iterations: Int = 100) throws -> LRFinderResult {
        let p = try prepare(train, validation)
        let (head, _, learner) = try makeHead(p, train: train, validation: validation)
        if phase == .head { return try learner.findLearningRate(start: start, end: end, iterations: iterations) }
        try learner.fit(epochs: options.headEpochs)
        let ft = try fineTuneLearner(head: head, prepared: p, train: train.subset(p.trainKept), validation: validation.subset(p.validKept))
        defer { backbone.module.eval() }
        return try ft.findLearningRate(start: start, end: end, iterations: iterations)
    }

    /// Phase 2's learner: unfreeze the top block groups and train backbone + head on images or texts with
    /// discriminative learning rates (each lower group gets a smaller share of the top rate, fastai
    /// `slice(lr/10, lr)`); frozen BatchNorm layers keep their running statistics.
    public func fineTuneLearner(head: Head, prepared p: PreparedFeatures, train: LabeledData, validation: LabeledData) throws -> Learner {
        var (paramGroups, headRate) = try backboneParameterGroups()
        for case let bn as BatchNorm2d in backbone.module.namedModules().map(\.1) { bn.keepsRunningStatistics = options.batchNormUsesRunningStatistics }
        paramGroups.append(ParameterGroup(name: "head", parameters: head.namedParameters().map { (name: "head." + $0.0, tensor: $0.1) },
                                          learningRate: headRate, weightDecay: 1e-2))
        let opt = AdamW(groups: paramGroups)
        let encoder = backbone.encoder
        let trainSource = try encoder.batchSource(train, augment: options.augment, batchSize: options.batchSize, shuffle: true,
                                                  seed: options.seed, scaling: p.scaling, workers: options.loaderWorkers)
        let validSource = validation.inputs.isEmpty ? nil
            : try encoder.batchSource(validation, augment: .none, batchSize: options.batchSize, shuffle: false, seed: 0,
                                      scaling: p.scaling, workers: options.loaderWorkers)
        let steps = options.fineTuneEpochs * ((trainSource.sampleCount + options.batchSize - 1) / options.batchSize)
        opt.setSchedule(OneCycleSchedule(), totalSteps: Swift.max(steps, 1))
        let composite = Module()
        composite.child("backbone", backbone.module)
        composite.child("head", head)
        let learner = Learner(model: composite, forward: { head(encoder.forward($0)) },
                              objective: objective(phase: "fine-tune", task: p.task, outputs: p.outputs),
                              optimizer: opt, trainData: trainSource, validData: validSource, callbacks: phaseCallbacks(phase: "fine-tune"))
        learner.phase = "fine-tune"
        learner.seed = options.seed
        return learner
    }
}

extension TransferTrainer {
    /// Phase 2's backbone parameters: for ``Strategy/lora`` the attached adapter's, in one group at the peak rate
    /// (every backbone weight frozen); otherwise the top block groups (all for ``Strategy/full``), unfrozen, each
    /// lower group at a smaller share of the peak rate. Returns them with the head's rate.
    func backboneParameterGroups() throws -> (groups: [ParameterGroup], headRate: Float) {
        if options.strategy == .lora {
            guard let adapter else {
                throw TrainError.unsupportedTask("the lora strategy trains an adapter, and none was given (TransferTrainer.adapter)")
            }
            backbone.module.freeze()
            let ps = try adapter.attach(to: backbone).map { (name: "backbone." + $0.0, tensor: $0.1) }
            return ([ParameterGroup(name: "adapter", parameters: ps, learningRate: options.learningRate, weightDecay: 0)], options.learningRate)
        }
        let groups = backbone.blockGroups
        let n = options.strategy == .full ? groups.count : Swift.min(options.unfreeze ?? groups.count, groups.count)
        backbone.freeze(allButTop: n)
        let trainable = Array(groups.suffix(n))
        let rates = evenlySpacedRates(maxLR: options.learningRate, count: trainable.count + 1)
        var paramGroups: [ParameterGroup] = []
        let named = backbone.module.trainableParameters()
        for (gi, g) in trainable.enumerated() {
            let ps = named.filter { g.contains($0.0) }.map { (name: "backbone." + $0.0, tensor: $0.1) }
            if !ps.isEmpty { paramGroups.append(ParameterGroup(name: g.name, parameters: ps, learningRate: rates[gi], weightDecay: 1e-2)) }
        }
        return (paramGroups, rates[rates.count - 1])
    }
}
