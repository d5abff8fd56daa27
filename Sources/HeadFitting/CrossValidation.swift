import Foundation

/// Stratified k-fold splits with scikit-learn's `StratifiedKFold(n_splits=k, shuffle=False)` assignment: the labels
/// are sorted, fold f takes every k-th of them starting at f, and each class's rows (in their order) go to folds
/// 0, 1, … in those counts — so every fold holds each class in proportion (±1).
public struct StratifiedKFold: Sendable {
    public let folds: Int

    public init(folds: Int) throws(HeadFittingError) {
        guard folds >= 2 else { throw .invalidOption(name: "folds", value: "\(folds)", accepted: "a whole number ≥ 2") }
        self.folds = folds
    }

    /// The folds that `labels` allow: `preferred`, lowered to the smallest class's count (scikit-learn refuses
    /// more folds than that), nil when a class has fewer than 2 rows.
    public static func folds(preferred: Int, labels: [Int]) -> Int? {
        let counts = Dictionary(grouping: labels, by: { $0 }).values.map(\.count)
        guard let least = counts.min(), least >= 2 else { return nil }
        return Swift.min(preferred, least)
    }

    /// The fold of each row (0..<folds).
    public func assignment(_ labels: [Int]) -> [Int] {
        let classes = Array(Set(labels)).sorted()
        let code = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let encoded = labels.map { code[$0]! }
        let sorted = encoded.sorted()
        // allocation[f][c]: how many rows of class c fold f takes.
        var allocation = [[Int]](repeating: [Int](repeating: 0, count: classes.count), count: folds)
        for (i, c) in sorted.enumerated() { allocation[i % folds][c] += 1 }
        var fold = [Int](repeating: 0, count: labels.count)
        for c in classes.indices {
            var order: [Int] = []
            for f in 0..<folds { order += [Int](repeating: f, count: allocation[f][c]) }
            for (j, row) in encoded.indices.filter({ encoded[$0] == c }).enumerated() { fold[row] = order[j] }
        }
        return fold
    }

    /// (training rows, held-out rows) of each fold.
    public func splits(_ labels: [Int]) -> [(train: [Int], test: [Int])] {
        let a = assignment(labels)
        return (0..<folds).map { f in (a.indices.filter { a[$0] != f }, a.indices.filter { a[$0] == f }) }
    }

    /// Folds that keep each group's rows together (rows with equal `groups[i]`, e.g. an image and its augmented
    /// views): the groups are assigned stratified by the label of their first row, and every row follows its group,
    /// so no held-out row has a copy of itself in training.
    public func splits(_ labels: [Int], groups: [Int]) -> [(train: [Int], test: [Int])] {
        precondition(groups.count == labels.count, "StratifiedKFold: \(groups.count) groups for \(labels.count) labels")
        var firstRow: [Int: Int] = [:], order: [Int] = []
        for (i, g) in groups.enumerated() where firstRow[g] == nil { firstRow[g] = i; order.append(g) }
        let groupFold = Dictionary(uniqueKeysWithValues: zip(order, assignment(order.map { labels[firstRow[$0]!] })))
        let a = groups.map { groupFold[$0]! }
        return (0..<folds).map { f in (a.indices.filter { a[$0] != f }, a.indices.filter { a[$0] == f }) }
    }
}

/// Which candidate cross-validation chooses from the mean scores.
public enum CVSelection: String, Sendable, Codable, CaseIterable {
    /// The best mean score (scikit-learn's `LogisticRegressionCV`).
    case best
    /// The most regularised candidate whose mean score is within one standard error of the best one's (the
    /// "one-standard-error rule", Hastie, Tibshirani & Friedman, *The Elements of Statistical Learning*, §7.10;
    /// glmnet's `lambda.1se`): on small folds the best mean is noisy, and the simpler model generalises as well.
    case oneStandardError = "one-standard-error"
}

/// How cross-validation scores a candidate.
public enum CVScoring: String, Sendable, Codable, CaseIterable {
    /// Mean held-out accuracy (scikit-learn's default for classifiers).
    case accuracy
    /// Mean held-out log-loss, lower is better (`neg_log_loss`): smoother than accuracy on small folds.
    case logLoss = "log-loss"
}

/// scikit-learn's `LogisticRegressionCV`: for each C of a grid, fit ``LogisticRegression`` on k−1 folds (warm-started
/// along the grid, as scikit-learn's regularisation path is) and score the held-out fold; choose the C with the best
/// mean score (the first, i.e. the most regularised, on ties); refit on all rows with it.
public struct LogisticRegressionCV: Sendable {
    /// The grid of C: scikit-learn's `Cs=10`, `logspace(-4, 4, 10)`.
    public var cs: [Double] = (0..<10).map { pow(10, -4 + 8 * Double($0) / 9) }
    public var folds = 5
    public var scoring: CVScoring = .logLoss
    public var selection: CVSelection = .best
    public var maxIterations = 100
    public var tolerance = 1e-4

    public init() {}

    /// The chosen C, every C's mean score, and the model refitted on all rows.
    public struct Result: Sendable {
        public var c: Double
        public var scores: [Double]
        public var folds: Int
        public var model: LogisticRegression.Model
    }

    /// `groups`: rows that must share a fold (an input and its augmented views; see
    /// ``StratifiedKFold/splits(_:groups:)``); nil: every row is its own group.
    public func fit(_ x: FeatureMatrix, _ y: [Int], classes: Int, groups: [Int]? = nil) throws(HeadFittingError) -> Result {
        guard !cs.isEmpty, cs.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw .invalidOption(name: "Cs", value: "\(cs)", accepted: "one or more finite numbers > 0")
        }
        guard let k = StratifiedKFold.folds(preferred: folds, labels: groupLabels(y, groups)) else {
            let best = LogisticRegression(c: 1, maxIterations: maxIterations, tolerance: tolerance).fit(x, y, classes: classes)
            return Result(c: 1, scores: [], folds: 0, model: best)
        }
        let splits = try StratifiedKFold(folds: k).splits(y, groups: groups ?? Array(y.indices))
        var perFold = [[Double]](repeating: [], count: cs.count)
        for split in splits {
            let xt = x.rows(split.train), yt = split.train.map { y[$0] }
            let xv = x.rows(split.test), yv = split.test.map { y[$0] }
            var previous: LogisticRegression.Model?
            for (ci, c) in cs.enumerated() {
                let m = LogisticRegression(c: c, maxIterations: maxIterations, tolerance: tolerance).fit(xt, yt, classes: classes, start: previous)
                previous = m
                perFold[ci].append(score(m.probabilities(xv), yv, classes: classes))
            }
        }
        let best = choose(perFold)
        let scores = perFold.map { $0.reduce(0, +) / Double($0.count) }
        let model = LogisticRegression(c: cs[best], maxIterations: maxIterations, tolerance: tolerance).fit(x, y, classes: classes)
        return Result(c: cs[best], scores: scores, folds: k, model: model)
    }

    /// The label of each group's first row (the labels themselves without groups).
    func groupLabels(_ y: [Int], _ groups: [Int]?) -> [Int] {
        guard let groups else { return y }
        var seen = Set<Int>(), out: [Int] = []
        for (i, g) in groups.enumerated() where seen.insert(g).inserted { out.append(y[i]) }
        return out
    }

    /// The index of the chosen C (``cs`` run from most to least regularised) given each C's fold scores.
    func choose(_ perFold: [[Double]]) -> Int {
        let means = perFold.map { $0.reduce(0, +) / Double(Swift.max($0.count, 1)) }
        func better(_ a: Double, _ b: Double) -> Bool { scoring == .accuracy ? a > b : a < b }
        var best = 0
        for i in means.indices where better(means[i], means[best]) { best = i }
        guard selection == .oneStandardError, perFold[best].count > 1 else { return best }
        let n = Double(perFold[best].count)
        let variance = perFold[best].map { ($0 - means[best]) * ($0 - means[best]) }.reduce(0, +) / (n - 1)
        let se = (variance / n).squareRoot()
        let order = cs.indices.sorted { cs[$0] < cs[$1] }
        return order.first { scoring == .accuracy ? means[$0] >= means[best] - se : means[$0] <= means[best] + se } ?? best
    }

    func score(_ p: [Double], _ y: [Int], classes: Int) -> Double {
        switch scoring {
        case .accuracy:
            let pred = argmaxRows(p, classes: classes)
            return Double(zip(pred, y).filter { $0 == $1 }.count) / Double(Swift.max(y.count, 1))
        case .logLoss:
            return meanLogLoss(p, y, classes: classes)
        }
    }
}

/// Mean −log p[true class], with p clipped to [1e-15, 1] (scikit-learn's `log_loss`).
public func meanLogLoss(_ p: [Double], _ y: [Int], classes: Int) -> Double {
    var s = 0.0
    for (i, c) in y.enumerated() { s -= log(Swift.max(p[i * classes + c], 1e-15)) }
    return s / Double(Swift.max(y.count, 1))
}

/// A bad option or input of this module's solvers, naming it, the value and what is accepted.
public enum HeadFittingError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidOption(name: String, value: String, accepted: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .invalidOption(let n, let v, let a): "\(n) must be \(a) (received \(v))"
        case .unsupported(let why): why
        }
    }
}
