import Datasets
import Foundation
import Testing

/// The real `transfer` executable on real weights and data beyond the features strategy: fine-tuning killed with
/// SIGKILL and resumed, text models (features and fine-tuning on BBC News), multi-label and regression heads,
/// `lr-find`, `evaluate --report`.
@Suite(.serialized) struct TrainTasksTests {
    static let realCache = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path

    static var imageAssets: Bool {
        FileManager.default.fileExists(atPath: realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth")
            && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    }

    static var textAssets: Bool {
        FileManager.default.fileExists(atPath: realCache + "/minilm-l6/model.safetensors")
            && FileManager.default.fileExists(atPath: realCache + "/datasets/bbc-news")
    }

    /// A fresh directory whose `cache/` shares the fetched weights and datasets but has its own feature cache.
    func workspace(_ name: String) throws -> (dir: URL, env: [String: String]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-\(name)-\(UUID())")
        let cache = dir.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        for item in ["efficientnet-lite0", "minilm-l6", "datasets"] where FileManager.default.fileExists(atPath: Self.realCache + "/" + item) {
            try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent(item).path, withDestinationPath: Self.realCache + "/" + item)
        }
        return (dir, ["TRANSFERKIT_CACHE": cache.path, "TRANSFERKIT_THREADS": "1"])
    }

    func json(_ s: String) throws -> [String: Any] {
        guard let i = s.firstIndex(of: "{") else { throw CocoaError(.coderReadCorrupt) }
        return try JSONSerialization.jsonObject(with: Data(s[i...].utf8)) as! [String: Any]
    }

    func manifest(_ bundle: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundle + "/manifest.json"))) as! [String: Any]
    }

    /// With `--augment strong` (random resized crop, flip, TrivialAugment, random erasing), whose draws must repeat too.
    @Test(.enabled(if: imageAssets)) func fineTuneKilledMidEpochAndResumedEndsWithTheSameModelAsAnUninterruptedRun() throws {
        let (dir, env) = try workspace("resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = dir.appendingPathComponent("train").path, test = dir.appendingPathComponent("test").path
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "train", "--per-class", "8", "--out", train], environment: env).status == 0)
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "3", "--out", test], environment: env).status == 0)
        func args(_ out: String) -> [String] {
            ["train", "--model", "efficientnet-lite0", "--data", train, "--test", test, "--strategy", "fine-tune", "--head-epochs", "5",
             "--epochs", "3", "--batch-size", "8", "--augment", "strong", "--out", out, "--json"]
        }
        let whole = dir.appendingPathComponent("whole.transferkit").path
        let r = try runTransfer(args(whole), environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let uninterrupted = try json(r.stdout)

        // The same run, killed with SIGKILL in the middle of the second fine-tuning epoch.
        let killed = dir.appendingPathComponent("killed.transferkit").path
        let p = Process()
        p.executableURL = transferExecutable()
        p.arguments = args(killed)
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let checkpoint = killed + "/.checkpoints/fine-tune.safetensors"
        let deadline = Date().addingTimeInterval(600)
        while !FileManager.default.fileExists(atPath: checkpoint) && p.isRunning && Date() < deadline { usleep(20_000) }
        #expect(FileManager.default.fileExists(atPath: checkpoint), "no fine-tune checkpoint appeared")
        let epochSeconds = ((uninterrupted["seconds"] as? Double) ?? 30) / 8
        usleep(UInt32(Swift.min(epochSeconds * 0.4, 5) * 1e6))
        #expect(p.isRunning, "the run ended before it could be killed")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL)
        #expect(!FileManager.default.fileExists(atPath: killed + "/manifest.json"))

        let resumed = try runTransfer(args(killed) + ["--resume"], environment: env)
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        let j = try json(resumed.stdout)
        #expect(j["epochs_run"] as? Int == uninterrupted["epochs_run"] as? Int)
        let a = uninterrupted["test"] as? [String: Any], b = j["test"] as? [String: Any]
        #expect(a?["accuracy"] as? Double == b?["accuracy"] as? Double)
        #expect(a?["confusion_matrix"] as? [[Int]] == b?["confusion_matrix"] as? [[Int]])
        #expect(a?["log_loss"] as? Double == b?["log_loss"] as? Double)
        // Bit-identical weights; the checkpoints are gone once the bundle is written.
        #expect(try manifest(whole)["weights_sha256"] as? String == manifest(killed)["weights_sha256"] as? String)
        #expect(!FileManager.default.fileExists(atPath: killed + "/.checkpoints"))
    }

    @Test(.enabled(if: textAssets)) func textModelsTrainOnRealBBCNewsWithFeaturesAndFineTuningAndPredictJSON() throws {
        let (dir, env) = try workspace("text")
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = dir.appendingPathComponent("train").path, rest = dir.appendingPathComponent("rest").path
        let ex = try runTransfer(["datasets", "export", "bbc-news", "--per-class", "8", "--out", train, "--rest", rest, "--seed", "0"], environment: env)
        #expect(ex.status == 0, "stderr: \(ex.stderr)")
        // Test on 4 of the remaining articles per class.
        let test = dir.appendingPathComponent("test").path
        for c in try FileManager.default.contentsOfDirectory(atPath: rest) {
            try FileManager.default.createDirectory(atPath: test + "/" + c, withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: rest + "/" + c).sorted().prefix(4) {
                try FileManager.default.copyItem(atPath: rest + "/\(c)/\(f)", toPath: test + "/\(c)/\(f)")
            }
        }
        let features = dir.appendingPathComponent("features.transferkit").path
        let r1 = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--test", test, "--strategy", "features",
                                  "--out", features, "--json"], environment: env)
        #expect(r1.status == 0, "stderr: \(r1.stderr)")
        let acc1 = ((try json(r1.stdout)["test"] as? [String: Any])?["accuracy"] as? Double) ?? 0
        #expect(acc1 >= 0.8, "features: test accuracy \(acc1) on 20 real articles")

        let tuned = dir.appendingPathComponent("tuned.transferkit").path
        let r2 = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--test", test, "--strategy", "fine-tune",
                                  "--epochs", "2", "--lr", "1e-4", "--batch-size", "8", "--out", tuned, "--json"], environment: env)
        #expect(r2.status == 0, "stderr: \(r2.stderr)")
        let j2 = try json(r2.stdout)
        let acc2 = ((j2["test"] as? [String: Any])?["accuracy"] as? Double) ?? 0
        #expect(acc2 >= 0.8, "fine-tune: test accuracy \(acc2)")
        #expect(j2["epochs_run"] as? Int == 32)  // 30 head epochs + 2 fine-tuning epochs
        let m = try manifest(tuned)
        #expect(m["includes_backbone"] as? Bool == true && m["strategy"] as? String == "fine-tune")
        #expect((m["training"] as? [String: String])?["unfreeze"] == "2")

        // The fine-tuned bundle predicts texts, as JSON.
        let p = try runTransfer(["predict", "--model", tuned, "--text", "The central bank raised interest rates as inflation and unemployment rose.",
                                 "The striker scored twice in the second half to win the cup final.", "--top-k", "2", "--json"], environment: env)
        #expect(p.status == 0, "stderr: \(p.stderr)")
        let preds = try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(preds.count == 2)
        let tops = preds.map { (($0["top"] as? [[String: Any]])?.first?["label"] as? String) ?? "" }
        #expect(tops == ["business", "sports"], "predicted \(tops)")
    }

    @Test(.enabled(if: imageAssets)) func multiLabelAndRegressionHeadsLearnTargetsDerivedFromRealImages() throws {
        let (dir, env) = try workspace("tasks")
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = dir.appendingPathComponent("train").path, test = dir.appendingPathComponent("test").path
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "train", "--per-class", "12", "--out", train], environment: env).status == 0)
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "5", "--out", test], environment: env).status == 0)
        // Tags of each garment class, and each image's mean brightness: real images, targets derived from them.
        let tags = ["T-shirt_top": "top", "Trouser": "legwear", "Pullover": "top;warm", "Dress": "onepiece", "Coat": "top;warm",
                    "Sandal": "footwear;summer", "Shirt": "top", "Sneaker": "footwear", "Bag": "accessory", "Ankle_boot": "footwear;warm"]
        func tables(_ root: String) throws -> (multi: String, values: String) {
            var multi = "path,label\n", values = "path,label\n"
            for c in try FileManager.default.contentsOfDirectory(atPath: root).sorted() {
                for f in try FileManager.default.contentsOfDirectory(atPath: root + "/" + c).sorted() {
                    let img = try ImageDecoder.decode(contentsOf: root + "/\(c)/\(f)")
                    let brightness = Double(img.pixels.reduce(0) { $0 + Int($1) }) / Double(img.pixels.count * 255)
                    multi += "\(c)/\(f),\(tags[c]!)\n"
                    values += "\(c)/\(f),\(String(format: "%.5f", brightness))\n"
                }
            }
            try Data(multi.utf8).write(to: URL(fileURLWithPath: root + "/tags.csv"))
            try Data(values.utf8).write(to: URL(fileURLWithPath: root + "/brightness.csv"))
            return (root + "/tags.csv", root + "/brightness.csv")
        }
        let (trainTags, trainValues) = try tables(train), (testTags, testValues) = try tables(test)

        let ml = dir.appendingPathComponent("tags.transferkit").path
        let r1 = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", trainTags, "--test", testTags, "--task", "multilabel",
                                  "--strategy", "features", "--out", ml, "--json"], environment: env)
        #expect(r1.status == 0, "stderr: \(r1.stderr)")
        let t1 = try json(r1.stdout)["test"] as? [String: Any] ?? [:]
        #expect(t1["task"] as? String == "multilabel")
        #expect((t1["micro_f1"] as? Double ?? 0) > 0.8, "multi-label test micro-F1 \(t1["micro_f1"] ?? "nil")")
        #expect((try manifest(ml)["thresholds"] as? [Double])?.count == 7)
        let p = try runTransfer(["predict", "--model", ml, test + "/Sneaker/" + (try FileManager.default.contentsOfDirectory(atPath: test + "/Sneaker").sorted()[0]), "--json"], environment: env)
        #expect(p.status == 0, "stderr: \(p.stderr)")
        let labels = (try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [[String: Any]])?.first?["labels"] as? [String]
        #expect(labels?.contains("footwear") == true, "labels \(labels ?? [])")

        let rg = dir.appendingPathComponent("brightness.transferkit").path
        let r2 = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", trainValues, "--test", testValues, "--task", "regress",
                                  "--loss", "huber", "--strategy", "features", "--out", rg, "--json"], environment: env)
        #expect(r2.status == 0, "stderr: \(r2.stderr)")
        let j2 = try json(r2.stdout)
        #expect(j2["backbone_forwards"] as? Int == 0)  // the same images: every feature comes from the cache
        let t2 = j2["test"] as? [String: Any] ?? [:]
        #expect(t2["task"] as? String == "regression")
        #expect((t2["r2"] as? Double ?? -1) > 0.5, "brightness R² \(t2["r2"] ?? "nil")")

        // evaluate --report writes the self-contained report for a regression bundle too.
        let report = dir.appendingPathComponent("report").path
        let e = try runTransfer(["evaluate", "--model", rg, "--data", testValues, "--report", report, "--json"], environment: env)
        #expect(e.status == 0, "stderr: \(e.stderr)")
        #expect(Swift.abs((try json(e.stdout)["r2"] as? Double ?? 0) - (t2["r2"] as? Double ?? 1)) < 1e-9)
        let html = try String(contentsOfFile: report + "/report.html", encoding: .utf8)
        #expect(html.contains("R²") || html.contains("r2"))

        // A regression target with a folder of classes is refused, naming the folder.
        let bad = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", train, "--task", "regress", "--out", dir.path + "/x"], environment: env)
        #expect(bad.status != 0 && bad.stderr.contains(train))
    }

    @Test(.enabled(if: imageAssets)) func augmentedViewsAreComputedOnceCachedAndAddedToTheHeadRows() throws {
        let (dir, env) = try workspace("views")
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = dir.appendingPathComponent("train").path
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "train", "--per-class", "6", "--out", train], environment: env).status == 0)
        let args = ["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features", "--views", "2", "--epochs", "3", "--json"]
        let r1 = try runTransfer(args + ["--out", dir.path + "/a.transferkit"], environment: env)
        #expect(r1.status == 0, "stderr: \(r1.stderr)")
        // All 60 images once (training and validation), plus 2 augmented views of each training image.
        let j1 = try json(r1.stdout)
        #expect(j1["train_size"] as? Int == 50)
        #expect(j1["backbone_forwards"] as? Int == 60 + 2 * 50)
        let r2 = try runTransfer(args + ["--out", dir.path + "/b.transferkit"], environment: env)
        #expect(try json(r2.stdout)["backbone_forwards"] as? Int == 0)
        #expect(try manifest(dir.path + "/a.transferkit")["weights_sha256"] as? String == manifest(dir.path + "/b.transferkit")["weights_sha256"] as? String)
        let bad = try runTransfer(args + ["--augment", "none", "--out", dir.path + "/c.transferkit"], environment: env)
        #expect(bad.status != 0 && bad.stderr.contains("--views 2"))
    }

    @Test(.enabled(if: imageAssets)) func lrFindSuggestsARateFromTheSweepAndPlotsIt() throws {
        let (dir, env) = try workspace("lrfind")
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = dir.appendingPathComponent("train").path
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "train", "--per-class", "10", "--out", train], environment: env).status == 0)
        let plot = dir.appendingPathComponent("plot").path
        let r = try runTransfer(["lr-find", "--model", "efficientnet-lite0", "--data", train, "--plot", plot, "--json"], environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try json(r.stdout)
        let lrs = j["learning_rates"] as? [Double] ?? [], losses = j["losses"] as? [Double] ?? []
        #expect(lrs.count == losses.count && lrs.count >= 20)
        #expect(zip(lrs, lrs.dropFirst()).allSatisfy { $0 < $1 })
        // The loss falls somewhere in the sweep and the suggestion lies inside it, below the divergence.
        #expect(losses.min()! < losses.first! * 0.9)
        let valley = j["valley"] as? Double ?? 0
        #expect(valley > lrs.first! && valley < lrs.last!, "valley \(valley)")
        let svg = try String(contentsOfFile: plot + "/lr-find.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("polyline") && svg.contains("valley"))
        let bad = try runTransfer(["lr-find", "--model", "efficientnet-lite0", "--data", train, "--phase", "sideways"], environment: env)
        #expect(bad.status != 0 && bad.stderr.contains("sideways"))
    }
}
