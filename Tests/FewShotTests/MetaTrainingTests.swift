import Datasets
import Foundation
import Layers
import Models
import Testing
import Tensors
import TransferKit
@testable import FewShot

let lite0Weights = cacheRoot.appendingPathComponent("efficientnet-lite0/efficientnet-lite0-57934424.pth").path
let imageAssets = FileManager.default.fileExists(atPath: lite0Weights)
    && FileManager.default.fileExists(atPath: FashionMNIST.systemDirectory + "/train-labels-idx1-ubyte.gz")

/// Real EfficientNet-Lite0 weights (no classifier) and real Fashion-MNIST images at 32×32, for episodic meta-training.
@Suite(.serialized) struct MetaTrainingTests {
    static func lite0() throws -> any VisionBackbone {
        try Pretrained.loadVision(try ModelRegistry.spec(named: "efficientnet-lite0"), weights: lite0Weights, includeTop: false)
    }

    static func images(perClass: Int) throws -> InMemoryImages {
        let spec = try ModelRegistry.spec(named: "efficientnet-lite0")
        return try InMemoryImages.fashionMNIST(.train, classes: [0, 1, 2, 3], perClass: perClass, size: 32,
                                               normalization: spec.preprocessing!.pixelNormalization, seed: 1)
    }

    /// The running statistics of the BatchNorm layers in the top `groups` block groups (the ones that train).
    static func trainedRunningStatistics(_ net: any VisionBackbone, groups: Int) -> [Float] {
        let trained = net.blockGroups.suffix(groups)
        return net.namedModules().flatMap { path, m -> [Float] in
            guard let bn = m as? BatchNorm2d, trained.contains(where: { $0.contains(path + ".weight") }) else { return [] }
            return bn.runningMean.toArray() + bn.runningVar.toArray()
        }
    }

    static func weights(_ net: any VisionBackbone) -> [Float] { net.namedParameters().flatMap { $0.1.toArray() } }

    @Test(.enabled(if: imageAssets, "needs efficientnet-lite0 weights and Fashion-MNIST (transfer fetch efficientnet-lite0; scripts/setup)"))
    func episodicTrainingKeepsPretrainedBatchNormStatisticsUnlessAskedForBatchStatistics() throws {
        let data = try Self.images(perClass: 6)
        var o = EpisodicTrainingOptions()
        o.episodes = 3; o.ways = 2; o.shots = 2; o.queries = 2; o.unfreeze = 2; o.learningRate = 1e-3
        let net = try Self.lite0()
        let stats0 = Self.trainedRunningStatistics(net, groups: 2), w0 = Self.weights(net)
        #expect(!stats0.isEmpty)
        _ = try EpisodicTraining.train(net, images: data, options: o)
        #expect(Self.trainedRunningStatistics(net, groups: 2) == stats0, "running statistics must stay the pretrained ones")
        #expect(Self.weights(net) != w0, "the top groups must have trained")
        #expect(net.batchNormLayers.allSatisfy { !$0.keepsRunningStatistics }, "the BatchNorm setting is restored afterwards")

        o.batchNormUsesRunningStatistics = false
        let drifting = try Self.lite0()
        _ = try EpisodicTraining.train(drifting, images: data, options: o)
        let stats1 = Self.trainedRunningStatistics(drifting, groups: 2)
        let moved = zip(stats0, stats1).map { abs($0 - $1) }.max() ?? 0
        #expect(moved > 1e-3, "batch statistics update the running ones (max change \(moved))")
    }

    @Test(.enabled(if: imageAssets, "needs efficientnet-lite0 weights and Fashion-MNIST (transfer fetch efficientnet-lite0; scripts/setup)"))
    func reptileMovesTheWeightsByTheMetaStepTimesTheInnerLoopsDisplacement() throws {
        let data = try Self.images(perClass: 4)
        var o = ReptileOptions()
        o.metaIterations = 1; o.ways = 2; o.examplesPerClass = 3; o.innerSteps = 2; o.unfreeze = 1; o.innerLearningRate = 1e-3
        func displacement(_ eps: Float) throws -> [Float] {
            o.metaStepSize = eps; o.metaStepSizeFinal = eps
            let net = try Self.lite0()
            let w0 = Self.weights(net)
            let losses = try Reptile.train(net, images: data, options: o)
            #expect(losses.count == 1 && losses[0].isFinite && losses[0] < log(2.0) + 1e-6, "inner steps lower the loss below ln 2 (\(losses))")
            return zip(Self.weights(net), w0).map { $0 - $1 }
        }
        let full = try displacement(1), half = try displacement(0.5), none = try displacement(0)
        let scale = full.map(abs).max() ?? 0
        #expect(scale > 1e-5, "the inner loop moved the weights (\(scale))")
        #expect(none.allSatisfy { $0 == 0 }, "ε = 0 restores the remembered weights exactly")
        let err = zip(half, full).map { abs($0 - 0.5 * $1) }.max() ?? .infinity
        #expect(err <= 1e-3 * scale, "θ + ε(φ − θ): half the step moves half as far (error \(err), step \(scale))")
        #expect(ReptileOptions().metaStep(0, of: 10) == 1 && ReptileOptions().metaStep(5, of: 10) == 0.5, "linear annealing of ε")
    }
}
