import Adaptation
import ArgumentParser
import Datasets
import Distillation
import Foundation
import Models
import MPIDistributed
import Reports
import TransferKit

/// `transfer distill`: train a small student from a trained teacher bundle (Hinton knowledge distillation).
struct DistillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Distil a trained teacher bundle into a smaller student model (Hinton KD, optional FitNets hint, unlabelled data).")

    @Option(name: .long, help: "The teacher: a classification bundle written by `transfer train`.") var teacher: String
    @Option(name: .long, help: "The student: a pretrained model of the same modality (see `transfer models`; e.g. mobilenet-v2, minilm-l3).") var student: String
    @Option(name: .long, help: "Labelled data (class folders or a CSV) with the teacher's classes.") var data: String?
    @Option(name: .long, help: "Unlabelled data: a folder of images or .txt files (class folders are read, their labels ignored); trained on the teacher's soft labels.") var unlabelled: String?
    @Option(name: .long, help: "Softmax temperature T of the soft targets, in [0.05, 100].") var temperature: Float = 4
    @Option(name: .long, help: "Weight α of the distillation loss on labelled inputs (1 − α: cross-entropy), in [0, 1].") var alpha: Float = 0.9
    @Flag(name: .long, help: "Train only the student's head on its cached features (no fine-tuning of the student backbone).") var features = false
    @Option(name: .long, help: "Weight of a FitNets hint on pooled features through a learned projection (fine-tuning only), in (0, 1000].") var hint: Float?
    @Option(name: .long, help: "Test data: the teacher, the student trained alone (same recipe, no teacher) and the distilled student are evaluated on it (the teacher from its cached outputs); teacher and student are timed on 256 of its inputs.") var test: String?
    @Option(name: .long, help: "Validation fraction of --data, in [0, 1).") var valSplit = 0.1
    @Option(name: .long, help: "Epochs of the last phase, 1…100000: fine-tuning (default 10), or the head phase with --features (default 30).") var epochs: Int?
    @Option(name: .long, help: "Epochs of the head phase before fine-tuning, 0…100000.") var headEpochs = 30
    @Option(name: .long, help: "Peak learning rate of the student's top group in fine-tuning (default: the model's), in (0, 10].") var lr: Float?
    @Option(name: .long, help: "Peak learning rate of the head phase (default: a learning-rate sweep), in (0, 10].") var headLr: Float?
    @Option(name: .long, help: "Batch size, 1…65536.") var batchSize = 32
    @Option(name: .long, help: "Block groups of the student to unfreeze in fine-tuning: a number ≥ 0, 'all', or 'auto' (the model's default).") var unfreeze: UnfreezeChoice = .auto
    @Option(name: .long, help: "Input size of an image student in pixels, 32…1024 (default: the model's own).") var inputSize: Int?
    @Option(name: .long, help: "Random seed.") var seed: UInt64 = 0
    @Option(name: .long, help: "Output bundle directory of the distilled student.") var out: String
    @Option(name: .long, help: "Write report.html, metrics.json and distillation.json into this directory.") var report: String?
    @Flag(name: .long, help: "Print one JSON object at the end.") var json = false

    func validate() throws {
        guard !teacher.isEmpty else { throw ValidationError("--teacher must be a bundle directory (received an empty string)") }
        guard !student.isEmpty else { throw ValidationError("--student must name a pretrained model (received an empty string; see `transfer models`)") }
        guard data != nil || unlabelled != nil else { throw ValidationError("give --data (labelled), --unlabelled, or both: there is nothing to distil on") }
        for (flag, value) in [("--data", data), ("--unlabelled", unlabelled), ("--test", test)] where value?.isEmpty == true {
            throw ValidationError("\(flag) must be a folder or a CSV (received an empty string)")
        }
        guard temperature.isFinite, DistillationOptions.temperatureRange.contains(temperature) else {
            throw ValidationError("--temperature must be a number in [0.05, 100] (received \(temperature))")
        }
        guard alpha.isFinite, (0...1).contains(alpha) else { throw ValidationError("--alpha must be a number in [0, 1] (received \(alpha))") }
        if let hint {
            guard hint.isFinite, hint > 0, hint <= DistillationOptions.hintWeightRange.upperBound else {
                throw ValidationError("--hint must be a weight in (0, 1000] (received \(hint))")
            }
            if features { throw ValidationError("--hint trains the student's backbone; it does not apply with --features (a frozen backbone)") }
        }
        guard (0..<1).contains(valSplit) else { throw ValidationError("--val-split must be a fraction in [0, 1) (received \(valSplit))") }
        if let epochs { try requireWhole("--epochs", epochs, in: 1...TrainOptions.epochRange.upperBound) }
        try requireWhole("--head-epochs", headEpochs, in: (features && epochs == nil ? 1 : 0)...TrainOptions.epochRange.upperBound)
        try requireWhole("--batch-size", batchSize, in: TrainOptions.batchSizeRange)
        if let inputSize { try requireWhole("--input-size", inputSize, in: ModelSpec.inputSizeRange) }
        if let lr { try requireRate("--lr", lr, maximum: TrainOptions.maxLearningRate) }
        if let headLr { try requireRate("--head-lr", headLr, maximum: TrainOptions.maxLearningRate) }
        try requireDirectoryPath("--out", out, holds: "the bundle")
        try requireDirectoryPath("--report", report, holds: "the report")
    }

    func trainOptions(learningRate: Float) -> TrainOptions {
        var o = TrainOptions()
        o.strategy = features ? .features : .fineTune
        o.head = .linear
        o.headEpochs = features ? (epochs ?? headEpochs) : headEpochs
        o.fineTuneEpochs = epochs ?? 10
        o.learningRate = lr ?? learningRate
        o.headLearningRate = headLr
        o.batchSize = batchSize
        o.validationFraction = valSplit
        o.seed = seed
        o.progress = !json && ProcessInfo.processInfo.environment["CI"] == nil
        return o
    }

    func run() async throws {
        if hint != nil && Communicator.isLaunchedByMPI {
            throw ValidationError("--hint does not run under mpirun (its projection trains outside the data-parallel model): run it as one process")
        }
        guard let world = try Communicator.fromEnvironment() else { return try await execute(world: nil) }
        try await asRank(world) { try await execute(world: world) }
    }

    /// The distillation; under `mpirun` (`world`) every rank computes its share of the teacher's outputs and of the
    /// student's features, the student trains data-parallel (alone, then distilled), and rank 0 alone evaluates,
    /// writes and prints.
    func execute(world: Communicator?) async throws {
        let isRoot = world?.isRoot ?? true
        let start = Date()
        let teacherModel = try await loadTeacher()
        var spec = try pretrainedSpec(student)
        if let inputSize {
            guard takesImages(spec) else { throw ValidationError("--input-size applies to image students; \(student) is a text model") }
            spec = spec.resized(to: inputSize)
        }
        guard takesImages(spec) == teacherModel.model.backbone.takesImages else {
            throw ValidationError("--student \(student) reads \(takesImages(spec) ? "images" : "texts"), the teacher \(teacher) \(teacherModel.model.backbone.takesImages ? "images" : "texts")")
        }
        let classes = teacherModel.model.classNames
        let labelledAll = try data.map { try loadData($0, task: .classification) } ?? LabeledData(inputs: [], labels: [], classNames: classes)
        guard labelledAll.classNames == classes else {
            throw RuntimeError("--data \(data ?? ""): classes \(labelledAll.classNames) are not the teacher's \(classes)")
        }
        let split = try labelledAll.split(validation: labelledAll.inputs.isEmpty ? 0 : valSplit, seed: seed)
        let unlabelledInputs: [LabeledInput]
        do { unlabelledInputs = try unlabelled.map { try TargetData.load($0) } ?? [] } catch { throw RuntimeError("--unlabelled \(unlabelled ?? ""): \(error)") }
        let testData = try test.map { try loadData($0, task: .classification) }
        if let testData, testData.classNames != classes {
            throw RuntimeError("--test \(test ?? ""): classes \(testData.classNames) are not the teacher's \(classes)")
        }
        try TrainingRun.checkOutput(bundle: URL(fileURLWithPath: out), logDirectory: report.map { URL(fileURLWithPath: $0) })
        let weights = try await startingWeights(student, spec)
        let probe = try FeatureBackbone(spec: spec, weightsPath: weights)
        var options = DistillationOptions()
        options.temperature = temperature
        options.alpha = alpha
        options.hintWeight = hint
        options.train = trainOptions(learningRate: probe.defaultFineTuneLearningRate)
        options.train.unfreeze = unfreeze.groups(for: probe)
        if !isRoot { options.train.progress = false }
        let distiller: Distiller
        do { distiller = try Distiller(teacher: teacherModel, options: options) } catch { throw ValidationError("\(error)") }
        if let world {
            distiller.callbacks = try Self.joinRanks(world, teacher: teacherModel, student: probe, options: options,
                                                     inputs: split.train.inputs + unlabelledInputs, validation: split.validation.inputs)
        }

        var results: [String: Any] = ["bundle": out, "student": student, "teacher_bundle": teacher, "temperature": Double(temperature),
                                      "alpha": Double(alpha), "features": features,
                                      "labelled": split.train.inputs.count, "unlabelled": unlabelledInputs.count]
        if let hint { results["hint"] = Double(hint) }
        var speed: [String: Any] = [:]
        if let testData {
            if isRoot {
                let scored: (metrics: ClassificationMetrics, computed: Int, skipped: [(String, String)])
                do {
                    scored = try teacherModel.evaluate(testData, cacheRoot: options.teacherCacheRoot,
                                                       featureCacheRoot: options.train.featureCacheRoot, batchSize: batchSize)
                } catch { throw RuntimeError("--test \(test ?? ""): \(error)") }
                results["teacher"] = try metricsObject(scored.metrics)
                results["teacher_test_computed"] = scored.computed
            }
            if !split.train.inputs.isEmpty {
                if isRoot { progress("training the student alone (same recipe, no teacher)") }
                let alone = try Distiller.trainAlone(student: try FeatureBackbone(spec: spec, weightsPath: weights), labelled: split.train,
                                                     validation: split.validation, options: options.train, callbacks: distiller.callbacks)
                if isRoot { results["student_alone"] = try metricsObject(try alone.evaluate(testData).metrics) }
            } else {
                results["student_alone"] = NSNull()
            }
        }
        if isRoot { progress("distilling \(teacher) into \(student)") }
        let outcome = try distiller.distill(student: probe, labelled: split.train, unlabelled: unlabelledInputs, validation: split.validation)
        guard isRoot else { return }
        var metrics: [String: Double] = [:]
        if let testData {
            let m = try outcome.model.evaluate(testData).metrics
            results["student_distilled"] = try metricsObject(m)
            let sample = InferenceSpeed.sample(total: testData.inputs.count, count: Self.speedSampleSize).map { testData.inputs[$0] }
            speed["teacher_items_per_s"] = InferenceSpeed.itemsPerSecond(teacherModel.model, sample)
            speed["student_items_per_s"] = InferenceSpeed.itemsPerSecond(outcome.model, sample)
            results["speed_items"] = sample.count
            metrics["test_" + m.headline.name] = m.headline.value
        }
        results["speed"] = speed
        results["teacher_computed"] = outcome.teacherComputed
        results["seconds"] = Date().timeIntervalSince(start)
        let training = ["distilled_from": teacher, "temperature": "\(temperature)", "alpha": "\(alpha)",
                        "unlabelled": "\(outcome.unlabelledCount)", "strategy": options.train.strategy.rawValue]
            .merging(hint.map { ["hint": "\($0)"] } ?? [:]) { $1 }
            .merging(inputSize.map { ["input_size": "\($0)"] } ?? [:]) { $1 }
        try ModelBundle.save(outcome.model, to: URL(fileURLWithPath: out), training: training, metrics: metrics)
        if let report { try writeReport(report, outcome: outcome, results: results) }
        if json {
            print(try jsonString(results))
        } else {
            printSummary(results)
        }
    }

    func loadTeacher() async throws -> Teacher {
        guard modelPathKind(teacher) == .bundle else {
            throw ValidationError("--teacher \(echo(teacher)) is not a bundle (a directory with manifest.json written by `transfer train`)")
        }
        let manifest: ModelBundle.Manifest
        do { manifest = try ModelBundle.manifest(at: URL(fileURLWithPath: teacher)) } catch { throw RuntimeError("--teacher \(teacher): \(error)") }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch { throw RuntimeError("--teacher \(teacher): \(error.description)") }
        let model = try ModelBundle.load(URL(fileURLWithPath: teacher), backboneWeights: try await backboneWeights(spec))
        do { return try Teacher(model: model, bundleHash: Teacher.bundleHash(manifest: manifest)) } catch { throw RuntimeError("--teacher \(teacher): \(error)") }
    }

    /// How many test inputs (evenly spaced) the teacher and the student are timed on.
    static let speedSampleSize = 256

    func progress(_ line: String) { if !json { printErr(line) } }

    func writeReport(_ dir: String, outcome: DistillationResult, results: [String: Any]) throws {
        let url = URL(fileURLWithPath: dir)
        do {
            try HTMLReport.write(to: url, title: "\(student) distilled from \(teacher)", history: TrainingHistory(epochs: outcome.history),
                                 validation: nil, test: nil, mistakes: [],
                                 config: ["teacher": teacher, "student": student, "temperature": "\(temperature)", "alpha": "\(alpha)"],
                                 skippedFiles: outcome.skipped)
            try Data(try jsonString(results).utf8).write(to: url.appendingPathComponent("distillation.json"), options: .atomic)
        } catch {
            throw RuntimeError("the bundle \(out) was written, but the report could not be written to \(dir): \(Transfer.userMessage(for: error))")
        }
    }

    func printSummary(_ r: [String: Any]) {
        for key in ["teacher", "student_alone", "student_distilled"] {
            if let m = r[key] as? [String: Any], let acc = m["accuracy"] as? Double { print(String(format: "%@ accuracy %.4f", key, acc)) }
        }
        if let s = r["speed"] as? [String: Double] { for (k, v) in s.sorted(by: { $0.key < $1.key }) { print(String(format: "%@ %.1f", k, v)) } }
        print("bundle \(out)")
    }
}
