import Checkpoints
import Foundation
import Testing

/// Real `mpirun -np 2 transfer train` jobs on a small Fashion-MNIST sample with the real EfficientNet-Lite0 weights:
/// data-parallel fine-tuning gives one process's weights, resumes after a kill, and sharded feature extraction fills
/// the one shared cache for a head trained once.
@Suite(.serialized) struct MPITrainTests {
    static var runnable: Bool { realAssetsPresent && mpirunPath != nil && transferExecutable() != nil }

    /// The largest absolute difference between two bundles' weights (every key present in both).
    func maxDifference(_ a: String, _ b: String) throws -> Float {
        let ta = try SafeTensorsFile(path: a + "/weights.safetensors").tensors()
        let tb = try SafeTensorsFile(path: b + "/weights.safetensors").tensors()
        #expect(Set(ta.keys) == Set(tb.keys))
        var worst: Float = 0
        for (k, t) in ta {
            guard let u = tb[k] else { continue }
            for (x, y) in zip(t.toArray(), u.toArray()) { worst = max(worst, abs(x - y)) }
        }
        return worst
    }

    func accuracy(_ j: [String: Any]) -> Double? { (j["test"] as? [String: Any])?["accuracy"] as? Double }

    func fineTune(_ s: Scratch, out: String) -> [String] {
        ["train", "--model", "efficientnet-lite0", "--data", s.path("train"), "--test", s.path("test"), "--strategy", "fine-tune",
         "--input-size", "32", "--epochs", "2", "--head-epochs", "1", "--head-lr", "0.01", "--lr", "0.002", "--batch-size", "16",
         "--augment", "none", "--unfreeze", "1", "--val-split", "0.2", "--no-calibrate", "--batchnorm-batch-statistics",
         "--out", s.path(out), "--json"]
    }

    @Test(.enabled(if: runnable)) func dataParallelFineTuneMatchesOneProcessAndResumesAfterAKill() throws {
        let s = try Scratch()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        try s.export(split: "train", perClass: 8, to: "train")
        try s.export(split: "test", perClass: 5, to: "test")

        let one = try s.transfer(fineTune(s, out: "one.transferkit")).wait()
        #expect(one.status == 0, "one process: \(one.stderr)")
        let two = try s.mpirun(2, fineTune(s, out: "two.transferkit")).wait()
        #expect(two.status == 0, "mpirun: \(two.stderr)")
        let j1 = try one.json(), j2 = try two.json()
        let dist = j2["distributed"] as? [String: Any]
        #expect(dist?["ranks"] as? Int == 2)
        #expect((dist?["steps"] as? Int ?? 0) >= 12)  // 4 steps of the head epoch + 4 × 2 fine-tuning epochs
        #expect(j1["distributed"] == nil)
        // BatchNorm trains with batch statistics: those of the global batch (SyncBatchNorm), reduced in every step.
        #expect((dist?["batch_statistics_reductions"] as? Int ?? 0) > 0)
        // Same weights as one process with the same global batch (two partial sums instead of one: float rounding).
        let diff = try maxDifference(s.path("one.transferkit"), s.path("two.transferkit"))
        #expect(diff < 1e-3, "max |Δw| = \(diff)")
        #expect(accuracy(j1) != nil && accuracy(j1) == accuracy(j2))
        #expect(!FileManager.default.fileExists(atPath: s.path("two.transferkit/.checkpoints")))

        // Killed after the first fine-tuning epoch's checkpoint, then resumed: the weights of the uninterrupted job.
        let killed = try s.mpirun(2, fineTune(s, out: "resumed.transferkit"))
        let checkpoint = s.path("resumed.transferkit/.checkpoints/fine-tune.safetensors")
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: checkpoint) && killed.process.isRunning && Date() < deadline { usleep(20_000) }
        let ranksKilled = killed.process.isRunning ? killed.killChildren() : 0
        _ = killed.wait()
        #expect(ranksKilled == 2, "the job ended before it could be interrupted")
        #expect(!FileManager.default.fileExists(atPath: s.path("resumed.transferkit/manifest.json")))
        let resumed = try s.mpirun(2, fineTune(s, out: "resumed.transferkit") + ["--resume"]).wait()
        #expect(resumed.status == 0, "resume: \(resumed.stderr)")
        let resumedDiff = try maxDifference(s.path("two.transferkit"), s.path("resumed.transferkit"))
        #expect(resumedDiff < 1e-5, "max |Δw| after resume = \(resumedDiff)")
        #expect(accuracy(try resumed.json()) == accuracy(j2))
    }

    @Test(.enabled(if: runnable)) func shardedFeatureExtractionFillsTheSharedCacheAndTrainsTheHeadOnce() throws {
        let s = try Scratch()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        try s.export(split: "train", perClass: 6, to: "train")
        try s.export(split: "test", perClass: 4, to: "test")
        func args(_ out: String) -> [String] {
            ["train", "--model", "efficientnet-lite0", "--data", s.path("train"), "--test", s.path("test"), "--strategy", "features",
             "--input-size", "64", "--val-split", "0.2", "--no-calibrate", "--out", s.path(out), "--json"]
        }
        let two = try s.mpirun(2, args("two.transferkit")).wait()
        #expect(two.status == 0, "mpirun: \(two.stderr)")
        let j2 = try two.json()
        let dist = j2["distributed"] as? [String: Any]
        // 60 training + 40 test images: rank 0 computed its half; rank 1 the other (all cached afterwards).
        #expect(dist?["feature_share"] as? Int == 50)
        #expect(dist?["features_computed"] as? Int == 50)
        #expect(j2["backbone_forwards"] as? Int == 0)
        // One process afterwards finds every feature cached (both ranks' shares) and trains the same head.
        let one = try s.transfer(args("one.transferkit")).wait()
        #expect(one.status == 0, "one process: \(one.stderr)")
        let j1 = try one.json()
        #expect(j1["backbone_forwards"] as? Int == 0)
        #expect(accuracy(j1) != nil && accuracy(j1) == accuracy(j2))
        #expect(try maxDifference(s.path("one.transferkit"), s.path("two.transferkit")) < 1e-6)
    }
}
