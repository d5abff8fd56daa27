import Distillation
import Testing

/// The timing sample of `transfer distill`: evenly spaced, so every class of a class-sorted test set is timed.
@Suite struct InferenceSpeedTests {
    @Test func sampleIsEvenlySpacedDistinctAndCappedAtTheSetSize() {
        #expect(InferenceSpeed.sample(total: 10, count: 5) == [0, 2, 4, 6, 8])
        #expect(InferenceSpeed.sample(total: 3, count: 256) == [0, 1, 2])
        let s = InferenceSpeed.sample(total: 2000, count: 256)
        #expect(s.count == 256 && Set(s).count == 256 && s.last! < 2000)
        // 200 items per class, sorted by class: each of the 10 classes gets 25 or 26 of the 256.
        let perClass = Dictionary(grouping: s, by: { $0 / 200 }).mapValues(\.count)
        #expect(perClass.count == 10 && perClass.values.allSatisfy { (25...26).contains($0) })
        #expect(InferenceSpeed.sample(total: 0, count: 4).isEmpty)
    }
}
