import Foundation
import Testing

/// Experiment tracking through the real executable: two `transfer train` processes recording into one database at
/// once, a SIGKILLed run read back as killed, `evaluate` recorded, `runs list/show/compare --json`, and databases
/// that must be refused.
@Suite(.serialized) struct RunsCommandTests {
    static let realCache = TrainTasksTests.realCache
    static var imageAssets: Bool { TrainTasksTests.imageAssets }

    func workspace(_ name: String) throws -> (dir: URL, env: [String: String]) { try TrainTasksTests().workspace(name) }

    func json(_ s: String) throws -> [String: Any] {
        guard let i = s.firstIndex(of: "{") else { throw CocoaError(.coderReadCorrupt) }
        return try JSONSerialization.jsonObject(with: Data(s[i...].utf8)) as! [String: Any]
    }

    func runs(_ db: String, _ extra: [String] = [], env: [String: String]) throws -> [[String: Any]] {
        let r = try runTransfer(["runs", "list", "--json", "--runs-db", db] + extra, environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        return try json(r.stdout)["runs"] as? [[String: Any]] ?? []
    }

    func exportFashionMNIST(_ dir: URL, perClass: Int, env: [String: String]) throws -> (train: String, test: String) {
        let train = dir.appendingPathComponent("train").path, test = dir.appendingPathComponent("test").path
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "train", "--per-class", String(perClass), "--out", train, "--seed", "0"],
                                environment: env).status == 0)
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "3", "--out", test, "--seed", "0"],
                                environment: env).status == 0)
        return (train, test)
    }

    @Test(.enabled(if: imageAssets)) func twoConcurrentTrainRunsAreBothRecordedWithEveryEpochAndCompare() throws {
        let (dir, env) = try workspace("runs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (train, test) = try exportFashionMNIST(dir, perClass: 6, env: env)
        let db = dir.appendingPathComponent("db/runs.sqlite").path
        @Sendable func args(_ seed: Int) -> [String] {
            ["train", "--model", "efficientnet-lite0", "--data", train, "--test", test, "--strategy", "features", "--epochs", "40",
             "--seed", String(seed), "--out", dir.appendingPathComponent("b\(seed).transferkit").path, "--runs-db", db, "--json"]
        }
        // Both processes at once, each writing its epochs into the same database.
        final class Results: @unchecked Sendable { var runs: [Int: ProcessRun] = [:]; let lock = NSLock() }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let r = try? runTransferProcess(args(i + 1), environment: env)
            results.lock.withLock { results.runs[i + 1] = r }
        }
        var outputs: [Int: [String: Any]] = [:]
        for seed in [1, 2] {
            let r = try #require(results.runs[seed])
            #expect(r.status == 0, "stderr: \(r.stderr)")
            outputs[seed] = try json(r.stdout)
        }
        let listed = try runs(db, env: env)
        #expect(listed.count == 2)
        var started: [String] = [], ended: [String] = []
        for run in listed {
            let id = try #require(run["id"] as? Int)
            let seed = Int((run["parameters"] as? [String: String])?["seed"] ?? "") ?? -1
            let out = try #require(outputs[seed])
            #expect(run["status"] as? String == "finished" && run["kind"] as? String == "train")
            let tracking = out["tracking"] as? [String: Any]
            #expect(tracking?["run_id"] as? Int == id && (tracking?["seconds"] as? Double ?? -1) >= 0)
            #expect(run["epoch_count"] as? Int == out["epochs_run"] as? Int && out["epochs_run"] as? Int == 40)
            let testAccuracy = (out["test"] as? [String: Any])?["accuracy"] as? Double
            #expect((run["metrics"] as? [String: Double])?["test_accuracy"] == testAccuracy)
            let manifest = try json(String(contentsOfFile: (out["bundle"] as? String ?? "") + "/manifest.json", encoding: .utf8))
            #expect(run["bundle_sha256"] as? String == manifest["manifest_sha256"] as? String)
            #expect((run["data_fingerprint"] as? String)?.hasPrefix("sha256:") == true)
            let show = try runTransfer(["runs", "show", String(id), "--json", "--runs-db", db], environment: env)
            let detail = try json(show.stdout)
            let epochs = detail["epochs"] as? [[String: Any]] ?? []
            #expect(epochs.count == 40 && epochs.map { $0["epoch"] as? Int } == (0..<40).map { $0 })
            #expect(epochs.allSatisfy { ($0["train_loss"] as? Double).map { $0.isFinite } == true })
            started.append(run["started_at"] as? String ?? ""); ended.append(run["ended_at"] as? String ?? "")
        }
        // The runs overlapped in time: each started before the other ended.
        #expect(started[0] < ended[1] && started[1] < ended[0], "started \(started), ended \(ended)")
        #expect(Set(listed.map { $0["data_fingerprint"] as? String }).count == 1, "the same data, the same fingerprint")

        let ids = listed.compactMap { $0["id"] as? Int }.sorted().map(String.init)
        let html = dir.appendingPathComponent("compare.html").path
        let c = try runTransfer(["runs", "compare"] + ids + ["--json", "--html", html, "--runs-db", db], environment: env)
        #expect(c.status == 0, "stderr: \(c.stderr)")
        let comparison = try json(c.stdout)
        #expect((comparison["runs"] as? [Any])?.count == 2)
        let differing = comparison["differing_parameters"] as? [String] ?? []
        #expect(differing.contains("seed") && differing.contains("bundle") && !differing.contains("model"))
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("run \(ids[0])") && page.contains("run \(ids[1])") && !page.contains("https://"))
        let table = try runTransfer(["runs", "compare"] + ids + ["--runs-db", db], environment: env)
        #expect(table.stdout.contains("* seed") && table.stdout.contains("test_accuracy"))

        // evaluate is recorded too, with the bundle's hash; --no-track records nothing.
        let bundle = outputs[1]?["bundle"] as? String ?? ""
        let e = try runTransfer(["evaluate", "--model", bundle, "--data", test, "--json", "--runs-db", db], environment: env)
        #expect(e.status == 0, "stderr: \(e.stderr)")
        let evaluated = try runs(db, ["--limit", "1"], env: env).first ?? [:]
        #expect(evaluated["kind"] as? String == "evaluate" && evaluated["status"] as? String == "finished")
        let evaluatedAccuracy = try json(e.stdout)["accuracy"] as? Double
        #expect((evaluated["metrics"] as? [String: Double])?["test_accuracy"] == evaluatedAccuracy)
        #expect(evaluated["bundle_sha256"] as? String == listed.first { ($0["parameters"] as? [String: String])?["seed"] == "1" }?["bundle_sha256"] as? String)
        let untracked = try runTransfer(["evaluate", "--model", bundle, "--data", test, "--json", "--no-track"], environment: env)
        #expect(untracked.status == 0, "stderr: \(untracked.stderr)")
        #expect(!FileManager.default.fileExists(atPath: (env["TRANSFERKIT_CACHE"] ?? "") + "/runs.sqlite"))
    }

    @Test(.enabled(if: imageAssets)) func aSIGKILLedTrainRunReadsAsKilled() throws {
        let (dir, env) = try workspace("runs-kill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (train, _) = try exportFashionMNIST(dir, perClass: 3, env: env)
        let p = Process()
        p.executableURL = transferExecutable()
        p.arguments = ["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features", "--epochs", "100000",
                       "--out", dir.appendingPathComponent("k.transferkit").path, "--json"]
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // The default database: $TRANSFERKIT_CACHE/runs.sqlite.
        let db = (env["TRANSFERKIT_CACHE"] ?? "") + "/runs.sqlite"
        var live: [String: Any]?
        let deadline = Date().addingTimeInterval(300)
        while p.isRunning && Date() < deadline {
            if FileManager.default.fileExists(atPath: db), let run = try runs(db, env: env).first, (run["epoch_count"] as? Int ?? 0) >= 3 {
                live = run
                break
            }
            usleep(200_000)
        }
        let run = try #require(live, "no epochs were recorded while the run was alive")
        #expect(run["status"] as? String == "running" && run["pid"] as? Int == Int(p.processIdentifier))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)

        let id = try #require(run["id"] as? Int)
        let show = try runTransfer(["runs", "show", String(id), "--json"], environment: env)
        #expect(show.status == 0, "stderr: \(show.stderr)")
        let detail = try json(show.stdout)
        let killed = detail["run"] as? [String: Any] ?? [:]
        #expect(killed["status"] as? String == "killed")
        #expect((killed["error"] as? String)?.contains("process \(p.processIdentifier)") == true)
        #expect((detail["epochs"] as? [Any])?.count ?? 0 >= 3)
        let killedIDs = try runs(db, ["--status", "killed"], env: env).compactMap { $0["id"] as? Int }
        #expect(killedIDs == [id])
        let stillRunning = try runs(db, ["--status", "running"], env: env)
        #expect(stillRunning.isEmpty)
    }

    @Test func databasesThatAreNotRunDatabasesAreRefusedBeforeAnyWork() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-runs-hostile-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let env = ["TRANSFERKIT_CACHE": dir.appendingPathComponent("cache").path]
        let csv = dir.appendingPathComponent("data.csv")
        try Data("text,label\ngood film,pos\nbad film,neg\ngreat plot,pos\ndull plot,neg\n".utf8).write(to: csv)
        let notSQLite = dir.appendingPathComponent("notes.sqlite")
        let bytes = Data("these are my notes, not a database\n".utf8)
        try bytes.write(to: notSQLite)

        let list = try runTransfer(["runs", "list", "--runs-db", notSQLite.path], environment: env)
        #expect(list.status != 0 && list.stderr.contains("\(notSQLite.path) is not a TransferKit run database"), "stderr: \(list.stderr)")
        #expect(try Data(contentsOf: notSQLite) == bytes)
        // train refuses the database before it loads a model: nothing is trained, no bundle is written.
        let out = dir.appendingPathComponent("out.transferkit").path
        for db in [notSQLite.path, dir.path] {
            let t = try runTransfer(["train", "--model", "minilm-l6", "--data", csv.path, "--strategy", "features", "--out", out, "--runs-db", db],
                                    environment: env)
            #expect(t.status != 0 && t.stderr.contains(db) && t.stderr.hasPrefix("Error: "), "stderr: \(t.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out + "/manifest.json"))
        }
        // No database yet: an empty list, and none is created by reading.
        let fresh = dir.appendingPathComponent("fresh.sqlite").path
        let empty = try runTransfer(["runs", "list", "--json", "--runs-db", fresh], environment: env)
        let emptyRuns = try json(empty.stdout)["runs"] as? [Any]
        #expect(empty.status == 0 && emptyRuns?.isEmpty == true)
        #expect(!FileManager.default.fileExists(atPath: fresh))
        let show = try runTransfer(["runs", "show", "7", "--runs-db", fresh], environment: env)
        #expect(show.status != 0 && show.stderr.contains("no run database at \(fresh)"))
        for bad in [["runs", "show", "0"], ["runs", "show", "x1"], ["runs", "compare", "3"], ["runs", "list", "--limit", "0"],
                    ["runs", "list", "--status", "paused"], ["evaluate", "--model", "m", "--data", "d", "--no-track", "--runs-db", fresh]] {
            let r = try runTransfer(bad, environment: env)
            #expect(r.status != 0 && r.stderr.hasPrefix("Error: ") && r.stderr.split(separator: "\n").count == 1, "\(bad): \(r.stderr)")
        }
    }
}
