import ArgumentParser
import Assets
import Foundation
import Models
import MultiTask
import TransferKit

extension LossWeighting: ExpressibleByArgument {}

/// The multi-task options of `transfer train`: `--tasks spec.json` or `--label-columns a,b,c` on a CSV
/// `path,a,b,c` (empty cell = no label for that task) train one head per task on the frozen backbone's cached
/// features (`--strategy features`) into one bundle.
struct MultiTaskOptions: ParsableArguments {
    @Option(name: .long, help: "A task spec JSON file ({\"tasks\": [{\"name\": …, \"kind\": \"classification|multilabel|regression\", \"column\": …, \"weight\": …}], \"weighting\": …}) for a multi-task model on a CSV --data (with --strategy features).") var tasks: String?
    @Option(name: .long, help: "Comma-separated label columns of a CSV --data, one task each, kinds inferred (numbers with fractions: regression; ';' in a cell: multi-label; else classification); with --strategy features.") var labelColumns: String?
    @Option(name: .long, help: "How a multi-task model's losses are combined: fixed (task weights, default 1), uncertainty (learned, Kendall et al. 2018) or dwa (dynamic weight average, Liu et al. 2019).") var taskWeighting: LossWeighting?

    var isRequested: Bool { tasks != nil || labelColumns != nil }

    var columns: [String]? { labelColumns.map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } } }

    func validate(strategy: Strategy, data: String) throws {
        if tasks != nil && labelColumns != nil { throw ValidationError("--tasks and --label-columns are alternatives: give one") }
        guard isRequested else {
            if taskWeighting != nil { throw ValidationError("--task-weighting applies to multi-task training (--tasks or --label-columns)") }
            return
        }
        guard strategy == .features else {
            throw ValidationError("multi-task training (--tasks, --label-columns) trains heads on cached features: pass --strategy features (received \(strategy.rawValue))")
        }
        if let tasks, tasks.isEmpty { throw ValidationError("--tasks must be a JSON file (received an empty string)") }
        if let columns, columns.contains(where: \.isEmpty) {
            throw ValidationError("--label-columns must be comma-separated column names (received \"\(labelColumns ?? "")\")")
        }
        guard data.lowercased().hasSuffix(".csv") else {
            throw ValidationError("multi-task --data must be a CSV with a path column and one column per task (received \(data))")
        }
    }

    /// The spec of `--tasks` or `--label-columns` (kinds inferred from `data`).
    func spec(data: String) throws -> MultiTaskSpec {
        var spec: MultiTaskSpec
        if let tasks { spec = try MultiTaskSpec.load(tasks) } else { spec = try MultiTaskData.inferSpec(csv: data, columns: columns ?? [], weighting: nil) }
        if let taskWeighting { spec.weighting = taskWeighting }
        return spec
    }
}

extension TrainCommand {
    /// `transfer train` with several tasks: cached features, one head per task, one bundle; prints every task's
    /// scores.
    func executeMultiTask() async throws {
        let spec = try pretrainedSpec(model)
        guard takesImages(spec) else {
            throw ValidationError("multi-task --data lists image paths; \(model) reads texts: choose an image model (see `transfer models`)")
        }
        let mt = try multiTask.spec(data: data)
        let all: MultiTaskData
        do { all = try MultiTaskData.load(csv: data, spec: mt) } catch { throw RuntimeError("\(error)") }
        let testData: MultiTaskData?
        do { testData = try test.map { try MultiTaskData.load(csv: $0, spec: mt, known: all.tasks) } } catch { throw RuntimeError("\(error)") }
        let bundleURL = URL(fileURLWithPath: out)
        try TrainingRun.checkOutput(bundle: bundleURL, logDirectory: nil)
        let lock = try OutputLock(directory: bundleURL)
        defer { lock.release() }
        let backbone = try FeatureBackbone(spec: spec, weightsPath: try await backboneWeights(spec))
        var run = MultiTaskRun(backbone: backbone, featureCacheRoot: AssetStore.cacheRoot.appendingPathComponent("features"))
        run.weighting = mt.weighting ?? .fixed
        run.epochs = epochs ?? headEpochs
        if let headLr { run.learningRate = headLr }
        run.batchSize = batchSize
        run.validationFraction = valSplit ?? 0.1
        run.seed = seed
        if !json { run.callbacks = [ProgressBar()] }
        let start = Date()
        let outcome = try run.run(all, test: testData)
        var metrics: [String: Double] = [:]
        for (prefix, scores) in [("validation", outcome.validation), ("test", outcome.test ?? [])] {
            for s in scores { metrics["\(prefix)_\(s.task)"] = Double(s.mae ?? s.score) }
        }
        try MultiTaskBundle.save(outcome.model, weighting: run.weighting, to: bundleURL,
                                 training: ["data": data, "strategy": "features", "seed": String(seed), "epochs": String(run.epochs),
                                            "lr": String(run.learningRate), "weighting": run.weighting.rawValue],
                                 metrics: metrics)
        func object(_ scores: [TaskScore]) -> [String: Any] {
            Dictionary(uniqueKeysWithValues: scores.map { s in
                var o: [String: Any] = ["kind": s.kind.rawValue, "labelled": s.labelled]
                switch s.kind {
                case .classification: o["accuracy"] = Double(s.score)
                case .multilabel: o["micro_f1"] = Double(s.score)
                case .regression: o["mae"] = Double(s.mae ?? .nan)
                }
                return (s.task, o)
            })
        }
        if json {
            var obj: [String: Any] = ["bundle": out, "strategy": "features", "weighting": run.weighting.rawValue,
                                      "tasks": mt.tasks.map(\.name), "epochs_run": outcome.history.count,
                                      "seconds": Date().timeIntervalSince(start), "final_weights": outcome.finalWeights.map(Double.init),
                                      "validation": object(outcome.validation), "skipped_files": outcome.skipped.map { ["path": $0.0, "reason": $0.1] }]
            if let t = outcome.test { obj["test"] = object(t) }
            print(try jsonString(obj))
        } else {
            for (name, scores) in [("validation", outcome.validation), ("test", outcome.test ?? [])] where !scores.isEmpty {
                print(name + ": " + scores.map { s in s.kind == .regression ? String(format: "%@ MAE %.4f", s.task, s.mae ?? .nan)
                    : String(format: "%@ %.4f", s.task, s.score) }.joined(separator: ", "))
            }
            print("bundle \(out)")
        }
    }
}

extension PredictCommand {
    /// Every task's answer per input of a multi-task bundle (`--json`: one object per input, answers keyed by task).
    func runMultiTaskBundle() async throws {
        if text { throw ValidationError("\(model) is a multi-task image bundle; --text applies to bundles trained on texts") }
        let url = URL(fileURLWithPath: model)
        let m: MultiTaskBundle.Manifest
        do { m = try MultiTaskBundle.manifest(at: url) } catch { throw RuntimeError("\(error)") }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: m.backbone) } catch { throw RuntimeError("\(model): \(error.description)") }
        let bundle: MultiTaskModel
        do { bundle = try MultiTaskBundle.load(url, backboneWeights: try await backboneWeights(spec)) } catch { throw RuntimeError("\(error)") }
        let (answers, failed) = bundle.predict(inputs.map { .image(path: $0) })
        for f in failed { printErr("error: \(f.0): \(f.1)") }
        struct Row: Encodable { let input: String; let tasks: [String: MultiTaskModel.Answer] }
        let rows = answers.map { Row(input: inputs[$0.input], tasks: $0.tasks) }
        if json {
            print(try encodeJSON(rows))
        } else {
            for r in rows {
                print(r.input)
                for (name, a) in r.tasks.sorted(by: { $0.key < $1.key }) {
                    if let v = a.value { print("  \(name): \(v)") }
                    if let l = a.label { print(String(format: "  %@: %@ (%.2f%%)", name, l, (a.probabilities?[l] ?? 0) * 100)) }
                    if let ls = a.labels { print("  \(name): \(ls.joined(separator: ", "))") }
                }
            }
        }
        if !failed.isEmpty { throw ExitCode.failure }
    }
}
