import Checkpoints
import Datasets
import Foundation
import Testing

/// Segmentation through the real `transfer` executable: a composite set with exact masks (real Fashion-MNIST
/// garments on the two real photos of Tests/ModelsTests/Fixtures), train --task segment on the real
/// EfficientNet-Lite0 encoder, evaluate --masks --json, predict --output.
@Suite(.serialized) struct SegmentCommandTests {
    static let realCache = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
    static var assets: Bool {
        FileManager.default.fileExists(atPath: realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth")
            && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    }

    static func writePhotos(into folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/efficientnet_lite0.safetensors")
        let v = try SafeTensorsFile(path: url.path).tensor("photos").toArray()
        let n = 224 * 224 * 3
        for i in 0..<2 {
            try PNGEncoder.write(RGBImage(width: 224, height: 224, pixels: v[(i * n)..<((i + 1) * n)].map { UInt8($0) }), to: folder + "/photo\(i).png")
        }
    }

    @Test(.enabled(if: assets)) func trainEvaluatePredictSegmentation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-seg-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = dir + "/cache"
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: cache + "/efficientnet-lite0", withDestinationPath: Self.realCache + "/efficientnet-lite0")
        let env = ["TRANSFERKIT_CACHE": cache, "TRANSFERKIT_THREADS": "1"]
        try Self.writePhotos(into: dir + "/photos")
        let set = try runTransfer(["segmentation-set", "--backgrounds", dir + "/photos", "--split", "test", "--count", "12", "--size", "64",
                                   "--out", dir + "/set", "--json"], environment: env)
        #expect(set.status == 0, "\(set.stderr)")

        let missing = try runTransfer(["train", "--model", "efficientnet-lite0", "--task", "segment", "--data", dir + "/set/images",
                                       "--out", dir + "/x"], environment: env)
        #expect(missing.status != 0 && missing.stderr.contains("--masks"), "\(missing.stderr)")
        let badSize = try runTransfer(["train", "--model", "efficientnet-lite0", "--task", "segment", "--data", dir + "/set/images",
                                       "--masks", dir + "/set/masks", "--input-size", "70", "--out", dir + "/x"], environment: env)
        #expect(badSize.status != 0 && badSize.stderr.contains("multiple of 32"), "\(badSize.stderr)")

        let bundle = dir + "/seg.transferkit"
        let train = try runTransfer(["train", "--model", "efficientnet-lite0", "--task", "segment", "--data", dir + "/set/images",
                                     "--masks", dir + "/set/masks", "--classes", "11", "--decoder", "fpn", "--epochs", "2",
                                     "--input-size", "64", "--batch-size", "6", "--out", bundle, "--json"], environment: env)
        #expect(train.status == 0, "\(train.stderr)")
        let t = try JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as? [String: Any] ?? [:]
        #expect((t["losses"] as? [Double])?.count == 2 && t["decoder"] as? String == "fpn")

        let eval = try runTransfer(["evaluate", "--model", bundle, "--data", dir + "/set/images", "--masks", dir + "/set/masks", "--json"],
                                   environment: env)
        #expect(eval.status == 0, "\(eval.stderr)")
        let e = try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any] ?? [:]
        let miou = e["mean_iou"] as? Double ?? -1
        #expect(miou > 0 && miou <= 1)
        #expect((e["per_class_iou"] as? [Any])?.count == 11)

        let predict = try runTransfer(["predict", "--model", bundle, "--output", dir + "/pred", dir + "/photos/photo0.png", "--json"],
                                      environment: env)
        #expect(predict.status == 0, "\(predict.stderr)")
        let mask = try LabelMask.read(contentsOf: dir + "/pred/photo0.mask.png")
        #expect(mask.width == 224 && mask.height == 224 && mask.labels.allSatisfy { $0 < 11 })
        #expect(FileManager.default.fileExists(atPath: dir + "/pred/photo0.overlay.png"))
    }
}
