import Datasets
import Foundation
import Testing

/// Multi-task training and prediction through the real `transfer` executable on real Fashion-MNIST images and the
/// real EfficientNet-Lite0 weights: class + garment group + brightness (mean pixel) from one CSV in which half the
/// rows lack the group label.
@Suite(.serialized) struct MultiTaskCommandTests {
    static let realCache = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path

    static var imageAssets: Bool {
        FileManager.default.fileExists(atPath: realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth")
            && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    }

    static let groups = ["T-shirt_top": "tops", "Pullover": "tops", "Coat": "tops", "Shirt": "tops", "Dress": "dresses",
                         "Trouser": "bottoms", "Sandal": "shoes", "Sneaker": "shoes", "Ankle_boot": "shoes", "Bag": "bags"]

    /// `path,class,group,brightness` for an exported image folder; `dropGroup` empties the group of every other row.
    static func writeCSV(folder: String, to file: String, dropGroup: Bool) throws {
        var lines = ["path,class,group,brightness"]
        var i = 0
        for c in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() {
            for f in try FileManager.default.contentsOfDirectory(atPath: folder + "/" + c).sorted() {
                let image = try ImageDecoder.decode(contentsOf: folder + "/\(c)/\(f)")
                let mean = Double(image.pixels.reduce(0) { $0 + Int($1) }) / Double(image.pixels.count) / 255
                let group = dropGroup && i % 2 == 1 ? "" : (groups[c] ?? c.lowercased())
                lines.append("\(folder)/\(c)/\(f),\(c),\(group),\(String(format: "%.5f", mean))")
                i += 1
            }
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
    }

    @Test(.enabled(if: imageAssets)) func multiTaskTrainsWithMissingLabelsAndPredictsEveryTask() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-mt-\(UUID())")
        let cache = dir.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent("efficientnet-lite0").path,
                                                   withDestinationPath: Self.realCache + "/efficientnet-lite0")
        let env = ["TRANSFERKIT_CACHE": cache.path, "TRANSFERKIT_THREADS": "1"]
        let train = dir.appendingPathComponent("train").path, test = dir.appendingPathComponent("test").path
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "train", "--per-class", "10", "--out", train], environment: env).status == 0)
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "4", "--out", test], environment: env).status == 0)
        let trainCSV = dir.appendingPathComponent("train.csv").path, testCSV = dir.appendingPathComponent("test.csv").path
        try Self.writeCSV(folder: train, to: trainCSV, dropGroup: true)
        try Self.writeCSV(folder: test, to: testCSV, dropGroup: false)

        let bundle = dir.appendingPathComponent("mt.transferkit").path
        let wrong = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", trainCSV, "--label-columns", "class,group", "--out", bundle], environment: env)
        #expect(wrong.status != 0 && wrong.stderr.contains("--strategy features"), "\(wrong.stderr)")
        let r = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", trainCSV, "--test", testCSV, "--strategy", "features",
                                 "--label-columns", "class,group,brightness", "--task-weighting", "uncertainty", "--epochs", "40",
                                 "--out", bundle, "--json"], environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        let t = j["test"] as? [String: [String: Any]] ?? [:]
        let classAcc = t["class"]?["accuracy"] as? Double ?? 0, groupAcc = t["group"]?["accuracy"] as? Double ?? 0
        let mae = t["brightness"]?["mae"] as? Double ?? 1
        #expect(classAcc >= 0.5, "class accuracy \(classAcc) on 40 real test images")
        #expect(groupAcc >= 0.7, "group accuracy \(groupAcc) (trained on half the rows' groups)")
        // Against the MAE of always predicting the training rows' mean brightness.
        func brightness(_ file: String) throws -> [Double] {
            try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").dropFirst().compactMap { $0.split(separator: ",").last.flatMap { Double($0) } }
        }
        let trainMean = try brightness(trainCSV).reduce(0, +) / Double(try brightness(trainCSV).count)
        let constant = try brightness(testCSV).map { abs($0 - trainMean) }.reduce(0, +) / Double(try brightness(testCSV).count)
        #expect(mae < 0.75 * constant, "brightness MAE \(mae) vs \(constant) for the training mean")
        #expect((j["final_weights"] as? [Double])?.count == 3)

        let image = try FileManager.default.contentsOfDirectory(atPath: test + "/Sneaker").sorted()[0]
        let p = try runTransfer(["predict", "--model", bundle, test + "/Sneaker/" + image, "--json"], environment: env)
        #expect(p.status == 0, "stderr: \(p.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [[String: Any]] ?? []
        let tasks = rows.first?["tasks"] as? [String: [String: Any]] ?? [:]
        #expect(Set(tasks.keys) == ["class", "group", "brightness"])
        #expect(tasks["group"]?["label"] as? String == "shoes", "\(tasks)")
        #expect(tasks["brightness"]?["value"] is Double)
    }
}
