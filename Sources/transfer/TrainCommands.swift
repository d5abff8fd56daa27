import Adapters
import ArgumentParser
import Dense
import Assets
import Datasets
import Explain
import Foundation
import Quantization
import HeadFitting
import Models
import Tensors
import Reports
import Tracking
import MPIDistributed
import TransferKit

/// A failure while running (not a mistake in the command line): printed as `Error: …` without the usage text.
struct RuntimeError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The weights of a registry backbone (fetched on demand): a file for images, a directory for text models.
func backboneWeights(_ spec: ModelSpec) async throws -> String {
    do { return try await ModelRegistry.fetch(spec) { printErr($0) }.path } catch { throw RuntimeError(error.description) }
}

func jsonString(_ obj: Any) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: jsonSafe(obj), options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
}

/// A metrics report as a JSON object; non-finite numbers (a diverged run) become "NaN"/"Infinity"/"-Infinity" as in
/// metrics.json, never an encoding error.
func metricsObject(_ m: MetricsReport) throws -> Any {
    try JSONSerialization.jsonObject(with: try MetricsReport.jsonEncoder().encode(m))
}

func metricsObject(_ m: ClassificationMetrics) throws -> Any { try metricsObject(.classification(m)) }

/// Loads `--data`/`--test`; a failure names the path.
func loadData(_ path: String, task: TaskKind?) throws -> LabeledData {
    do { return try LabeledData.load(path, task: task) } catch {
        let message = "\(error)"
        throw RuntimeError(message.contains(path) ? message : "\(path): \(message)")
    }
}

extension Strategy: ExpressibleByArgument {}
extension HeadKind: ExpressibleByArgument {}
extension AugmentationPolicy: ExpressibleByArgument {}
extension RegressionLoss: ExpressibleByArgument {}

/// `--task`: the flag spellings of ``TaskKind``.
enum TaskFlag: String, ExpressibleByArgument, CaseIterable {
    case classify, multilabel, regress, segment, detect
    /// The labelled-data task; nil for `segment` and `detect`, which train through `--masks` / `--boxes`
    /// (SegmentCommands.swift, DetectCommands.swift).
    var kind: TaskKind? { TaskKind(flag: rawValue) }
}

/// `--unfreeze`: a number of block groups, `all`, or `auto` (the backbone's default, known once it is loaded).
enum UnfreezeChoice: ExpressibleByArgument {
    case groups(Int), all, auto

    init?(argument s: String) {
        if s == "all" { self = .all } else if s == "auto" { self = .auto } else if let n = Int(s), n >= 0 { self = .groups(n) } else { return nil }
    }

    var defaultValueDescription: String { "auto" }

    /// ``TrainOptions/unfreeze`` for `backbone` (nil: all groups).
    func groups(for backbone: FeatureBackbone) -> Int? {
        switch self {
        case .groups(let n): n
        case .all: nil
        case .auto: backbone.defaultUnfreeze
        }
    }
}

/// `transfer train`: adapt a pretrained model to a labelled folder or CSV and write a bundle.
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a model on your data, starting from a pretrained one.")

    @Option(name: .long, help: "Pretrained model (see `transfer models`).") var model: String
    @Option(name: .long, help: "An image folder, a text folder, or a CSV (path,label / text,label).") var data: String
    @Option(name: .long, help: "Separate test data, evaluated at the end.") var test: String?
    @Option(name: .long, help: "Validation fraction of --data, in [0, 1) (default 0.1; 0 for the logistic head, which chooses its C by cross-validation and calibrates on out-of-fold predictions, so every example trains it).") var valSplit: Double?
    @Option(name: .long, help: "How much of the pretrained model trains.") var strategy: Strategy = .fineTune
    @Option(name: .long, help: "Block groups to unfreeze in fine-tuning: a number ≥ 0, 'all', or 'auto' (images: the last two stages and the head convolution, 3 groups; texts: the top 2 transformer layers).") var unfreeze: UnfreezeChoice = .auto
    @Flag(name: .long, help: "Fine-tuning normalises with each batch's statistics and updates BatchNorm's running statistics (PyTorch's train mode; synchronised over the ranks under mpirun) instead of keeping the pretrained statistics.") var batchnormBatchStatistics = false
    @Option(name: .long, help: "Epochs of the last phase, 1…100000: fine-tuning (default 10), or the head phase for --strategy features (default 30).") var epochs: Int?
    @Option(name: .long, help: "Epochs of the head phase, 0…100000 (at least 1 with --strategy features).") var headEpochs = 30
    @Option(name: .long, help: "Peak learning rate of the backbone's top group in fine-tuning (lower groups get less; default 1e-3 for image models, 1e-4 for text encoders), in (0, 10].") var lr: Float?
    @Option(name: .long, help: "Peak learning rate of the head phase (default: the valley of a learning-rate sweep on the cached features, as `transfer lr-find` shows it), in (0, 10].") var headLr: Float?
    @Option(name: .long, help: "Batch size, 1…65536.") var batchSize = 32
    @Option(name: .long, help: "Augmentation of training images in fine-tuning.") var augment: AugmentationPolicy = .light
    @Option(name: .long, help: "Augmented views of each training image (--augment's policy) whose features are cached and added to the head's training rows (image models), 0…64.") var views = 0
    @Option(name: .long, help: "Mixup of the fine-tuning batches with λ ~ Beta(A, A) (classification; 0: off), in [0, 100].") var mixup = 0.0
    @Option(name: .long, help: "CutMix of the fine-tuning image batches with λ ~ Beta(A, A) (classification; 0: off; with --mixup, one of the two per batch), in [0, 100].") var cutmix = 0.0
    @Option(name: .long, help: "The new head (default: logistic for classification with --strategy features — a full-batch L-BFGS logistic regression whose L2 strength is chosen by 5-fold cross-validation — unless --epochs or --head-lr is given; linear otherwise).") var head: HeadKind?
    @Option(name: .long, help: "The logistic head's inverse L2 strength C, > 0 (default: chosen by cross-validation over 10⁻⁴…10⁴).") var logisticC: Double?
    @Option(name: .long, help: "AdamW weight decay of the gradient-trained head phase (linear, mlp), in [0, 10].") var headWeightDecay: Float = 1e-4
    @Flag(name: .long, help: "Choose the linear or mlp head's weight decay (10⁻⁴…1) and epochs (up to --head-epochs) by 5-fold cross-validation on the cached features.") var headCv = false
    @Option(name: .long, help: "Label smoothing of the classification loss, in [0, 1).") var labelSmoothing: Float = 0
    @Flag(name: .long, inversion: .prefixedNo, help: "Temperature scaling of a classifier on the validation split, or with --val-split 0 on the logistic head's out-of-fold predictions (folded into the bundle's head; accuracy unchanged).") var calibrate = true
    @Option(name: .long, help: "A JSON file of options (keys are these flags' names without dashes' prefix, e.g. {\"head\": \"mlp\", \"head-lr\": 0.01}, as `transfer tune` writes it); flags on the command line override it.") var config: String?
    @Option(name: .long, help: "Input size of an image model in pixels, 32…1024 (default: the model's own).") var inputSize: Int?
    @Option(name: .long, help: "The task (default: inferred from the labels).") var task: TaskFlag?
    @Option(name: .long, help: "Regression loss.") var loss: RegressionLoss = .mse
    @Flag(name: .long, help: "Continue a run that was interrupted, from the checkpoints in OUT/.checkpoints.") var resume = false
    @Option(name: .long, help: "Stop after N epochs without validation-loss improvement and keep the best epoch's weights (0: off, the default: the one-cycle schedule is meant to run to its end), 0…100000.") var earlyStopping = 0
    @Option(name: .long, help: "Random seed, 0…18446744073709551615.") var seed: UInt64 = 0
    @Option(name: .long, help: "Output bundle directory (NAME.transferkit).") var out: String
    @Option(name: .long, help: "Write report.html and metrics.json into this directory, and the per-epoch log (metrics.csv, metrics.jsonl) while training.") var report: String?
    @Flag(name: .long, help: "Print one JSON object at the end.") var json = false
    @OptionGroup var loraOptions: LoRAOptions
    @OptionGroup var setFitOptions: SetFitTrainOptions
    @OptionGroup var multiTask: MultiTaskOptions
    @OptionGroup var segmentation: SegmentationOptions
    @OptionGroup var detection: DetectionCLIOptions

    @OptionGroup var precisionOption: PrecisionOption
    @OptionGroup var longText: LongTextOption
    @OptionGroup var tracking: TrackingOption

    /// Every option against its accepted range (``TrainOptions/validate()`` for the numbers the library takes), and
    /// `--out`/`--report` that are existing files, before anything is loaded.
    func validate() throws {
        if task == .segment { return try validateSegmentation() }
        if task == .detect { return try validateDetection() }
        try segmentation.requireUnused()
        try detection.requireUnused()
        let epochMax = TrainOptions.epochRange.upperBound
        if let epochs {
            try requireWhole("--epochs", epochs, in: 1...epochMax,
                             !strategy.hasFineTunePhase ? "" : " (for no fine-tuning use --strategy features)")
        }
        try requireWhole("--head-epochs", headEpochs, in: (!strategy.hasFineTunePhase && epochs == nil ? 1 : 0)...epochMax,
                         !strategy.hasFineTunePhase && epochs == nil ? " with --strategy \(strategy.rawValue) (0 epochs would save an untrained head)" : "")
        try requireWhole("--batch-size", batchSize, in: TrainOptions.batchSizeRange)
        if let inputSize { try requireWhole("--input-size", inputSize, in: ModelSpec.inputSizeRange) }
        if let lr { try requireRate("--lr", lr, maximum: TrainOptions.maxLearningRate) }
        if let headLr { try requireRate("--head-lr", headLr, maximum: TrainOptions.maxLearningRate) }
        try requireWhole("--views", views, in: TrainOptions.augmentedViewsRange)
        guard views == 0 || augment != .none else { throw ValidationError("--views \(views) needs an augmentation policy: --augment light or strong") }
        if let valSplit, !(0..<1).contains(valSplit) { throw ValidationError("--val-split must be a fraction in [0, 1) (received \(valSplit))") }
        for (name, a) in [("--mixup", mixup), ("--cutmix", cutmix)] where !(a >= 0 && a <= TrainOptions.mixingAlphaRange.upperBound) {
            throw ValidationError("\(name) must be an α in [0, \(TrainOptions.mixingAlphaRange.upperBound)] (0: off) (received \(a))")
        }
        try requireWhole("--early-stopping", earlyStopping, in: 0...epochMax, " (0: off)")
        if let logisticC, !(logisticC > 0 && logisticC.isFinite) { throw ValidationError("--logistic-c must be a number > 0 (received \(logisticC))") }
        let kind = headKind(for: task?.kind)
        if headCv && kind == .logistic { throw ValidationError("--head-cv applies to --head linear or mlp (the logistic head always cross-validates its C)") }
        if kind == .logistic, let flag = [("--head-lr", headLr != nil), ("--epochs", epochs != nil && !strategy.hasFineTunePhase)].first(where: \.1)?.0 {
            throw ValidationError("\(flag) applies to the gradient-trained heads (linear, mlp); the logistic head is solved by L-BFGS with its C chosen by cross-validation (--logistic-c to fix it)")
        }
        if logisticC != nil && kind != .logistic { throw ValidationError("--logistic-c applies to --head logistic (the head is \(kind.rawValue))") }
        try loraOptions.validate(strategy: strategy)
        try setFitOptions.validate(strategy: strategy)
        try multiTask.validate(strategy: strategy, data: data)
        guard !model.isEmpty else { throw ValidationError("--model must name a pretrained model (received an empty string; see `transfer models`)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a folder or a CSV (received an empty string)") }
        if let test, test.isEmpty { throw ValidationError("--test must be a folder or a CSV (received an empty string)") }
        try requireDirectoryPath("--out", out, holds: "the bundle")
        try requireDirectoryPath("--report", report, holds: "the report")
        do throws(TrainOptionsError) { try options().validate() } catch {
            throw ValidationError("\(flag(forTrainOptionsField: error.field)) must be \(error.accepted) (received \(error.value))")
        }
    }

    /// The batch mixing of `--mixup` / `--cutmix`.
    var mixing: BatchMixing? {
        switch (mixup > 0, cutmix > 0) {
        case (true, true): .mixupOrCutmix(mixupAlpha: mixup, cutmixAlpha: cutmix)
        case (true, false): .mixup(alpha: mixup)
        case (false, true): .cutmix(alpha: cutmix)
        case (false, false): nil
        }
    }

    /// `--head`, or its default: logistic for a classifier on features, unless `--epochs` or `--head-lr` configure a
    /// gradient-trained head; linear otherwise (multi-label, regression, fine-tuning).
    func headKind(for task: TaskKind?) -> HeadKind {
        if let head { return head }
        let gradientOptions = epochs != nil || headLr != nil
        return !strategy.hasFineTunePhase && (task ?? .classification) == .classification && !gradientOptions ? .logistic : .linear
    }

    func options() -> TrainOptions {
        var o = TrainOptions()
        o.strategy = strategy
        o.head = headKind(for: task?.kind)
        o.headWeightDecay = headWeightDecay
        o.labelSmoothing = labelSmoothing
        o.augment = augment
        o.augmentedViews = views
        o.mixing = mixing
        o.regressionLoss = loss
        o.checkpointDirectory = URL(fileURLWithPath: out).appendingPathComponent(".checkpoints")
        o.validationFraction = valSplit ?? (o.head == .logistic && strategy == .features ? 0 : 0.1)
        o.headEpochs = !strategy.hasFineTunePhase ? (epochs ?? headEpochs) : headEpochs
        o.fineTuneEpochs = epochs ?? 10
        o.batchNormUsesRunningStatistics = !batchnormBatchStatistics
        if let lr { o.learningRate = lr }
        o.headLearningRate = headLr
        o.batchSize = batchSize
        o.earlyStoppingPatience = earlyStopping > 0 ? earlyStopping : nil
        o.seed = seed
        o.progress = !json
        o.logDirectory = report.map { URL(fileURLWithPath: $0) }
        return o
    }

    func run() async throws {
        let precision = try precisionOption.effective(model: model)
        // bf16 also trains in bf16 mixed precision (fp32 master weights; see withTrainingPrecision).
        try await withPrecision(precision) { try await withTrainingPrecision(precision) { try await execute() } }
    }

    /// Checks everything that needs no weights first (model name, data, modality, classes, test classes, output
    /// paths), then locks `--out`, loads the backbone and runs ``TrainingRun``. The bundle is written before the
    /// report; a report that cannot be written fails the command and names the bundle that was kept.
    func execute() async throws {
        let commandStart = Date()
        if multiTask.isRequested {
            guard !Communicator.isLaunchedByMPI else {
                throw ValidationError("multi-task training (--label-columns/--tasks) does not run under mpirun: run it as one process")
            }
            return try await executeMultiTask()
        }
        if task == .segment || task == .detect {
            guard !Communicator.isLaunchedByMPI else {
                throw ValidationError("--task \(task?.rawValue ?? "") does not run under mpirun: run it as one process")
            }
            if task == .segment { return try await executeSegmentation() }
            return try await executeDetection()
        }
        guard let world = try Communicator.fromEnvironment() else { return try await execute(world: nil, commandStart: commandStart) }
        try await asRank(world) { try await execute(world: world, commandStart: commandStart) }
    }

    /// The run; under `mpirun` (`world`), rank 0 runs it with data-parallel training and the others join it.
    func execute(world: Communicator?, commandStart: Date) async throws {
        var o = options()
        var spec = try pretrainedSpec(model)
        if let inputSize {
            guard takesImages(spec) else { throw ValidationError("--input-size applies to image models; \(model) is a text model") }
            spec = spec.resized(to: inputSize)
        }
        if views > 0 && !takesImages(spec) { throw ValidationError("--views applies to image models; \(model) is a text model") }
        let all = try loadData(data, task: task?.kind)
        o.head = headKind(for: all.task)
        if mixing != nil && all.task != .classification {
            throw ValidationError("--mixup/--cutmix apply to classification; \(data) holds \(all.task.reportName) targets")
        }
        let testData = try test.map { try loadData($0, task: task?.kind ?? all.task) }
        let bundleURL = URL(fileURLWithPath: out), reportURL = report.map { URL(fileURLWithPath: $0) }
        try TrainingRun.checkData(all, dataName: data, test: testData, testName: test, modelName: model, modelTakesImages: takesImages(spec))
        try TrainingRun.checkOutput(bundle: bundleURL, logDirectory: reportURL)
        if let world, !world.isRoot { return try await executeWorker(world, options: o, spec: spec, data: all, test: testData) }
        // Locked before anything in OUT is replaced: a second run on the same --out stops here.
        let lock = try OutputLock(directory: bundleURL)
        defer { lock.release() }
        let store = try tracking.store()
        if let reportURL {
            do { try FileManager.default.createDirectory(at: reportURL, withIntermediateDirectories: true) } catch {
                throw RuntimeError("--report \(report ?? ""): cannot create the directory: \(FileErrors.reason(error))")
            }
        }
        let backbone = try FeatureBackbone(spec: spec, weightsPath: try await startingWeights(model, spec), longTexts: longText.longTexts, maxWindows: longText.maxWindows)
        o.unfreeze = unfreeze.groups(for: backbone)
        if lr == nil { o.learningRate = strategy == .lora ? LoRAOptions.defaultLearningRate : backbone.defaultFineTuneLearningRate }
        var run = TrainingRun(backbone: backbone, options: o, dataName: data)
        if strategy == .lora { run.adapter = LoRABackboneAdapter(config: try loraOptions.config(for: backbone), seed: seed) }
        if strategy == .setfit { run.preparation = setFitOptions.preparation(seed: seed, progress: !json) }
        run.resume = resume
        run.mistakes = report == nil ? 0 : 12
        run.outputLock = lock
        let heldOut = HeldOutLogits()
        run.headSolver = RegularisedHeads(logisticC: logisticC, crossValidateGradientHeads: headCv, heldOut: heldOut)
        if calibrate { run.calibrator = TemperatureCalibrator(heldOut: heldOut) }
        let distributed = try world.map { try joinRanks($0, run: &run, data: all, test: testData) }
        var recorder: RunRecorder?
        if let store {
            var extra = ["model": model, "bundle": out, "precision": Precision.current.rawValue]
            if let test { extra["test"] = test }
            if let report { extra["report"] = URL(fileURLWithPath: report).standardizedFileURL.path }
            if resume { extra["resume"] = "true" }
            if let world { extra["mpi_ranks"] = String(world.size) }
            do throws(RunStoreError) {
                recorder = try RunRecorder.begin(training: run, data: all, test: testData, in: store, extra: extra, startedAt: commandStart)
            } catch {
                TrackingOption.warn(error)
            }
        }
        let outcome: TrainingRun.Outcome
        do {
            outcome = try run.run(all, test: testData, bundle: bundleURL, recorder: recorder, onTrackingError: TrackingOption.warn)
        } catch let e as TrainError {
            if case .nothingToTrain(let why) = e { throw RuntimeError("\(data): \(why) (nothing was trained)") }
            throw e
        }
        if let report, let reportURL {
            do {
                try HTMLReport.write(to: reportURL, title: "\(model) on \(data)",
                                     history: TrainingHistory(epochs: outcome.result.history), validation: outcome.validation,
                                     test: outcome.test, mistakes: MistakeOverlays.overlaid(outcome.mistakes, model: outcome.result.model),
                                     config: outcome.configuration.merging(["model": model, "bundle": out]) { $1 }
                                        .merging(outcome.calibration.mapValues { String(format: "%.4f", $0) }.reduce(into: [:]) { $0["calibration: " + $1.key] = $1.value }) { $1 },
                                     skippedFiles: outcome.skipped)
            } catch {
                throw RuntimeError("the bundle \(out) was written, but the report could not be written to \(report): \(Transfer.userMessage(for: error))")
            }
        }
        if json {
            try printJSON(outcome, strategy: o.strategy, task: all.task, tracking: TrackingOption.summary(store, recorder),
                          distributed: distributed?.summary)
        } else {
            printSummary(outcome)
            if let line = TrackingOption.line(store, recorder) { print(line) }
        }
    }

    func printJSON(_ outcome: TrainingRun.Outcome, strategy: Strategy, task: TaskKind, tracking: [String: Any]?,
                   distributed: [String: Any]? = nil) throws {
        let r = outcome.result
        var obj: [String: Any] = [
            "bundle": out, "strategy": strategy.rawValue, "task": task.flag, "epochs_run": r.history.count,
            "seconds": outcome.seconds, "train_size": outcome.trainSize, "feature_seconds": r.featureSeconds,
            "backbone_forwards": r.backboneForwards, "head_lr": Double(r.headLearningRate), "head": outcome.configuration["head"] ?? "",
            "head_notes": r.headNotes, "calibration": outcome.calibration,
            "skipped_files": outcome.skipped.map { ["path": $0.path, "reason": $0.reason] },
        ]
        if let v = outcome.validation { obj["validation"] = try metricsObject(v) }
        if let t = outcome.test { obj["test"] = try metricsObject(t) }
        if let tracking { obj["tracking"] = tracking }
        if let distributed { obj["distributed"] = distributed }
        let model = r.model, head = model.head.parameterCount.total, backbone = model.backbone.module.parameterCount
        obj["trainable_parameters"] = head + (strategy == .features ? 0 : backbone.trainable)
        obj["total_parameters"] = head + backbone.total
        let adapter = URL(fileURLWithPath: out).appendingPathComponent(ModelBundle.adapterFileName).path
        if strategy == .lora, let size = (try? FileManager.default.attributesOfItem(atPath: adapter))?[.size] as? Int {
            obj["adapter_bytes"] = size
        }
        print(try jsonString(obj))
    }

    func printSummary(_ outcome: TrainingRun.Outcome) {
        if !outcome.skipped.isEmpty {
            print("skipped \(outcome.skipped.count) unreadable file(s):")
            for s in outcome.skipped { print("  \(s.path): \(s.reason)") }
        }
        if let v = outcome.validation { print("validation: " + String(format: "%@ %.4f", v.headline.name, v.headline.value)) }
        if let t = outcome.test { print("test set:\n" + t.terminalSummary()) }
        print(String(format: "bundle %@ (%.1f s; backbone forwards %d)", out, outcome.seconds, outcome.result.backboneForwards))
        if let report { print("report: \(report)/report.html") }
    }
}

/// `transfer evaluate`: metrics of a bundle on labelled data.
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "Evaluate a trained bundle on labelled data.")
    @Option(name: .long, help: "A bundle written by `transfer train`.") var model: String
    @Option(name: .long, help: "An image folder, a text folder or a CSV.") var data: String
    @Option(name: .long, help: "Write report.html and metrics.json into this directory.") var report: String?
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Option(name: .long, help: "The masks of --data, for a segmentation bundle: a folder of mask PNGs named like the images.") var masks: String?
    @Option(name: .long, help: "The boxes of --data, for a detection bundle: a CSV, a Pascal VOC .xml or a folder of them.") var boxes: String?

    @OptionGroup var precisionOption: PrecisionOption
    @OptionGroup var tracking: TrackingOption

    func run() async throws {
        try await withPrecision(try precisionOption.effective(model: model)) { try await execute() }
    }

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("--model must be a bundle directory (received an empty string)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a folder or a CSV (received an empty string)") }
        try requireDirectoryPath("--report", report, holds: "the report")
    }

    func execute() async throws {
        if SegmentationBundle.isBundle(model) { return try executeSegmentation() }
        if DetectionBundle.isBundle(model) { return try executeDetection() }
        if masks != nil || boxes != nil {
            throw ValidationError("--masks and --boxes apply to segmentation and detection bundles; \(model) is not one")
        }
        let url = URL(fileURLWithPath: model)
        switch modelPathKind(model) {
        case .bundle: break
        case .notADirectory:
            if (try? ModelRegistry.spec(named: model)) != nil {
                throw ValidationError("--model \(model) is a pretrained model; evaluate takes a bundle written by `transfer train`")
            }
        case let kind: throw notABundleError(model, kind)
        }
        let manifest: ModelBundle.Manifest
        do { manifest = try ModelBundle.manifest(at: url) } catch { throw RuntimeError("\(error)") }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch { throw ValidationError(error.description) }
        let labeled = try loadData(data, task: TaskKind(reportName: manifest.task))
        let store = try tracking.store()
        let recorder = beginRecording(store, manifest: manifest, data: labeled)
        do {
            try await evaluate(url: url, manifest: manifest, spec: spec, labeled: labeled, store: store, recorder: recorder)
        } catch {
            do throws(RunStoreError) { try recorder?.fail(Transfer.userMessage(for: error)) } catch { TrackingOption.warn(error) }
            throw error
        }
    }

    /// The evaluate run in the run database (nil with --no-track; a failure to begin is a warning).
    func beginRecording(_ store: RunStore?, manifest: ModelBundle.Manifest, data labeled: LabeledData) -> RunRecorder? {
        guard let store else { return nil }
        let parameters = ["model": manifest.backbone, "bundle": model, "data": data, "strategy": manifest.strategy, "task": manifest.task,
                          "precision": Precision.current.rawValue]
        do throws(RunStoreError) {
            return try RunRecorder.begin(in: store, kind: .evaluate, parameters: parameters, dataFingerprint: DataFingerprint.of(labeled))
        } catch {
            TrackingOption.warn(error)
            return nil
        }
    }

    func evaluate(url: URL, manifest: ModelBundle.Manifest, spec: ModelSpec, labeled: LabeledData, store: RunStore?,
                  recorder: RunRecorder?) async throws {
        if let first = labeled.inputs.first {
            let holdsImages: Bool
            if case .image = first { holdsImages = true } else { holdsImages = false }
            if holdsImages != takesImages(spec) {
                throw TrainingRunError.modalityMismatch(model: "\(model) (\(manifest.backbone))", modelTakes: takesImages(spec) ? "images" : "texts",
                                                        data: data, dataHolds: holdsImages ? "image files" : "texts")
            }
        }
        let bundle: TransferModel, int8: QuantizationPlan?
        do { (bundle, int8) = try QuantizedBundle.load(url, backboneWeights: try await backboneWeights(spec)) } catch { throw RuntimeError("\(error)") }
        // The feature cache holds fp32 features: an int8 bundle computes its own.
        if int8 == nil { bundle.featureCache = bundle.backbone.featureCache(root: AssetStore.cacheRoot.appendingPathComponent("features")) }
        let (m, skipped, mistakes) = try bundle.evaluateWithMistakes(labeled, mistakes: report == nil ? 0 : 12)
        do throws(RunStoreError) { try recorder?.finish(metrics: m.headlineValues(prefix: "test"), bundle: url) } catch {
            TrackingOption.warn(error)
        }
        if let report {
            do {
                try HTMLReport.write(to: URL(fileURLWithPath: report), title: "\(manifest.backbone) bundle \(model) on \(data)",
                                     history: TrainingHistory(epochs: []), validation: nil, test: m, mistakes: MistakeOverlays.overlaid(mistakes, model: bundle),
                                     config: ["bundle": model, "data": data, "backbone": manifest.backbone, "strategy": manifest.strategy],
                                     skippedFiles: skipped.map { (path: $0.0, reason: $0.1) })
            } catch {
                throw RuntimeError("the report could not be written to \(report): \(Transfer.userMessage(for: error))")
            }
        }
        if json {
            var obj = try metricsObject(m) as? [String: Any] ?? [:]
            obj["skipped_files"] = skipped.map { ["path": $0.0, "reason": $0.1] }
            if let t = TrackingOption.summary(store, recorder) { obj["tracking"] = t }
            print(try jsonString(obj))
        } else {
            print(m.terminalSummary())
            for s in skipped { print("skipped \(s.0): \(s.1)") }
            if let report { print("report: \(report)/report.html") }
            if let line = TrackingOption.line(store, recorder) { print(line) }
        }
    }
}
