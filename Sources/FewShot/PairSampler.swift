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
/// all n² combinations, so many classes never blow the count up; `maxPairs` bounds it further (SetFit's `max_steps`
/// role). An example with no possible positive (a class of one) or negative contributes only the pairs it has.
public enum PairSampler {
    /// Pairs for examples with label sets `labels` (single-label data: one label each).
    public static func pairs(labels: [[Int]], iterations: Int, maxPairs: Int? = nil, seed: UInt64) -> [ContrastivePair] {
        precondition(iterations >= 1, "PairSampler: iterations \(iterations) must be ≥ 1")
        let sets = labels.map(Set.init)
        let n = labels.count
        // Candidates per example, found once: O(n²) set tests, cheap beside any encoder pass over the pairs.
        var positives = [[Int]](repeating: [], count: n), negatives = [[Int]](repeating: [], count: n)
        for i in 0..<n {
            for j in 0..<n where j != i {
                if sets[i].isDisjoint(with: sets[j]) { negatives[i].append(j) } else { positives[i].append(j) }
            }
        }
        var g = SeededGenerator(seed: seed)
        var out: [ContrastivePair] = []
        let limit = maxPairs ?? Int.max
        for _ in 0..<iterations {
            for i in (0..<n).shuffled(using: &g) {
                if out.count < limit, let j = positives[i].randomElement(using: &g) { out.append(ContrastivePair(a: i, b: j, similarity: 1)) }
                if out.count < limit, let j = negatives[i].randomElement(using: &g) { out.append(ContrastivePair(a: i, b: j, similarity: 0)) }
            }
        }
        return out.shuffled(using: &g)
    }

    /// Pairs for single-label data.
    public static func pairs(classes: [Int], iterations: Int, maxPairs: Int? = nil, seed: UInt64) -> [ContrastivePair] {
        pairs(labels: classes.map { [$0] }, iterations: iterations, maxPairs: maxPairs, seed: seed)
    }
}
