import Foundation
import Testing

/// Detection through the real `transfer` executable on DeepForest's real aerial photographs: train --task detect on
/// SOAP_061's tiles, evaluate on OSBS_029, predict writes boxes JSON and a drawing.
@Suite(.serialized) struct DetectCommandTests {
    static let realCache = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
    static var assets: Bool {
        FileManager.default.fileExists(atPath: realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth")
            && FileManager.default.fileExists(atPath: realCache + "/datasets/deepforest/.transferkit-verified")
    }

    @Test(.enabled(if: assets)) func trainEvaluatePredictDetection() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-det-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = dir + "/cache"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: cache + "/efficientnet-lite0", withDestinationPath: Self.realCache + "/efficientnet-lite0")
        let env = ["TRANSFERKIT_CACHE": cache, "TRANSFERKIT_THREADS": "1"]
        let df = Self.realCache + "/datasets/deepforest"
        let bundle = dir + "/det.transferkit"
        let noBoxes = try runTransfer(["train", "--model", "efficientnet-lite0", "--task", "detect", "--data", df + "/SOAP_061", "--out", bundle], environment: env)
        #expect(noBoxes.status != 0 && noBoxes.stderr.contains("--boxes"), "\(noBoxes.stderr)")
        let badTile = try runTransfer(["train", "--model", "efficientnet-lite0", "--task", "detect", "--data", df + "/SOAP_061",
                                       "--boxes", df + "/SOAP_061", "--tile", "100", "--out", bundle], environment: env)
        #expect(badTile.status != 0 && badTile.stderr.contains("--tile"), "\(badTile.stderr)")
        let stray = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", df, "--tile", "128", "--out", bundle], environment: env)
        #expect(stray.status != 0 && stray.stderr.contains("--tile applies to --task detect"), "\(stray.stderr)")

        let train = try runTransfer(["train", "--model", "efficientnet-lite0", "--task", "detect", "--data", df + "/SOAP_061",
                                     "--boxes", df + "/SOAP_061/SOAP_061.xml", "--merge-classes", "Tree", "--tile", "64", "--overlap", "16", "--epochs", "2", "--crops-per-epoch", "4", "--batch-size", "4",
                                     "--out", bundle, "--json"], environment: env)
        #expect(train.status == 0, "\(train.stderr)")
        let t = try JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(t["boxes"] as? Int == 37 && (t["losses"] as? [Double])?.count == 2)

        let eval = try runTransfer(["evaluate", "--model", bundle, "--data", df + "/OSBS_029", "--boxes", df + "/OSBS_029", "--json"], environment: env)
        #expect(eval.status == 0, "\(eval.stderr)")
        let e = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any] ?? [:]
        let map50 = e["map50"] as? Double ?? -1
        #expect(map50 >= 0 && map50 <= 1)
        #expect(((e["per_image"] as? [String: Any])?["OSBS_029.png"] as? [String: Any])?["boxes"] as? Int == 61)

        let predict = try runTransfer(["predict", "--model", bundle, "--output", dir + "/pred", df + "/OSBS_029/OSBS_029.png", "--json"], environment: env)
        #expect(predict.status == 0, "\(predict.stderr)")
        let boxes = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/pred/OSBS_029.boxes.json"))) as? [String: Any] ?? [:]
        #expect(boxes["width"] as? Int == 400 && boxes["boxes"] is [[String: Any]])
        #expect(FileManager.default.fileExists(atPath: dir + "/pred/OSBS_029.boxes.png"))
    }
}
