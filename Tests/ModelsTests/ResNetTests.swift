import Checkpoints
import Foundation
import Layers
import Testing
@testable import Models
@testable import Tensors

/// Uniform values in [−1, 1) from a SplitMix64 hash of (tensor position `t`, element index `k`): `formula_values` of
/// tools/make_vision_fixtures.py, bit for bit (integer arithmetic, a 24-bit result scaled exactly).
func formulaValues(_ count: Int, _ t: Int) -> [Double] {
    let base = 0x9E37_79B9_7F4A_7C15 &* UInt64(t + 1)
    return (0..<count).map { k in
        var z = UInt64(k) &+ base
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 40) / Double(1 << 24) * 2 - 1
    }
}

/// The deterministic weights of tools/make_vision_fixtures.py (`formula_state`): the tensor at position `t` of the
/// state dict gets f(s) for s = ``formulaValues(_:_:)`` by kind — conv weight s·√(6/fanIn), linear weight
/// s·√(3/fanIn), batch-norm weight 0.8 + 0.25·s, bias 0.1·s, running mean 0.1·s, running variance 1.25 + 0.25·s,
/// counters 0 — computed in Double and rounded to Float as NumPy does.
func formulaState(_ model: Module) -> [String: Tensor] {
    var state: [String: Tensor] = [:]
    for (t, entry) in model.stateDict().enumerated() {
        let shape = entry.tensor.shape
        let name = entry.key.split(separator: ".").last.map(String.init) ?? entry.key
        if name == "num_batches_tracked" {
            state[entry.key] = .zeros(shape)
            continue
        }
        let f: (Double) -> Double
        switch (shape.rank, name) {
        case (4, _): let scale = (6 / Double(shape[1] * shape[2] * shape[3])).squareRoot(); f = { $0 * scale }
        case (2, _): let scale = (3 / Double(shape[1])).squareRoot(); f = { $0 * scale }
        case (_, "weight"): f = { 0.8 + 0.25 * $0 }
        case (_, "bias"), (_, "running_mean"): f = { 0.1 * $0 }
        case (_, "running_var"): f = { 1.25 + 0.25 * $0 }
        default: preconditionFailure("formulaState: no formula for \(entry.key)")
        }
        state[entry.key] = Tensor(shape: shape, data: formulaValues(shape.count, t).map { Float(f($0)) })
    }
    return state
}

/// A ResNet with the formula weights of the fixture.
func formulaResNet(_ depth: ResNet.Depth) throws -> ResNet {
    let m = ResNet(depth)
    try m.load(formulaState(m))
    return m
}

@Suite struct ResNetTests {
    // Tolerance: max |Swift − PyTorch| ≤ 1e-3 absolute on logits and pooled features (float32 on both sides).

    @Test func stateDictKeysShapesAndOrderAreTorchvisionsAndLoadStrictly() throws {
        let f = try visionFixture("resnet")
        struct Entry: Decodable, Equatable {
            let key: String, shape: [Int]
            init(from decoder: Decoder) throws {
                var c = try decoder.unkeyedContainer()
                key = try c.decode(String.self)
                shape = try c.decode([Int].self)
            }
            init(_ key: String, _ shape: [Int]) { self.key = key; self.shape = shape }
        }
        for depth in [ResNet.Depth.resnet18, .resnet50] {
            let expected = try visionMetadata(f, "resnet\(depth.rawValue)_keys", as: [Entry].self)
            let model = ResNet(depth)
            #expect(model.stateDict().map { Entry($0.key, $0.tensor.shape.dims) } == expected, "\(depth)")
            // A state dict with exactly torchvision's keys loads strictly and cleanly.
            let report = try model.load(Dictionary(uniqueKeysWithValues: expected.map { ($0.key, Tensor.zeros(Shape($0.shape))) }))
            #expect(report.isClean)
        }
        #expect(ResNet(.resnet50).stateDict().contains { $0.key == "layer4.0.downsample.1.running_var" })
        #expect(!ResNet(.resnet18).stateDict().contains { $0.key.hasPrefix("layer1.0.downsample") })
    }

    @Test func parameterCountsAreTorchvisions() {
        #expect(ResNet(.resnet18).parameterCount.total == 11_689_512)
        #expect(ResNet(.resnet34).parameterCount.total == 21_797_672)
        #expect(ResNet(.resnet50).parameterCount.total == 25_557_032)
        #expect(ResNet(.resnet50, includeTop: false).parameterCount.total == 25_557_032 - 2048 * 1000 - 1000)
    }

    @Test func torchvisionArchitectureDetails() throws {
        let r50 = ResNet(.resnet50)
        let b = try #require(r50.module(at: "layer2.0") as? Bottleneck)
        let conv1 = try #require(b.conv1 as? Conv2d), conv2 = try #require(b.conv2 as? Conv2d)
        // v1.5: the stride sits on the 3×3 convolution.
        let strides: [Int] = [conv1.stride.0, conv1.stride.1, conv2.stride.0, conv2.stride.1]
        #expect(strides == [1, 1, 2, 2])
        #expect(r50.namedModules().compactMap { $0.1 as? BatchNorm2d }.allSatisfy { $0.eps == 1e-5 && $0.momentum == 0.1 })
        #expect(r50.namedModules().compactMap { $0.1 as? Conv2d }.allSatisfy { $0.bias == nil })
        let stem = try #require(r50.conv1 as? Conv2d)
        #expect(stem.padding == .symmetric(3, 3))
        let stemStride: [Int] = [stem.stride.0, stem.stride.1]
        #expect(stemStride == [2, 2])
        #expect(r50.featureDimension == 2048 && ResNet(.resnet34).featureDimension == 512)
    }

    @Test func formulaInputMatchesTheFixtureScript() throws {
        let f = try visionFixture("resnet")
        let expected = try #require(Double(f.metadata["input_sum"] ?? ""))
        let sum = formulaInput([2, 3, 64, 64]).toArray().reduce(0.0) { $0 + Double($1) }
        #expect(Swift.abs(sum - expected) < 1e-6 * Swift.max(1, Swift.abs(expected)))
    }

    @Test(arguments: [ResNet.Depth.resnet18, .resnet50])
    func evalLogitsAndFeaturesMatchTorchvisionWithTheSameWeights(depth: ResNet.Depth) throws {
        let f = try visionFixture("resnet")
        let model = try formulaResNet(depth)
        model.eval()
        let x = formulaInput([2, 3, 64, 64])
        let (logits, features) = withNoGrad { (model(x), model.features(x)) }
        let name = "resnet\(depth.rawValue)"
        let dl = maxAbsDiff(logits, try f.tensor(name + "_logits"))
        let df = maxAbsDiff(features, try f.tensor(name + "_features"))
        #expect(dl <= 1e-3, "\(depth): max |logit diff| \(dl)")
        #expect(df <= 1e-3, "\(depth): max |feature diff| \(df)")
        print("\(depth) formula weights: max |logit diff| \(dl), max |feature diff| \(df)")
    }

    @Test func trainModeForwardUsesBatchStatisticsAndUpdatesRunningStatsLikeTorchvision() throws {
        let f = try visionFixture("resnet")
        let model = try formulaResNet(.resnet18)
        model.train()
        let logits = withNoGrad { model(formulaInput([2, 3, 64, 64])) }
        let d = maxAbsDiff(logits, try f.tensor("resnet18_train_logits"))
        #expect(d <= 1e-3, "max |logit diff| \(d)")
        print("ResNet-18 train mode: max |logit diff| \(d)")
        let bn1 = try #require(model.bn1 as? BatchNorm2d)
        #expect(maxAbsDiff(bn1.runningMean, try f.tensor("resnet18_train_bn1_running_mean")) <= 1e-5)
        #expect(maxAbsDiff(bn1.runningVar, try f.tensor("resnet18_train_bn1_running_var")) <= 1e-4)
    }

    @Test func featureMapsEndTheStemAndEveryLayerWithTheirStrides() {
        Initializer.seed(12)
        for depth in [ResNet.Depth.resnet18, .resnet50] {
            let m = ResNet(depth)
            m.eval()
            let x = formulaInput([1, 3, 64, 96])
            let (logits, maps) = withNoGrad { m.outputAndFeatureMaps(x) }
            let e = depth.expansion
            #expect(maps.map(\.name) == ["stem", "layer1", "layer2", "layer3", "layer4"])
            #expect(maps.map(\.stride) == [2, 4, 8, 16, 32])
            #expect(maps.map(\.channels) == [64, 64 * e, 128 * e, 256 * e, 512 * e])
            for map in maps { #expect(map.tensor.shape == [1, map.channels, 64 / map.stride, 96 / map.stride]) }
            #expect(maxAbsDiff(logits, withNoGrad { m(x) }) == 0)
            #expect(maxAbsDiff(withNoGrad { m.features(x) }, Tensor.globalAvgPool2d(maps[4].tensor)) == 0)
        }
    }

    @Test func blockGroupsAndFreezingAllButTheTopGroups() throws {
        let m = ResNet(.resnet18, numClasses: 7)
        #expect(m.blockGroups.map(\.name) == ["stem", "layer1", "layer2", "layer3", "layer4", "classifier"])
        for (key, _) in m.stateDict() { #expect(m.blockGroups.filter { $0.contains(key) }.count == 1, "\(key)") }
        m.freeze(allButTop: 2)
        #expect(Set(m.trainableParameters().map { $0.0.split(separator: ".")[0] }) == ["layer4", "fc"])
        m.freeze(allButTop: 0)
        #expect(m.parameterCount.trainable == 0)
        // Pretrained backbone, new classifier.
        let source = try formulaResNet(.resnet18)
        let state = Dictionary(uniqueKeysWithValues: source.stateDict().map { ($0.key, $0.tensor) })
        let report = try m.loadBackbone(state)
        #expect(report.unexpected == ["fc.bias", "fc.weight"])
        m.eval(); source.eval()
        let x = formulaInput([1, 3, 32, 32])
        #expect(maxAbsDiff(withNoGrad { m.features(x) }, withNoGrad { source.features(x) }) == 0)
    }

    @Test func wrongInputChannelsStopWithAMessageNamingTheModelAndShape() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let m = ResNet(.resnet50)
            _ = withNoGrad { m(Tensor.zeros([2, 1, 64, 64])) }
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("ResNet-50: input [2, 1, 64, 64] must be a batch of RGB images [N, 3, H, W]"))
    }
}
