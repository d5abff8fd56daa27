import Foundation
import Testing

/// The whole product on real weights and real data: export a small Fashion-MNIST sample, train with the features
/// strategy, train again with another head (the feature cache must spare the backbone), evaluate and predict with
/// the bundle, and survive a corrupt file in the data folder.
@Suite(.serialized) struct TrainCommandTests {
    static var weightsCached: Bool {
        let root = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit")
        return FileManager.default.fileExists(atPath: root.appendingPathComponent("efficientnet-lite0/efficientnet-lite0-57934424.pth").path)
            && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    }

    func json(_ s: String) throws -> [String: Any] {
        guard let i = s.firstIndex(of: "{") else { throw CocoaError(.coderReadCorrupt) }
        return try JSONSerialization.jsonObject(with: Data(s[i...].utf8)) as! [String: Any]
    }

    // Needs the real EfficientNet-Lite0 weights (`make test` runs `transfer fetch efficientnet-lite0` first) and
    // Fashion-MNIST (`scripts/setup` installs dataset-fashion-mnist).
    @Test(.enabled(if: weightsCached)) func trainEvaluatePredictOnRealFashionMNISTWithFeatureCacheAndCorruptFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-train-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        // Share the fetched weights but use a fresh feature cache.
        let realCache = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"] ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
        try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent("efficientnet-lite0").path,
                                                   withDestinationPath: realCache + "/efficientnet-lite0")
        let env = ["TRANSFERKIT_CACHE": cache.path]
        let train = dir.appendingPathComponent("train").path, test = dir.appendingPathComponent("test").path
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "train", "--per-class", "8", "--out", train, "--seed", "0"], environment: env).status == 0)
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "5", "--out", test, "--seed", "0"], environment: env).status == 0)
        try Data("this is not a png".utf8).write(to: URL(fileURLWithPath: train + "/Bag/corrupt.png"))

        let bundle = dir.appendingPathComponent("fm.transferkit").path
        let r1 = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", train, "--test", test, "--strategy", "features",
                                  "--epochs", "20", "--out", bundle, "--report", dir.appendingPathComponent("report").path, "--json"], environment: env)
        #expect(r1.status == 0, "stderr: \(r1.stderr)")
        let j1 = try json(r1.stdout)
        let skipped = j1["skipped_files"] as? [[String: String]] ?? []
        #expect(skipped.count == 1 && skipped[0]["path"]?.hasSuffix("corrupt.png") == true)
        #expect((j1["backbone_forwards"] as? Int) == 80)  // 80 readable training files (train + validation); the corrupt one is skipped
        let testAcc = ((j1["test"] as? [String: Any])?["accuracy"] as? Double) ?? 0
        #expect(testAcc > 0.5, "test accuracy \(testAcc) on 50 real test images")
        #expect(((j1["test"] as? [String: Any])?["confusion_matrix"] as? [[Int]])?.count == 10)

        // The report is self-contained HTML listing the skipped file, plus metrics.json.
        let html = try String(contentsOf: dir.appendingPathComponent("report/report.html"), encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("corrupt.png") && !html.contains("https://"))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("report/metrics.json").path))
        // The per-epoch log: a header and one row per epoch run.
        let log = try String(contentsOf: dir.appendingPathComponent("report/metrics.csv"), encoding: .utf8)
        #expect(log.split(separator: "\n").count == (j1["epochs_run"] as? Int ?? -1) + 1)

        // Another head: every feature comes from the cache.
        let r2 = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features", "--head", "mlp",
                                  "--epochs", "5", "--out", bundle + "2", "--json"], environment: env)
        #expect(r2.status == 0, "stderr: \(r2.stderr)")
        #expect((try json(r2.stdout)["backbone_forwards"] as? Int) == 0)

        let e = try runTransfer(["evaluate", "--model", bundle, "--data", test, "--json"], environment: env)
        #expect(e.status == 0, "stderr: \(e.stderr)")
        #expect(Swift.abs(((try json(e.stdout))["accuracy"] as? Double ?? -1) - testAcc) < 1e-9)

        // bf16 features (where the CPU has avx512_bf16) are cached apart from fp32 ones; the bundle records its
        // precision and evaluate reuses it, so every test feature comes from the cache with the same accuracy.
        let info = try runTransfer(["info", "--json"], environment: env)
        if info.stdout.contains("avx512_core_bf16") || info.stdout.contains("avx512_core_amx") {
            let b16 = dir.appendingPathComponent("fm-bf16.transferkit").path
            let r3 = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", train, "--test", test, "--strategy", "features",
                                      "--precision", "bf16", "--epochs", "20", "--out", b16, "--json"], environment: env)
            #expect(r3.status == 0, "stderr: \(r3.stderr)")
            let j3 = try json(r3.stdout)
            #expect((j3["backbone_forwards"] as? Int) == 80, "bf16 features must not come from the fp32 cache")
            let manifest = try json(String(contentsOfFile: b16 + "/manifest.json", encoding: .utf8))
            #expect(manifest["precision"] as? String == "bf16")
            let acc16 = ((j3["test"] as? [String: Any])?["accuracy"] as? Double) ?? 0
            #expect(Swift.abs(acc16 - testAcc) <= 0.1, "bf16 test accuracy \(acc16) vs fp32 \(testAcc) on 50 images")
            let e16 = try runTransfer(["evaluate", "--model", b16, "--data", test, "--json"], environment: env)
            #expect(e16.status == 0, "stderr: \(e16.stderr)")
            #expect(Swift.abs(((try json(e16.stdout))["accuracy"] as? Double ?? -1) - acc16) < 1e-9)
        }

        // The bundle predicts without the training data.
        let png = try FileManager.default.contentsOfDirectory(atPath: test + "/Trouser").first!
        let p = try runTransfer(["predict", "--model", bundle, test + "/Trouser/" + png, "--top-k", "3", "--json"], environment: env)
        #expect(p.status == 0, "stderr: \(p.stderr)")
        let preds = try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [[String: Any]]
        #expect((preds?.first?["top"] as? [[String: Any]])?.count == 3)
    }

    @Test func trainRejectsBadArgumentsWithMessagesThatEchoThem() throws {
        let r = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", "/nonexistent", "--strategy", "magic", "--out", "/tmp/x"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("magic"))
        let r2 = try runTransfer(["train", "--model", "no-such-model", "--data", "/tmp", "--out", "/tmp/x"])
        #expect(r2.status != 0 && r2.stderr.contains("no-such-model"))
    }
}
