import Foundation
import Testing

/// The real executable on real MiniLM weights and BBC News articles: the default logistic head of the features
/// strategy with temperature scaling, `transfer features`, `transfer tune` (tiny budget, head-only) and
/// `transfer train --config`.
@Suite(.serialized) struct HeadsAndTuningTests {
    var textAssets: Bool { TrainTasksTests.textAssets }

    /// BBC News with `perClass` training articles per class and 20 test articles per class from the rest.
    func bbc(_ name: String, perClass: Int) throws -> (dir: URL, env: [String: String], train: String, test: String) {
        let (dir, env) = try TrainTasksTests().workspace(name)
        let train = dir.appendingPathComponent("train").path, rest = dir.appendingPathComponent("rest").path
        let ex = try runTransfer(["datasets", "export", "bbc-news", "--per-class", String(perClass), "--out", train, "--rest", rest, "--seed", "0"], environment: env)
        #expect(ex.status == 0, "stderr: \(ex.stderr)")
        let test = dir.appendingPathComponent("test").path
        for c in try FileManager.default.contentsOfDirectory(atPath: rest) {
            try FileManager.default.createDirectory(atPath: test + "/" + c, withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: rest + "/" + c).sorted().prefix(20) {
                try FileManager.default.copyItem(atPath: rest + "/\(c)/\(f)", toPath: test + "/\(c)/\(f)")
            }
        }
        return (dir, env, train, test)
    }

    func json(_ s: String) throws -> [String: Any] { try TrainTasksTests().json(s) }

    @Test(.enabled(if: TrainTasksTests.textAssets)) func logisticHeadIsTheFeaturesDefaultAndReachesStatedAccuracyOnRealBBCNewsWithCalibration() throws {
        let (dir, env, train, test) = try bbc("logistic", perClass: 10)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("b.transferkit").path
        let r = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--test", test, "--strategy", "features",
                                 "--val-split", "0.2", "--out", out, "--json"], environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try json(r.stdout)
        #expect(j["head"] as? String == "logistic")
        let acc = ((j["test"] as? [String: Any])?["accuracy"] as? Double) ?? 0
        // 40 training articles (8 per class after the validation split), 100 test articles.
        #expect(acc >= 0.9, "logistic head test accuracy \(acc)")
        let cal = j["calibration"] as? [String: Double] ?? [:]
        #expect((cal["temperature"] ?? 0) > 0 && cal["test_ece_before"] != nil && cal["validation_nll_after"]! <= cal["validation_nll_before"]!)
        let notes = j["head_notes"] as? [String: String] ?? [:]
        #expect(Double(notes["logistic_c"] ?? "") != nil && notes["logistic_cv_folds"] == "5")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))) as? [String: Any]
        #expect((manifest?["head"] as? String) == "logistic" && ((manifest?["metrics"] as? [String: Any])?["temperature"]) != nil)
        // Articles longer than MiniLM's 256 tokens were read as windows, and the bundle says so for prediction.
        let training = manifest?["training"] as? [String: String] ?? [:]
        #expect(training["long_texts"] == "windows" && training["max_windows"] == "16", "\(training)")

        // The bundle predicts with the temperature folded in: same accuracy from `evaluate`.
        let e = try runTransfer(["evaluate", "--model", out, "--data", test, "--json"], environment: env)
        #expect(e.status == 0, "stderr: \(e.stderr)")
        #expect(abs(((try json(e.stdout))["accuracy"] as? Double ?? 0) - acc) < 1e-9)

        // By default the logistic head trains on every example (no validation split), and T is fitted on its
        // out-of-fold logits.
        let all = dir.appendingPathComponent("all.transferkit").path
        let a = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--test", test, "--strategy", "features",
                                 "--out", all, "--json"], environment: env)
        #expect(a.status == 0, "stderr: \(a.stderr)")
        let ac = (try json(a.stdout))["calibration"] as? [String: Double] ?? [:]
        #expect(ac["out_of_fold_nll_after"] != nil && ac["out_of_fold_nll_after"]! <= ac["out_of_fold_nll_before"]!, "\(ac)")

        // The same features, exported with the same split.
        let csv = dir.appendingPathComponent("f.csv").path
        let f = try runTransfer(["features", "--model", "minilm-l6", "--data", train, "--test", test, "--val-split", "0.2", "--out", csv, "--json"], environment: env)
        #expect(f.status == 0, "stderr: \(f.stderr)")
        let fj = try json(f.stdout)
        #expect((fj["rows"] as? [String: Int]) == ["train": 40, "validation": 10, "test": 100] && fj["dimension"] as? Int == 384)
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 151 && lines[0].hasPrefix("split,label,input,f0,f1,") && lines[0].hasSuffix(",f383"))
    }

    @Test(.enabled(if: TrainTasksTests.textAssets)) func tuneWritesABestConfigurationThatTrainAcceptsAndFlagsOverride() throws {
        let (dir, env, train, test) = try bbc("tune", perClass: 6)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("t.transferkit").path, config = dir.appendingPathComponent("best.json").path
        let db = dir.appendingPathComponent("runs.sqlite").path
        let r = try runTransfer(["tune", "--model", "minilm-l6", "--data", train, "--test", test, "--val-split", "0.34", "--budget", "6",
                                 "--out", out, "--config-out", config, "--runs-db", db, "--json"], environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try json(r.stdout)
        let trials = j["trials"] as? [[String: Any]] ?? []
        #expect(trials.count == 6 && j["best_params"] is [String: Any] && (j["test"] as? [String: Any])?["accuracy"] is Double)
        let best = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: config))) as? [String: Any] ?? [:]
        #expect(best["model"] as? String == "minilm-l6" && best["head"] is String)

        // The tune run and each of its trials are recorded in the run database.
        let listed = try runTransfer(["runs", "list", "--trials", "--json", "--runs-db", db], environment: env)
        #expect(listed.status == 0, "stderr: \(listed.stderr)")
        let runs = try json(listed.stdout)["runs"] as? [[String: Any]] ?? []
        #expect(runs.filter { $0["kind"] as? String == "tune" && $0["status"] as? String == "finished" }.count == 1)
        #expect(runs.filter { $0["kind"] as? String == "trial" }.count == 6, "runs: \(runs)")

        // train --config FILE runs the same configuration.
        let b2 = dir.appendingPathComponent("c.transferkit").path
        let t = try runTransfer(["train", "--config", config, "--data", train, "--val-split", "0.34", "--out", b2, "--json"], environment: env)
        #expect(t.status == 0, "stderr: \(t.stderr)")
        #expect((try json(t.stdout))["head"] as? String == best["head"] as? String)

        // A flag on the command line overrides the file.
        let over = dir.appendingPathComponent("over.json").path
        try Data(#"{"model": "minilm-l6", "strategy": "features", "head": "mlp", "head-epochs": 3, "calibrate": false}"#.utf8).write(to: URL(fileURLWithPath: over))
        let b3 = dir.appendingPathComponent("o.transferkit").path
        let o = try runTransfer(["train", "--config", over, "--head", "linear", "--data", train, "--out", b3, "--json"], environment: env)
        #expect(o.status == 0, "stderr: \(o.stderr)")
        let oj = try json(o.stdout)
        #expect(oj["head"] as? String == "linear" && oj["epochs_run"] as? Int == 3 && (oj["calibration"] as? [String: Any])?.isEmpty == true)

        // Unknown keys and bad values are refused naming the key.
        for (text, key) in [(#"{"bogus": 1}"#, "bogus"), (#"{"head-lr": "fast"}"#, "head-lr"), (#"{"head-epochs": 2.5}"#, "head-epochs"),
                            (#"{"head": "forest"}"#, "head"), (#"[1, 2]"#, "JSON object")] {
            let bad = dir.appendingPathComponent("bad.json").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: bad))
            let x = try runTransfer(["train", "--config", bad, "--model", "minilm-l6", "--data", train, "--out", dir.appendingPathComponent("x").path], environment: env)
            #expect(x.status != 0 && x.stderr.contains(key), "\(text): \(x.stderr)")
        }
    }

    @Test(.enabled(if: TrainTasksTests.textAssets)) func tuneWithoutAValidationSplitCrossValidatesTrialsAndTrainsOnEveryExample() throws {
        let (dir, env, train, test) = try bbc("tunecv", perClass: 6)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("cv.transferkit").path, config = dir.appendingPathComponent("cv.json").path
        let r = try runTransfer(["tune", "--model", "minilm-l6", "--data", train, "--test", test, "--budget", "5", "--folds", "3",
                                 "--out", out, "--config-out", config, "--no-track", "--json"], environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try json(r.stdout)
        let trials = j["trials"] as? [[String: Any]] ?? []
        let values = trials.compactMap { $0["value"] as? Double }
        #expect(trials.count == 5 && !values.isEmpty && values.allSatisfy { $0 > 0 && $0.isFinite }, "\(trials)")
        // No example was held out: no validation metrics, and the written configuration trains on all of them.
        #expect(j["validation"] == nil && (j["test"] as? [String: Any])?["accuracy"] is Double)
        let best = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: config))) as? [String: Any] ?? [:]
        #expect(best["val-split"] as? Double == 0, "\(best)")

        for (args, key) in [(["--val-split", "0", "--space", "all"], "--val-split"), (["--folds", "1"], "--folds"), (["--val-split", "1"], "--val-split")] {
            let x = try runTransfer(["tune", "--model", "minilm-l6", "--data", train, "--out", dir.appendingPathComponent("x.transferkit").path] + args, environment: env)
            #expect(x.status != 0 && x.stderr.contains(key), "\(args): \(x.stderr)")
        }
    }
}
