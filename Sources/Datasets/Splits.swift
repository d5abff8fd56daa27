import Foundation
import Tensors

/// Sample indices of a train/validation/test partition, each list in increasing order.
public struct SplitIndices: Sendable, Equatable {
    public let train: [Int]
    public let validation: [Int]
    public let test: [Int]

    public init(train: [Int], validation: [Int], test: [Int]) {
        self.train = train
        self.validation = validation
        self.test = test
    }
}

/// One cross-validation fold: the held-out indices and the rest, each in increasing order.
public struct Fold: Sendable, Equatable {
    public let train: [Int]
    public let validation: [Int]

    public init(train: [Int], validation: [Int]) {
        self.train = train
        self.validation = validation
    }
}

/// Seeded, stratified partitions of a sample list. The same samples, fractions and seed give the same indices on
/// every run and platform (a SplitMix64 generator and a hand-written Fisher–Yates shuffle; nothing depends on
/// Swift's unspecified `shuffle` algorithm or on hashing).
///
/// Stratification groups samples by class: the class index; for multi-label, the sample's rarest label (by count
/// over the dataset; samples without labels form their own group); for regression, the value's quantile bin (up to
/// 10 bins of at least 5 samples). Each group is shuffled and cut separately, so every split keeps the class
/// proportions up to rounding.
public enum Splits {
    /// Train/validation/test indices with `validation` and `test` fractions of each group (train gets the rest).
    /// Each group's share is rounded to the nearest count; when a group has at least as many samples as there are
    /// non-empty splits, every split with a positive fraction gets at least one of them, so every class appears
    /// in every split whenever it has enough samples; a smaller group gives one sample to train, then one to
    /// validation, then one to test.
    public static func stratified(_ samples: [Sample], classCount: Int, validation: Double, test: Double = 0,
                                  seed: UInt64) throws(DatasetError) -> SplitIndices {
        guard !samples.isEmpty else { throw .invalidSplit(reason: "the dataset has no samples") }
        guard validation >= 0, test >= 0, validation.isFinite, test.isFinite, validation + test < 1 else {
            throw .invalidSplit(reason: "validation \(validation) and test \(test) must be ≥ 0 and sum to less than 1")
        }
        var generator = SeededGenerator(seed: seed)
        var train: [Int] = [], val: [Int] = [], tst: [Int] = []
        for var group in strata(samples, classCount: classCount) {
            shuffle(&group, &generator)
            let n = group.count
            var nv = Int((Double(n) * validation).rounded())
            var nt = Int((Double(n) * test).rounded())
            let wanted = 1 + (validation > 0 ? 1 : 0) + (test > 0 ? 1 : 0)
            if n >= wanted {
                let vMin = validation > 0 ? 1 : 0, tMin = test > 0 ? 1 : 0
                nv = Swift.max(nv, vMin)
                nt = Swift.max(nt, tMin)
                // Keep at least one training sample, taking from whichever held-out share has more to spare.
                while n - nv - nt < 1 {
                    if nv - vMin >= nt - tMin { nv -= 1 } else { nt -= 1 }
                }
            } else {
                // Too few to cover every split: one to train first, then one to validation, then one to test.
                nv = validation > 0 && n >= 2 ? 1 : 0
                nt = test > 0 && n - 1 - nv >= 1 ? 1 : 0
            }
            tst += group[0..<nt]
            val += group[nt..<(nt + nv)]
            train += group[(nt + nv)...]
        }
        return SplitIndices(train: train.sorted(), validation: val.sorted(), test: tst.sorted())
    }

    /// `k` folds whose validation parts partition the samples. Each group is shuffled and dealt round-robin over the
    /// folds, continuing where the previous group stopped, so fold sizes differ by at most one and each fold holds
    /// about 1/k of every class (a class with fewer than k samples is missing from some folds).
    public static func kFold(_ samples: [Sample], classCount: Int, k: Int, seed: UInt64) throws(DatasetError) -> [Fold] {
        guard k >= 2 else { throw .invalidSplit(reason: "k = \(k): k-fold needs k ≥ 2") }
        guard k <= samples.count else {
            throw .invalidSplit(reason: "k = \(k) folds but only \(samples.count) samples")
        }
        var generator = SeededGenerator(seed: seed)
        var folds = [[Int]](repeating: [], count: k)
        var next = 0
        for var group in strata(samples, classCount: classCount) {
            shuffle(&group, &generator)
            for i in group {
                folds[next].append(i)
                next = (next + 1) % k
            }
        }
        return (0..<k).map { f in
            var rest: [Int] = []
            for g in 0..<k where g != f { rest += folds[g] }
            return Fold(train: rest.sorted(), validation: folds[f].sorted())
        }
    }

    /// Sample indices grouped by stratum, groups in a fixed order, indices increasing within each group.
    static func strata(_ samples: [Sample], classCount: Int) -> [[Int]] {
        var labelCounts = [Int](repeating: 0, count: classCount)
        var values: [(Float, Int)] = []
        for (i, s) in samples.enumerated() {
            switch s.target {
            case .classIndex(let c): if c >= 0 && c < classCount { labelCounts[c] += 1 }
            case .multiLabel(let cs): for c in cs where c >= 0 && c < classCount { labelCounts[c] += 1 }
            case .regression(let v): values.append((v, i))
            }
        }
        var keyOf = [Int](repeating: -1, count: samples.count)
        for (i, s) in samples.enumerated() {
            switch s.target {
            case .classIndex(let c): keyOf[i] = c
            case .multiLabel(let cs):
                // The rarest label (ties: lowest index); -1 for an empty label set.
                keyOf[i] = cs.min { a, b in
                    let ca = a < classCount ? labelCounts[a] : Int.max, cb = b < classCount ? labelCounts[b] : Int.max
                    return ca != cb ? ca < cb : a < b
                } ?? -1
            case .regression: break
            }
        }
        if !values.isEmpty {
            values.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            let bins = Swift.max(1, Swift.min(10, values.count / 5))
            for (rank, (_, i)) in values.enumerated() { keyOf[i] = rank * bins / values.count }
        }
        var groups: [Int: [Int]] = [:]
        for (i, key) in keyOf.enumerated() { groups[key, default: []].append(i) }
        return groups.keys.sorted().map { groups[$0]! }
    }

    /// Fisher–Yates; each draw is a 64-bit value modulo the range (bias below 2⁻⁴⁰ for up to 2²⁴ samples).
    static func shuffle(_ a: inout [Int], _ g: inout SeededGenerator) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(g.next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }
}
