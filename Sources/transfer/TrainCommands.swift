import ArgumentParser
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

func metricsObject(_ m: ClassificationMetrics) throws -> Any {
    let enc = JSONEncoder()
    return try JSONSerialization.jsonObject(with: try enc.encode(m))
}

/// `transfer train`: adapt a pretrained model to a labelled folder or CSV and write a bundle.
struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Train a model on your data, starting from a pretrained one.")

    @Option(name: .long, help: "Pretrained model (see `transfer models`).") var model: String
    @Option(name: .long, help: "An image folder, a text folder, or a CSV (path,label / text,label).") var data: String
    @Option(name: .long, help: "Separate test data, evaluated at the end.") var test: String?
    @Option(name: .long, help: "Validation fraction of --data.") var valSplit = 0.1
    @Option(name: .long, help: "features | fine-tune | full") var strategy = "fine-tune"
    @Option(name: .long, help: "Block groups to unfreeze in fine-tuning: a number or 'all'.") var unfreeze = "2"
    @Option(name: .long, help: "Epochs of the last phase (fine-tuning; the head phase for --strategy features).") var epochs: Int?
    @Option(name: .long, help: "Epochs of the head phase.") var headEpochs = 30
    @Option(name: .long, help: "Peak learning rate of the backbone's top group (the head phase uses 10×).") var lr: Float = 1e-3
    @Option(name: .long, help: "Batch size.") var batchSize = 32
    @Option(name: .long, help: "none | light") var augment = "light"
    @Option(name: .long, help: "linear | mlp") var head = "linear"
    @Option(name: .long, help: "Stop after N epochs without validation improvement (0: off).") var earlyStopping = 5
    @Option(name: .long, help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Output bundle directory (NAME.transferkit).") var out: String
    @Option(name: .long, help: "Write report.html and metrics.json into this directory.") var report: String?
    @Flag(name: .long, help: "Print one JSON object at the end.") var json = false

    func options() throws -> TrainOptions {
        var o = TrainOptions()
        guard let s = Strategy(rawValue: strategy) else { throw ValidationError("--strategy must be features, fine-tune or full (received \(strategy))") }
        o.strategy = s
        if unfreeze == "all" { o.unfreeze = nil } else if let n = Int(unfreeze), n >= 0 { o.unfreeze = n } else {
            throw ValidationError("--unfreeze must be a number or 'all' (received \(unfreeze))")
        }
        guard let h = HeadKind(rawValue: head) else { throw ValidationError("--head must be linear or mlp (received \(head))") }
        o.head = h
        guard ["none", "light"].contains(augment) else { throw ValidationError("--augment must be none or light (received \(augment))") }
        o.augment = augment == "light"
        guard (0..<1).contains(valSplit) else { throw ValidationError("--val-split must be in [0, 1) (received \(valSplit))") }
        o.validationFraction = valSplit
        o.headEpochs = s == .features ? (epochs ?? headEpochs) : headEpochs
        o.fineTuneEpochs = epochs ?? 5
        o.learningRate = lr
        o.batchSize = batchSize
        o.earlyStoppingPatience = earlyStopping > 0 ? earlyStopping : nil
        o.seed = seed
        o.progress = !json
        return o
    }

    func run() async throws {
        let o = try options()
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
        let all: LabeledData
        do { all = try LabeledData.load(data) } catch { throw ValidationError("\(data): \(error)") }
        let start = Date()
        let weights = try await backboneWeights(spec)
        let backbone = try FeatureBackbone(spec: spec, weightsPath: weights)
        let (train, valid) = try all.split(validation: o.validationFraction, seed: o.seed)
        let trainer = TransferTrainer(backbone: backbone, options: o)
        let result = try trainer.train(train, validation: valid)
        var skipped = result.skipped
        var testMetrics: ClassificationMetrics?
        var mistakes: [Mistake] = []
        if let test {
            let testData: LabeledData
            do { testData = try LabeledData.load(test) } catch { throw ValidationError("\(test): \(error)") }
            let r = try result.model.evaluateWithMistakes(testData, mistakes: report == nil ? 0 : 12)
            testMetrics = r.metrics
            mistakes = r.mistakes
            skipped += r.skipped.map { (path: $0.0, reason: $0.1) }
        }
        let validEval = valid.inputs.isEmpty ? nil : try result.model.evaluateWithMistakes(valid, mistakes: report == nil || test != nil ? 0 : 12)
        let validMetrics = validEval?.metrics
        if mistakes.isEmpty { mistakes = validEval?.mistakes ?? [] }
        var metricValues: [String: Double] = [:]
        if let v = validMetrics { metricValues["validation_accuracy"] = v.accuracy }
        if let t = testMetrics { metricValues["test_accuracy"] = t.accuracy; metricValues["test_macro_f1"] = t.macroF1 }
        try ModelBundle.save(result.model, to: URL(fileURLWithPath: out),
                             training: ["data": data, "strategy": o.strategy.rawValue, "seed": String(o.seed), "lr": String(o.learningRate),
                                        "head_epochs": String(o.headEpochs), "fine_tune_epochs": String(o.fineTuneEpochs)],
                             metrics: metricValues)
        let seconds = Date().timeIntervalSince(start)
        if let report {
            try HTMLReport.write(to: URL(fileURLWithPath: report), title: "\(model) on \(data)",
                                 history: TrainingHistory(epochs: result.history), validation: validMetrics.map { .classification($0) },
                                 test: testMetrics.map { .classification($0) }, mistakes: mistakes,
                                 config: ["model": model, "data": data, "strategy": o.strategy.rawValue, "seed": String(o.seed),
                                          "learning_rate": String(o.learningRate), "batch_size": String(o.batchSize), "bundle": out],
                                 skippedFiles: skipped)
        }
        if json {
            var obj: [String: Any] = [
                "bundle": out, "strategy": o.strategy.rawValue, "epochs_run": result.history.count, "seconds": seconds,
                "train_size": train.inputs.count, "feature_seconds": result.featureSeconds, "backbone_forwards": result.backboneForwards,
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
            if let v = validMetrics { print(String(format: "validation accuracy %.2f%%", v.accuracy * 100)) }
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
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        let url = URL(fileURLWithPath: model)
        let manifest: ModelBundle.Manifest
        do { manifest = try ModelBundle.manifest(at: url) } catch { throw ValidationError("\(error)") }
        let spec = try ModelRegistry.spec(named: manifest.backbone)
        let bundle = try ModelBundle.load(url, backboneWeights: try await backboneWeights(spec))
        let labeled: LabeledData
        do { labeled = try LabeledData.load(data) } catch { throw ValidationError("\(data): \(error)") }
        let (m, skipped) = try bundle.evaluate(labeled)
        if json {
            var obj = try metricsObject(m) as! [String: Any]
            obj["skipped_files"] = skipped.map { ["path": $0.0, "reason": $0.1] }
            print(try jsonString(obj))
        } else {
            print(m.terminalSummary())
            for s in skipped { print("skipped \(s.0): \(s.1)") }
        }
    }
}
