import Foundation
import Testing

/// `transfer quantize` through the real executable on real weights and data: int8 bundles of EfficientNet-Lite0
/// (Fashion-MNIST) and MiniLM-L6 (BBC News) evaluate within a few points of their fp32 bundles and agree with them
/// on top-1; an edited or missing plan is refused; bad options are refused with the option named.
@Suite(.serialized) struct QuantizeCommandTests {
    static let lite0Present = FileManager.default.fileExists(
        atPath: LoRACommandTests.realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth")
        && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist")

    func json(_ s: String) throws -> [String: Any] {
        guard let i = s.firstIndex(of: "{") else { throw CocoaError(.coderReadCorrupt) }
        return try JSONSerialization.jsonObject(with: Data(s[i...].utf8)) as? [String: Any] ?? [:]
    }

    /// A scratch directory whose cache links the real weights and datasets.
    func scratch(_ items: [String]) throws -> (dir: URL, env: [String: String]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-quantize-\(UUID())")
        let cache = dir.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        for item in items {
            try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent(item).path,
                                                       withDestinationPath: LoRACommandTests.realCache + "/" + item)
        }
        return (dir, ["TRANSFERKIT_CACHE": cache.path, "TRANSFERKIT_THREADS": "2"])
    }

    func topLabels(_ stdout: String) throws -> [String] {
        let preds = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]] ?? []
        return preds.map { (($0["top"] as? [[String: Any]])?.first?["label"] as? String) ?? "" }
    }

    @Test(.enabled(if: lite0Present, "needs efficientnet-lite0 and Fashion-MNIST (make test fetches them)"))
    func anInt8ImageBundleEvaluatesLikeItsFP32BundleAndRefusesAnEditedPlan() throws {
        let (dir, env) = try scratch(["efficientnet-lite0"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = dir.appendingPathComponent("train").path, test = dir.appendingPathComponent("test").path
        let bundle = dir.appendingPathComponent("fm.transferkit").path, int8 = dir.appendingPathComponent("fm-int8.transferkit").path
        for (split, per, out) in [("train", "8", train), ("test", "10", test)] {
            let r = try runTransfer(["datasets", "export", "fashion-mnist", "--split", split, "--per-class", per, "--out", out,
                                     "--seed", "3"], environment: env)
            #expect(r.status == 0, "stderr: \(r.stderr)")
        }
        let t = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features", "--out", bundle,
                                 "--json"], environment: env)
        #expect(t.status == 0, "stderr: \(t.stderr)")
        let q = try runTransfer(["quantize", bundle, "--calibration", train, "--out", int8, "--calibration-method", "percentile",
                                 "--samples", "64", "--json"], environment: env)
        #expect(q.status == 0, "stderr: \(q.stderr)")
        let qj = try json(q.stdout)
        #expect(qj["samples"] as? Int == 64 && qj["method"] as? String == "percentile")
        #expect(qj["int8_layers"] as? Int == 49, "\(qj)")  // every convolution of Lite0's trunk: stem, 16 blocks (the first without expansion), head conv
        #expect((qj["fp32_layers"] as? [String: String])?.keys.contains { $0.hasPrefix("head.") } == true)

        // Accuracy on 100 real test images within 5 images of fp32 (measured: 3), and top-1 agreement on at least 30 of 34 (measured: 31).
        let e32 = try json(try runTransfer(["evaluate", "--model", bundle, "--data", test, "--json"], environment: env).stdout)
        let e8r = try runTransfer(["evaluate", "--model", int8, "--data", test, "--json"], environment: env)
        #expect(e8r.status == 0, "stderr: \(e8r.stderr)")
        let acc32 = e32["accuracy"] as? Double ?? -1, acc8 = try json(e8r.stdout)["accuracy"] as? Double ?? -2
        #expect(Swift.abs(acc8 - acc32) <= 0.05, "int8 accuracy \(acc8) vs fp32 \(acc32)")
        let files = try FileManager.default.subpathsOfDirectory(atPath: test).filter { $0.hasSuffix(".png") }.sorted()
            .enumerated().filter { $0.offset % 3 == 0 }.map { test + "/" + $0.element }
        let p32 = try topLabels(runTransfer(["predict", "--model", bundle] + files + ["--json"], environment: env).stdout)
        let p8 = try topLabels(runTransfer(["predict", "--model", int8] + files + ["--json"], environment: env).stdout)
        let agree = zip(p32, p8).filter { $0 == $1 }.count
        #expect(p8.count == files.count && agree >= files.count - 4, "top-1 agreement \(agree)/\(files.count)")

        // Commands that would run it in fp32 (export, explain) refuse the int8 bundle, naming it and the commands that accept it.
        for args in [["export", int8, "--format", "onnx", "--out", dir.path + "/m.onnx"], ["explain", "--model", int8, files[0], "--out", dir.path + "/cam"]] {
            let r = try runTransfer(args, environment: env)
            #expect(r.status != 0 && r.stderr.contains("\(int8) is an int8-quantised bundle") && r.stderr.contains("transfer evaluate"),
                    "\(args[0]): \(r.stderr)")
        }
        // An already quantised bundle is refused; so are an edited plan and a missing one.
        let again = try runTransfer(["quantize", int8, "--calibration", train, "--out", dir.path + "/x.transferkit"], environment: env)
        #expect(again.status != 0 && again.stderr.contains("already quantised"), "\(again.stderr)")
        let planFile = int8 + "/quantization.json"
        let original = try String(contentsOfFile: planFile, encoding: .utf8)
        try original.replacingOccurrences(of: "\"percentile\"", with: "\"minmax\"").write(toFile: planFile, atomically: true, encoding: .utf8)
        let edited = try runTransfer(["predict", "--model", int8, files[0]], environment: env)
        #expect(edited.status != 0 && edited.stderr.contains("quantization.json was edited or damaged"), "\(edited.stderr)")
        try FileManager.default.removeItem(atPath: planFile)
        let missing = try runTransfer(["evaluate", "--model", int8, "--data", test], environment: env)
        #expect(missing.status != 0 && missing.stderr.contains("quantization.json is missing"), "\(missing.stderr)")
    }

    @Test(.enabled(if: LoRACommandTests.textAssets, "needs minilm-l6 and bbc-news (make test fetches them)"))
    func anInt8TextBundleEvaluatesLikeItsFP32Bundle() throws {
        let (dir, env) = try scratch(["minilm-l6", "datasets"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = dir.appendingPathComponent("train").path, test = dir.appendingPathComponent("test").path
        let bundle = dir.appendingPathComponent("news.transferkit").path, int8 = dir.appendingPathComponent("news-int8.transferkit").path
        for (per, seed, out) in [("6", "0", train), ("10", "9", test)] {
            let r = try runTransfer(["datasets", "export", "bbc-news", "--per-class", per, "--out", out, "--seed", seed], environment: env)
            #expect(r.status == 0, "stderr: \(r.stderr)")
        }
        let t = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--strategy", "features", "--out", bundle, "--json"],
                                environment: env)
        #expect(t.status == 0, "stderr: \(t.stderr)")
        let q = try runTransfer(["quantize", bundle, "--calibration", train, "--out", int8, "--json"], environment: env)
        #expect(q.status == 0, "stderr: \(q.stderr)")
        #expect((try json(q.stdout)["int8_layers"] as? Int ?? 0) == 36)  // 6 layers × (query, key, value, output, intermediate, output)
        let e32 = try json(try runTransfer(["evaluate", "--model", bundle, "--data", test, "--json"], environment: env).stdout)
        let e8r = try runTransfer(["evaluate", "--model", int8, "--data", test, "--json"], environment: env)
        #expect(e8r.status == 0, "stderr: \(e8r.stderr)")
        let acc32 = e32["accuracy"] as? Double ?? -1, acc8 = try json(e8r.stdout)["accuracy"] as? Double ?? -2
        #expect(Swift.abs(acc8 - acc32) <= 0.04, "int8 accuracy \(acc8) vs fp32 \(acc32) on 50 articles")
    }

    @Test func quantizeRefusesBadOptionsNamingThem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-quantize-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = ["quantize", dir.path, "--calibration", dir.path]
        let samples = try runTransfer(base + ["--out", dir.path + "/q", "--samples", "0"])
        #expect(samples.status != 0 && samples.stderr.contains("--samples must be in 1…100000 (received 0)"), "\(samples.stderr)")
        let method = try runTransfer(base + ["--out", dir.path + "/q", "--calibration-method", "mse"])
        #expect(method.status != 0 && method.stderr.contains("mse"), "\(method.stderr)")
        let exists = try runTransfer(base + ["--out", dir.path])
        #expect(exists.status != 0 && exists.stderr.contains("already exists"), "\(exists.stderr)")
        let notBundle = try runTransfer(base + ["--out", dir.path + "/q"])
        #expect(notBundle.status != 0 && notBundle.stderr.contains("not a TransferKit bundle"), "\(notBundle.stderr)")
    }
}
