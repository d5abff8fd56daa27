import Checkpoints
import Foundation
import Layers
import Testing
@testable import Models
@testable import Tensors

// Fixtures come from tools/make_vision_fixtures.py (run by hand with PyTorch; see its docstring).

/// A safetensors fixture of this target written by tools/make_vision_fixtures.py.
func visionFixture(_ name: String) throws -> SafeTensorsFile {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "safetensors") else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Fixtures/\(name).safetensors"])
    }
    return try SafeTensorsFile(path: url.path)
}

/// A JSON value of a fixture's metadata.
func visionMetadata<T: Decodable>(_ file: SafeTensorsFile, _ key: String, as: T.Type) throws -> T {
    let text = try #require(file.metadata[key], "fixture metadata has no \(key)")
    return try JSONDecoder().decode(T.self, from: Data(text.utf8))
}

/// The largest |a − b| over all elements (same shapes required).
func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "maxAbsDiff: \(a.shape) vs \(b.shape)")
    return zip(a.toArray(), b.toArray()).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}

/// The indices of the `k` largest values of each row of `[N, C]` logits, largest first.
func topK(_ logits: Tensor, _ k: Int) -> [[Int]] {
    let c = logits.shape[1]
    let v = logits.toArray()
    return (0..<logits.shape[0]).map { row in
        Array((0..<c).sorted { v[row * c + $0] > v[row * c + $1] }.prefix(k))
    }
}

/// The real EfficientNet-Lite0 ImageNet checkpoint where the project's fetch command puts it
/// (`${TRANSFERKIT_CACHE:-~/.cache/transferkit}/efficientnet-lite0/efficientnet-lite0-57934424.pth`).
let lite0CheckpointPath: String = {
    let env = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
    let root = env.map { URL(fileURLWithPath: $0) }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit")
    return root.appendingPathComponent("efficientnet-lite0/efficientnet-lite0-57934424.pth").path
}()

/// Tests that need the real weights run only when the checkpoint is there: `make test` fetches it first
/// (`transfer fetch efficientnet-lite0`); a bare `swift test` on a machine without it skips them.
let lite0WeightsPresent = FileManager.default.fileExists(atPath: lite0CheckpointPath)

/// A pretrained Lite0 in eval mode.
func pretrainedLite0() throws -> EfficientNetLite {
    let model = EfficientNetLite(.lite0)
    try model.load(TorchCheckpoint.load(path: lite0CheckpointPath))
    model.eval()
    return model
}

/// `sin(0.011 · i + 0.3) + 0.5 · sin(0.173 · i)` over the elements of `shape` (`formula_input` of the fixture script).
func formulaInput(_ shape: Shape) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.count).map { i in
        let d = Double(i)
        return Float(Foundation.sin(0.011 * d + 0.3) + 0.5 * Foundation.sin(0.173 * d))
    })
}

@Suite struct EfficientNetArchitectureTests {
    @Test func everyVariantHasTimmsStateDictShapesInOrderAndThePublishedParameterCount() throws {
        let f = try visionFixture("efficientnet_lite0")
        let timm = try visionMetadata(f, "timm_shapes", as: [String: [[Int]]].self)
        let expectedParameters = [4_652_008, 5_416_680, 6_092_072, 8_197_096, 13_006_568]
        for v in EfficientNetLite.Variant.allCases {
            let model = EfficientNetLite(v)
            #expect(model.stateDict().map(\.tensor.shape.dims) == timm["lite\(v.rawValue)"], "\(v)")
            #expect(model.parameterCount.total == expectedParameters[v.rawValue], "\(v)")
        }
    }

    @Test func variantsCarryTheTensorFlowLiteCoefficientsAndRepeats() {
        let v = EfficientNetLite.Variant.allCases
        #expect(v.map(\.widthMultiplier) == [1.0, 1.0, 1.1, 1.2, 1.4])
        #expect(v.map(\.depthMultiplier) == [1.0, 1.1, 1.2, 1.4, 1.8])
        #expect(v.map(\.resolution) == [224, 240, 260, 280, 300])
        #expect(v.map(\.dropoutRate) == [0.2, 0.2, 0.3, 0.3, 0.3])
        // First and last stage keep one block; stem 32 and head 1280 stay unscaled.
        #expect(EfficientNetLite.stages(.lite4).map(\.repeats) == [1, 4, 4, 6, 6, 8, 1])
        #expect(EfficientNetLite.stages(.lite4).map(\.outChannels) == [24, 32, 56, 112, 160, 272, 448])
        let lite3 = EfficientNetLite(.lite3, includeTop: false)
        let shapes = lite3.stateDict().reduce(into: [String: Shape]()) { $0[$1.key] = $1.tensor.shape }
        #expect(shapes["_conv_stem.weight"] == [32, 3, 3, 3])
        #expect(shapes["_blocks.0._depthwise_conv.weight"] == [32, 1, 3, 3])  // the stem's 32 channels, not round(32·1.2)
        #expect(shapes["_conv_head.weight"] == [1280, 384, 1, 1])
    }

    @Test func lite0HasBiasFreeSamePaddedConvolutionsTFBatchNormAndResidualsWhereShapesAgree() {
        let m = EfficientNetLite(.lite0)
        let convs = m.namedModules().compactMap { $0.1 as? Conv2d }
        #expect(convs.count == 1 + 16 * 3 - 1 + 1)
        #expect(convs.allSatisfy { $0.bias == nil && $0.padding == .same })
        let norms = m.namedModules().compactMap { $0.1 as? BatchNorm2d }
        #expect(norms.allSatisfy { $0.eps == 1e-3 && $0.momentum == 0.01 })
        let blocks = m.blocks.compactMap { $0 as? MBConvBlock }
        #expect(blocks.count == 16)
        #expect(blocks.map(\.hasResidual) == [false, false, true, false, true, false, true, true, false, true, true,
                                               false, true, true, true, false])
        #expect(blocks[0].expandConv == nil && blocks[1].expandConv != nil)
        #expect((m.dropout as? Dropout)?.p == 0.2)
        // Drop-connect grows linearly with the block index: 0.2 · i / 16.
        let rates: [Float] = (0..<16).map { 0.2 * Float($0) / 16 }
        #expect(blocks.map(\.dropConnectRate) == rates)
    }

    @Test func featureMapsEndEveryStageWithItsStrideAndChannels() {
        Initializer.seed(7)
        let m = EfficientNetLite(.lite0)
        m.eval()
        let x = formulaInput([2, 3, 64, 96])
        let maps = withNoGrad { m.featureMaps(x) }
        #expect(maps.map(\.name) == ["stem", "stage0", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "head"])
        #expect(maps.map(\.stride) == [2, 2, 4, 8, 16, 16, 32, 32, 32])
        #expect(maps.map(\.channels) == [32, 16, 24, 40, 80, 112, 192, 320, 1280])
        for map in maps {
            #expect(map.tensor.shape == [2, map.channels, 64 / map.stride, 96 / map.stride], "\(map.name)")
        }
        // One pass gives the same logits and maps; the pooled head map is `features`.
        let (logits, again) = withNoGrad { m.outputAndFeatureMaps(x) }
        #expect(maxAbsDiff(logits, withNoGrad { m(x) }) == 0)
        #expect(maxAbsDiff(again[8].tensor, maps[8].tensor) == 0)
        #expect(maxAbsDiff(withNoGrad { m.features(x) }, Tensor.globalAvgPool2d(maps[8].tensor)) == 0)
        // TF "SAME" rounds odd sizes up at every stride-2 layer.
        let odd = withNoGrad { m.featureMaps(formulaInput([1, 3, 67, 45])) }
        #expect(odd.last!.tensor.shape == [1, 1280, 3, 2])
    }

    @Test func withoutATopTheModelReturnsPooledFeaturesAndHasNoClassifier() {
        Initializer.seed(8)
        let m = EfficientNetLite(.lite0, includeTop: false)
        m.eval()
        #expect(m.fc == nil && !m.stateDict().contains { $0.key.hasPrefix("_fc") })
        #expect(m.parameterCount.total == 4_652_008 - 1280 * 1000 - 1000)
        let x = formulaInput([2, 3, 32, 32])
        let y = withNoGrad { m(x) }
        #expect(y.shape == [2, 1280])
        #expect(maxAbsDiff(y, withNoGrad { m.features(x) }) == 0)
        #expect(m.blockGroups.map(\.name).last == "head")
    }

    @Test func blockGroupsCoverEveryParameterOnceAndFreezeAllButTheTopGroups() {
        let m = EfficientNetLite(.lite0, numClasses: 10)
        let groups = m.blockGroups
        #expect(groups.map(\.name) == ["stem"] + (0..<7).map { "stage\($0)" } + ["head", "classifier"])
        #expect(groups[2].prefixes == ["_blocks.1", "_blocks.2"])
        for (key, _) in m.stateDict() {
            #expect(groups.filter { $0.contains(key) }.count == 1, "\(key)")
        }
        m.freeze(allButTop: 2)
        let trainable = m.trainableParameters().map(\.0)
        #expect(trainable == ["_conv_head.weight", "_bn1.weight", "_bn1.bias", "_fc.weight", "_fc.bias"])
        m.freeze(allButTop: 1)
        #expect(m.parameterCount.trainable == 1280 * 10 + 10)
        #expect(m.bn1.isFrozen && (m.bn1 as? BatchNorm2d)?.usesBatchStatistics == false)
        m.freeze(allButTop: groups.count)
        #expect(m.parameterCount.trainable == m.parameterCount.total)
        #expect(m.blockGroupIndex(of: "_blocks.15._bn2.running_var") == 7)
    }

    @Test func dropConnectAndDropoutAreSeededAndOffInEvalMode() throws {
        let a = EfficientNetLite(.lite0, numClasses: 5, dropConnectRate: 0.5, seed: 42)
        let b = EfficientNetLite(.lite0, numClasses: 5, dropConnectRate: 0.5, seed: 42)
        try b.load(Dictionary(uniqueKeysWithValues: a.stateDict().map { ($0.key, $0.tensor.copy()) }))
        let c = EfficientNetLite(.lite0, numClasses: 5, dropConnectRate: 0.5, seed: 43)
        try c.load(Dictionary(uniqueKeysWithValues: a.stateDict().map { ($0.key, $0.tensor.copy()) }))
        let x = formulaInput([4, 3, 32, 32])
        a.train(); b.train(); c.train()
        let ya = withNoGrad { a(x) }, yb = withNoGrad { b(x) }, yc = withNoGrad { c(x) }
        #expect(maxAbsDiff(ya, yb) == 0)  // same weights and seeds: same masks
        #expect(maxAbsDiff(ya, yc) > 0)  // another seed: other masks
        a.eval()
        let e1 = withNoGrad { a(x) }, e2 = withNoGrad { a(x) }
        #expect(maxAbsDiff(e1, e2) == 0)
    }

    @Test func wrongInputShapeStopsWithAMessageNamingTheModelAndShape() async {
        let channels = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let m = EfficientNetLite(.lite0, includeTop: false)
            _ = withNoGrad { m(Tensor.zeros([1, 4, 32, 32])) }
        }
        let channelsMessage = String(decoding: channels?.standardErrorContent ?? [], as: UTF8.self)
        #expect(channelsMessage.contains("EfficientNet-Lite0: input [1, 4, 32, 32] must be a batch of RGB images [N, 3, H, W]"))
        let rank = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let m = EfficientNetLite(.lite2, includeTop: false)
            _ = withNoGrad { m.features(Tensor.zeros([3, 32, 32])) }
        }
        let rankMessage = String(decoding: rank?.standardErrorContent ?? [], as: UTF8.self)
        #expect(rankMessage.contains("EfficientNet-Lite2: input [3, 32, 32] must be a batch of RGB images [N, 3, H, W]"))
    }
}

@Suite(.enabled(if: lite0WeightsPresent,
                "needs the EfficientNet-Lite0 checkpoint in the cache: run `make test` (it fetches it) or `transfer fetch efficientnet-lite0`"))
struct EfficientNetPretrainedTests {
    // Tolerance: max |Swift − PyTorch| ≤ 1e-3 on logits and pooled features (float32 on both sides; oneDNN and
    // PyTorch sum in different orders).

    @Test func realCheckpointKeysAndShapesAreTheModelsAndLoadStrictly() throws {
        let info = try TorchCheckpoint.inspect(path: lite0CheckpointPath)
        let model = EfficientNetLite(.lite0)
        #expect(info.map(\.key) == model.stateDict().map(\.key))
        #expect(info.map(\.shape) == model.stateDict().map(\.tensor.shape.dims))
        let report = try model.load(TorchCheckpoint.load(path: lite0CheckpointPath))
        #expect(report.isClean)
        #expect(model.parameterCount.total == 4_652_008)
    }

    @Test func lite0ClassifiesTwoRealPhotosLikePyTorch() throws {
        let f = try visionFixture("efficientnet_lite0")
        let model = try pretrainedLite0()
        let pixels = try f.tensor("photos")  // [2, 224, 224, 3] uint8 values
        let x = (pixels.permuted([0, 3, 1, 2]).contiguous() - 127) / 128
        let (logits, features) = withNoGrad { (model(x), model.features(x)) }
        let dLogits = maxAbsDiff(logits, try f.tensor("photo_logits"))
        let dFeatures = maxAbsDiff(features, try f.tensor("photo_features"))
        #expect(dLogits <= 1e-3, "max |logit diff| \(dLogits)")
        #expect(dFeatures <= 1e-3, "max |feature diff| \(dFeatures)")
        let top5 = topK(logits, 5)
        #expect(top5 == (try visionMetadata(f, "top5", as: [[Int]].self)))
        let top1 = try visionMetadata(f, "top1", as: [Int].self)
        #expect(top5.map { $0[0] } == top1)
        #expect([281, 282, 285].contains(top1[0]), "chelsea (a tabby cat): \(top1[0])")  // tabby, tiger cat, Egyptian cat
        #expect([967, 968].contains(top1[1]), "coffee: \(top1[1])")  // espresso, cup
        print("EfficientNet-Lite0 photos: max |logit diff| \(dLogits), max |feature diff| \(dFeatures), top-5 \(top5)")
    }

    @Test(.enabled(if: Precision.bf16.unsupportedReason == nil, "needs a CPU with avx512_bf16"))
    func lite0InBF16KeepsEveryTop1WhoseFP32MarginExceedsBFloat16Error() throws {
        let f = try visionFixture("efficientnet_lite0")
        let model = try pretrainedLite0()
        let x = (try f.tensor("photos").permuted([0, 3, 1, 2]).contiguous() - 127) / 128
        let fp32 = withNoGrad { model(x) }
        let bf16 = withPrecision(.bf16) { withNoGrad { model(x) } }
        let d = maxAbsDiff(bf16, fp32)
        let f32 = fp32.toArray(), b16 = bf16.toArray()
        print("EfficientNet-Lite0 photos in bf16: max |logit diff to fp32| \(d), top-5 \(topK(bf16, 5)) vs \(topK(fp32, 5)); "
              + "chelsea's tiger cat (282) / Egyptian cat (285) logits: fp32 \(f32[282]) / \(f32[285]), bf16 \(b16[282]) / \(b16[285])")
        #expect(d > 0, "bf16 changed nothing: the bf16 path did not run")
        #expect(d < 0.2, "bf16 logits drift \(d) from fp32")
        for (i, (top5, ref5)) in zip(topK(bf16, 5), topK(fp32, 5)).enumerated() {
            let row = Array(f32[(i * 1000)..<((i + 1) * 1000)])
            let margin = row[ref5[0]] - row[ref5[1]]
            if margin > 2 * d {
                #expect(top5[0] == ref5[0], "photo \(i): fp32 top-1 \(ref5[0]) leads by \(margin), bf16 picked \(top5[0])")
            } else {
                // A near tie (chelsea: tiger cat vs Egyptian cat, 0.01 apart in fp32) may swap; the pair must not.
                #expect(Set(top5.prefix(2)) == Set(ref5.prefix(2)), "photo \(i): fp32 top-2 \(ref5.prefix(2)), bf16 \(top5.prefix(2))")
            }
        }
        #expect([967, 968].contains(topK(bf16, 1)[1][0]), "coffee in bf16")
    }

    @Test func lite0MatchesPyTorchOnAnOddSizedInputWithAsymmetricSamePadding() throws {
        let f = try visionFixture("efficientnet_lite0")
        let model = try pretrainedLite0()
        let logits = withNoGrad { model(formulaInput([1, 3, 67, 45])) }
        let d = maxAbsDiff(logits, try f.tensor("small_logits"))
        #expect(d <= 1e-3, "max |logit diff| \(d)")
    }

    @Test func loadBackboneKeepsANewClassifierAndGivesThePretrainedFeatures() throws {
        let state = try TorchCheckpoint.load(path: lite0CheckpointPath)
        Initializer.seed(11)
        let model = EfficientNetLite(.lite0, numClasses: 3)
        let fc = try #require(model.fc as? Linear)
        let fcBefore = fc.weight.toArray()
        let report = try model.loadBackbone(state)
        #expect(report.unexpected == ["_fc.bias", "_fc.weight"])
        #expect(fc.weight.toArray() == fcBefore)
        model.eval()
        let x = formulaInput([1, 3, 48, 48])
        let reference = try pretrainedLite0()
        #expect(maxAbsDiff(withNoGrad { model.features(x) }, withNoGrad { reference.features(x) }) == 0)
        #expect(withNoGrad { model(x) }.shape == [1, 3])
        let headless = EfficientNetLite(.lite0, includeTop: false)
        try headless.loadBackbone(state)
        headless.eval()
        #expect(maxAbsDiff(withNoGrad { headless(x) }, withNoGrad { reference.features(x) }) == 0)
    }
}
