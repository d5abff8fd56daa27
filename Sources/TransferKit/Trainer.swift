import Assets
import Checkpoints
import Datasets
import Foundation
import Layers
import Models
import Optimizers
import Tensors

/// How much of the pretrained network is trained.
public enum Strategy: String, Codable, Sendable, CaseIterable {
    /// Backbone frozen in eval mode; features computed once (cached) and a new head trained on them.
    case features
    /// Phase 1 as `features`; phase 2 unfreezes the top blocks with discriminative learning rates (fastai
    /// `fine_tune`); frozen BatchNorm stays in inference mode.
    case fineTune = "fine-tune"
    /// Every layer trainable from the start (after the head warm-up of phase 1).
    case full
}

/// The loss of a regression head (on standardised targets).
public enum RegressionLoss: String, Codable, Sendable, CaseIterable {
    case mse
    /// Huber with δ = 1 (in standard deviations of the target).
    case huber
}

/// Options of a training run (the `transfer train` flags).
public struct TrainOptions: Sendable {
    public var strategy: Strategy = .fineTune
    /// Block groups to unfreeze in phase 2 (nil: all; see ``FeatureBackbone/defaultUnfreeze``).
    public var unfreeze: Int? = 3
    public var headEpochs = 30
    public var fineTuneEpochs = 10
    /// Peak learning rate of the top backbone group in phase 2; the head phase uses ``headLearningRate``.
    public var learningRate: Float = 1e-3
    /// Peak learning rate of the head phase; nil picks it with a learning-rate sweep on the cached features (the
    /// `valley` of ``Learner/findLearningRate(start:end:iterations:)``, kept within 1e-4…1e-1).
    public var headLearningRate: Float?
    public var batchSize = 32
    public var head: HeadKind = .linear
    public var validationFraction = 0.1
    /// Epochs without validation-loss improvement before a phase stops and restores its best weights (nil: off).
    public var earlyStoppingPatience: Int?
    public var augment: AugmentationPolicy = .light
    /// Augmented views (under ``augment``'s policy) of every training image whose features are computed once,
    /// cached, and added to the head phase's training rows (image models; 0: none).
    public var augmentedViews = 0
    public var regressionLoss: RegressionLoss = .mse
    public var seed: UInt64 = 0
    public var progress = true
    public var featureCacheRoot: URL = AssetStore.cacheRoot.appendingPathComponent("features")
    /// Where each phase writes an atomic checkpoint after every epoch, and where a run resumes from (nil: none).
    public var checkpointDirectory: URL?
    /// Whether unfrozen BatchNorm layers keep normalising with their pretrained running statistics while their
    /// weight and bias train (Keras' advice for fine-tuning; the default), or switch to batch statistics.
    public var batchNormUsesRunningStatistics = true
    /// Where every epoch is appended to `metrics.csv` and `metrics.jsonl` (nil: no log).
    public var logDirectory: URL?
    /// Image decoding threads beside the training loop.
    public var loaderWorkers = 1
    public init() {}
}

/// A backbone that turns inputs into feature vectors: an image CNN or a sentence encoder.
public final class FeatureBackbone {
    public let spec: ModelSpec
    public let weightsSHA: String
    public let vision: (any VisionBackbone)?
    public let text: SentenceEmbedder?
    /// The evaluation pipeline of an image model.
    public let pipeline: ImagePipeline?

    public init(spec: ModelSpec, weightsPath: String) throws {
        self.spec = spec
        weightsSHA = try SHA256.hex(fileAt: spec.task == .sentenceEmbedding ? weightsPath + "/model.safetensors" : weightsPath)
        if spec.task == .sentenceEmbedding {
            text = try SentenceEmbedder(directory: weightsPath)
            vision = nil; pipeline = nil
        } else {
            vision = try Pretrained.loadVision(spec, weights: weightsPath, includeTop: false)
            text = nil
            pipeline = spec.preprocessing!.evaluationPipeline
        }
    }

    public var dimension: Int { vision?.featureDimension ?? text!.dimension }
    public var module: Module { vision ?? text!.bert }

    /// Layer groups from input to output: the vision model's ``Models/VisionBackbone/blockGroups``, or for a text
    /// encoder the embeddings and then each transformer layer (`encoder.layer.i`).
    public var blockGroups: [BlockGroup] {
        if let vision { return vision.blockGroups }
        let n = text!.bert.config.numHiddenLayers
        return [BlockGroup(name: "embeddings", prefixes: ["embeddings"])]
            + (0..<n).map { BlockGroup(name: "layer\($0)", prefixes: ["encoder.layer.\($0)"]) }
    }

    /// The groups fine-tuning unfreezes by default: for an image model the last two stages and the head
    /// convolution (3 groups), for a text encoder the top 2 transformer layers.
    public var defaultUnfreeze: Int { vision == nil ? 2 : 3 }

    /// The top group's peak learning rate in fine-tuning: 1e-3 for a CNN, 1e-4 for a transformer (BERT-style
    /// encoders diverge at CNN rates; Devlin et al. 2019 fine-tune at 2e-5…5e-5 with every layer trainable).
    public var defaultFineTuneLearningRate: Float { vision == nil ? 1e-4 : 1e-3 }

    /// Freezes every parameter outside the top `n` block groups (BatchNorm layers in frozen groups keep their
    /// running statistics).
    public func freeze(allButTop n: Int) {
        let trainable = blockGroups.suffix(n)
        module.unfreeze()
        module.freeze(where: { key in !trainable.contains { $0.contains(key) } })
    }

    /// The pooled features of a batch, differentiable (fine-tuning).
    public func forward(_ inputs: BatchInputs) -> Tensor {
        switch inputs {
        case .tensor(let x): vision!.features(x)
        case .tokens(let t): text!.forward(t)
        }
    }

    /// The feature cache's key: backbone, weights, input geometry, and the precision when it is not fp32 (bf16
    /// features are not fp32 features).
    var cacheKey: String {
        "\(spec.name)|\(weightsSHA)|" + (spec.preprocessing.map { "\($0.inputSize)/\($0.resizeShorterTo)/\($0.normalization.rawValue)" } ?? "tokens\(text?.maxLength ?? 0)")
            + (Precision.current == .fp32 ? "" : "|\(Precision.current)")
    }

    /// The on-disk cache of this backbone's pretrained features.
    public func featureCache(root: URL) -> FeatureCache {
        FeatureCache(root: root, key: cacheKey, dimension: dimension)
    }

    /// SHA-256 of an input's content (file bytes or text), the feature cache's key.
    static func contentHash(_ input: LabeledInput) -> String? {
        switch input {
        case .image(let p): try? SHA256.hex(fileAt: p)
        case .text(let t, _): SHA256.hex(Data(t.utf8))
        }
    }

    /// Pooled features `[kept.count, dimension]` of `inputs` in eval mode without gradients, looked up in (and
    /// added to) `cache` when given. Inputs that cannot be read are skipped and reported in `failed`.
    ///
    /// With `augmentation`, images go through that (random) pipeline instead of the evaluation one, each with a
    /// generator derived from the seed, the view number and the file's content hash, so a view is the same whatever
    /// the file's name or position and can be cached (under a cache whose key names the pipeline, seed and view).
    public func features(_ inputs: [LabeledInput], cache: FeatureCache?, batchSize: Int = 32,
                         augmentation: (pipeline: ImagePipeline, seed: UInt64, view: Int)? = nil,
                         progress: ((Int, Int) -> Void)? = nil) -> (features: Tensor, kept: [Int], failed: [(String, String)], computed: Int) {
        var rows = [[Float]?](repeating: nil, count: inputs.count)
        var hashes = [String?](repeating: nil, count: inputs.count)
        var missing: [Int] = []
        for (i, input) in inputs.enumerated() {
            if cache != nil || augmentation != nil { hashes[i] = Self.contentHash(input) }
            if let cache {
                if let h = hashes[i], let v = cache.lookup(h) { rows[i] = v; continue }
            }
            missing.append(i)
        }
        var failed: [(String, String)] = [], computed = 0
        module.eval()
        for start in stride(from: 0, to: missing.count, by: batchSize) {
            progress?(start, missing.count)
            let chunk = Array(missing[start..<Swift.min(missing.count, start + batchSize)])
            var ok: [Int] = []
            let out: Tensor
            if let text {
                ok = chunk
                out = text.embed(chunk.map { i -> String in if case .text(let t, _) = inputs[i] { t } else { "" } }, batchSize: batchSize)
            } else {
                var xs: [Tensor] = []
                for i in chunk {
                    guard case .image(let p) = inputs[i] else { failed.append((inputs[i].name, "not an image")); continue }
                    do {
                        if let a = augmentation {
                            var options = DecodeOptions()
                            options.target = a.pipeline.decodeTarget
                            let h = UInt64(hashes[i]?.prefix(16) ?? "0", radix: 16) ?? 0
                            var g = SeededGenerator(seed: a.seed ^ h ^ (UInt64(a.view) &* 0x9E37_79B9_7F4A_7C15))
                            xs.append(a.pipeline.apply(try ImageDecoder.decode(contentsOf: p, options: options), generator: &g).tensor())
                        } else {
                            xs.append(try pipeline!.tensor(contentsOf: p))
                        }
                        ok.append(i)
                    } catch { failed.append((p, error.description)) }
                }
                guard !xs.isEmpty else { continue }
                out = withNoGrad { vision!.features(Tensor.stack(xs)) }
            }
            computed += ok.count
            let v = out.toArray(), d = dimension
            for (j, i) in ok.enumerated() {
                let row = Array(v[(j * d)..<((j + 1) * d)])
                rows[i] = row
                if let cache, let h = hashes[i] { try? cache.store(h, row) }
            }
        }
        if !missing.isEmpty { progress?(missing.count, missing.count) }
        let kept = rows.indices.filter { rows[$0] != nil }
        return (Tensor(shape: [kept.count, dimension], data: kept.flatMap { rows[$0]! }), kept, failed, computed)
    }
}

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
}

/// A backbone plus a trained head: what a bundle stores and `predict` runs.
public final class TransferModel: Module {
    public let backbone: FeatureBackbone
    public let head: Head
    public let task: TaskKind
    /// Class names (classification, multi-label) or the target's name (regression).
    public let classNames: [String]
    public let strategy: Strategy
    /// Per-class decision thresholds of a multi-label model (tuned on validation data).
    public internal(set) var thresholds: [Float]?
    /// The standardisation of a regression model's targets.
    public let scaling: TargetScaling?
    /// Used by `predict` while the backbone is the pretrained one (the features strategy).
    public var featureCache: FeatureCache?

    public init(backbone: FeatureBackbone, head: Head, task: TaskKind, classNames: [String], strategy: Strategy,
                thresholds: [Float]? = nil, scaling: TargetScaling? = nil) {
        self.backbone = backbone; self.head = head; self.task = task; self.classNames = classNames; self.strategy = strategy
        self.thresholds = thresholds; self.scaling = scaling
        super.init()
        child("backbone", backbone.module)
        child("head", head)
    }

    /// Head outputs → what a user reads: class probabilities (softmax), label probabilities (sigmoid), or values
    /// in the target's units.
    public func readout(_ logits: Tensor) -> Tensor {
        switch task {
        case .classification: logits.softmax(axis: 1)
        case .multiLabel: logits.sigmoid()
        case .regression: logits * (scaling?.std ?? 1) + (scaling?.mean ?? 0)
        }
    }
}

/// Runs the strategies of ``Strategy`` on ``LabeledData``.
public final class TransferTrainer {
    public let backbone: FeatureBackbone
    public let options: TrainOptions
    public private(set) var skipped: [(path: String, reason: String)] = []
    public private(set) var backboneForwards = 0

    public init(backbone: FeatureBackbone, options: TrainOptions) {
        self.backbone = backbone; self.options = options
    }

    /// Features of every input (cached); inputs that cannot be read are skipped and listed. Returns the rows that
    /// survived, as indices into `data.inputs`.
    public func features(_ data: LabeledData) throws -> (features: Tensor, kept: [Int]) {
        let start = Date()
        let r = backbone.features(data.inputs, cache: backbone.featureCache(root: options.featureCacheRoot), batchSize: options.batchSize,
                                  progress: options.progress ? { done, total in Self.progress("features", done: done, total: total, start: start) } : nil)
        skipped += r.failed.map { (path: $0.0, reason: $0.1) }
        backboneForwards += r.computed
        return (r.features, r.kept)
    }

    static func progress(_ what: String, done: Int, total: Int, start: Date) {
        guard isatty(STDERR_FILENO) != 0, ProcessInfo.processInfo.environment["CI"] == nil else { return }
        let el = Date().timeIntervalSince(start), rate = Double(done) / Swift.max(el, 1e-6)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "\r%@ %d/%d  %.1f items/s  ETA %.0fs ", what, done, total, rate, eta)
        FileHandle.standardError.write(Data((line + (done == total ? "\n" : "")).utf8))
    }

    /// The loss of the task (cross-entropy, binary cross-entropy, MSE or Huber).
    var loss: (Tensor, Targets) -> Tensor {
        let huber = options.regressionLoss == .huber
        return { out, targets in
            if huber, case .values(let v) = targets { return Tensor.huberLoss(out, v) }
            return Learner.defaultLoss()(out, targets)
        }
    }

    /// The validation metric, higher is better: accuracy, micro-F1 at 0.5 (``MultiLabelMetrics``), or −MAE in
    /// standardised units (``RegressionMetrics``).
    static func metric(_ task: TaskKind) -> (Tensor, Targets) -> Float {
        switch task {
        case .classification: return Learner.accuracy
        case .multiLabel:
            return { out, t in
                guard case .multiHot(let m) = t else { return .nan }
                return Float(MultiLabelMetrics(logits: out, targets: m, labels: (0..<m.shape[1]).map(String.init)).microF1)
            }
        case .regression:
            return { out, t in
                guard case .values(let v) = t else { return .nan }
                return -Float(RegressionMetrics(predictions: out, targets: v).mae)
            }
        }
    }

    func callbacks(phase: String) -> [Callback] {
        var cbs: [Callback] = []
        if let p = options.earlyStoppingPatience { cbs.append(EarlyStopping(monitor: .validLoss, patience: p)) }
        if options.progress { cbs.append(ProgressBar()) }
        if let dir = options.checkpointDirectory { cbs.append(ResumeCheckpoint(path: dir.appendingPathComponent("\(phase).safetensors"))) }
        if let dir = options.logDirectory { cbs.append(MetricsLog(directory: dir)) }
        return cbs
    }

    /// Fits `learner` for `epochs`, first resuming from this phase's checkpoint when there is one.
    func fit(_ learner: Learner, epochs: Int) throws {
        if let dir = options.checkpointDirectory {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try learner.resume(from: dir.appendingPathComponent("\(learner.phase).safetensors"))
        }
        try learner.fit(epochs: epochs)
    }

    /// Cached features and targets of a run's data.
    struct Prepared {
        /// The head's training rows: the features of the kept inputs, then of each augmented view.
        var trainX: Tensor
        /// The input index of each row of `trainX`.
        var headRows: [Int]
        var trainKept: [Int], validX: Tensor, validKept: [Int]
        var task: TaskKind, scaling: TargetScaling?, outputs: Int
        var featureSeconds: Double
    }

    func prepare(_ train: LabeledData, _ validation: LabeledData) throws -> Prepared {
        let t0 = Date()
        let (trainX, trainKept) = try features(train)
        let (validX, validKept) = try features(validation)
        guard !trainKept.isEmpty else { throw TrainError.nothingToTrain("no readable training inputs") }
        if !validation.inputs.isEmpty && validation.task != train.task {
            throw TrainError.unsupportedTask("validation data holds \(validation.task.reportName) targets, training data \(train.task.reportName)")
        }
        let scaling = train.task == .regression ? TargetScaling(fitting: trainKept.map { train.values[$0] }) : nil
        var rows = [trainX], headRows = trainKept
        if options.augmentedViews > 0, backbone.vision != nil, options.augment != .none, let prep = backbone.spec.preprocessing {
            let pipeline = prep.trainingPipeline(options.augment)
            let kept = train.subset(trainKept).inputs
            for view in 1...options.augmentedViews {
                let cache = FeatureCache(root: options.featureCacheRoot,
                                         key: backbone.cacheKey + "|\(options.augment.rawValue)|seed \(options.seed)|view \(view)",
                                         dimension: backbone.dimension)
                let start = Date()
                let r = backbone.features(kept, cache: cache, batchSize: options.batchSize, augmentation: (pipeline, options.seed, view),
                                          progress: options.progress ? { done, total in Self.progress("view \(view)", done: done, total: total, start: start) } : nil)
                backboneForwards += r.computed
                rows.append(r.features)
                headRows += r.kept.map { trainKept[$0] }
            }
        }
        return Prepared(trainX: rows.count == 1 ? trainX : Tensor.concat(rows, axis: 0), headRows: headRows,
                        trainKept: trainKept, validX: validX, validKept: validKept, task: train.task, scaling: scaling,
                        outputs: train.task == .regression ? 1 : train.classNames.count, featureSeconds: Date().timeIntervalSince(t0))
    }

    /// Phase 1's learner: the head on cached features, AdamW with a one-cycle schedule.
    func headLearner(_ p: Prepared, head: Head, train: LabeledData, validation: LabeledData, learningRate: Float) -> Learner {
        let opt = AdamW(parameters: head.namedParameters().map { ($0.0, $0.1) }, learningRate: learningRate, weightDecay: 1e-4)
        let steps = options.headEpochs * ((p.headRows.count + options.batchSize - 1) / options.batchSize)
        opt.setSchedule(OneCycleSchedule(), totalSteps: Swift.max(steps, 1))
        let learner = Learner(model: head, forward: { head($0) }, loss: loss, metric: Self.metric(p.task), optimizer: opt,
                              trainData: TensorBatchSource(inputs: p.trainX, targets: train.learnerTargets(p.headRows, scaling: p.scaling),
                                                           batchSize: options.batchSize, shuffle: true, seed: options.seed),
                              validData: p.validKept.isEmpty ? nil
                                  : TensorBatchSource(inputs: p.validX, targets: validation.learnerTargets(p.validKept, scaling: p.scaling),
                                                      batchSize: 256, shuffle: false),
                              callbacks: callbacks(phase: "head"))
        learner.phase = "head"
        learner.seed = options.seed
        return learner
    }

    /// A new head standardised on the training features, its learning rate (given or swept) and phase 1's learner.
    func makeHead(_ p: Prepared, train: LabeledData, validation: LabeledData) throws -> (Head, Float, Learner) {
        let head = Head(options.head, inputs: backbone.dimension, outputs: p.outputs, seed: options.seed)
        head.standardize(using: p.trainX)
        let lr = try options.headLearningRate ?? suggestedHeadLearningRate(p, head: head, train: train, validation: validation)
        return (head, lr, headLearner(p, head: head, train: train, validation: validation, learningRate: lr))
    }

    /// The head phase's learning rate when none is given: fastai's `valley` of a sweep over the cached features
    /// (about a second), kept within 1e-4…1e-1. The sweep leaves the head as it was.
    func suggestedHeadLearningRate(_ p: Prepared, head: Head, train: LabeledData, validation: LabeledData) throws -> Float {
        let sweep = headLearner(p, head: head, train: train, validation: validation, learningRate: 1e-3)
        sweep.callbacks = []
        let r = try sweep.findLearningRate(start: 1e-7, end: 10, iterations: 100)
        return Swift.min(Swift.max(r.valley, 1e-4), 1e-1)
    }

    /// Trains per ``TrainOptions/strategy`` on `train`, validating on `validation`.
    public func train(_ train: LabeledData, validation: LabeledData) throws -> TrainResult {
        let t0 = Date()
        let p = try prepare(train, validation)
        let (head, headLR, learner) = try makeHead(p, train: train, validation: validation)
        try fit(learner, epochs: options.headEpochs)
        var history = learner.history
        if options.strategy != .features {
            let ft = try fineTuneLearner(head: head, prepared: p, train: train.subset(p.trainKept), validation: validation.subset(p.validKept))
            try fit(ft, epochs: options.fineTuneEpochs)
            backbone.module.eval()
            history += ft.history
        }
        let model = TransferModel(backbone: backbone, head: head, task: p.task, classNames: train.classNames, strategy: options.strategy,
                                  scaling: p.scaling)
        if options.strategy == .features { model.featureCache = backbone.featureCache(root: options.featureCacheRoot) }
        if p.task == .multiLabel {
            // Per-class thresholds that maximise each class's F1 on validation (0.5 without validation data).
            if p.validKept.isEmpty {
                model.thresholds = [Float](repeating: 0.5, count: p.outputs)
            } else {
                let (probs, kept, _) = model.predict(validation.inputs)
                model.thresholds = MultiLabelMetrics.tuneThresholds(probabilities: probs, targets: validation.learnerTargets(kept).multiHot!)
            }
        }
        return TrainResult(history: history, skipped: skipped, featureSeconds: p.featureSeconds, headLearningRate: headLR,
                           backboneForwards: backboneForwards, seconds: Date().timeIntervalSince(t0), model: model)
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
    func fineTuneLearner(head: Head, prepared p: Prepared, train: LabeledData, validation: LabeledData) throws -> Learner {
        let groups = backbone.blockGroups
        let n = options.strategy == .full ? groups.count : Swift.min(options.unfreeze ?? groups.count, groups.count)
        backbone.freeze(allButTop: n)
        for case let bn as BatchNorm2d in backbone.module.namedModules().map(\.1) { bn.keepsRunningStatistics = options.batchNormUsesRunningStatistics }
        let trainable = Array(groups.suffix(n))
        let rates = evenlySpacedRates(maxLR: options.learningRate, count: trainable.count + 1)
        var paramGroups: [ParameterGroup] = []
        let named = backbone.module.trainableParameters()
        for (gi, g) in trainable.enumerated() {
            let ps = named.filter { g.contains($0.0) }.map { (name: "backbone." + $0.0, tensor: $0.1) }
            if !ps.isEmpty { paramGroups.append(ParameterGroup(name: g.name, parameters: ps, learningRate: rates[gi], weightDecay: 1e-2)) }
        }
        paramGroups.append(ParameterGroup(name: "head", parameters: head.namedParameters().map { (name: "head." + $0.0, tensor: $0.1) },
                                          learningRate: rates.last!, weightDecay: 1e-2))
        let opt = AdamW(groups: paramGroups)
        let trainSource: BatchSource, validSource: BatchSource?
        if let text = backbone.text {
            trainSource = TextBatchSource(data: train, embedder: text, batchSize: options.batchSize, shuffle: true, seed: options.seed, scaling: p.scaling)
            validSource = validation.inputs.isEmpty ? nil
                : TextBatchSource(data: validation, embedder: text, batchSize: options.batchSize, shuffle: false, seed: 0, scaling: p.scaling)
        } else {
            let prep = backbone.spec.preprocessing!
            trainSource = try ImageBatchSource(data: train, pipeline: prep.trainingPipeline(options.augment), batchSize: options.batchSize,
                                               shuffle: true, seed: options.seed, scaling: p.scaling, workers: options.loaderWorkers)
            validSource = validation.inputs.isEmpty ? nil
                : try ImageBatchSource(data: validation, pipeline: prep.evaluationPipeline, batchSize: options.batchSize, shuffle: false,
                                       seed: 0, scaling: p.scaling, workers: options.loaderWorkers)
        }
        let steps = options.fineTuneEpochs * ((trainSource.sampleCount + options.batchSize - 1) / options.batchSize)
        opt.setSchedule(OneCycleSchedule(), totalSteps: Swift.max(steps, 1))
        let composite = Module()
        composite.child("backbone", backbone.module)
        composite.child("head", head)
        let backbone = self.backbone
        let learner = Learner(model: composite, forwardBatch: { head(backbone.forward($0)) }, loss: loss, metric: Self.metric(p.task),
                              optimizer: opt, trainData: trainSource, validData: validSource, callbacks: callbacks(phase: "fine-tune"))
        learner.phase = "fine-tune"
        learner.seed = options.seed
        return learner
    }
}

extension Targets {
    /// The multi-hot matrix of `.multiHot` targets.
    var multiHot: Tensor? { if case .multiHot(let m) = self { m } else { nil } }
}
