import Checkpoints
import Datasets
import Foundation
import HeadFitting
import Models
import Testing
import TransferKit

/// `transfer train` is the library's ``TrainingRun`` plus printing: both write bundles with identical weights and the
/// same recorded configuration for one seed (a fine-tune with mixup, so the objective path is the same too), given the
/// head solvers and calibrator the CLI plugs in.
@Suite(.serialized) struct LibraryParityTests {
    @Test(.enabled(if: TrainCommandTests.weightsCached)) func cliAndLibraryWriteBundlesWithIdenticalWeights() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-parity-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        let realCache = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
        try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent("efficientnet-lite0").path,
                                                   withDestinationPath: realCache + "/efficientnet-lite0")
        let env = ["TRANSFERKIT_CACHE": cache.path]
        let train = dir.appendingPathComponent("train").path
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "train", "--per-class", "4", "--out", train, "--seed", "3"], environment: env).status == 0)

        let cliBundle = dir.appendingPathComponent("cli.transferkit")
        let r = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", train, "--head-epochs", "3", "--epochs", "1",
                                 "--head-lr", "0.01", "--mixup", "0.2", "--seed", "7", "--out", cliBundle.path, "--json"], environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")

        let spec = try ModelRegistry.spec(named: "efficientnet-lite0")
        let backbone = try FeatureBackbone(spec: spec, weightsPath: realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth")
        var o = TrainOptions()
        o.strategy = .fineTune
        o.unfreeze = backbone.defaultUnfreeze
        o.learningRate = backbone.defaultFineTuneLearningRate
        o.headEpochs = 3
        o.fineTuneEpochs = 1
        o.headLearningRate = 0.01
        o.mixing = .mixup(alpha: 0.2)
        o.seed = 7
        o.progress = false
        o.featureCacheRoot = dir.appendingPathComponent("library-features")
        let libBundle = dir.appendingPathComponent("lib.transferkit")
        o.checkpointDirectory = libBundle.appendingPathComponent(".checkpoints")
        var run = TrainingRun(backbone: backbone, options: o, dataName: train)
        // What the CLI plugs in: the HeadFitting solvers and temperature scaling on the validation split.
        let heldOut = HeldOutLogits()
        run.headSolver = RegularisedHeads(heldOut: heldOut)
        run.calibrator = TemperatureCalibrator(heldOut: heldOut)
        let outcome = try run.run(try LabeledData.load(train), test: nil, bundle: libBundle)
        #expect(outcome.result.history.count == 4)

        let a = try SafeTensorsFile(path: cliBundle.appendingPathComponent("weights.safetensors").path).tensors()
        let b = try SafeTensorsFile(path: libBundle.appendingPathComponent("weights.safetensors").path).tensors()
        #expect(Set(a.keys) == Set(b.keys) && a.keys.contains { $0.hasPrefix("backbone.") })
        let different = a.keys.filter { a[$0]!.toArray() != b[$0]?.toArray() }.sorted()
        #expect(different.isEmpty, "tensors that differ: \(different.prefix(5))")
        let ma = try ModelBundle.manifest(at: cliBundle), mb = try ModelBundle.manifest(at: libBundle)
        #expect(ma.training == mb.training && ma.training["mixing"] == "MixUp(alpha=0.2)")
        #expect(ma.metrics == mb.metrics && ma.labels == mb.labels)
        #expect(!FileManager.default.fileExists(atPath: cliBundle.appendingPathComponent(".checkpoints").path))
    }
}
