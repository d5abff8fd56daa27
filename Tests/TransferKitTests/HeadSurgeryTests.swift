import Layers
import Testing
@testable import Tensors
@testable import TransferKit

/// The wrapped layer's output times two.
private final class Doubled: WrappingModule, UnaryLayer {
    let layer: any UnaryLayer

    init(_ layer: any UnaryLayer) {
        self.layer = layer
        super.init(wrapping: layer)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { layer(x) * 2 }
}

@Suite struct HeadSurgeryTests {
    @Test func theLogisticHeadReadsCentredUnitLengthFeaturesAndTheLinearHeadStandardisedOnes() throws {
        let train = Tensor(shape: [4, 3], data: [1, 2, 3, 2, 0, 1, 0, 1, 5, 3, 3, 3])
        let x = Tensor(shape: [2, 3], data: [1, 1, 1, 4, 0, 2])
        for kind in [HeadKind.logistic, .linear] {
            let head = Head(kind, inputs: 3, outputs: 2)
            head.standardize(using: train)
            let z = ((x - head.inputMean) / head.inputStd)
            let expected = kind == .logistic ? z.l2NormalizedRows() : z
            #expect(maxDifference(head.standardized(x).toArray(), expected.toArray()) < 1e-6, "\(kind)")
            let w = head.outputLayer.weight.toArray(), b = head.outputLayer.bias!.toArray(), e = expected.toArray(), y = head(x).toArray()
            for r in 0..<2 { for o in 0..<2 {
                let manual = b[o] + (0..<3).map { w[o * 3 + $0] * e[r * 3 + $0] }.reduce(0, +)
                #expect(abs(y[r * 2 + o] - manual) < 1e-5, "\(kind) row \(r) output \(o)")
            } }
        }
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    @Test func aLayerReplacedThroughTheHeadIsWhatTheHeadComputesWithAndKeysStay() throws {
        let head = Head(.mlp, inputs: 4, outputs: 2, hidden: 8, seed: 1)
        head.eval()
        let keys = head.stateDict().map(\.key)
        let x = Tensor(shape: [3, 4], data: (0..<12).map { Float($0) / 10 })
        let before = withNoGrad { head(x) }
        let last = try #require(head.module(at: "3") as? any UnaryLayer)
        try head.replaceModule(at: "3", with: Doubled(last))
        #expect(head.stateDict().map(\.key) == keys)
        let after = withNoGrad { head(x) }
        #expect(zip(after.toArray(), before.toArray()).allSatisfy { abs($0 - 2 * $1) <= 1e-5 })
    }
}
