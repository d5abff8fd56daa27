import ArgumentParser
import Assets
import Datasets
import Foundation
import Models
import Tensors
import TransferKit

/// The weights of a registry backbone (fetched on demand): a file for images, a directory for text models.
func backboneWeights(_ spec: ModelSpec) async throws -> String {
    do { return try await ModelRegistry.fetch(spec) { printErr($0) }.path } catch { throw ValidationError(error.description) }
}

func jsonString(_ obj: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
}

func metricsObject(_ m: MetricsReport) throws -> Any {
    try JSONSerialization.jsonObject(with: try JSONEncoder().encode(m))
}

func metricsObject(_ m: ClassificationMetrics) throws -> Any { try metricsObject(.classification(m)) }

/// Loads `--data`/`--test`, turning a failure into a usage error that names the path.
func loadData(_ path: String, task: TaskKind?) throws -> LabeledData {
    do { return try LabeledData.load(path, task: task) } catch { throw ValidationError("\(path): \(error)") }
}

/// `--task`: nil infers the task from the labels.
func parseTask(_ task: String?) throws -> TaskKind? {
    guard let task else { return nil }
    guard let t = TaskKind(flag: task) else { throw ValidationError("--task must be classify, multilabel or regress (received \(task))") }
    return t
}

/// `--unfreeze`: a number of block groups, `all`, or `auto` (the backbone's default, known once it is loaded).
enum UnfreezeChoice {
    case groups(Int), all, auto

    init(_ s: String) throws {
        if s == "all" { self = .all } else if s == "auto" { self = .auto } else if let n = Int(s), n >= 0 { self = .groups(n) } else {
            throw ValidationError("--unfreeze must be a number, 'all' or 'auto' (received \(s))")
        }
    }

    /// ``TrainOptions/unfreeze`` for `backbone` (nil: all groups).
    func groups(for backbone: FeatureBackbone) -> Int? {
        switch self {
        case .groups(let n): n
        case .all: nil
        case .auto: backbone.defaultUnfreeze
        }
    }
}

/// Flat numbers of a metrics report for a bundle's manifest.
func headlineValues(_ m: MetricsReport, prefix: String) -> [String: Double] {
    switch m {
    case .classification(let c): [prefix + "_accuracy": c.accuracy, prefix + "_macro_f1": c.macroF1]
    case .multiLabel(let c): [prefix + "_micro_f1": c.microF1, prefix + "_macro_f1": c.macroF1]
    case .regression(let r): [prefix + "_mae": r.mae, prefix + "_rmse": r.rmse, prefix + "_r2": r.r2]
    }
}

/// `transfer train`: adapt a pretrained model to a labelled folder or CSV and write a bundle.
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a model on your data, starting from a pretrained one.")

    @Option(name: .long, help: "Pretrained model (see `transfer models`).") var model: String
    @Option(name: .long, help: "An image folder, a text folder, or a CSV (path,label / text,label).") var data: String
    @Option(name: .long, help: "Separate test data, evaluated at the end.") var test: String?
    @Option(name: .long, help: "Validation fraction of --data.") var valSplit = 0.1
    @Option(name: .long, help: "features | fine-tune | full") var strategy = "fine-tune"
    @Option(name: .long, help: "Block groups to unfreeze in fine-tuning: a number, 'all', or 'auto' (images: the last two stages and the head convolution, 3 groups; texts: the top 2 transformer layers).") var unfreeze = "auto"
    @Option(name: .long, help: "Epochs of the last phase: fine-tuning (default 10), or the head phase for --strategy features (default 30).") var epochs: Int?
    @Option(name: .long, help: "Epochs of the head phase.") var headEpochs = 30
    @Option(name: .long, help: "Peak learning rate of the backbone's top group in fine-tuning (lower groups get less; default 1e-3 for image models, 1e-4 for text encoders).") var lr: Float?
    @Option(name: .long, help: "Peak learning rate of the head phase (default: the valley of a learning-rate sweep on the cached features, as `transfer lr-find` shows it).") var headLr: Float?
    @Option(name: .long, help: "Batch size.") var batchSize = 32
    @Option(name: .long, help: "none | light | strong (fine-tuning on images)") var augment = "light"
    @Option(name: .long, help: "Augmented views of each training image (--augment's policy) whose features are cached and added to the head's training rows (image models).") var views = 0
    @Option(name: .long, help: "linear | mlp") var head = "linear"
    @Option(name: .long, help: "classify | multilabel | regress (default: inferred from the labels)") var task: String?
    @Option(name: .long, help: "Regression loss: mse | huber") var loss = "mse"
    @Flag(name: .long, help: "Continue a run that was interrupted, from the checkpoints in OUT/.checkpoints.") var resume = false
    @Option(name: .long, help: "Stop after N epochs without validation-loss improvement and keep the best epoch's weights (0: off, the default: the one-cycle schedule is meant to run to its end).") var earlyStopping = 0
    @Option(name: .long, help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Output bundle directory (NAME.transferkit).") var out: String
    @Option(name: .long, help: "Write report.html and metrics.json into this directory, and the per-epoch log (metrics.csv, metrics.jsonl) while training.") var report: String?
    @Flag(name: .long, help: "Print one JSON object at the end.") var json = false

    func options() throws -> TrainOptions {
        var o = TrainOptions()
        guard let s = Strategy(rawValue: strategy) else { throw ValidationError("--strategy must be features, fine-tune or full (received \(strategy))") }
        o.strategy = s
        _ = try UnfreezeChoice(unfreeze)
        guard let h = HeadKind(rawValue: head) else { throw ValidationError("--head must be linear or mlp (received \(head))") }
        o.head = h
        guard let a = AugmentationPolicy(rawValue: augment) else { throw ValidationError("--augment must be none, light or strong (received \(augment))") }
        o.augment = a
        guard views >= 0 && views <= 64 else { throw ValidationError("--views must be in 0…64 (received \(views))") }
        guard views == 0 || a != .none else { throw ValidationError("--views \(views) needs an augmentation policy: --augment light or strong") }
        o.augmentedViews = views
        guard let l = RegressionLoss(rawValue: loss) else { throw ValidationError("--loss must be mse or huber (received \(loss))") }
        o.regressionLoss = l
        o.checkpointDirectory = URL(fileURLWithPath: out).appendingPathComponent(".checkpoints")
        guard (0..<1).contains(valSplit) else { throw ValidationError("--val-split must be in [0, 1) (received \(valSplit))") }
        o.validationFraction = valSplit
        o.headEpochs = s == .features ? (epochs ?? headEpochs) : headEpochs
        o.fineTuneEpochs = epochs ?? 10
        if let lr { o.learningRate = lr }
        o.headLearningRate = headLr
        o.batchSize = batchSize
        o.earlyStoppingPatience = earlyStopping > 0 ? earlyStopping : nil
        o.seed = seed
        o.progress = !json
        return o
    }

    @OptionGroup var precisionOption: PrecisionOption

    func run() async throws {
        try await withPrecision(try precisionOption.effective(model: model)) { try await execute() }
    }

    func execute() async throws {
        var o = try options()
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
        let kind = try parseTask(task)
        if views > 0 && spec.task == .sentenceEmbedding { throw ValidationError("--views applies to image models; \(model) is a text model") }
        let all = try loadData(data, task: kind)
        let testData = try test.map { try loadData($0, task: kind ?? all.task) }
        let start = Date()
        let weights = try await backboneWeights(spec)
        let backbone = try FeatureBackbone(spec: spec, weightsPath: weights)
        o.unfreeze = try UnfreezeChoice(unfreeze).groups(for: backbone)
        if lr == nil { o.learningRate = backbone.defaultFineTuneLearningRate }
        let (train, valid) = try all.split(validation: o.validationFraction, seed: o.seed)
        if !resume, let dir = o.checkpointDirectory { try? FileManager.default.removeItem(at: dir) }
        if let report {
            // The per-epoch log (metrics.csv, metrics.jsonl) grows while training runs.
            o.logDirectory = URL(fileURLWithPath: report)
            if !resume { for f in ["metrics.csv", "metrics.jsonl"] { try? FileManager.default.removeItem(atPath: report + "/" + f) } }
        }
        let trainer = TransferTrainer(backbone: backbone, options: o)
        let result = try trainer.train(train, validation: valid)
        var skipped = result.skipped
        var testMetrics: MetricsReport?
        var mistakes: [Mistake] = []
        if let testData {
            let r = try result.model.evaluateWithMistakes(testData, mistakes: report == nil ? 0 : 12)
            testMetrics = r.metrics
            mistakes = r.mistakes
            skipped += r.skipped.map { (path: $0.0, reason: $0.1) }
        }
        let validEval = valid.inputs.isEmpty ? nil : try result.model.evaluateWithMistakes(valid, mistakes: report == nil || test != nil ? 0 : 12)
        let validMetrics = validEval?.metrics
        if mistakes.isEmpty { mistakes = validEval?.mistakes ?? [] }
        var metricValues: [String: Double] = [:]
        if let v = validMetrics { metricValues.merge(headlineValues(v, prefix: "validation")) { $1 } }
        if let t = testMetrics { metricValues.merge(headlineValues(t, prefix: "test")) { $1 } }
        var trainingConfig: [String: String] = ["data": data, "strategy": o.strategy.rawValue, "task": all.task.flag]
        trainingConfig["seed"] = String(o.seed)
        trainingConfig["lr"] = String(o.learningRate)
        trainingConfig["head_lr"] = String(result.headLearningRate)
        trainingConfig["batch_size"] = String(o.batchSize)
        trainingConfig["augment"] = o.augment.rawValue
        trainingConfig["views"] = String(o.augmentedViews)
        trainingConfig["unfreeze"] = o.unfreeze.map(String.init) ?? "all"
        trainingConfig["head_epochs"] = String(o.headEpochs)
        trainingConfig["fine_tune_epochs"] = String(o.fineTuneEpochs)
        try ModelBundle.save(result.model, to: URL(fileURLWithPath: out), training: trainingConfig, metrics: metricValues)
        if let dir = o.checkpointDirectory { try? FileManager.default.removeItem(at: dir) }
        let seconds = Date().timeIntervalSince(start)
        if let report {
            try HTMLReport.write(to: URL(fileURLWithPath: report), title: "\(model) on \(data)",
                                 history: TrainingHistory(epochs: result.history), validation: validMetrics, test: testMetrics,
                                 mistakes: mistakes, config: trainingConfig.merging(["model": model, "bundle": out]) { $1 },
                                 skippedFiles: skipped)
        }
        if json {
            var obj: [String: Any] = [
                "bundle": out, "strategy": o.strategy.rawValue, "task": all.task.flag, "epochs_run": result.history.count,
                "seconds": seconds, "train_size": train.inputs.count, "feature_seconds": result.featureSeconds,
                "backbone_forwards": result.backboneForwards, "head_lr": Double(result.headLearningRate),
                "skipped_files": skipped.map { ["path": $0.path, "reason": $0.reason] },
            ]
            if let v = validMetrics { obj["validation"] = try metricsObject(v) }
            if let t = testMetrics { obj["test"] = try metricsObject(t) }
            print(try jsonString(obj))
        } else {
            if !skipped.isEmpty {
                print("skipped \(skipped.count) unreadable file(s):")
                for s in skipped { print("  \(s.path): \(s.reason)") }
            }
            if let v = validMetrics { print("validation: " + String(format: "%@ %.4f", v.headline.name, v.headline.value)) }
            if let t = testMetrics { print("test set:\n" + t.terminalSummary()) }
            print(String(format: "bundle %@ (%.1f s; backbone forwards %d)", out, seconds, result.backboneForwards))
            if let report { print("report: \(report)/report.html") }
        }
    }
}

/// `transfer evaluate`: metrics of a bundle on labelled data.
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "Evaluate a trained bundle on labelled data.")
    @Option(name: .long, help: "A bundle written by `transfer train`.") var model: String
    @Option(name: .long, help: "An image folder, a text folder or a CSV.") var data: String
    @Option(name: .long, help: "Write report.html and metrics.json into this directory.") var report: String?
    @Flag(name: .long, help: "Print JSON.") var json = false

    @OptionGroup var precisionOption: PrecisionOption

    func run() async throws {
        try await withPrecision(try precisionOption.effective(model: model)) { try await execute() }
    }

    func execute() async throws {
        let url = URL(fileURLWithPath: model)
        let manifest: ModelBundle.Manifest
        do { manifest = try ModelBundle.manifest(at: url) } catch { throw ValidationError("\(error)") }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch { throw ValidationError(error.description) }
        let bundle: TransferModel
        do { bundle = try ModelBundle.load(url, backboneWeights: try await backboneWeights(spec)) } catch { throw ValidationError("\(error)") }
        bundle.featureCache = bundle.backbone.featureCache(root: AssetStore.cacheRoot.appendingPathComponent("features"))
        let labeled = try loadData(data, task: bundle.task)
        let (m, skipped, mistakes) = try bundle.evaluateWithMistakes(labeled, mistakes: report == nil ? 0 : 12)
        if let report {
            try HTMLReport.write(to: URL(fileURLWithPath: report), title: "\(manifest.backbone) bundle \(model) on \(data)",
                                 history: TrainingHistory(epochs: []), validation: nil, test: m, mistakes: mistakes,
                                 config: ["bundle": model, "data": data, "backbone": manifest.backbone, "strategy": manifest.strategy],
                                 skippedFiles: skipped.map { (path: $0.0, reason: $0.1) })
        }
        if json {
            var obj = try metricsObject(m) as! [String: Any]
            obj["skipped_files"] = skipped.map { ["path": $0.0, "reason": $0.1] }
            print(try jsonString(obj))
        } else {
            print(m.terminalSummary())
            for s in skipped { print("skipped \(s.0): \(s.1)") }
            if let report { print("report: \(report)/report.html") }
        }
    }
}
