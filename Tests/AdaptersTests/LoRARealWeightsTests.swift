import Foundation
import Layers
import Models
import Testing
import Tensors
import TransferKit
@testable import Adapters

/// LoRA on the real EfficientNet-Lite0 weights (`make test` fetches them): the default targets, a new adapter that
/// leaves the features as they were, and a merged-and-unloaded model whose features (fused inference path) equal the
/// adapted model's.
@Suite(.serialized) struct LoRARealWeightsTests {
    static let weights = (ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path)
        + "/efficientnet-lite0/efficientnet-lite0-57934424.pth"
    static var cached: Bool { FileManager.default.fileExists(atPath: weights) }

    @Test(.enabled(if: cached)) func efficientNetLite0DefaultTargetsZeroAdapterAndMergeOnRealWeights() throws {
        let backbone = try FeatureBackbone(spec: try ModelRegistry.spec(named: "efficientnet-lite0"), weightsPath: Self.weights)
        let module = backbone.module
        module.eval()
        let targets = LoRABackboneAdapter.defaultTargets(for: backbone)
        // The 1×1 convolutions of the last two stages (blocks 11–15: expansion and projection) and the head conv.
        #expect(targets.contains("_conv_head") && targets.contains("_blocks.15._project_conv") && targets.contains("_blocks.11._expand_conv"))
        #expect(!targets.contains { $0.hasPrefix("_blocks.10.") || $0.hasSuffix("_depthwise_conv") })
        #expect(targets.count == 11)
        let x = randomTensor([2, 3, 224, 224], seed: 71)
        let base = withNoGrad { backbone.forward(.tensor(x)) }

        let adapter = LoRABackboneAdapter(config: LoRAConfig(rank: 8, alpha: 16, targets: targets), seed: 1)
        let trainable = try adapter.attach(to: backbone)
        #expect(trainable.count == 22 && trainable.allSatisfy { LoRA.isAdapterKey($0.0) })
        #expect(module.parameterCount.trainable == trainable.reduce(0) { $0 + $1.1.count })
        module.eval()
        // The wrapped layers run unfused (conv, then BatchNorm), so the base's features agree up to rounding.
        #expect(relativeError(withNoGrad { backbone.forward(.tensor(x)) }, base) <= 1e-5)

        for (i, (_, l)) in LoRA.layers(in: module).enumerated() {
            try l.load(["lora_A": l.loraA.copy(), "lora_B": randomTensor(l.loraB.shape.dims, seed: 80 + UInt64(i), std: 0.02)], strict: false)
        }
        let adapted = withNoGrad { backbone.forward(.tensor(x)) }
        #expect(relativeError(adapted, base) > 1e-3, "the random adapter changes the features")
        try LoRA.mergeAndUnload(module)
        let head = try module.module(at: "_conv_head")
        #expect(LoRA.layers(in: module).isEmpty && head is Conv2d)
        #expect(relativeError(withNoGrad { backbone.forward(.tensor(x)) }, adapted) <= 1e-4)
    }
}
