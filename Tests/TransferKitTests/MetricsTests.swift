import Foundation
import Tensors
import Testing
@testable import Reports
@testable import TransferKit

/// Tests/TransferKitTests/Fixtures/metrics_sklearn.json, written by tools/make_metrics_fixtures.py.
struct SklearnFixture: Decodable {
    struct Classification: Decodable, CustomTestStringConvertible, Sendable {
        let name: String
        let labels: [String]
        let probabilities: [[Float]]
        let targets: [Int]
        let accuracy: Double
        let precision: [Double]
        let recall: [Double]
        let f1: [Double]
        let support: [Int]
        let macro_f1: Double
        let micro_f1: Double
        let weighted_f1: Double
        let confusion_matrix: [[Int]]
        let log_loss: Double
        let ece: Double
        let top5_accuracy: Double?
        var testDescription: String { name }
    }
    struct Regression: Decodable, CustomTestStringConvertible, Sendable {
        let name: String
        let predictions: Values
        let targets: Values
        let mae: Double
        let rmse: Double
        let r2: Double
        var testDescription: String { name }
    }
    /// One output per sample (`[Float]`) or several (`[[Float]]`).
    enum Values: Decodable, Sendable {
        case single([Float]), multi([[Float]])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode([Float].self) { self = .single(v) } else { self = .multi(try c.decode([[Float]].self)) }
        }
    }
    struct MultiLabel: Decodable, Sendable {
        struct Case: Decodable, Sendable {
            let name: String
            let thresholds: [Float]
            let precision: [Double]
            let recall: [Double]
            let f1: [Double]
            let support: [Int]
            let micro_f1: Double
            let macro_f1: Double
            let subset_accuracy: Double
        }
        let labels: [String]
        let probabilities: [[Float]]
        let targets: [[Float]]
        let cases: [Case]
        let tuned_thresholds: [Float]
    }
    let sklearn: String
    let classification: [Classification]
    let regression: [Regression]
    let multilabel: MultiLabel

    static func load() throws -> SklearnFixture {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/metrics_sklearn", withExtension: "json"),
                               "Fixtures/metrics_sklearn.json missing from the test bundle")
        return try JSONDecoder().decode(SklearnFixture.self, from: Data(contentsOf: url))
    }
}

private let fixture = try? SklearnFixture.load()

private func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-6) -> Bool { abs(a - b) <= tolerance }
private func close(_ a: [Double], _ b: [Double], _ tolerance: Double = 1e-6) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { close($0, $1, tolerance) }
}

/// The top-level keys of an encoded JSON object.
private func jsonObject(_ value: some Encodable) throws -> [String: Any] {
    let data = try MetricsReport.jsonEncoder().encode(value)
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

@Suite("Metrics against scikit-learn and their JSON")
struct MetricsTests {
    @Test("The fixture loads")
    func fixtureLoads() throws {
        let f = try SklearnFixture.load()
        #expect(f.classification.count == 3 && f.regression.count == 4 && f.multilabel.cases.count == 2)
    }

    @Test("Classification matches scikit-learn to 1e-6", arguments: fixture?.classification ?? [])
    func classification(_ c: SklearnFixture.Classification) {
        let m = ClassificationMetrics(probabilities: c.probabilities, targets: c.targets, labels: c.labels)
        #expect(close(m.accuracy, c.accuracy))
        #expect(close(m.perClass.map(\.precision), c.precision))
        #expect(close(m.perClass.map(\.recall), c.recall))
        #expect(close(m.perClass.map(\.f1), c.f1))
        #expect(m.perClass.map(\.support) == c.support)
        #expect(close(m.macroF1, c.macro_f1))
        #expect(close(m.microF1, c.micro_f1))
        #expect(close(m.weightedF1, c.weighted_f1))
        #expect(m.confusionMatrix == c.confusion_matrix)
        #expect(close(m.logLoss, c.log_loss))
        #expect(close(m.ece, c.ece))
        #expect(m.top5Accuracy.map { close($0, c.top5_accuracy ?? .nan) } ?? (c.top5_accuracy == nil))
        #expect(m.sampleCount == c.targets.count)
    }

    @Test("The four-class case has a class never predicted and a class absent from the targets")
    func fixtureCoversUndefinedRatios() throws {
        let c = try #require(fixture?.classification.first { $0.name == "four_classes" })
        let m = ClassificationMetrics(probabilities: c.probabilities, targets: c.targets, labels: c.labels)
        let bird = try #require(m.scores(for: "bird")), fish = try #require(m.scores(for: "fish"))
        #expect(m.confusionMatrix.allSatisfy { $0[2] == 0 } && bird.support > 0)
        #expect(fish.support == 0 && m.confusionMatrix.reduce(0) { $0 + $1[3] } > 0)
        #expect(bird.precision == 0 && fish.recall == 0 && fish.f1 == 0)
    }

    @Test("Regression matches scikit-learn to 1e-6", arguments: fixture?.regression ?? [])
    func regression(_ c: SklearnFixture.Regression) {
        let m: RegressionMetrics
        switch (c.predictions, c.targets) {
        case (.single(let p), .single(let t)): m = RegressionMetrics(predictions: p, targets: t)
        case (.multi(let p), .multi(let t)): m = RegressionMetrics(predictions: p, targets: t)
        default: Issue.record("mixed shapes in \(c.name)"); return
        }
        #expect(close(m.mae, c.mae))
        #expect(close(m.rmse, c.rmse))
        #expect(close(m.r2, c.r2))
    }

    @Test("Multi-label matches scikit-learn to 1e-6, at 0.5 and per-class thresholds")
    func multiLabel() throws {
        let f = try #require(fixture).multilabel
        for c in f.cases {
            let thresholds: [Float]? = c.name == "default" ? nil : c.thresholds
            let m = MultiLabelMetrics(probabilities: f.probabilities, targets: f.targets, labels: f.labels,
                                      thresholds: thresholds)
            #expect(m.thresholds == c.thresholds, "\(c.name)")
            #expect(close(m.perClass.map(\.precision), c.precision), "\(c.name)")
            #expect(close(m.perClass.map(\.recall), c.recall), "\(c.name)")
            #expect(close(m.perClass.map(\.f1), c.f1), "\(c.name)")
            #expect(m.perClass.map(\.support) == c.support, "\(c.name)")
            #expect(close(m.microF1, c.micro_f1), "\(c.name)")
            #expect(close(m.macroF1, c.macro_f1), "\(c.name)")
            #expect(close(m.subsetAccuracy, c.subset_accuracy), "\(c.name)")
        }
    }

    @Test("Tuned thresholds are the F1-best candidates of a brute-force search over scikit-learn's f1_score")
    func tunedThresholds() throws {
        let f = try #require(fixture).multilabel
        let tuned = MultiLabelMetrics.tuneThresholds(probabilities: f.probabilities, targets: f.targets)
        #expect(tuned == f.tuned_thresholds)
        let atTuned = MultiLabelMetrics(probabilities: f.probabilities, targets: f.targets, labels: f.labels, thresholds: tuned)
        let atDefault = MultiLabelMetrics(probabilities: f.probabilities, targets: f.targets, labels: f.labels)
        #expect(atTuned.macroF1 >= atDefault.macroF1)
    }

    @Test("Tied F1 candidates resolve to the middle one; a class without positives keeps 0.5")
    func thresholdTies() {
        func tuned(_ p: [Float], _ t: [Float]) -> Float {
            MultiLabelMetrics.tuneThresholds(probabilities: p.map { [$0] }, targets: t.map { [$0] })[0]
        }
        // Four positives: thresholds 0.9 (tp 2, fp 0, fn 2), 0.7 (3, 2, 1) and 0.4 (4, 4, 0) all give F1 = 2/3,
        // every other candidate less: the middle of [0.4, 0.7, 0.9] is 0.7.
        #expect(tuned([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4], [1, 1, 0, 0, 1, 0, 0, 1]) == 0.7)
        // Two positives: 0.9 (1, 0, 1) and 0.6 (2, 2, 0) tie at 2/3: the lower middle of two is 0.6.
        #expect(tuned([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 0, 1, 0]) == 0.6)
        // A unique best.
        #expect(tuned([0.9, 0.6, 0.5, 0.4, 0.1], [1, 0, 0, 0, 0]) == 0.9)
        // No positives: no evidence, the default stays.
        #expect(tuned([0.9, 0.6], [0, 0]) == 0.5)
        #expect(MultiLabelMetrics.tuneThresholds(probabilities: [], targets: []) == [])
    }

    @Test("Log-loss clips probabilities at 1e-15")
    func logLossClip() {
        let m = ClassificationMetrics(probabilities: [[0, 1], [1, 0]], targets: [0, 0], labels: ["a", "b"])
        #expect(close(m.logLoss, (-log(1e-15) - log(1 - 1e-15)) / 2, 1e-9))
    }

    @Test("Top-5 accuracy appears only with more than five classes, and ranks ties towards the higher index")
    func topFive() throws {
        let five = ClassificationMetrics(probabilities: [[0.2, 0.2, 0.2, 0.2, 0.2]], targets: [0], labels: ["a", "b", "c", "d", "e"])
        #expect(five.top5Accuracy == nil)
        #expect(try jsonObject(five)["top5_accuracy"] == nil)
        let uniform = [Float](repeating: 1 / 7, count: 7)
        let labels = (0..<7).map { "c\($0)" }
        let m = ClassificationMetrics(probabilities: [uniform, uniform], targets: [0, 6], labels: labels)
        #expect(m.top5Accuracy == 0.5)  // class 0 ranks last among ties; class 6 first
        #expect(ClassificationMetrics.topKAccuracy(probabilities: [uniform], targets: [2], k: 5) == 1)
        #expect(ClassificationMetrics.topKAccuracy(probabilities: [uniform], targets: [1], k: 5) == 0)
    }

    @Test("Worst mistakes: misclassified samples, most confident first")
    func worstMistakes() {
        let p: [[Float]] = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95], [0.3, 0.7], [0.3, 0.7]]
        let m = ClassificationMetrics(probabilities: p, targets: [0, 0, 1, 0, 0, 1], labels: ["x", "y"])
        #expect(m.worstMistakes(k: 10) == [3, 1, 4, 2])
        #expect(m.worstMistakes(k: 2) == [3, 1])
        #expect(m.worstMistakes(k: 0) == [])
        #expect(m.predictions[3] == .init(target: 0, predicted: 1, confidence: 0.95))
    }

    @Test("Empty input and non-finite probabilities give finite metrics")
    func degenerate() throws {
        let empty = ClassificationMetrics(probabilities: [], targets: [], labels: ["a", "b"])
        #expect(empty.accuracy == 0 && empty.logLoss == 0 && empty.ece == 0 && empty.macroF1 == 0)
        let nan = ClassificationMetrics(probabilities: [[.nan, .nan], [.infinity, 0.5]], targets: [1, 0], labels: ["a", "b"])
        for v in [nan.accuracy, nan.logLoss, nan.ece, nan.macroF1, nan.weightedF1] { #expect(v.isFinite) }
        #expect(nan.predictions.map(\.predicted) == [0, 1])
        _ = try MetricsReport.jsonEncoder().encode(nan)
        let r = RegressionMetrics(predictions: [Float](), targets: [])
        #expect(r == RegressionMetrics(mae: 0, rmse: 0, r2: 0))
        let ml = MultiLabelMetrics(probabilities: [], targets: [], labels: ["a"])
        #expect(ml.microF1 == 0 && ml.subsetAccuracy == 0)
    }

    @Test("Logits and tensors give the same metrics as probability arrays")
    func tensorConvenience() {
        let logits: [[Float]] = [[2, 0.5, -1], [0.1, 0.2, 3], [1, 1, 0], [-2, 4, 0]]
        let targets = [0, 2, 1, 0]
        let probs = logits.map(ClassificationMetrics.softmax)
        for row in probs { #expect(abs(row.reduce(0, +) - 1) < 1e-6) }
        let labels = ["a", "b", "c"]
        let a = ClassificationMetrics(probabilities: probs, targets: targets, labels: labels)
        let b = ClassificationMetrics(logits: Tensor(shape: [4, 3], data: logits.flatMap { $0 }), targets: targets, labels: labels)
        let c = ClassificationMetrics(probabilities: Tensor(shape: [4, 3], data: probs.flatMap { $0 }), targets: targets, labels: labels)
        #expect(a == b && a == c && a.predictions == b.predictions)
        let r1 = RegressionMetrics(predictions: Tensor([1, 2, 3.5]), targets: Tensor([1, 2.5, 3]))
        #expect(r1 == RegressionMetrics(predictions: [1, 2, 3.5], targets: [1, 2.5, 3]))
        let r2 = RegressionMetrics(predictions: Tensor(shape: [2, 2], data: [1, 2, 3, 4]), targets: Tensor(shape: [2, 2], data: [1, 3, 2, 4]))
        #expect(r2 == RegressionMetrics(predictions: [[1, 2], [3, 4]], targets: [[1, 3], [2, 4]]))
    }

    @Test("Classification JSON has exactly the contract's snake_case keys and decodes back")
    func classificationJSON() throws {
        let labels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal"]
        let p: [[Float]] = (0..<12).map { i in (0..<6).map { j in j == i % 6 ? 0.5 : 0.1 } }
        let m = ClassificationMetrics(probabilities: p, targets: (0..<12).map { ($0 * 5) % 6 }, labels: labels)
        let object = try jsonObject(m)
        #expect(Set(object.keys) == ["accuracy", "macro_f1", "micro_f1", "weighted_f1", "top5_accuracy", "log_loss",
                                     "ece", "labels", "per_class", "confusion_matrix"])
        let perClass = try #require(object["per_class"] as? [String: [String: Any]])
        #expect(Set(perClass.keys) == Set(labels))
        #expect(Set(try #require(perClass["T-shirt/top"]).keys) == ["precision", "recall", "f1", "support"])
        let report = MetricsReport.classification(m)
        let data = try MetricsReport.jsonEncoder().encode(report)
        #expect(try jsonObject(report)["task"] as? String == "classification")
        let back = try MetricsReport.jsonDecoder().decode(MetricsReport.self, from: data)
        #expect(back == report)
        guard case .classification(let decoded) = back else { Issue.record("wrong task"); return }
        #expect(decoded.predictions.isEmpty && decoded.perClass == m.perClass)
    }

    @Test("Regression and multi-label JSON round-trip with their task")
    func otherJSON() throws {
        let r = MetricsReport.regression(RegressionMetrics(predictions: [1, 2, 3], targets: [1.5, 2, 2]))
        #expect(Set(try jsonObject(r).keys) == ["task", "mae", "rmse", "r2"])
        #expect(try MetricsReport.jsonDecoder().decode(MetricsReport.self, from: MetricsReport.jsonEncoder().encode(r)) == r)
        let ml = MetricsReport.multiLabel(MultiLabelMetrics(probabilities: [[0.9, 0.2], [0.4, 0.7]], targets: [[1, 0], [1, 1]],
                                                            labels: ["p", "q"]))
        #expect(Set(try jsonObject(ml).keys) == ["task", "micro_f1", "macro_f1", "subset_accuracy", "labels", "thresholds", "per_class"])
        #expect(try MetricsReport.jsonDecoder().decode(MetricsReport.self, from: MetricsReport.jsonEncoder().encode(ml)) == ml)
        let bad = Data(#"{"task": "ranking"}"#.utf8)
        #expect(throws: DecodingError.self) { try MetricsReport.jsonDecoder().decode(MetricsReport.self, from: bad) }
        let diverged = MetricsReport.regression(RegressionMetrics(mae: .nan, rmse: .infinity, r2: -.infinity))
        let text = String(decoding: try MetricsReport.jsonEncoder().encode(diverged), as: UTF8.self)
        #expect(text.contains("\"NaN\""))
    }

    @Test("The terminal summary is an aligned table with every class, the averages and accuracy")
    func terminalSummary() throws {
        let c = try #require(fixture?.classification.first { $0.name == "four_classes" })
        let m = ClassificationMetrics(probabilities: c.probabilities, targets: c.targets, labels: c.labels)
        let text = m.terminalSummary()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasSuffix("precision  recall  f1-score  support"))
        for label in c.labels { #expect(lines.contains { $0.hasPrefix(label + " ") }) }
        for row in ["accuracy", "macro avg", "weighted avg"] { #expect(lines.contains { $0.hasPrefix(row) }) }
        // Every table row ends in the support column, so all end at the same column.
        let tableRows = lines.prefix { !$0.hasPrefix("log-loss") }.filter { !$0.isEmpty }
        #expect(Set(tableRows.map(\.count)).count == 1)
        let cat = try #require(lines.first { $0.hasPrefix("cat ") })
        #expect(cat.hasSuffix(String(format: "%.3f", c.f1[0]) + "       25"))
        #expect(lines.last?.contains("log-loss \(String(format: "%.3f", c.log_loss))") == true)
        let regression = MetricsReport.regression(RegressionMetrics(mae: 0.5, rmse: 0.75, r2: 0.9)).terminalSummary()
        #expect(regression.contains("MAE   0.5000") && regression.contains("R²    0.9000"))
        let ml = MultiLabelMetrics(probabilities: [[0.9, 0.2]], targets: [[1, 0]], labels: ["p", "q"]).terminalSummary()
        #expect(ml.contains("threshold") && ml.contains("micro avg") && ml.contains("subset accuracy 1.000"))
    }
}
