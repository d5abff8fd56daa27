@testable import Dense
import Testing

/// `--val-split` of dense training holds out whole images: disjoint, covering, seeded, at least one on each side.
@Suite struct DenseSplitTests {
    @Test func validationSplitHoldsOutWholeImagesBySeed() throws {
        let (train, held) = try DenseSplit.indices(count: 12, fraction: 0.25, seed: 5)
        #expect(held.count == 3 && train.count == 9)
        #expect(Set(train).isDisjoint(with: held) && Set(train + held) == Set(0..<12))
        #expect(try DenseSplit.indices(count: 12, fraction: 0.25, seed: 5).heldOut == held)
        #expect(try DenseSplit.indices(count: 3, fraction: 0.1, seed: 0).heldOut.count == 1)
        for (count, fraction) in [(1, 0.5), (2, 0.9), (5, 0.0), (5, 1.0), (5, .nan)] {
            #expect(throws: DenseError.self) { try DenseSplit.indices(count: count, fraction: fraction, seed: 0) }
        }
    }

    @Test func heldOutBoxesTakeTheModelsClassOrder() throws {
        let a = BoxAnnotations(boxes: ["a.png": [DetectionBox(x0: 0, y0: 0, x1: 2, y1: 2, label: 0), DetectionBox(x0: 1, y0: 1, x1: 3, y1: 3, label: 1)]],
                               classNames: ["Dead", "Alive"])
        #expect(try a.labelled(as: ["Alive", "Dead"], file: "f").boxes["a.png"]?.map(\.label) == [1, 0])
        #expect(try a.labelled(as: ["Tree"], file: "f").boxes["a.png"]?.map(\.label) == [0, 0])
        #expect(throws: DenseError.self) { try a.labelled(as: ["Alive", "Shrub"], file: "f") }
    }
}
