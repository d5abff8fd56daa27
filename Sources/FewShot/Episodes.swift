import Foundation
import Tensors

/// One N-way K-shot few-shot task: `ways` classes drawn from the data, `shots` labelled support examples and
/// `queries` query examples of each. Labels inside an episode are 0..<ways, in the order of ``classes``.
public struct Episode: Sendable {
    /// The data's class indices chosen, in episode-label order.
    public var classes: [Int]
    public var support: [Int]
    public var supportLabels: [Int]
    public var query: [Int]
    public var queryLabels: [Int]
}

/// Errors of few-shot sampling and evaluation.
public enum FewShotError: Error, CustomStringConvertible, Equatable {
    /// Fewer classes than ways.
    case tooFewClasses(available: Int, ways: Int)
    /// Fewer than shots + queries examples in every class but `eligible` of them.
    case tooFewExamples(needed: Int, eligible: Int, ways: Int)
    case invalidOption(name: String, value: String, accepted: String)

    public var description: String {
        switch self {
        case .tooFewClasses(let a, let w): "--ways \(w) needs at least \(w) classes; the data has \(a)"
        case .tooFewExamples(let n, let e, let w):
            "an episode needs \(n) examples (shots + queries) in each of \(w) classes; only \(e) classes have that many"
        case .invalidOption(let n, let v, let a): "\(n) \(v) is invalid: accepted \(a)"
        }
    }
}

/// Samples episodes from labelled data as easyfsl's `TaskSampler` does: each episode draws `ways` distinct classes
/// at random, then `shots + queries` distinct examples of each without replacement.
public struct EpisodeSampler: Sendable {
    public let ways: Int, shots: Int, queries: Int
    /// Example indices per class, for the classes with at least shots + queries examples.
    let byClass: [Int: [Int]]
    let eligible: [Int]

    /// Checks that at least `ways` classes have `shots + queries` examples.
    public init(labels: [Int], ways: Int, shots: Int, queries: Int) throws(FewShotError) {
        guard ways >= 2 else { throw .invalidOption(name: "ways", value: "\(ways)", accepted: "at least 2") }
        guard shots >= 1 else { throw .invalidOption(name: "shots", value: "\(shots)", accepted: "at least 1") }
        guard queries >= 1 else { throw .invalidOption(name: "queries", value: "\(queries)", accepted: "at least 1") }
        var by: [Int: [Int]] = [:]
        for (i, l) in labels.enumerated() where l >= 0 { by[l, default: []].append(i) }
        guard by.count >= ways else { throw .tooFewClasses(available: by.count, ways: ways) }
        let ok = by.keys.sorted().filter { by[$0]!.count >= shots + queries }
        guard ok.count >= ways else { throw .tooFewExamples(needed: shots + queries, eligible: ok.count, ways: ways) }
        self.ways = ways; self.shots = shots; self.queries = queries; byClass = by; eligible = ok
    }

    public func sample(using g: inout SeededGenerator) -> Episode {
        let classes = Array(eligible.shuffled(using: &g).prefix(ways))
        var e = Episode(classes: classes, support: [], supportLabels: [], query: [], queryLabels: [])
        for (w, c) in classes.enumerated() {
            let picked = byClass[c]!.shuffled(using: &g).prefix(shots + queries)
            e.support += picked.prefix(shots); e.supportLabels += [Int](repeating: w, count: shots)
            e.query += picked.dropFirst(shots); e.queryLabels += [Int](repeating: w, count: queries)
        }
        return e
    }
}

/// Mean accuracy over episodes with its 95% confidence interval as easyfsl and the few-shot literature report it:
/// ± 1.96 · σ / √n, σ the (population) standard deviation of the per-episode accuracies.
public struct AccuracySummary: Sendable, Equatable, Codable {
    public var mean: Double
    public var ci95: Double
    public var std: Double
    public var count: Int

    public init(_ accuracies: [Double]) {
        let n = Double(Swift.max(accuracies.count, 1))
        mean = accuracies.reduce(0, +) / n
        let m = mean
        std = (accuracies.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n).squareRoot()
        ci95 = 1.96 * std / n.squareRoot()
        count = accuracies.count
    }
}

/// Episodic evaluation: `episodes` episodes from `sampler` (seeded), each classified by `classify` (support,
/// its labels, queries → predicted episode labels of the queries), and the accuracy summary.
public enum EpisodicEvaluation {
    public static func run(_ sampler: EpisodeSampler, episodes: Int, seed: UInt64,
                           progress: ((Int, Int) -> Void)? = nil,
                           classify: (Episode) throws -> [Int]) rethrows -> (summary: AccuracySummary, accuracies: [Double]) {
        var g = SeededGenerator(seed: seed)
        var accs: [Double] = []
        for i in 0..<episodes {
            let e = sampler.sample(using: &g)
            let p = try classify(e)
            accs.append(Double(zip(p, e.queryLabels).filter { $0 == $1 }.count) / Double(Swift.max(e.query.count, 1)))
            progress?(i + 1, episodes)
        }
        return (AccuracySummary(accs), accs)
    }
}
