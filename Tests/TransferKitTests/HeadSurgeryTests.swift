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
