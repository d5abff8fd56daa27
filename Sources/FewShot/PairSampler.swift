import Foundation
import Tensors

/// A training pair for contrastive fine-tuning: two example indices and their target similarity (1 similar, 0 not).
public struct ContrastivePair: Sendable, Equatable {
    public var a: Int, b: Int
    public var similarity: Float
}

/// SetFit's pair generation (`setfit/sampler.py`, `ContrastiveDataset` with `num_iterations`): for each of
/// `iterations` rounds and each example, one positive pair (another example sharing a label: the same class, or for
/// multi-label examples at least one common label) and one negative pair (an example sharing none), so the count is
/// 2 · iterations · n, balanced, whatever the number of classes. Partners are drawn at random instead of enumerating
/// all n² combinations (positives from the example's label buckets, negatives by rejection sampling), so neither the
/// count nor the work blows up with many classes or examples; `maxPairs` bounds it further (SetFit's `max_steps`
/// role). An example with no possible positive (a class of one) or negative contributes only the pairs it has.
public enum PairSampler {
    /// Pairs for examples with label sets `labels` (single-label data: one label each).
    public static func pairs(labels: [[Int]], iterations: Int, maxPairs: Int? = nil, seed: UInt64) -> [ContrastivePair] {
        precondition(iterations >= 1, "PairSampler: iterations \(iterations) must be ≥ 1")
        let sets = labels.map(Set.init)
        let n = labels.count
        var buckets: [Int: [Int]] = [:]
        for (i, ls) in sets.enumerated() { for l in ls { buckets[l, default: []].append(i) } }
        var g = SeededGenerator(seed: seed)
        // A partner sharing a label: drawn from the buckets of the example's labels (O(class size), never O(n²)).
        func positive(_ i: Int) -> Int? {
            if sets[i].count == 1, let l = sets[i].first, let b = buckets[l] {
                guard b.count > 1 else { return nil }
                var j = i
                while j == i { j = b[Int.random(in: 0..<b.count, using: &g)] }
                return j
            }
            var candidates = Set(sets[i].flatMap { buckets[$0] ?? [] })
            candidates.remove(i)
            return candidates.sorted().randomElement(using: &g)
        }
        // A partner sharing none: rejection sampling, then a scan when the draws keep failing (one dominant class).
        func negative(_ i: Int) -> Int? {
            for _ in 0..<32 {
                let j = Int.random(in: 0..<n, using: &g)
                if sets[i].isDisjoint(with: sets[j]) { return j }
            }
            return (0..<n).filter { sets[i].isDisjoint(with: sets[$0]) }.randomElement(using: &g)
        }
        var out: [ContrastivePair] = []
        let limit = maxPairs ?? Int.max
        for _ in 0..<iterations {
            for i in (0..<n).shuffled(using: &g) {
                if out.count < limit, let j = positive(i) { out.append(ContrastivePair(a: i, b: j, similarity: 1)) }
                if out.count < limit, let j = negative(i) { out.append(ContrastivePair(a: i, b: j, similarity: 0)) }
            }
        }
        return out.shuffled(using: &g)
    }

    /// Pairs for single-label data.
    public static func pairs(classes: [Int], iterations: Int, maxPairs: Int? = nil, seed: UInt64) -> [ContrastivePair] {
        pairs(labels: classes.map { [$0] }, iterations: iterations, maxPairs: maxPairs, seed: seed)
    }
}
