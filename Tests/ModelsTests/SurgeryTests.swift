import Layers
import Testing
@testable import Models
import Tensors

/// An adapter that negates the wrapped layer's output: a change no BatchNorm (batch statistics or running ones)
/// undoes, and the same as negating a convolution's or linear layer's weight and bias.
private final class Negated: WrappingModule, UnaryLayer {
    let layer: any UnaryLayer

    init(_ layer: any UnaryLayer) {
        self.layer = layer
        super.init(wrapping: layer)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { layer(x) * -1 }
}

/// A copy of `model`'s state, so a twin built from the same seed can be compared after surgery.
private func state(_ model: Module) -> [String: Tensor] {
    Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.tensor.copy()) })
}

/// Negates the weight and bias of the convolution or linear layer at `path`, in place.
private func negateWeights(_ model: Module, at path: String) throws {
    let layer = try model.module(at: path)
    let prefix = path + "."
    withNoGrad {
        for (key, t) in model.namedParameters() where key.hasPrefix(prefix) && !key.dropFirst(prefix.count).contains(".") {
            t.assign(t * -1)
        }
    }
    #expect(layer is Conv2d || layer is Linear)
}

/// Runs a model with the adapter at `path` and, separately, a twin whose weights at `path` are negated: the two must
/// agree, in eval mode without gradients (the fused inference paths) and in train mode (recorded ops), and differ
/// from the untouched model. `run` gets the model and whether it is training; tolerances are relative to the
/// largest output.
private func expectSurgeryTakesEffect<M: Module>(_ make: () throws -> M, at path: String,
                                                 run: (M, Bool) -> Tensor, tolerance: Float = 1e-4) throws {
    let model = try make(), twin = try make(), untouched = try make()
    try twin.load(state(model))
    try untouched.load(state(model))
    try model.replaceModule(at: path, with: Negated(#require(model.module(at: path) as? any UnaryLayer)))
    try negateWeights(twin, at: path)
    for training in [false, true] {
        var outputs: [Tensor] = []
        for m in [model, twin, untouched] {
            m.train(training)
            m.reseedRandomness(1)  // the same dropout and drop-connect draws in all three
            outputs.append(training ? run(m, true) : withNoGrad { run(m, false) })
        }
        let scale = max(1, outputs[1].toArray().map(abs).max() ?? 0)
        let d = maxAbsDiff(outputs[0], outputs[1]) / scale, change = maxAbsDiff(outputs[0], outputs[2]) / scale
        #expect(d <= tolerance, "\(path), training \(training): adapter vs negated weights differ by \(d) (relative)")
        #expect(change > 1e-2, "\(path), training \(training): the adapter changed the output by only \(change) (relative)")
    }
}

/// Builds a random-weight EfficientNet-Lite0 with 10 classes from `seed`.
private func lite0(seed: UInt64) -> () -> EfficientNetLite {
    { Initializer.seed(seed); return EfficientNetLite(.lite0, numClasses: 10) }
}

@Suite struct ModelSurgeryTests {
    @Test func efficientNetExpansionConvolutionReplacedInsideTheDepthwiseFusionTakesEffect() throws {
        // Batch 8 at 224² expands block 1 to 8·96·112²·4 bytes ≥ 32 MiB: the fused expansion + depthwise path in eval.
        let big = formulaInput([8, 3, 224, 224]), small = formulaInput([2, 3, 64, 64])
        try expectSurgeryTakesEffect(lite0(seed: 31), at: "_blocks.1._expand_conv", run: { $0($1 ? small : big) })
    }

    @Test func efficientNetConvolutionsReplacedInFusedConvBatchNormUnitsTakeEffect() throws {
        let x = formulaInput([2, 3, 64, 64])
        for path in ["_conv_stem", "_blocks.3._depthwise_conv", "_blocks.4._project_conv", "_conv_head"] {
            try expectSurgeryTakesEffect(lite0(seed: 32), at: path, run: { m, _ in m(x) })
        }
    }

    @Test func resNetConvolutionsReplacedInFusedUnitsAndTheDownsampleTakeEffect() throws {
        let x = formulaInput([2, 3, 64, 64])
        for path in ["conv1", "layer1.0.conv1", "layer2.0.conv2", "layer3.0.downsample.0"] {
            try expectSurgeryTakesEffect({ () -> ResNet in Initializer.seed(33); return ResNet(.resnet18, numClasses: 10) },
                                         at: path, run: { m, _ in m(x) })
        }
    }

    @Test func bertQueryProjectionReplacedUnderThePackedAttentionPathTakesEffect() throws {
        let config = BertConfig(vocabSize: 40, hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4,
                                intermediateSize: 64, maxPositionEmbeddings: 16)
        let ids = (0..<16).map { ($0 * 7 + 3) % 40 }
        let mask: [Float] = (0..<16).map { $0 % 8 < 6 ? 1 : 0 }
        for path in ["encoder.layer.0.attention.self.query", "encoder.layer.1.output.dense"] {
            try expectSurgeryTakesEffect({ () throws -> BertModel in
                Initializer.seed(34)
                let model = try BertModel(config: config)
                // Hugging Face's std 0.02 leaves attention nearly uniform, where the query hardly matters: sharpen it.
                withNoGrad {
                    for (key, p) in model.namedParameters() where key.hasSuffix("query.weight") || key.hasSuffix("key.weight") {
                        p.assign(p * 30)
                    }
                }
                return model
            }, at: path, run: { m, _ in m(ids: ids, attentionMask: mask, shape: [2, 8]) })
        }
    }

    @Test func wrappingEveryMatchedLayerKeepsTheCheckpointKeysAndStrictLoadStillWorks() throws {
        Initializer.seed(35)
        let bert = try BertModel(config: BertConfig(vocabSize: 40, hiddenSize: 16, numHiddenLayers: 3,
                                                    numAttentionHeads: 2, intermediateSize: 32))
        let keys = bert.stateDict().map(\.key)
        let queries = bert.modules(matching: "encoder.layer.*.attention.self.query")
        #expect(queries.map(\.path) == (0..<3).map { "encoder.layer.\($0).attention.self.query" })
        for (path, module) in queries {
            try bert.replaceModule(at: path, with: ActivationTap(#require(module as? any UnaryLayer)))
        }
        #expect(bert.stateDict().map(\.key) == keys)
        #expect(bert.encoder.layers.allSatisfy { $0.attention.selfAttention.query is ActivationTap })
        try bert.load(state(bert))  // strict

        Initializer.seed(36)
        let resnet = ResNet(.resnet18)
        let resnetKeys = resnet.stateDict().map(\.key)
        let convs = resnet.modules(matching: "*.*.conv1")
        #expect(convs.map(\.path) == ["layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2.1.conv1",
                                      "layer3.0.conv1", "layer3.1.conv1", "layer4.0.conv1", "layer4.1.conv1"])
        for (path, module) in convs { try resnet.replaceModule(at: path, with: Negated(#require(module as? any UnaryLayer))) }
        #expect(resnet.stateDict().map(\.key) == resnetKeys)
        let fresh = ResNet(.resnet18)
        try resnet.load(state(fresh))  // strict
        let wrapped = try #require((resnet.module(at: "layer2.0.conv1") as? WrappingModule)?.wrapped as? Conv2d)
        let freshConv = try #require(fresh.module(at: "layer2.0.conv1") as? Conv2d)
        #expect(wrapped.weight.toArray() == freshConv.weight.toArray())
    }

    @Test func badModelPathsNameTheComponentAndTypeMismatchesNameBothTypes() throws {
        let bert = try BertModel(config: BertConfig(vocabSize: 40, hiddenSize: 16, numHiddenLayers: 2,
                                                    numAttentionHeads: 2, intermediateSize: 32))
        #expect(throws: ModuleSurgeryError.noSuchModule(path: "encoder.layer.0.atention.self.query", component: "atention",
                                                         parent: "encoder.layer.0",
                                                         available: ["attention", "intermediate", "output"])) {
            try bert.replaceModule(at: "encoder.layer.0.atention.self.query", with: Linear(16, 16))
        }
        #expect(throws: ModuleSurgeryError.noSuchModule(path: "encoder.layer.2", component: "2", parent: "encoder.layer",
                                                         available: ["0", "1"])) {
            try bert.module(at: "encoder.layer.2")
        }
        do {
            try bert.replaceModule(at: "encoder.layer.0", with: ActivationTap(Linear(16, 16)))
            Issue.record("expected an error")
        } catch {
            #expect(error == .typeNotAccepted(path: "encoder.layer.0", accepted: "BertLayer", found: "ActivationTap"))
            #expect(error.description == "cannot put ActivationTap at 'encoder.layer.0': that slot takes BertLayer")
        }
        let lite = EfficientNetLite(.lite0, includeTop: false)
        #expect(throws: ModuleSurgeryError.noSuchModule(path: "_blocks.0._expand_conv", component: "_expand_conv",
                                                         parent: "_blocks.0",
                                                         available: ["_depthwise_conv", "_bn1", "_project_conv", "_bn2"])) {
            try lite.module(at: "_blocks.0._expand_conv")  // block 0 has no expansion
        }
    }
}
