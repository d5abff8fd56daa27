import Foundation
import Testing

/// Real `mpirun -np 2 transfer adapt` and `transfer distill` jobs on a small Fashion-MNIST sample with the real
/// EfficientNet-Lite0 weights: data-parallel training gives the weights and accuracy of one process with the same
/// global batch.
@Suite(.serialized) struct MPIAdaptDistillTests {
    static var runnable: Bool { MPITrainTests.runnable }

    @Test(.enabled(if: runnable)) func dataParallelAdaptationMatchesOneProcess() throws {
        let s = try Scratch()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        try s.export(split: "train", perClass: 8, to: "source")
        try s.export(split: "test", perClass: 5, to: "target")
        // 72 source rows for training (batches 16, 16, 16, 16, 8) and 50 target rows (16, 16, 16, 2): every step
        // splits both evenly over 2 ranks, as DANN's domain loss needs for exact equality. No dropout: each rank would
        // draw its own masks.
        func args(_ out: String) -> [String] {
            ["adapt", "--model", "efficientnet-lite0", "--input-size", "32", "--data", s.path("source"), "--target-data", s.path("target"),
             "--target-test", s.path("target"), "--method", "dann", "--epochs", "3", "--batch-size", "16", "--hidden", "32", "--dropout", "0",
             "--val-split", "0.1", "--out", s.path(out), "--json"]
        }
        let one = try s.transfer(args("one.transferkit")).wait()
        #expect(one.status == 0, "one process: \(one.stderr)")
        let two = try s.mpirun(2, args("two.transferkit")).wait()
        #expect(two.status == 0, "mpirun: \(two.stderr)")
        let diff = try MPITrainTests().maxDifference(s.path("one.transferkit"), s.path("two.transferkit"))
        #expect(diff < 1e-4, "max |Δw| = \(diff)")
        let j1 = try one.json(), j2 = try two.json()
        func accuracy(_ j: [String: Any]) -> Double? { (j["adapted"] as? [String: Any])?["accuracy"] as? Double }
        #expect(accuracy(j1) != nil && accuracy(j1) == accuracy(j2))
        #expect((j1["validator"] as? [String: Any])?["chosen_epoch"] as? Int == (j2["validator"] as? [String: Any])?["chosen_epoch"] as? Int)
    }

    @Test(.enabled(if: runnable)) func dataParallelDistillationMatchesOneProcess() throws {
        let s = try Scratch()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        try s.export(split: "train", perClass: 8, to: "train")
        let teacher = try s.transfer(["train", "--model", "efficientnet-lite0", "--data", s.path("train"), "--strategy", "features",
                                      "--input-size", "32", "--val-split", "0.2", "--no-calibrate", "--out", s.path("teacher.transferkit"), "--json"]).wait()
        #expect(teacher.status == 0, "teacher: \(teacher.stderr)")
        // 64 labelled training rows, global batch 16: 4 steps per epoch of 8 rows per rank. One group unfrozen: the
        // lower blocks' drop-connect draws per rank.
        func args(_ out: String) -> [String] {
            ["distill", "--teacher", s.path("teacher.transferkit"), "--student", "efficientnet-lite0", "--data", s.path("train"),
             "--input-size", "32", "--head-epochs", "1", "--head-lr", "0.01", "--epochs", "1", "--lr", "0.002", "--batch-size", "16", "--unfreeze", "1",
             "--val-split", "0.2", "--out", s.path(out), "--json"]
        }
        let one = try s.transfer(args("one.transferkit")).wait()
        #expect(one.status == 0, "one process: \(one.stderr)")
        let two = try s.mpirun(2, args("two.transferkit")).wait()
        #expect(two.status == 0, "mpirun: \(two.stderr)")
        let diff = try MPITrainTests().maxDifference(s.path("one.transferkit"), s.path("two.transferkit"))
        #expect(diff < 1e-3, "max |Δw| = \(diff)")
        let refused = try s.mpirun(2, args("hint.transferkit") + ["--hint", "1"]).wait()
        #expect(refused.status != 0 && refused.stderr.contains("--hint does not run under mpirun"))
    }
}
