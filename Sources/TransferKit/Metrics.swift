import Foundation
import Tensors

// Evaluation metrics with scikit-learn's semantics, computed in Double from Float model outputs
// (tools/make_metrics_fixtures.py checks them against scikit-learn).
//
// Conventions shared by every type here:
// - An ill-defined ratio is 0, never NaN: precision of a class that is never predicted, recall of a class with no
//   true sample, F1 when 2·tp + fp + fn = 0 (scikit-learn's `zero_division=0`).
// - Averages run over every label given, including labels absent from both targets and predictions (scikit-learn
//   called with an explicit `labels=` argument).
// - The predicted class of a row is the first index of its largest probability (`numpy.argmax`).
// - A non-finite probability (a diverged model) counts as 0, so every metric stays finite.

/// Precision, recall, F1 and support of one class.
public struct ClassScores: Codable, Sendable, Equatable {
    /// tp / (tp + fp); 0 when the class is never predicted.
    public var precision: Double
    /// tp / (tp + fn); 0 when the class has no true sample.
    public var recall: Double
    /// 2·tp / (2·tp + fp + fn), the harmonic mean of precision and recall; 0 when the denominator is 0.
    public var f1: Double
    /// The number of samples whose true class this is.
    public var support: Int

    public init(precision: Double, recall: Double, f1: Double, support: Int) {
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.support = support
    }

    /// The scores from one class's counts, as scikit-learn's `precision_recall_fscore_support(zero_division=0)`.
    public init(truePositives tp: Int, falsePositives fp: Int, falseNegatives fn: Int) {
        self.init(precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn), f1: ratio(2 * tp, 2 * tp + fp + fn),
                  support: tp + fn)
    }
}

/// `n / d`, or 0 when `d` is 0 (scikit-learn's `zero_division=0`).
private func ratio(_ n: Int, _ d: Int) -> Double { d == 0 ? 0 : Double(n) / Double(d) }

/// The mean of `values`, 0 for none.
private func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }

/// A probability as Double, non-finite values as 0.
@inline(__always) private func clean(_ p: Float) -> Double { p.isFinite ? Double(p) : 0 }

/// Dynamic keys for the `per_class` object (one key per label).
private struct LabelKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Encodes per-class scores as `{label: {precision, recall, f1, support}}`, in label order.
private func encodePerClass<K: CodingKey>(_ scores: [ClassScores], labels: [String],
                                          in container: inout KeyedEncodingContainer<K>, forKey key: K) throws {
    var object = container.nestedContainer(keyedBy: LabelKey.self, forKey: key)
    for (label, s) in zip(labels, scores) { try object.encode(s, forKey: LabelKey(stringValue: label)) }
}

/// Decodes the `per_class` object back into label order.
private func decodePerClass<K: CodingKey>(labels: [String], from container: KeyedDecodingContainer<K>,
                                          forKey key: K) throws -> [ClassScores] {
    let object = try container.nestedContainer(keyedBy: LabelKey.self, forKey: key)
    return try labels.map { try object.decode(ClassScores.self, forKey: LabelKey(stringValue: $0)) }
}

/// The rows of a rank-2 tensor as arrays.
private func rows(of tensor: Tensor, _ what: String) -> [[Float]] {
    precondition(tensor.rank == 2, "\(what): expected a [N, C] tensor, got shape \(tensor.shape)")
    let n = tensor.shape[0], c = tensor.shape[1], values = tensor.toArray()
    return (0..<n).map { Array(values[($0 * c)..<(($0 + 1) * c)]) }
}

// MARK: - Classification

/// Single-label classification metrics of predicted class probabilities against true classes.
///
/// Every value follows scikit-learn (`sklearn.metrics`) with `labels=range(C)` and `zero_division=0`:
/// - ``accuracy``: `accuracy_score(y, argmax(p))`.
/// - ``top5Accuracy``: `top_k_accuracy_score(y, p, k=5)` when there are more than 5 classes, else nil. Tied
///   probabilities rank the higher class index first, as scikit-learn's stable sort reversed does.
/// - ``perClass``: `precision_recall_fscore_support`; ``macroF1``, ``microF1``, ``weightedF1``: `f1_score` with
///   `average="macro"|"micro"|"weighted"` (micro F1 equals accuracy when every class is a label).
/// - ``confusionMatrix``: `confusion_matrix` — rows are true classes, columns predicted ones.
/// - ``logLoss``: `log_loss(y, p)`, the mean of −ln p[true class] with p clipped to [1e-15, 1 − 1e-15] (the clip
///   of scikit-learn before 1.5; later versions clip at the float type's machine epsilon). Rows are not
///   renormalised.
/// - ``ece``: expected calibration error (Guo et al. 2017) over 15 equal-width bins (lo, hi] of the top
///   probability: Σ over bins of |accuracy − mean confidence| × the bin's share of samples.
///
/// JSON (snake_case): `accuracy`, `top5_accuracy` (absent when nil), `macro_f1`, `micro_f1`, `weighted_f1`,
/// `log_loss`, `ece`, `labels`, `per_class` (label → `{precision, recall, f1, support}`), `confusion_matrix`.
/// The per-sample ``predictions`` stay in memory (for ``worstMistakes(k:)``) and are not encoded; equality
/// compares the encoded summary only.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    /// One sample's outcome.
    public struct Prediction: Sendable, Equatable {
        /// The true class index.
        public var target: Int
        /// The predicted class index (argmax).
        public var predicted: Int
        /// The probability of the predicted class.
        public var confidence: Float
        public var isCorrect: Bool { target == predicted }
    }

    /// Number of equal-width bins of the expected calibration error.
    public static let calibrationBins = 15
    /// Probabilities are clipped to [ε, 1 − ε] in the log-loss.
    public static let logLossEpsilon = 1e-15

    /// Class names, index order.
    public let labels: [String]
    public let accuracy: Double
    /// Top-5 accuracy when there are more than 5 classes.
    public let top5Accuracy: Double?
    /// Scores per class, in ``labels`` order.
    public let perClass: [ClassScores]
    /// Unweighted mean of the per-class F1 scores.
    public let macroF1: Double
    /// F1 of the pooled counts over all classes.
    public let microF1: Double
    /// Mean of the per-class F1 scores weighted by support.
    public let weightedF1: Double
    /// `confusionMatrix[true][predicted]` counts.
    public let confusionMatrix: [[Int]]
    public let logLoss: Double
    /// Expected calibration error (0 is perfectly calibrated).
    public let ece: Double
    /// Each sample's target, prediction and confidence, in input order (empty after decoding from JSON).
    public let predictions: [Prediction]

    /// Metrics of `probabilities` (one row of C class probabilities per sample) against `targets` (class indices
    /// in 0..<C); `labels` names the C classes.
    public init(probabilities: [[Float]], targets: [Int], labels: [String]) {
        let c = labels.count
        precondition(c > 0, "ClassificationMetrics: no labels")
        precondition(Set(labels).count == c, "ClassificationMetrics: duplicate labels in \(labels)")
        precondition(probabilities.count == targets.count,
                     "ClassificationMetrics: \(probabilities.count) probability rows for \(targets.count) targets")
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: c), count: c)
        var predictions: [Prediction] = []
        predictions.reserveCapacity(targets.count)
        var lossSum = 0.0
        var top5Hits = 0
        let eps = Self.logLossEpsilon
        for (row, t) in zip(probabilities, targets) {
            precondition(row.count == c, "ClassificationMetrics: a row of \(row.count) probabilities for \(c) labels")
            precondition(t >= 0 && t < c, "ClassificationMetrics: target \(t) outside 0..<\(c)")
            var best = 0
            for j in 1..<c where clean(row[j]) > clean(row[best]) { best = j }
            matrix[t][best] += 1
            predictions.append(Prediction(target: t, predicted: best, confidence: Float(clean(row[best]))))
            lossSum -= Foundation.log(min(max(clean(row[t]), eps), 1 - eps))
            if c > 5 && Self.rank(of: t, in: row) < 5 { top5Hits += 1 }
        }
        let n = targets.count
        var perClass: [ClassScores] = []
        var tpAll = 0, fpAll = 0, fnAll = 0
        for k in 0..<c {
            let tp = matrix[k][k]
            let fn = matrix[k].reduce(0, +) - tp
            let fp = matrix.reduce(0) { $0 + $1[k] } - tp
            perClass.append(ClassScores(truePositives: tp, falsePositives: fp, falseNegatives: fn))
            tpAll += tp; fpAll += fp; fnAll += fn
        }
        self.labels = labels
        self.accuracy = ratio(tpAll, n)
        self.top5Accuracy = c > 5 ? ratio(top5Hits, n) : nil
        self.perClass = perClass
        self.macroF1 = mean(perClass.map(\.f1))
        self.microF1 = ratio(2 * tpAll, 2 * tpAll + fpAll + fnAll)
        self.weightedF1 = n == 0 ? 0 : perClass.reduce(0) { $0 + $1.f1 * Double($1.support) } / Double(n)
        self.confusionMatrix = matrix
        self.logLoss = n == 0 ? 0 : lossSum / Double(n)
        self.ece = Self.expectedCalibrationError(predictions)
        self.predictions = predictions
    }

    /// Metrics of a `[N, C]` tensor of probabilities.
    public init(probabilities: Tensor, targets: [Int], labels: [String]) {
        self.init(probabilities: rows(of: probabilities, "ClassificationMetrics"), targets: targets, labels: labels)
    }

    /// Metrics of a `[N, C]` tensor of logits, turned into probabilities by a softmax over each row.
    public init(logits: Tensor, targets: [Int], labels: [String]) {
        self.init(probabilities: rows(of: logits, "ClassificationMetrics").map(Self.softmax), targets: targets,
                  labels: labels)
    }

    /// The softmax of one row of logits, computed in Double (max subtracted first).
    public static func softmax(_ logits: [Float]) -> [Float] {
        let finite = logits.map { $0.isFinite ? Double($0) : -Double.infinity }
        let top = finite.max() ?? 0
        guard top.isFinite else { return logits.map { _ in 1 / Float(logits.count) } }
        let e = finite.map { Foundation.exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { Float($0 / sum) }
    }

    /// The 0-based rank of class `t` in `row` as scikit-learn's `top_k_accuracy_score` orders it: by probability,
    /// highest first, ties broken towards the higher class index (a stable ascending sort, reversed).
    static func rank(of t: Int, in row: [Float]) -> Int {
        let pt = clean(row[t])
        var rank = 0
        for (j, p) in row.enumerated() {
            let q = clean(p)
            if q > pt || (q == pt && j > t) { rank += 1 }
        }
        return rank
    }

    /// Top-k accuracy: the share of samples whose true class is among the k most probable (scikit-learn's
    /// `top_k_accuracy_score`, including its tie-break; every sample counts as a hit when k ≥ C).
    public static func topKAccuracy(probabilities: [[Float]], targets: [Int], k: Int) -> Double {
        precondition(probabilities.count == targets.count, "topKAccuracy: \(probabilities.count) rows, \(targets.count) targets")
        let hits = zip(probabilities, targets).filter { rank(of: $1, in: $0) < k }.count
        return ratio(hits, targets.count)
    }

    /// ECE over ``calibrationBins`` equal-width bins; the bin edges are numpy's `linspace(0, 1, 16)`.
    static func expectedCalibrationError(_ predictions: [Prediction]) -> Double {
        let bins = calibrationBins
        let step = 1.0 / Double(bins)
        var count = [Int](repeating: 0, count: bins), correct = count
        var confidence = [Double](repeating: 0, count: bins)
        for p in predictions {
            let conf = Double(p.confidence)
            guard conf > 0 else { continue }
            // The bin (edge[b], edge[b + 1]] holding conf, with edge[b] = b·step and edge[bins] = 1.
            var b = min(bins - 1, max(0, Int((conf / step).rounded(.up)) - 1))
            while b > 0 && conf <= Double(b) * step { b -= 1 }
            while b < bins - 1 && conf > Double(b + 1) * step { b += 1 }
            count[b] += 1
            confidence[b] += conf
            if p.isCorrect { correct[b] += 1 }
        }
        guard !predictions.isEmpty else { return 0 }
        var total = 0.0
        for b in 0..<bins where count[b] > 0 {
            let n = Double(count[b])
            total += abs(Double(correct[b]) / n - confidence[b] / n) * n / Double(predictions.count)
        }
        return total
    }

    /// Indices of misclassified samples, most confident first (the probability given to the wrong predicted
    /// class), at most `k`; ties keep input order.
    public func worstMistakes(k: Int) -> [Int] {
        let wrong = predictions.indices.filter { !predictions[$0].isCorrect }
        let sorted = wrong.sorted {
            let a = predictions[$0].confidence, b = predictions[$1].confidence
            return a != b ? a > b : $0 < $1
        }
        return Array(sorted.prefix(max(0, k)))
    }

    /// The scores of the class named `label`.
    public func scores(for label: String) -> ClassScores? {
        labels.firstIndex(of: label).map { perClass[$0] }
    }

    /// Number of samples evaluated.
    public var sampleCount: Int { perClass.reduce(0) { $0 + $1.support } }
    /// Unweighted mean of the per-class precisions (scikit-learn `average="macro"`).
    public var macroPrecision: Double { mean(perClass.map(\.precision)) }
    /// Unweighted mean of the per-class recalls.
    public var macroRecall: Double { mean(perClass.map(\.recall)) }
    /// Support-weighted mean of the per-class precisions (`average="weighted"`).
    public var weightedPrecision: Double { weighted(\.precision) }
    /// Support-weighted mean of the per-class recalls.
    public var weightedRecall: Double { weighted(\.recall) }

    private func weighted(_ value: KeyPath<ClassScores, Double>) -> Double {
        let n = sampleCount
        return n == 0 ? 0 : perClass.reduce(0) { $0 + $1[keyPath: value] * Double($1.support) } / Double(n)
    }

    enum CodingKeys: String, CodingKey {
        case accuracy, ece, labels
        case top5Accuracy = "top5_accuracy", macroF1 = "macro_f1", microF1 = "micro_f1",
             weightedF1 = "weighted_f1", logLoss = "log_loss", perClass = "per_class",
             confusionMatrix = "confusion_matrix"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(accuracy, forKey: .accuracy)
        try c.encode(macroF1, forKey: .macroF1)
        try c.encode(microF1, forKey: .microF1)
        try c.encode(weightedF1, forKey: .weightedF1)
        try c.encodeIfPresent(top5Accuracy, forKey: .top5Accuracy)
        try c.encode(logLoss, forKey: .logLoss)
        try c.encode(ece, forKey: .ece)
        try c.encode(labels, forKey: .labels)
        try encodePerClass(perClass, labels: labels, in: &c, forKey: .perClass)
        try c.encode(confusionMatrix, forKey: .confusionMatrix)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        labels = try c.decode([String].self, forKey: .labels)
        accuracy = try c.decode(Double.self, forKey: .accuracy)
        top5Accuracy = try c.decodeIfPresent(Double.self, forKey: .top5Accuracy)
        perClass = try decodePerClass(labels: labels, from: c, forKey: .perClass)
        macroF1 = try c.decode(Double.self, forKey: .macroF1)
        microF1 = try c.decode(Double.self, forKey: .microF1)
        weightedF1 = try c.decode(Double.self, forKey: .weightedF1)
        confusionMatrix = try c.decode([[Int]].self, forKey: .confusionMatrix)
        logLoss = try c.decode(Double.self, forKey: .logLoss)
        ece = try c.decode(Double.self, forKey: .ece)
        predictions = []
    }

    /// Equal when every encoded value is equal (the in-memory ``predictions`` are not compared).
    public static func == (a: Self, b: Self) -> Bool {
        a.labels == b.labels && a.accuracy == b.accuracy && a.top5Accuracy == b.top5Accuracy
            && a.perClass == b.perClass && a.macroF1 == b.macroF1 && a.microF1 == b.microF1
            && a.weightedF1 == b.weightedF1 && a.confusionMatrix == b.confusionMatrix && a.logLoss == b.logLoss
            && a.ece == b.ece
    }

}

// MARK: - Regression

/// Regression metrics, as scikit-learn's `mean_absolute_error`, `root_mean_squared_error` and `r2_score`.
///
/// With several outputs each metric is computed per output and the results averaged (scikit-learn's
/// `multioutput="uniform_average"`; so RMSE is the mean of the per-output RMSEs). R² follows `r2_score` with
/// `force_finite=True`: an output whose targets are constant scores 1 when predicted exactly and 0 otherwise.
/// No samples give all zeros. JSON: `{"mae", "rmse", "r2"}`.
public struct RegressionMetrics: Codable, Sendable, Equatable {
    /// Mean absolute error.
    public let mae: Double
    /// Root mean squared error.
    public let rmse: Double
    /// Coefficient of determination (1 is perfect, 0 is the mean predictor, negative is worse).
    public let r2: Double

    public init(mae: Double, rmse: Double, r2: Double) {
        self.mae = mae
        self.rmse = rmse
        self.r2 = r2
    }

    /// Metrics of one output per sample.
    public init(predictions: [Float], targets: [Float]) {
        self.init(predictions: predictions.map { [$0] }, targets: targets.map { [$0] })
    }

    /// Metrics of K outputs per sample (`predictions[i][k]`), averaged over the outputs.
    public init(predictions: [[Float]], targets: [[Float]]) {
        precondition(predictions.count == targets.count,
                     "RegressionMetrics: \(predictions.count) predictions for \(targets.count) targets")
        let n = targets.count
        guard n > 0 else { self.init(mae: 0, rmse: 0, r2: 0); return }
        let k = targets[0].count
        precondition(predictions.allSatisfy { $0.count == k } && targets.allSatisfy { $0.count == k },
                     "RegressionMetrics: every row needs \(k) outputs")
        var maes: [Double] = [], rmses: [Double] = [], r2s: [Double] = []
        for o in 0..<k {
            let y = targets.map { Double($0[o]) }, p = predictions.map { Double($0[o]) }
            let yMean = y.reduce(0, +) / Double(n)
            var abs = 0.0, squares = 0.0, total = 0.0
            for (yi, pi) in zip(y, p) {
                abs += Swift.abs(yi - pi)
                squares += (yi - pi) * (yi - pi)
                total += (yi - yMean) * (yi - yMean)
            }
            maes.append(abs / Double(n))
            rmses.append((squares / Double(n)).squareRoot())
            r2s.append(total == 0 ? (squares == 0 ? 1 : 0) : 1 - squares / total)
        }
        self.init(mae: mean(maes), rmse: mean(rmses), r2: mean(r2s))
    }

    /// Metrics of `[N]` or `[N, K]` tensors.
    public init(predictions: Tensor, targets: Tensor) {
        precondition(predictions.shape == targets.shape,
                     "RegressionMetrics: predictions \(predictions.shape) and targets \(targets.shape) differ")
        if predictions.rank == 1 {
            self.init(predictions: predictions.toArray(), targets: targets.toArray())
        } else {
            self.init(predictions: rows(of: predictions, "RegressionMetrics"), targets: rows(of: targets, "RegressionMetrics"))
        }
    }

}

// MARK: - Multi-label

/// Multi-label classification metrics: each class is an independent yes/no decision, positive when its
/// probability is at least its threshold.
///
/// As scikit-learn on multi-hot indicator arrays with `zero_division=0`: ``perClass`` is
/// `precision_recall_fscore_support`, ``microF1`` / ``macroF1`` are `f1_score(average="micro"|"macro")` and
/// ``subsetAccuracy`` is `accuracy_score` (a sample counts only when every class is right). JSON: `micro_f1`,
/// `macro_f1`, `subset_accuracy`, `labels`, `thresholds`, `per_class` (label → `{precision, recall, f1, support}`).
public struct MultiLabelMetrics: Codable, Sendable, Equatable {
    public let labels: [String]
    /// The decision threshold of each class.
    public let thresholds: [Float]
    /// Scores per class (support: number of positive targets), in ``labels`` order.
    public let perClass: [ClassScores]
    /// F1 of the counts pooled over every (sample, class) decision.
    public let microF1: Double
    /// Unweighted mean of the per-class F1 scores.
    public let macroF1: Double
    /// Share of samples with every class decided right.
    public let subsetAccuracy: Double

    /// Metrics of `probabilities[i][c]` against multi-hot `targets[i][c]` (a value ≥ 0.5 is positive), with one
    /// threshold per class (0.5 each by default).
    public init(probabilities: [[Float]], targets: [[Float]], labels: [String], thresholds: [Float]? = nil) {
        let c = labels.count
        precondition(c > 0, "MultiLabelMetrics: no labels")
        precondition(Set(labels).count == c, "MultiLabelMetrics: duplicate labels in \(labels)")
        precondition(probabilities.count == targets.count,
                     "MultiLabelMetrics: \(probabilities.count) probability rows for \(targets.count) targets")
        let thresholds = thresholds ?? [Float](repeating: 0.5, count: c)
        precondition(thresholds.count == c, "MultiLabelMetrics: \(thresholds.count) thresholds for \(c) labels")
        var tp = [Int](repeating: 0, count: c), fp = tp, fn = tp
        var exact = 0
        for (row, target) in zip(probabilities, targets) {
            precondition(row.count == c && target.count == c, "MultiLabelMetrics: every row needs \(c) values")
            var allRight = true
            for k in 0..<c {
                let predicted = clean(row[k]) >= Double(thresholds[k]), actual = target[k] >= 0.5
                switch (predicted, actual) {
                case (true, true): tp[k] += 1
                case (true, false): fp[k] += 1; allRight = false
                case (false, true): fn[k] += 1; allRight = false
                case (false, false): break
                }
            }
            if allRight { exact += 1 }
        }
        self.labels = labels
        self.thresholds = thresholds
        self.perClass = (0..<c).map { ClassScores(truePositives: tp[$0], falsePositives: fp[$0], falseNegatives: fn[$0]) }
        let tpAll = tp.reduce(0, +), fpAll = fp.reduce(0, +), fnAll = fn.reduce(0, +)
        self.microF1 = ratio(2 * tpAll, 2 * tpAll + fpAll + fnAll)
        self.macroF1 = mean(perClass.map(\.f1))
        self.subsetAccuracy = ratio(exact, targets.count)
    }

    /// Metrics of `[N, C]` probability and multi-hot target tensors.
    public init(probabilities: Tensor, targets: Tensor, labels: [String], thresholds: [Float]? = nil) {
        self.init(probabilities: rows(of: probabilities, "MultiLabelMetrics"), targets: rows(of: targets, "MultiLabelMetrics"),
                  labels: labels, thresholds: thresholds)
    }

    /// Metrics of `[N, C]` logits, turned into probabilities by a sigmoid.
    public init(logits: Tensor, targets: Tensor, labels: [String], thresholds: [Float]? = nil) {
        let probabilities = rows(of: logits, "MultiLabelMetrics").map { $0.map { 1 / (1 + Foundation.exp(-$0)) } }
        self.init(probabilities: probabilities, targets: rows(of: targets, "MultiLabelMetrics"), labels: labels,
                  thresholds: thresholds)
    }

    /// Per-class thresholds that maximise each class's F1 on validation data.
    ///
    /// For each class the candidates are its sorted unique probabilities (a sample is positive when its
    /// probability is ≥ the threshold); the candidate with the highest F1 wins, and when several tie, the middle
    /// one of them (index (n − 1) / 2 in ascending order). A class with no positive target keeps 0.5.
    public static func tuneThresholds(probabilities: [[Float]], targets: [[Float]]) -> [Float] {
        precondition(probabilities.count == targets.count,
                     "tuneThresholds: \(probabilities.count) probability rows for \(targets.count) targets")
        guard let c = probabilities.first?.count else { return [] }
        return (0..<c).map { k in
            // Samples by probability, highest first; lowering the threshold past each distinct value adds them.
            let samples = zip(probabilities, targets).map { (p: Float(clean($0[k])), positive: $1[k] >= 0.5) }
                .sorted { $0.p > $1.p }
            let positives = samples.filter(\.positive).count
            guard positives > 0 else { return 0.5 }
            var tp = 0, fp = 0
            var best = -1.0
            var tied: [Float] = []  // descending
            var i = 0
            while i < samples.count {
                let t = samples[i].p
                while i < samples.count && samples[i].p == t {
                    if samples[i].positive { tp += 1 } else { fp += 1 }
                    i += 1
                }
                let f1 = ratio(2 * tp, 2 * tp + fp + (positives - tp))
                if f1 > best { best = f1; tied = [t] } else if f1 == best { tied.append(t) }
            }
            let ascending = Array(tied.reversed())
            return ascending[(ascending.count - 1) / 2]
        }
    }

    /// ``tuneThresholds(probabilities:targets:)`` on `[N, C]` tensors.
    public static func tuneThresholds(probabilities: Tensor, targets: Tensor) -> [Float] {
        tuneThresholds(probabilities: rows(of: probabilities, "tuneThresholds"), targets: rows(of: targets, "tuneThresholds"))
    }

    /// Number of positive targets over all classes.
    public var positiveCount: Int { perClass.reduce(0) { $0 + $1.support } }

    enum CodingKeys: String, CodingKey {
        case labels, thresholds
        case microF1 = "micro_f1", macroF1 = "macro_f1", subsetAccuracy = "subset_accuracy", perClass = "per_class"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(microF1, forKey: .microF1)
        try c.encode(macroF1, forKey: .macroF1)
        try c.encode(subsetAccuracy, forKey: .subsetAccuracy)
        try c.encode(labels, forKey: .labels)
        try c.encode(thresholds, forKey: .thresholds)
        try encodePerClass(perClass, labels: labels, in: &c, forKey: .perClass)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        labels = try c.decode([String].self, forKey: .labels)
        thresholds = try c.decode([Float].self, forKey: .thresholds)
        perClass = try decodePerClass(labels: labels, from: c, forKey: .perClass)
        microF1 = try c.decode(Double.self, forKey: .microF1)
        macroF1 = try c.decode(Double.self, forKey: .macroF1)
        subsetAccuracy = try c.decode(Double.self, forKey: .subsetAccuracy)
    }

}

// MARK: - Any task

/// The metrics of one evaluation, whatever the task. JSON: the task's own object with a `"task"` key added —
/// `"classification"`, `"regression"` or `"multilabel"`.
public enum MetricsReport: Codable, Sendable, Equatable {
    case classification(ClassificationMetrics)
    case regression(RegressionMetrics)
    case multiLabel(MultiLabelMetrics)

    /// The `"task"` value of the JSON.
    public var task: String {
        switch self {
        case .classification: "classification"
        case .regression: "regression"
        case .multiLabel: "multilabel"
        }
    }

    private enum TaskKey: String, CodingKey { case task }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: TaskKey.self)
        try c.encode(task, forKey: .task)
        switch self {
        case .classification(let m): try m.encode(to: encoder)
        case .regression(let m): try m.encode(to: encoder)
        case .multiLabel(let m): try m.encode(to: encoder)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: TaskKey.self)
        switch try c.decode(String.self, forKey: .task) {
        case "classification": self = .classification(try ClassificationMetrics(from: decoder))
        case "regression": self = .regression(try RegressionMetrics(from: decoder))
        case "multilabel": self = .multiLabel(try MultiLabelMetrics(from: decoder))
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .task, in: c, debugDescription: "unknown task \"\(other)\"")
        }
    }


    /// The value a run monitors and reports first: accuracy, R² or micro F1, with its name.
    public var headline: (name: String, value: Double) {
        switch self {
        case .classification(let m): ("accuracy", m.accuracy)
        case .regression(let m): ("r2", m.r2)
        case .multiLabel(let m): ("micro_f1", m.microF1)
        }
    }

    /// A JSON encoder for metrics documents: sorted keys, and NaN or ±∞ (a diverged regression) written as the
    /// strings "NaN", "Infinity", "-Infinity" rather than failing.
    public static func jsonEncoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }

    /// The decoder matching ``jsonEncoder(pretty:)``.
    public static func jsonDecoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }
}
