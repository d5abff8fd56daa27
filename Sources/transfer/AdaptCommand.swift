import Adaptation
import ArgumentParser
import Foundation
import Models
import MPIDistributed
import Reports
import TransferKit

extension AdaptationMethod: ExpressibleByArgument {}
extension Validator: ExpressibleByArgument {}

/// `transfer adapt`: unsupervised domain adaptation from labelled source data to unlabelled target data.
struct AdaptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt",
        abstract: "Adapt a model trained on labelled source data to an unlabelled target domain (AdaBN, CORAL, Deep CORAL, DANN, MCC, self-training).")

    @Option(name: .long, help: "Pretrained model (see `transfer models`) or a trained bundle (its model is the source-only one).") var model: String
    @Option(name: .long, help: "Labelled source data: an image folder, a text folder, or a CSV.") var data: String
    @Option(name: .long, help: "Unlabelled target data: a folder of images or .txt files (class folders are read, their labels ignored), or a table.") var targetData: String
    @Option(name: .long, help: "Labelled target test data, used only to evaluate source-only and adapted models.") var targetTest: String?
    @Option(name: .long, help: "Labelled target-domain training data for a target-trained oracle (the same head on its labels), evaluated on --target-test beside the others.") var oracleData: String?
    @Option(name: .long, help: "The adaptation method.") var method: AdaptationMethod
    @Option(name: .long, help: "Model selection without target labels.") var validator: Validator = .im
    @Option(name: .long, help: "Epochs of each head training, 1…10000.") var epochs = 20
    @Option(name: .long, help: "Batch size (source and target batches), 2…65536.") var batchSize = 64
    @Option(name: .long, help: "Peak learning rate of the heads, in (0, 10].") var lr: Float = 1e-3
    @Option(name: .long, help: "Width of the head's hidden layer (the aligned features), 2…16384.") var hidden = 256
    @Option(name: .long, help: "Weight of the adaptation loss, in [0, 100].") var tradeoff: Float = 1
    @Option(name: .long, help: "Dropout after the head's hidden layer, in [0, 1).") var dropout: Float = 0.2
    @Option(name: .long, help: "Self-training's pseudo-label confidence threshold, in (0, 1].") var threshold: Float = 0.9
    @Option(name: .long, help: "Self-training's strongly augmented views of each target input, 1…16.") var views = 2
    @Option(name: .long, help: "Input size of an image model in pixels, 32…1024 (default: the model's own).") var inputSize: Int?
    @Option(name: .long, help: "Validation fraction of --data, in (0, 1).") var valSplit = 0.1
    @Option(name: .long, help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Output bundle directory of the adapted model.") var out: String?
    @Option(name: .long, help: "Write report.html and adaptation.json into this directory.") var report: String?
    @Flag(name: .long, help: "Print one JSON object at the end.") var json = false

    func options() -> AdaptationOptions {
        var o = AdaptationOptions(method: method)
        o.validator = validator; o.epochs = epochs; o.batchSize = batchSize; o.learningRate = lr; o.hidden = hidden
        o.dropout = dropout
        o.tradeoff = tradeoff; o.threshold = threshold; o.strongViews = views; o.validationFraction = valSplit; o.seed = seed
        o.progress = !json
        return o
    }

    func validate() throws {
        for (flag, value) in [("--model", model), ("--data", data), ("--target-data", targetData)] where value.isEmpty {
            throw ValidationError("\(flag) must not be empty")
        }
        if let targetTest, targetTest.isEmpty { throw ValidationError("--target-test must be a folder or a CSV (received an empty string)") }
        if let oracleData, oracleData.isEmpty { throw ValidationError("--oracle-data must be a folder or a CSV (received an empty string)") }
        if oracleData != nil && targetTest == nil { throw ValidationError("--oracle-data needs --target-test (the oracle is evaluated there)") }
        if let inputSize { try requireWhole("--input-size", inputSize, in: ModelSpec.inputSizeRange) }
        try requireDirectoryPath("--out", out, holds: "the bundle")
        try requireDirectoryPath("--report", report, holds: "the report")
        do throws(TrainOptionsError) { try options().validate() } catch {
            let flags = ["epochs": "--epochs", "batchSize": "--batch-size", "learningRate": "--lr", "hidden": "--hidden", "dropout": "--dropout", "tradeoff": "--tradeoff",
                         "threshold": "--threshold", "strongViews": "--views", "validationFraction": "--val-split"]
            throw ValidationError("\(flags[error.field] ?? error.field) must be \(error.accepted) (received \(error.value))")
        }
    }

    func run() async throws {
        guard let world = try Communicator.fromEnvironment() else { return try await execute(world: nil) }
        try await asRank(world) { try await execute(world: world) }
    }

    /// The adaptation; under `mpirun` (`world`) every rank extracts its share of the features, the heads train
    /// data-parallel, and rank 0 alone writes and prints.
    func execute(world: Communicator?) async throws {
        let isRoot = world?.isRoot ?? true
        var sourceModel: TransferModel?
        let backbone: FeatureBackbone
        if case .bundle = modelPathKind(model) {
            let manifest: ModelBundle.Manifest
            do { manifest = try ModelBundle.manifest(at: URL(fileURLWithPath: model)) } catch { throw RuntimeError("\(error)") }
            let spec: ModelSpec
            do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch { throw RuntimeError("\(model): \(error.description)") }
            if inputSize != nil { throw ValidationError("--input-size applies to a pretrained model; the bundle \(model) keeps its own") }
            do { sourceModel = try ModelBundle.load(URL(fileURLWithPath: model), backboneWeights: try await backboneWeights(spec)) } catch {
                throw RuntimeError("\(error)")
            }
            backbone = sourceModel!.backbone
        } else {
            var spec = try pretrainedSpec(model)
            if let inputSize {
                guard takesImages(spec) else { throw ValidationError("--input-size applies to image models; \(model) is a text model") }
                spec = spec.resized(to: inputSize)
            }
            backbone = try FeatureBackbone(spec: spec, weightsPath: try await backboneWeights(spec))
        }
        let source = try loadData(data, task: .classification)
        let test = try targetTest.map { try loadData($0, task: .classification) }
        try TrainingRun.checkData(source, dataName: data, test: test, testName: targetTest, modelName: model, modelTakesImages: backbone.takesImages)
        let oracle = try oracleData.map { try loadData($0, task: .classification) }
        if let oracle {
            try TrainingRun.checkData(source, dataName: data, test: oracle, testName: oracleData, modelName: model, modelTakesImages: backbone.takesImages)
        }
        if let sourceModel, sourceModel.classNames != source.classNames {
            throw ValidationError("the bundle \(model) has the classes \(sourceModel.classNames), \(data) has \(source.classNames)")
        }
        let target: [LabeledInput]
        do { target = try TargetData.load(targetData) } catch { throw RuntimeError("--target-data \(targetData): \(error)") }
        if let first = target.first {
            let holdsImages: Bool
            if case .image = first { holdsImages = true } else { holdsImages = false }
            if holdsImages != backbone.takesImages {
                throw TrainingRunError.modalityMismatch(model: model, modelTakes: backbone.takesImages ? "images" : "texts", data: targetData,
                                                        dataHolds: holdsImages ? "image files" : "texts")
            }
        }
        var o = options()
        if !isRoot { o.progress = false }
        var run = DomainAdaptation(backbone: backbone, options: o, sourceModel: sourceModel)
        if let world {
            run.callbacks = try Self.joinRanks(world, run: run, inputs: source.inputs + target + (test?.inputs ?? []) + (oracle?.inputs ?? []))
        }
        let outcome = try run.run(source: source, target: target, test: test, oracle: oracle)
        var config = ["method": method.rawValue, "validator": validator.rawValue, "data": data, "target_data": targetData,
                      "model": model, "seed": String(seed), "epochs": String(epochs), "tradeoff": String(tradeoff)]
        if let p = backbone.spec.preprocessing { config["input_size"] = String(p.inputSize) }
        if let c = outcome.chosenEpoch { config["chosen_epoch"] = String(c) }
        guard isRoot else { return }
        if let out {
            var metrics: [String: Double] = [:]
            if let t = outcome.adaptedTest { metrics = t.headlineValues(prefix: "target_test").filter { $0.value.isFinite } }
            try ModelBundle.save(outcome.adapted, to: URL(fileURLWithPath: out), training: config, metrics: metrics)
        }
        if let report {
            let data = AdaptationReportData(
                title: "\(method.rawValue): \(data) → \(targetData)", method: method.rawValue, sourceOnly: outcome.sourceOnlyTest,
                adapted: outcome.adaptedTest, validator: validator.rawValue, validatorScores: outcome.validatorScores, chosenEpoch: outcome.chosenEpoch,
                sourceOnlyScore: outcome.sourceOnlyScore, adaptedScore: outcome.adaptedScore,
                before: (outcome.before.points, outcome.before.sourceCount), after: (outcome.after.points, outcome.after.sourceCount),
                config: config, seconds: outcome.seconds)
            do { try AdaptationReport.write(data, to: URL(fileURLWithPath: report)) } catch {
                throw RuntimeError("the report could not be written to \(report): \(Transfer.userMessage(for: error))")
            }
        }
        if json { try printJSON(outcome) } else { printSummary(outcome) }
    }

    func printJSON(_ o: DomainAdaptation.Outcome) throws {
        func number(_ x: Double) -> Any { x.isFinite ? x : "NaN" }
        var validatorObject: [String: Any] = ["name": o.validator.rawValue, "scores": o.validatorScores.map(number),
                                              "source_only_score": number(o.sourceOnlyScore), "adapted_score": number(o.adaptedScore)]
        validatorObject["chosen_epoch"] = o.chosenEpoch.map { $0 as Any } ?? NSNull()
        let obj: [String: Any] = [
            "method": o.method.rawValue,
            "source_only": try o.sourceOnlyTest.map(metricsObject) ?? NSNull(),
            "adapted": try o.adaptedTest.map(metricsObject) ?? NSNull(),
            "oracle": try o.oracleTest.map(metricsObject) ?? NSNull(),
            "validator": validatorObject,
            "lost_to_source_only": o.lostToSourceOnly,
            "seconds": o.seconds,
            "bundle": out.map { $0 as Any } ?? NSNull(),
            "skipped_files": o.skipped.map { ["path": $0.path, "reason": $0.reason] },
        ]
        print(try jsonString(obj))
    }

    func printSummary(_ o: DomainAdaptation.Outcome) {
        if let s = o.sourceOnlyTest, let a = o.adaptedTest {
            print(String(format: "target test %@: source-only %.4f, %@ %.4f", s.headline.name, s.headline.value, o.method.rawValue, a.headline.value))
            if let t = o.oracleTest { print(String(format: "target-trained oracle %.4f", t.headline.value)) }
            if o.lostToSourceOnly { print("WARNING: \(o.method.rawValue) lost to source-only on the target test data; keep the source-only model") }
        }
        print(String(format: "validator %@: source-only %.4f, adapted %.4f%@", o.validator.rawValue, o.sourceOnlyScore, o.adaptedScore,
                     o.chosenEpoch.map { " (epoch \($0 + 1) chosen)" } ?? ""))
        if let out { print("bundle \(out)") }
        if let report { print("report: \(report)/report.html") }
        print(String(format: "%.1f s", o.seconds))
    }
}
