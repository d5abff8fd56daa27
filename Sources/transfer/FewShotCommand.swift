import ArgumentParser
import Assets
import FewShot
import Foundation
import HeadFitting
import Models
import Tensors
import TransferKit

extension FewShotMethod: ExpressibleByArgument {}

/// A comma-separated list of whole numbers (`--shots 1,2,4`).
struct IntList: ExpressibleByArgument {
    let values: [Int]
    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        values = parts.map { $0! }
    }
    init(_ values: [Int]) { self.values = values }
    var defaultValueDescription: String { values.map(String.init).joined(separator: ",") }
}

/// `transfer fewshot`: few-shot evaluation, learning curves and episodic training.
struct FewShotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fewshot",
        abstract: "Few-shot learning: episodic evaluation, learning curves by examples per class, episodic training.",
        subcommands: [FewShotEvalCommand.self, FewShotCurveCommand.self, FewShotMetaCommand.self])
}

/// Loads a registry backbone and its few-shot feature extractor.
func fewShotFeatures(model: String, maxTokens: Int?) async throws -> FewShotFeatures {
    let spec: ModelSpec
    do { spec = try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
    let backbone = try FeatureBackbone(spec: spec, weightsPath: try await backboneWeights(spec))
    do { return try FewShotFeatures(backbone: backbone, maxTokens: maxTokens) } catch { throw ValidationError("\(error)") }
}

/// The progress callback of a long loop: nil in JSON mode (and ProgressLine is silent off a terminal and in CI).
func progressLine(_ label: String, json: Bool) -> ((Int, Int) -> Void)? {
    let start = Date()
    return json ? nil : { d, t in ProgressLine.draw(label, done: d, total: t, start: start) }
}

/// `transfer fewshot eval`: N-way K-shot episodes on a labelled folder, mean accuracy ± 95% CI.
struct FewShotEvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Mean accuracy and 95% confidence interval over N-way K-shot episodes (features cached, so episodes are cheap).")

    @Option(name: .long, help: "A registry model (see `transfer models`).") var model: String
    @Option(name: .long, help: "A folder of class folders, or a labelled table.") var data: String
    @Option(name: .long, help: "Classes per episode (2…100).") var ways = 5
    @Option(name: .long, help: "Labelled examples per class (1…1000).") var shots = 5
    @Option(name: .long, help: "Query examples per class (1…1000).") var queries = 15
    @Option(name: .long, help: "Episodes (1…100000).") var episodes = 600
    @Option(name: .long, help: "protonet, simpleshot, logistic or setfit (text models; fine-tunes per episode).") var method: FewShotMethod = .simpleshot
    @Flag(name: .long, help: "Refine prototypes by soft k-means over the episode's queries (protonet, simpleshot).") var transductive = false
    @Option(name: .long, help: "Seed of the episodes (0…18446744073709551615).") var seed: UInt64 = 0
    @Option(name: .long, help: "Truncate texts to this many tokens (text models; 2…the model's limit).") var maxTokens: Int?
    @Option(name: .long, help: "SetFit's pair-generation rounds (1…1000).") var iterations = 20
    @Option(name: .long, help: "SetFit: at most this many pairs per episode (≥ 2).") var maxPairs: Int?
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("--model must name a registry model (received an empty string)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a path (received an empty string)") }
        try requireWhole("--ways", ways, in: 2...100)
        try requireWhole("--shots", shots, in: 1...1000)
        try requireWhole("--queries", queries, in: 1...1000)
        try requireWhole("--episodes", episodes, in: 1...100_000)
        try requireWhole("--iterations", iterations, in: 1...1000)
        if let maxPairs { try requireWhole("--max-pairs", maxPairs, atLeast: 2) }
        if let maxTokens { try requireWhole("--max-tokens", maxTokens, atLeast: 2) }
        if transductive && !(method == .protonet || method == .simpleshot) {
            throw ValidationError("--transductive refines prototypes: it needs --method protonet or simpleshot (received \(method.rawValue))")
        }
    }

    func run() async throws {
        let labelled = try loadData(data, task: .classification)
        let f = try await fewShotFeatures(model: model, maxTokens: maxTokens)
        if method == .setfit && f.embedder == nil { throw ValidationError("--method setfit fine-tunes a sentence encoder: \(model) is not a text model") }
        let r = f.features(labelled.inputs, progress: progressLine("features", json: json))
        for (p, why) in r.failed { printErr("skipped \(p): \(why)") }
        let labels = r.kept.map { labelled.labels[$0] }
        let sampler: EpisodeSampler
        do { sampler = try EpisodeSampler(labels: labels, ways: ways, shots: shots, queries: queries) } catch { throw RuntimeError("\(data): \(error)") }
        let start = Date()
        let result: (summary: AccuracySummary, accuracies: [Double])
        if method == .setfit, let embedder = f.embedder {
            var o = SetFitOptions()
            o.iterations = iterations; o.maxPairs = maxPairs; o.seed = seed
            let texts = r.kept.map { i -> String in if case .text(let t, _) = labelled.inputs[i] { t } else { "" } }
            result = EpisodicEvaluation.run(sampler, episodes: episodes, seed: seed, progress: progressLine("episodes", json: json)) { e in
                SetFit.classify(embedder, support: e.support.map { texts[$0] }, labels: e.supportLabels, ways: ways,
                                query: e.query.map { texts[$0] }, options: o)
            }
        } else {
            result = FeatureFewShotClassifier(method: method, transductive: transductive)
                .evaluate(r.features, sampler: sampler, episodes: episodes, seed: seed, progress: progressLine("episodes", json: json))
        }
        let s = result.summary
        if json {
            print(try jsonString([
                "model": model, "data": data, "method": method.rawValue, "transductive": transductive, "ways": ways, "shots": shots,
                "queries": queries, "episodes": episodes, "seed": NSNumber(value: seed), "accuracy": s.mean, "ci95": s.ci95, "std": s.std,
                "inputs": r.kept.count, "seconds": Date().timeIntervalSince(start),
            ] as [String: Any]))
        } else {
            print(String(format: "%@ %d-way %d-shot, %d episodes of %d queries per class: accuracy %.2f%% ± %.2f%% (95%% CI)",
                         method.rawValue + (transductive ? " (transductive)" : ""), ways, shots, episodes, queries, s.mean * 100, s.ci95 * 100))
        }
    }
}
