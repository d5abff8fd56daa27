import ArgumentParser
import Assets
import Datasets
import FewShot
import Foundation
import HeadFitting
import Models
import Tensors
import TransferKit

extension CurveMethod: ExpressibleByArgument {}
extension MetaMethod: ExpressibleByArgument {}

/// How trained BatchNorm layers normalise during meta-training.
enum BatchNormStatisticsMode: String, CaseIterable, ExpressibleByArgument {
    /// The pretrained running statistics, left untouched.
    case running
    /// Each batch's own statistics, with the running ones updated.
    case batch
}

/// `transfer fewshot curve`: accuracy by examples per class for several few-shot text methods.
struct FewShotCurveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curve",
        abstract: "Accuracy against labelled examples per class (mean ± 95% CI over seeds) for text few-shot methods.")

    @Option(name: .long, help: "A sentence-embedding registry model.") var model = "minilm-l6"
    @Option(name: .long, help: "A folder of class folders of .txt files, or a text table.") var data: String
    @Option(name: .long, help: "Examples per class, comma-separated (each 1…1000).") var shots = IntList([1, 2, 4, 8, 16])
    @Option(name: .long, help: "Seeds per point (1…100).") var seeds = 10
    @Option(name: .long, parsing: .upToNextOption, help: "Methods: prototypes logistic setfit setfit-templates finetune zeroshot.")
    var methods: [CurveMethod] = [.prototypes, .logistic, .zeroshot]
    @Option(name: .long, help: "Test texts per class, fixed across seeds (1…10000).") var testPerClass = 50
    @Option(name: .long, help: "Truncate texts to this many tokens.") var maxTokens: Int?
    @Option(name: .long, help: "SetFit's pair-generation rounds (1…1000).") var iterations = 20
    @Option(name: .long, help: "SetFit: at most this many pairs per run (≥ 2).") var maxPairs: Int?
    @Option(name: .long, help: "Zero-shot template, with {} where the class name goes.") var template = "This article is about {}."
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("--data must be a path (received an empty string)") }
        for s in shots.values { try requireWhole("--shots", s, in: 1...1000) }
        try requireWhole("--seeds", seeds, in: 1...100)
        try requireWhole("--test-per-class", testPerClass, in: 1...10_000)
        try requireWhole("--iterations", iterations, in: 1...1000)
        if let maxPairs { try requireWhole("--max-pairs", maxPairs, atLeast: 2) }
        guard !methods.isEmpty else { throw ValidationError("--methods needs at least one method") }
        do { try ZeroShotClassifier.validate(labels: ["a", "b"], templates: [template]) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        let labelled = try loadData(data, task: .classification)
        let f = try await fewShotFeatures(model: model, maxTokens: maxTokens)
        guard let embedder = f.embedder else { throw ValidationError("--model \(model) is not a text model") }
        let need = testPerClass + (shots.values.max() ?? 1)
        for c in labelled.classNames.indices where labelled.labels.filter({ $0 == c }).count < need {
            throw RuntimeError("\(data): class \(labelled.classNames[c]) has fewer than --test-per-class + max --shots = \(need) examples")
        }
        let r = f.features(labelled.inputs, progress: progressLine("features", json: json))
        let texts = r.kept.map { i -> String in if case .text(let t, _) = labelled.inputs[i] { t } else { "" } }
        var curve = LearningCurve(embedder: embedder, texts: texts, labels: r.kept.map { labelled.labels[$0] },
                                  classNames: labelled.classNames, frozen: r.features)
        curve.testPerClass = testPerClass
        curve.setfit.iterations = iterations
        curve.setfit.maxPairs = maxPairs
        curve.template = template
        var points: [CurvePoint] = []
        for m in methods {
            for k in (m == .zeroshot ? [0] : shots.values) {
                let p = curve.run(m, shots: k, seeds: seeds)
                points.append(p)
                if !json {
                    print(String(format: "%@ %3d/class  %.2f%% ± %.2f%%  (%d runs, %.0fs)", m.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0), k, p.summary.mean * 100,
                                 p.summary.ci95 * 100, p.summary.count, p.seconds))
                }
            }
        }
        if json {
            print(try jsonString([
                "model": model, "data": data, "max_tokens": maxTokens.map { $0 as Any } ?? NSNull(), "test_per_class": testPerClass, "seeds": seeds,
                "points": points.map { ["method": $0.method.rawValue, "shots": $0.shots, "accuracy": $0.summary.mean, "ci95": $0.summary.ci95,
                                        "accuracies": $0.accuracies, "seconds": $0.seconds] as [String: Any] },
            ] as [String: Any]))
        }
    }
}

/// `transfer fewshot meta`: Fashion-MNIST novel-class episodes before and after episodic training on base classes.
struct FewShotMetaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meta",
        abstract: "Episodic (prototypical) training of an image backbone on Fashion-MNIST base classes, evaluated on novel classes before and after.")

    @Option(name: .long, help: "An image registry model.") var model = "efficientnet-lite0"
    @Option(name: .long, help: "Side of the model inputs (32…224; small keeps CPU runs affordable).") var imageSize = 64
    @Option(name: .long, help: "Base classes (training), comma-separated 0…9.") var base = IntList([0, 1, 2, 3, 4, 5])
    @Option(name: .long, help: "Novel classes (evaluation), comma-separated 0…9.") var novel = IntList([6, 7, 8, 9])
    @Option(name: .long, help: "Training images per base class (train split).") var basePerClass = 300
    @Option(name: .long, help: "Images per novel class (test split).") var novelPerClass = 100
    @Option(name: .long, help: "Training episodes (1…100000).") var trainEpisodes = 200
    @Option(name: .long, help: "Evaluation episodes (1…100000).") var episodes = 600
    @Option(name: .long, help: "Shots of the evaluation, comma-separated.") var shots = IntList([1, 5])
    @Option(name: .long, help: "Queries per class in evaluation episodes.") var queries = 15
    @Option(name: .long, help: "Training episodes' shots.") var trainShots = 5
    @Option(name: .long, help: "Training episodes' queries per class.") var trainQueries = 5
    @Option(name: .long, help: "Adam's learning rate (Reptile: the inner rate).") var lr: Float = 1e-4
    @Option(name: .long, help: "Block groups that train, from the top.") var unfreeze = 3
    @Option(name: .long, help: "Meta-training: prototypical (episodes, prototypical loss) or reptile (tasks of train-shots + train-queries examples per class).")
    var method = MetaMethod.prototypical
    @Option(name: .long, help: "Trained BatchNorm layers normalise with their running statistics (running) or each batch's (batch).")
    var batchNorm = BatchNormStatisticsMode.running
    @Option(name: .long, help: "Reptile: inner Adam steps per task (1…100).") var innerSteps = 5
    @Option(name: .long, help: "Reptile: the outer step size at the first task, annealed linearly to 0 (0…1].") var metaStep: Float = 1
    @Option(name: .long, help: "Seed.") var seed: UInt64 = 0
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        try requireWhole("--inner-steps", innerSteps, in: 1...100)
        guard metaStep > 0 && metaStep <= 1 else { throw ValidationError("--meta-step \(metaStep) is invalid: accepted a number in (0, 1]") }
        try requireWhole("--image-size", imageSize, in: 32...224)
        for c in base.values + novel.values { try requireWhole("--base/--novel", c, in: 0...9) }
        guard Set(base.values).isDisjoint(with: novel.values) else { throw ValidationError("--base and --novel must not share classes") }
        try requireWhole("--base (count)", base.values.count, in: 2...10)
        try requireWhole("--novel (count)", novel.values.count, in: 2...10)
        try requireWhole("--train-episodes", trainEpisodes, in: 1...100_000)
        try requireWhole("--episodes", episodes, in: 1...100_000)
        for s in shots.values { try requireWhole("--shots", s, in: 1...100) }
        try requireWhole("--queries", queries, in: 1...1000)
        try requireWhole("--train-shots", trainShots, in: 1...100)
        try requireWhole("--train-queries", trainQueries, in: 1...100)
        try requireWhole("--base-per-class", basePerClass, in: (trainShots + trainQueries)...6000)
        try requireWhole("--novel-per-class", novelPerClass, in: ((shots.values.max() ?? 1) + queries)...1000)
        try requireRate("--lr", lr, maximum: 1)
        try requireWhole("--unfreeze", unfreeze, atLeast: 1)
    }

    func run() async throws {
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
        let backbone = try FeatureBackbone(spec: spec, weightsPath: try await backboneWeights(spec))
        guard let image = backbone.encoder as? ImageEncoder else { throw ValidationError("--model \(model) is not an image model") }
        let nz = image.preprocessing.pixelNormalization
        let baseImages = try InMemoryImages.fashionMNIST(.train, classes: base.values, perClass: basePerClass, size: imageSize, normalization: nz, seed: seed)
        let novelImages = try InMemoryImages.fashionMNIST(.test, classes: novel.values, perClass: novelPerClass, size: imageSize, normalization: nz, seed: seed)
        var bench = MetaBenchmark(base: baseImages, novel: novelImages)
        bench.training.episodes = trainEpisodes; bench.training.ways = novel.values.count
        bench.training.shots = trainShots; bench.training.queries = trainQueries
        bench.training.learningRate = lr; bench.training.unfreeze = unfreeze; bench.training.seed = seed
        bench.training.batchNormUsesRunningStatistics = batchNorm == .running
        bench.method = method
        bench.reptile.metaIterations = trainEpisodes; bench.reptile.ways = novel.values.count
        bench.reptile.examplesPerClass = trainShots + trainQueries; bench.reptile.innerSteps = innerSteps
        bench.reptile.innerLearningRate = lr; bench.reptile.metaStepSize = metaStep; bench.reptile.unfreeze = unfreeze
        bench.reptile.batchNormUsesRunningStatistics = batchNorm == .running; bench.reptile.seed = seed
        bench.shots = shots.values; bench.queries = queries; bench.episodes = episodes; bench.seed = seed
        let start = Date()
        let r = try bench.run(image.model) { d, t, loss in
            if !json { ProgressLine.draw(String(format: "\(method.rawValue) training (loss %.3f)", loss), done: d, total: t, start: start) }
        }
        if json {
            print(try jsonString([
                "model": model, "method": method.rawValue, "batch_norm": batchNorm.rawValue, "lr": lr, "unfreeze": unfreeze,
                "inner_steps": method == .reptile ? innerSteps as Any : NSNull(), "meta_step": method == .reptile ? metaStep as Any : NSNull(),
                "image_size": imageSize, "seed": NSNumber(value: seed), "base": base.values, "novel": novel.values, "train_episodes": trainEpisodes,
                "episodes": episodes, "queries": queries, "seconds": Date().timeIntervalSince(start),
                "loss_first_50": Array(r.losses.prefix(50)).reduce(0, +) / Double(Swift.min(50, r.losses.count)),
                "loss_last_50": Array(r.losses.suffix(50)).reduce(0, +) / Double(Swift.min(50, r.losses.count)),
                "rows": r.rows.map { ["stage": $0.stage, "method": $0.method.rawValue, "shots": $0.shots, "accuracy": $0.summary.mean, "ci95": $0.summary.ci95] as [String: Any] },
            ] as [String: Any]))
        } else {
            for row in r.rows {
                print(String(format: "%@ %@ %d-way %d-shot: %.2f%% ± %.2f%%", row.stage.padding(toLength: 6, withPad: " ", startingAt: 0), row.method.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0), novel.values.count, row.shots,
                             row.summary.mean * 100, row.summary.ci95 * 100))
            }
        }
    }
}
