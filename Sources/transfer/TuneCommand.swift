import ArgumentParser
import Foundation
import HeadFitting
import Tensors
import TransferKit
import Tracking
import Tuning

extension TuneSpace: ExpressibleByArgument {}
extension TuneMetric: ExpressibleByArgument {}
extension SamplerKind: ExpressibleByArgument {}

/// `--budget`: a number of trials or a duration.
extension Budget: ExpressibleByArgument {
    public init?(argument: String) { guard let b = try? Budget(parsing: argument) else { return nil }; self = b }
    public var defaultValueDescription: String { description }
}

/// `transfer tune`: search head (and fine-tuning) hyper-parameters, write the best configuration and train its bundle.
struct TuneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Search hyper-parameters (TPE or random, pruned by successive halving), write the best as a `train --config` file and train its bundle.")

    @Option(name: .long, help: "Pretrained model (see `transfer models`).") var model: String
    @Option(name: .long, help: "An image folder, a text folder, or a CSV (classification).") var data: String
    @Option(name: .long, help: "Separate test data, evaluated once with the best configuration's bundle.") var test: String?
    @Option(name: .long, help: "Validation fraction of --data that scores the trials, in [0, 1); 0 scores head trials by cross-validation on all of --data. (default: 0 for --space head, 0.1 for --space all)") var valSplit: Double?
    @Option(name: .long, help: "Folds of the cross-validated head trials with --val-split 0, \(TuneOptions.foldsRange.lowerBound)…\(TuneOptions.foldsRange.upperBound).") var folds = 5
    @Option(name: .long, help: "Trials (1…10000, e.g. 30) or a duration (e.g. 90s, 20m, 2h; at most 7 days).") var budget: Budget = .trials(30)
    @Option(name: .long, help: "Sampler: tpe (Optuna's TPESampler defaults) or random.") var sampler: SamplerKind = .tpe
    @Option(name: .long, help: "Search space: head (head-only trials on cached features) or all (also fine-tuning trials).") var space: TuneSpace = .head
    @Option(name: .long, help: "Validation score to optimise.") var metric: TuneMetric = .logLoss
    @Flag(name: .long, inversion: .prefixedNo, help: "Prune weak trials per epoch with successive halving (Optuna's SuccessiveHalvingPruner defaults).") var pruning = true
    @Option(name: .long, help: "Batch size, 1…65536.") var batchSize = 32
    @Option(name: .long, help: "Random seed (split, sampler, heads), 0…18446744073709551615.") var seed: UInt64 = 0
    @Option(name: .long, help: "Output bundle directory of the best configuration (NAME.transferkit).") var out: String
    @Option(name: .long, help: "Where to write the best configuration (a `transfer train --config` file; default: OUT.config.json).") var configOut: String?
    @Flag(name: .long, help: "Print one JSON object at the end (no progress lines).") var json = false
    @OptionGroup var tracking: TrackingOption

    @OptionGroup var precisionOption: PrecisionOption
    @OptionGroup var longText: LongTextOption

    /// The validation fraction: as given, else none (cross-validated trials) for the head space and 0.1 for `all`.
    var effectiveValSplit: Double { valSplit ?? (space == .head ? 0 : 0.1) }

    var configPath: String { configOut ?? (out.hasSuffix("/") ? String(out.dropLast()) : out) + ".config.json" }

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("--model must name a pretrained model (received an empty string; see `transfer models`)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a folder or a CSV (received an empty string)") }
        if let test, test.isEmpty { throw ValidationError("--test must be a folder or a CSV (received an empty string)") }
        if let valSplit {
            guard valSplit >= 0 && valSplit < 1 else { throw ValidationError("--val-split must be a fraction in [0, 1) (received \(valSplit))") }
            guard valSplit > 0 || space == .head else {
                throw ValidationError("--val-split 0 works with --space head only: fine-tune trials are scored on a validation split (received --space \(space.rawValue))")
            }
        }
        try requireWhole("--folds", folds, in: TuneOptions.foldsRange)
        try requireWhole("--batch-size", batchSize, in: TrainOptions.batchSizeRange)
        try requireDirectoryPath("--out", out, holds: "the bundle")
        guard configPath.hasSuffix(".json") else { throw ValidationError("--config-out must be a .json file path (received \(configPath))") }
    }

    func run() async throws {
        try await withPrecision(try precisionOption.effective(model: model)) { try await execute() }
    }

    func execute() async throws {
        let commandStart = Date()
        let store = try tracking.store()
        let spec = try pretrainedSpec(model)
        let all = try loadData(data, task: .classification)
        let testData = try test.map { try loadData($0, task: .classification) }
        let bundleURL = URL(fileURLWithPath: out)
        try TrainingRun.checkData(all, dataName: data, test: testData, testName: test, modelName: model, modelTakesImages: takesImages(spec))
        try TrainingRun.checkOutput(bundle: bundleURL, logDirectory: nil)
        let lock = try OutputLock(directory: bundleURL)
        defer { lock.release() }
        let backbone = try FeatureBackbone(spec: spec, weightsPath: try await backboneWeights(spec), longTexts: longText.longTexts, maxWindows: longText.maxWindows)
        var o = TuneOptions()
        o.base.strategy = .features
        o.base.seed = seed; o.base.batchSize = batchSize; o.base.validationFraction = effectiveValSplit
        o.base.unfreeze = backbone.defaultUnfreeze; o.base.learningRate = backbone.defaultFineTuneLearningRate
        o.base.progress = false
        o.space = space; o.sampler = sampler; o.budget = budget; o.metric = metric; o.pruning = pruning; o.folds = folds
        let (train, valid) = try all.split(validation: effectiveValSplit, seed: seed)
        let tuner = TransferTuner(backbone: backbone, options: o)
        var parameters = ["model": model, "budget": budget.description, "val_split": String(effectiveValSplit), "folds": String(folds), "sampler": sampler.rawValue, "space": space.rawValue,
                          "metric": metric.rawValue, "pruning": String(pruning), "seed": String(seed), "bundle": out]
        if let test { parameters["test"] = test }
        let tracker = TuneTracking(store: store, metric: metric, parameters: parameters, data: all, startedAt: commandStart)
        do {
            try tune(tuner: tuner, train: train, valid: valid, all: all, testData: testData, backbone: backbone,
                     lock: lock, bundleURL: bundleURL, tracker: tracker)
        } catch {
            tracker?.fail(error)
            throw error
        }
    }

    func tune(tuner: TransferTuner, train: LabeledData, valid: LabeledData, all: LabeledData, testData: LabeledData?,
              backbone: FeatureBackbone, lock: OutputLock, bundleURL: URL, tracker: TuneTracking?) throws {
        var best: Double?
        tuner.onTrialFinished = { t in
            tracker?.record(t)
            if t.state == .complete, let v = t.value, best.map({ metric == .accuracy ? v > $0 : v < $0 }) ?? true { best = v }
            if !json { printErr(Self.progressLine(t, budget: budget, metric: metric, best: best)) }
        }
        let result = try tuner.tune(train: train, validation: valid)
        let configuration = result.bestConfiguration.trainConfig(model: model)
        do {
            let bytes = try JSONSerialization.data(withJSONObject: configuration, options: [.prettyPrinted, .sortedKeys])
            try bytes.write(to: URL(fileURLWithPath: configPath), options: .atomic)
        } catch { throw RuntimeError("--config-out \(configPath): cannot write the file: \(FileErrors.reason(error))") }
        if !json { printErr("best trial #\(result.best.number): \(metric.rawValue) \(String(format: "%.4f", result.best.value ?? .nan)); training its bundle") }
        var final = result.bestConfiguration.options
        final.progress = !json
        final.checkpointDirectory = bundleURL.appendingPathComponent(".checkpoints")
        var run = TrainingRun(backbone: backbone, options: final, dataName: data)
        run.outputLock = lock
        let heldOut = HeldOutLogits()
        run.headSolver = RegularisedHeads(logisticC: result.bestConfiguration.logisticC, heldOut: heldOut)
        run.calibrator = TemperatureCalibrator(heldOut: heldOut)
        let outcome = try run.run(all, test: testData, bundle: bundleURL)
        let seconds = result.seconds + outcome.seconds
        var recorded = outcome.test?.headlineValues(prefix: "test") ?? [:]
        if let v = result.best.value { recorded["best_valid_" + metric.rawValue] = v }
        tracker?.finish(metrics: recorded, bundle: bundleURL)
        let runID = tracker?.recorder?.id
        if json {
            var obj: [String: Any] = [
                "trials": result.trials.map(Self.trialObject), "best_trial": result.best.number,
                "best_params": result.best.params.mapValues(\.json), "metric": metric.rawValue,
                "best_validation": result.best.value ?? Double.nan, "config": configPath, "bundle": out,
                "seconds": seconds, "search_seconds": result.seconds,
                "pruned": result.trials.filter { $0.state == .pruned }.count,
            ]
            if let t = outcome.test { obj["test"] = try metricsObject(t) }
            if let v = outcome.validation { obj["validation"] = try metricsObject(v) }
            if let tracker, let runID { obj["tracking"] = ["run_id": runID, "database": tracker.store.url.path] }
            print(try jsonString(obj))
        } else {
            if let t = outcome.test { print("test set (best configuration):\n" + t.terminalSummary()) }
            print(String(format: "%d trials (%d pruned) in %.0f s; best configuration: %@; bundle %@", result.trials.count,
                         result.trials.filter { $0.state == .pruned }.count, seconds, configPath, out))
            if let tracker, let runID {
                print("recorded as run \(runID) in \(tracker.store.url.path) (`transfer runs show \(runID)`; its trials: `transfer runs list --trials`)")
            }
        }
    }

    static func trialObject(_ t: FrozenTrial) -> [String: Any] {
        var o: [String: Any] = ["number": t.number, "state": t.state.rawValue, "params": t.params.mapValues(\.json), "seconds": t.seconds]
        if let v = t.value { o["value"] = v }
        if let s = t.lastStep { o["last_step"] = s }
        if let e = t.error { o["error"] = e }
        return o
    }

    static func progressLine(_ t: FrozenTrial, budget: Budget, metric: TuneMetric, best: Double?) -> String {
        let params = t.params.keys.sorted().map { "\($0)=\(t.params[$0]!)" }.joined(separator: " ")
        let total: String
        if case .trials(let n) = budget { total = "/\(n)" } else { total = "" }
        var line = "trial \(t.number + 1)\(total) \(params): "
        switch t.state {
        case .complete: line += String(format: "%@ %.4f", metric.rawValue, t.value ?? .nan)
        case .pruned: line += "pruned at step \(t.lastStep ?? 0)"
        case .failed: line += "failed (\(t.error ?? "?"))"
        }
        if let best { line += String(format: " (best %.4f)", best) }
        return line + String(format: " %.1f s", t.seconds)
    }
}
