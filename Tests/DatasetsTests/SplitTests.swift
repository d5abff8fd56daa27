import Datasets
import Testing

private func classSamples(_ counts: [Int]) -> [Sample] {
    var out: [Sample] = []
    // Interleave classes so that index order says nothing about class.
    var left = counts
    while left.contains(where: { $0 > 0 }) {
        for c in left.indices where left[c] > 0 {
            out.append(Sample(source: .index(out.count), target: .classIndex(c)))
            left[c] -= 1
        }
    }
    return out
}

private func classOf(_ samples: [Sample], _ i: Int) -> Int {
    if case .classIndex(let c) = samples[i].target { return c }
    return -1
}

@Suite("Stratified splits and k-fold")
struct SplitTests {
    @Test("a stratified split is a partition, keeps class proportions and repeats with the same seed")
    func stratifiedSplitIsDeterministicAndStratified() throws {
        let samples = classSamples([500, 300, 100, 10, 3])
        let split = try Splits.stratified(samples, classCount: 5, validation: 0.1, test: 0.2, seed: 42)
        let all = (split.train + split.validation + split.test).sorted()
        #expect(all == Array(0..<samples.count))
        #expect(split.train == split.train.sorted())
        for (c, n) in [500, 300, 100, 10, 3].enumerated() {
            let v = split.validation.filter { classOf(samples, $0) == c }.count
            let t = split.test.filter { classOf(samples, $0) == c }.count
            let tr = split.train.filter { classOf(samples, $0) == c }.count
            #expect(v >= 1 && t >= 1 && tr >= 1, "class \(c) present in every split")
            if n >= 100 {
                #expect(v == Int((Double(n) * 0.1).rounded()) && t == Int((Double(n) * 0.2).rounded()))
            }
        }
        #expect(try Splits.stratified(samples, classCount: 5, validation: 0.1, test: 0.2, seed: 42) == split)
        let other = try Splits.stratified(samples, classCount: 5, validation: 0.1, test: 0.2, seed: 43)
        #expect(other != split)
        #expect(other.validation.count == split.validation.count)
    }

    @Test("the split of a fixed seed is the same on every run (pinned indices)")
    func pinnedIndices() throws {
        let samples = classSamples([4, 4])
        let split = try Splits.stratified(samples, classCount: 2, validation: 0.25, test: 0.25, seed: 7)
        #expect(split.validation.count == 2 && split.test.count == 2 && split.train.count == 4)
        // Pinned on first run: a change here means existing experiments would silently get different splits.
        #expect(split == SplitIndices(train: [0, 1, 5, 6], validation: [2, 7], test: [3, 4]))
    }

    @Test("a class too small for every split goes to train first, then validation")
    func tinyClasses() throws {
        let samples = classSamples([10, 2, 1])
        let split = try Splits.stratified(samples, classCount: 3, validation: 0.2, test: 0.2, seed: 1)
        let singleton = samples.indices.first { classOf(samples, $0) == 2 }!
        #expect(split.train.contains(singleton))
        let pair = samples.indices.filter { classOf(samples, $0) == 1 }
        #expect(pair.filter { split.train.contains($0) }.count == 1)
        #expect(pair.filter { split.validation.contains($0) }.count == 1)
    }

    @Test("invalid fractions and k are typed errors")
    func invalidParameters() {
        let samples = classSamples([5, 5])
        #expect(datasetError { try Splits.stratified(samples, classCount: 2, validation: 0.6, test: 0.5, seed: 0) }
                == .invalidSplit(reason: "validation 0.6 and test 0.5 must be ≥ 0 and sum to less than 1"))
        #expect(datasetError { try Splits.stratified([], classCount: 2, validation: 0.1, seed: 0) }
                == .invalidSplit(reason: "the dataset has no samples"))
        #expect(datasetError { try Splits.kFold(samples, classCount: 2, k: 1, seed: 0) } != nil)
        #expect(datasetError { try Splits.kFold(samples, classCount: 2, k: 11, seed: 0) }
                == .invalidSplit(reason: "k = 11 folds but only 10 samples"))
    }

    @Test("k-fold validation parts partition the data, balance classes and repeat with the same seed")
    func kFold() throws {
        let samples = classSamples([50, 30, 20])
        let folds = try Splits.kFold(samples, classCount: 3, k: 5, seed: 9)
        #expect(folds.count == 5)
        #expect(folds.flatMap(\.validation).sorted() == Array(0..<100))
        for f in folds {
            #expect(f.validation.count == 20)
            #expect(Set(f.train).isDisjoint(with: f.validation) && f.train.count + f.validation.count == 100)
            for (c, n) in [50, 30, 20].enumerated() {
                #expect(f.validation.filter { classOf(samples, $0) == c }.count == n / 5)
            }
        }
        #expect(try Splits.kFold(samples, classCount: 3, k: 5, seed: 9) == folds)
    }

    @Test("multi-label and regression targets are stratified too")
    func otherTargets() throws {
        let multi = (0..<60).map { i in
            Sample(source: .index(i), target: .multiLabel(i % 10 == 0 ? [0, 1] : (i % 2 == 0 ? [1] : [])))
        }
        let split = try Splits.stratified(multi, classCount: 2, validation: 0.2, test: 0, seed: 3)
        #expect(split.test.isEmpty)
        // The 6 samples carrying the rare label 0 are split 5 / 1.
        #expect(split.validation.filter { $0 % 10 == 0 }.count == 1)
        let reg = (0..<50).map { Sample(source: .index($0), target: .regression(Float($0 * $0))) }
        let r = try Splits.stratified(reg, classCount: 0, validation: 0.2, test: 0, seed: 3)
        #expect(r.validation.count == 10)
        // One value from each of the 10 quantile bins of 5.
        #expect(Set(r.validation.map { $0 / 5 }).count == 10)
    }

    @Test("dataset extension methods forward to Splits")
    func datasetConvenience() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let csv = try s.write("m.csv", text: "path,label\n" + (0..<20).map { "\($0).jpg,\($0 % 2 == 0 ? "a" : "b")" }.joined(separator: "\n"))
        let ds = try CSVManifestDataset(path: csv)
        let split = try ds.stratifiedSplit(validation: 0.2, seed: 5)
        #expect(split == (try Splits.stratified(ds.samples, classCount: 2, validation: 0.2, seed: 5)))
        #expect(try ds.stratifiedKFold(k: 4, seed: 5).count == 4)
    }
}
