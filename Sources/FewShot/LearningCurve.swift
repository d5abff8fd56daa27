import Foundation
import HeadFitting
import Models
import Tensors

/// A method of the few-shot learning curve of text classification.
public enum CurveMethod: String, Sendable, CaseIterable, Codable {
    /// SimpleShot prototypes on frozen embeddings.
    case prototypes
    /// Logistic regression on frozen embeddings.
    case logistic
    /// SetFit: contrastive fine-tuning, then the logistic head.
    case setfit
    /// SetFit with templated label examples added to its pairs (zero-shot → few-shot).
    case setfitTemplates = "setfit-templates"
    /// A linear head trained with the top transformer layers.
    case finetune
    /// Zero-shot from the class names alone (no examples; the same at every shot count).
    case zeroshot
}

/// One point of the curve: a method at a number of examples per class, over seeds.
public struct CurvePoint: Sendable, Codable {
    public var method: CurveMethod
    public var shots: Int
    public var summary: AccuracySummary
    public var accuracies: [Double]
    public var seconds: Double
}

/// Accuracy of few-shot text classifiers against the number of labelled examples per class (SetFit's experiment):
/// a fixed test set of `testPerClass` texts per class, and for each seed `shots` training texts per class drawn from
/// the rest; mean accuracy over seeds with the 95% interval 1.96 σ / √seeds.
public struct LearningCurve {
    public var embedder: SentenceEmbedder
    public var texts: [String]
    public var labels: [Int]
    public var classNames: [String]
    public var testPerClass = 50
    public var setfit = SetFitOptions()
    public var fineTune = TopLayerFineTune()
    public var template = "This article is about {}."
    /// Frozen embeddings of `texts` (computed once, cached by the caller).
    public var frozen: FeatureMatrix

    public init(embedder: SentenceEmbedder, texts: [String], labels: [Int], classNames: [String], frozen: FeatureMatrix) {
        self.embedder = embedder; self.texts = texts; self.labels = labels; self.classNames = classNames; self.frozen = frozen
    }

    /// The fixed test rows and, per class, the rows training examples are drawn from.
    func split() -> (test: [Int], pool: [[Int]]) {
        var g = SeededGenerator(seed: 0xC0FFEE)
        var test: [Int] = [], pool: [[Int]] = []
        for c in classNames.indices {
            let rows = labels.indices.filter { labels[$0] == c }.shuffled(using: &g)
            test += rows.prefix(testPerClass)
            pool.append(Array(rows.dropFirst(testPerClass)))
        }
        return (test, pool)
    }

    /// Accuracy of `method` with `shots` examples per class for each seed `0..<seeds`.
    public func run(_ method: CurveMethod, shots: Int, seeds: Int) -> CurvePoint {
        let start = Date()
        let (test, pool) = split()
        let k = classNames.count
        let testX = frozen.rows(test), testY = test.map { labels[$0] }
        func accuracy(_ p: [Int]) -> Double { Double(zip(p, testY).filter { $0 == $1 }.count) / Double(testY.count) }
        var accs: [Double] = []
        if method == .zeroshot {
            let zs = try? ZeroShotClassifier(labels: classNames, templates: [template]) { embedder.embed($0) }
            accs = zs.map { [accuracy($0.predict(testX))] } ?? []
        } else {
            for seed in 0..<seeds {
                var g = SeededGenerator(seed: UInt64(seed) &* 7919 &+ UInt64(shots))
                let train = (0..<k).flatMap { Array(pool[$0].shuffled(using: &g).prefix(shots)) }
                let y = train.map { labels[$0] }
                accs.append(accuracy(predict(method, train: train, y: y, testRows: test, testX: testX, seed: UInt64(seed))))
            }
        }
        return CurvePoint(method: method, shots: shots, summary: AccuracySummary(accs), accuracies: accs,
                          seconds: Date().timeIntervalSince(start))
    }

    func predict(_ method: CurveMethod, train: [Int], y: [Int], testRows: [Int], testX: FeatureMatrix, seed: UInt64) -> [Int] {
        let k = classNames.count
        let trainTexts = train.map { texts[$0] }, testTexts = testRows.map { texts[$0] }
        switch method {
        case .prototypes:
            return FeatureFewShotClassifier(method: .simpleshot).predict(support: frozen.rows(train), labels: y, ways: k, query: testX)
        case .logistic:
            return FeatureFewShotClassifier(method: .logistic).predict(support: frozen.rows(train), labels: y, ways: k, query: testX)
        case .setfit, .setfitTemplates:
            var o = setfit
            o.seed = seed
            if method == .setfitTemplates { o.templatedPerLabel = Swift.max(o.templatedPerLabel, 2); o.template = template }
            return SetFit.classify(embedder, support: trainTexts, labels: y, ways: k, query: testTexts, options: o,
                                   labelNames: classNames)
        case .finetune:
            var f = fineTune
            f.seed = seed
            return f.classify(embedder, texts: trainTexts, labels: y, classes: k, query: testTexts)
        case .zeroshot:
            return []
        }
    }
}
