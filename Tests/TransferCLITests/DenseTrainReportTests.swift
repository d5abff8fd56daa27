import Foundation
import Testing

/// `transfer train --task detect|segment --report DIR` through the real executable: the dense report of the run's
/// held-out data (its --test images, or its --val-split) with the headline scores, the drawn worst images and the
/// training-loss curve; `--report` without held-out data is refused naming the options.
@Suite(.serialized) struct DenseTrainReportTests {
    static let realCache = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
    static var lite0: Bool { FileManager.default.fileExists(atPath: realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth") }
    static var detectAssets: Bool { lite0 && FileManager.default.fileExists(atPath: realCache + "/datasets/deepforest/.transferkit-verified") }
    static var segmentAssets: Bool { lite0 && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") }

    /// A scratch folder with a cache holding only the real EfficientNet-Lite0 weights, and the environment to use it.
    static func scratch(_ tag: String) throws -> (dir: String, env: [String: String]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-\(tag)-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir + "/cache", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/cache/efficientnet-lite0", withDestinationPath: realCache + "/efficientnet-lite0")
        return (dir, ["TRANSFERKIT_CACHE": dir + "/cache", "TRANSFERKIT_THREADS": "1"])
    }

    static func json(_ s: String) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any] ?? [:] }

    /// What every train --report page must show: its headline names with 4-decimal values, the loss chart with one
    /// point per epoch, and drawn images (prediction and ground truth as embedded PNGs).
    static func checkPage(_ path: String, headline: [String], epochs: Int) throws {
        let html = try String(contentsOfFile: path, encoding: .utf8)
        for name in headline { #expect(html.contains("<div class=\"k\">\(name)</div><div class=\"v\">0.") || html.contains("<div class=\"k\">\(name)</div><div class=\"v\">1.0000"), "\(name)") }
        #expect(html.contains("Training loss per epoch") && html.contains("<polyline"))
        #expect(html.components(separatedBy: "<circle").count - 1 == epochs)
        #expect(html.contains("Worst images") && html.components(separatedBy: "data:image/png;base64,").count - 1 >= 2)
        #expect(!html.contains("<script"))
    }

    @Test(.enabled(if: detectAssets)) func trainDetectWritesTheHeldOutReport() throws {
        let (dir, env) = try Self.scratch("det-report")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let df = Self.realCache + "/datasets/deepforest"
        let base = ["train", "--model", "efficientnet-lite0", "--task", "detect", "--data", df + "/SOAP_061", "--boxes", df + "/SOAP_061",
                    "--merge-classes", "Tree", "--tile", "64", "--overlap", "16", "--epochs", "2", "--crops-per-epoch", "4", "--batch-size", "4",
                    "--out", dir + "/det.transferkit"]
        let noHeldOut = try runTransfer(base + ["--report", dir + "/r"], environment: env)
        #expect(noHeldOut.status != 0 && noHeldOut.stderr.contains("--report") && noHeldOut.stderr.contains("--val-split")
                && noHeldOut.stderr.contains("--test-boxes"), "\(noHeldOut.stderr)")
        let noTruth = try runTransfer(base + ["--test", df + "/OSBS_029", "--report", dir + "/r"], environment: env)
        #expect(noTruth.status != 0 && noTruth.stderr.contains("--test-boxes"), "\(noTruth.stderr)")

        let train = try runTransfer(base + ["--test", df + "/OSBS_029", "--test-boxes", df + "/OSBS_029", "--color-jitter", "0.3",
                                            "--scale-jitter", "0.3", "--report", dir + "/report", "--json"], environment: env)
        #expect(train.status == 0, "\(train.stderr)")
        let t = Self.json(train.stdout)
        let held = t["held_out"] as? [String: Any] ?? [:]
        #expect(held["images"] as? Int == 1 && ((held["map50"] as? Double).map { $0 >= 0 && $0 <= 1 } ?? false), "\(train.stdout)")
        #expect(((held["per_image"] as? [String: Any])?["OSBS_029.png"] as? [String: Any])?["boxes"] as? Int == 61)
        #expect((t["augmentation"] as? [String: Any])?["scale_jitter"] as? Double == 0.3)
        #expect(t["report"] as? String == dir + "/report/report.html")
        try Self.checkPage(dir + "/report/report.html", headline: ["mAP@0.5", "recall@0.5", "mAP@[.5:.95]"], epochs: 2)
        let html = try String(contentsOfFile: dir + "/report/report.html", encoding: .utf8)
        #expect(html.contains("OSBS_029.png") && html.contains("test " + df + "/OSBS_029"))
    }

    @Test(.enabled(if: segmentAssets)) func trainSegmentWritesTheValidationReport() throws {
        let (dir, env) = try Self.scratch("seg-report")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SegmentCommandTests.writePhotos(into: dir + "/photos")
        let set = try runTransfer(["segmentation-set", "--backgrounds", dir + "/photos", "--split", "test", "--count", "12", "--size", "64",
                                   "--binary", "--out", dir + "/set", "--json"], environment: env)
        #expect(set.status == 0, "\(set.stderr)")
        let base = ["train", "--model", "efficientnet-lite0", "--task", "segment", "--data", dir + "/set/images", "--masks", dir + "/set/masks",
                    "--strategy", "features", "--epochs", "3", "--input-size", "64", "--batch-size", "6", "--out", dir + "/seg.transferkit"]
        let noHeldOut = try runTransfer(base + ["--report", dir + "/r"], environment: env)
        #expect(noHeldOut.status != 0 && noHeldOut.stderr.contains("--val-split") && noHeldOut.stderr.contains("--test-masks"), "\(noHeldOut.stderr)")

        let train = try runTransfer(base + ["--val-split", "0.25", "--report", dir + "/report", "--json"], environment: env)
        #expect(train.status == 0, "\(train.stderr)")
        let t = Self.json(train.stdout)
        let held = t["held_out"] as? [String: Any] ?? [:]
        #expect(t["images"] as? Int == 9 && held["images"] as? Int == 3, "\(train.stdout)")
        #expect((held["mean_iou"] as? Double).map { $0 > 0 && $0 <= 1 } ?? false)
        try Self.checkPage(dir + "/report/report.html", headline: ["mean IoU", "mean Dice", "pixel accuracy"], epochs: 3)
        let html = try String(contentsOfFile: dir + "/report/report.html", encoding: .utf8)
        #expect(html.contains("validation split 0.25"))
        // The three held-out images are drawn (prediction and truth each), none of the nine training images.
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 6)
    }
}
