import Datasets
import Foundation
import GRDB
import Testing
import Optimizers
import Tensors
import TransferKit
@testable import Tracking

/// A fresh directory for one test's database, removed at the end.
final class TempDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tk-tracking-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    deinit { try? FileManager.default.removeItem(at: url) }
}

func epoch(_ phase: String, _ e: Int, loss: Float, valid: Float? = nil, metric: Float? = nil) -> EpochRecord {
    EpochRecord(epoch: e, phase: phase, trainLoss: loss, validLoss: valid, validMetric: metric, learningRate: 1e-3, seconds: 0.25)
}

@Suite struct RunStoreTests {
    @Test func aNewDatabaseIsMigratedInWALModeAndReopensUnchanged() throws {
        let dir = try TempDirectory()
        let url = dir.file("nested/dir/runs.sqlite")
        let store = try RunStore(at: url)
        try store.read { db in
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try db.tableExists("runs") && db.tableExists("epochs"))
            #expect(try RunSchema.migrator.appliedIdentifiers(db) == ["v1: runs and epochs"])
            let columns = try db.columns(in: "runs").map(\.name)
            for c in ["id", "parent_id", "kind", "status", "started_at", "ended_at", "wall_seconds", "command_line", "parameters", "tool_version",
                      "data_fingerprint", "bundle_path", "bundle_sha256", "metrics", "error", "pid", "host", "liveness_token"] {
                #expect(columns.contains(c), "runs.\(c)")
            }
        }
        let r = try RunRecorder.begin(in: store, kind: .train, parameters: ["model": "m"])
        try r.finish(metrics: ["validation_accuracy": 0.5])
        let again = try RunStore(at: url)
        #expect(try again.list().map(\.id) == [r.id])
        // The schema refuses what the code must never write.
        #expect(throws: RunStoreError.self) {
            try again.write { db in try db.execute(sql: "UPDATE runs SET status = 'paused' WHERE id = ?", arguments: [r.id]) }
        }
    }

    @Test func aRecorderRecordsParametersEveryEpochAndTheEnd() throws {
        let dir = try TempDirectory()
        let store = try RunStore(at: dir.file("runs.sqlite"))
        let r = try RunRecorder.begin(in: store, kind: .train, parameters: ["model": "efficientnet-lite0", "head_lr": "auto"],
                                      commandLine: "transfer train --model efficientnet-lite0", dataFingerprint: "sha256:abc")
        var live = try store.detail(r.id)
        #expect(live.run.status == .running && live.run.pid == getpid() && live.run.host == RunStore.hostName)
        #expect(FileManager.default.fileExists(atPath: store.lockDirectory.path))
        try r.record(epoch("head", 0, loss: 1.5, valid: 1.2, metric: 0.4))
        try r.record(epoch("head", 1, loss: .nan, valid: .infinity, metric: 0.5))
        try r.record(epoch("fine-tune", 0, loss: 0.7, valid: 0.9, metric: 0.6))
        try r.addParameters(["head_lr": "0.004"])
        live = try store.detail(r.id)
        #expect(live.run.epochCount == 3 && live.run.status == .running)
        try r.finish(metrics: ["validation_accuracy": 0.6, "test_accuracy": .nan])

        let d = try store.detail(r.id)
        #expect(d.run.status == .finished && d.run.kind == .train && d.run.error == nil)
        #expect(d.run.parameters == ["model": "efficientnet-lite0", "head_lr": "0.004"])
        #expect(d.run.metrics == ["validation_accuracy": 0.6], "a non-finite metric is left out")
        #expect(d.run.commandLine == "transfer train --model efficientnet-lite0" && d.run.dataFingerprint == "sha256:abc")
        #expect(d.run.toolVersion == TransferKitVersion.string)
        #expect((d.run.wallSeconds ?? -1) >= 0 && d.run.endedAt != nil)
        #expect(d.epochs.map(\.phase) == ["head", "head", "fine-tune"] && d.epochs.map(\.epoch) == [0, 1, 0])
        #expect(d.epochs[0].trainLoss == 1.5 && d.epochs[0].validLoss == 1.2 && d.epochs[0].validMetric == 0.4)
        #expect(d.epochs[1].trainLoss.isNaN && d.epochs[1].validLoss == nil, "non-finite values are stored as NULL")
        // The run's lock file is gone with the run.
        let locks = try FileManager.default.contentsOfDirectory(atPath: store.lockDirectory.path).filter { $0 != "migrate.lock" }
        #expect(locks.isEmpty, "\(locks)")
        // Ending twice changes nothing.
        try r.fail("late")
        #expect(try store.detail(r.id).run.status == .finished)
    }

    @Test func aFailedRunKeepsItsErrorAndATrialBelongsToItsTuneRun() throws {
        let dir = try TempDirectory()
        let store = try RunStore(at: dir.file("runs.sqlite"))
        let tune = try RunRecorder.begin(in: store, kind: .tune, parameters: ["budget": "2"])
        let t1 = try tune.beginChild(kind: .trial, parameters: ["lr": "0.01"])
        try t1.record(epoch("head", 0, loss: 0.3))
        try t1.finish(metrics: ["validation_accuracy": 0.9])
        let t2 = try tune.beginChild(kind: .trial, parameters: ["lr": "10"])
        try t2.fail("diverged: loss is NaN")
        try tune.finish(metrics: ["validation_accuracy": 0.9])

        #expect(try store.list().map(\.id) == [tune.id], "trials are not top-level runs")
        #expect(try store.list(includeChildren: true).count == 3)
        #expect(try store.list(parent: tune.id).map(\.id) == [t2.id, t1.id])
        #expect(try store.list(status: .failed, includeChildren: true).map(\.error) == ["diverged: loss is NaN"])
        let d = try store.detail(tune.id)
        #expect(d.children.map(\.id) == [t1.id, t2.id] && d.children.allSatisfy { $0.parentID == tune.id })
        try store.delete(tune.id)
        #expect(try store.list(includeChildren: true).isEmpty, "deleting a tune run deletes its trials")
        #expect(throws: RunStoreError.noSuchRun(path: store.url.path, id: tune.id)) { try store.detail(tune.id) }
    }

    @Test func aRunWhoseProcessLetGoOfItsLockReadsAsKilledAndALiveOneAsRunning() throws {
        let dir = try TempDirectory()
        let url = dir.file("runs.sqlite")
        let store = try RunStore(at: url)
        let alive = try RunRecorder.begin(in: store, kind: .train)
        let dead = try RunRecorder.begin(in: store, kind: .train)
        try dead.record(epoch("head", 0, loss: 1))
        // What the kernel does when a process dies: its flock is dropped; the row still says running.
        dead.lock.release()
        // Another connection (as another process would open it): flock locks belong to open files, so the live
        // run's lock is seen as held even from this process.
        let reader = try RunStore(at: url)
        #expect(try reader.detail(alive.id).run.status == .running)
        let d = try reader.detail(dead.id)
        #expect(d.run.status == .killed && d.epochs.count == 1)
        #expect(d.run.error?.contains("process \(getpid())") == true)
        #expect(try reader.list(status: .killed).map(\.id) == [dead.id])
        #expect(try reader.reapDeadRuns().isEmpty, "a killed run is reaped once")
        // A running run cannot be deleted; once ended it can.
        #expect(throws: RunStoreError.self) { try store.delete(alive.id) }
        try alive.finish(metrics: [:])
        try store.delete(alive.id)
    }

    @Test func twoConnectionsWritingAtOnceLoseNothing() async throws {
        let dir = try TempDirectory()
        let url = dir.file("runs.sqlite")
        _ = try RunStore(at: url)
        let ids = try await withThrowingTaskGroup(of: RunID.self) { group in
            for w in 0..<2 {
                group.addTask {
                    let store = try RunStore(at: url)  // one connection each, as two processes have
                    let r = try RunRecorder.begin(in: store, kind: .train, parameters: ["writer": String(w)])
                    for e in 0..<200 { try r.record(epoch("head", e, loss: Float(e))) }
                    try r.finish(metrics: ["validation_accuracy": Double(w)])
                    return r.id
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let store = try RunStore(at: url)
        for id in ids {
            let d = try store.detail(id)
            #expect(d.run.status == .finished && d.epochs.count == 200 && d.epochs.map(\.epoch) == Array(0..<200))
        }
    }

    @Test func jsonOfARunReadsBackEqual() throws {
        let dir = try TempDirectory()
        let store = try RunStore(at: dir.file("runs.sqlite"))
        let r = try RunRecorder.begin(in: store, kind: "adapt", parameters: ["model": "minilm-l6"])
        try r.record(epoch("head", 0, loss: 0.5, valid: 0.4, metric: 0.8))
        try r.finish(metrics: ["validation_accuracy": 0.8])
        let d = try store.detail(r.id)
        let json = try RunStore.jsonEncoder().encode(d)
        let text = String(decoding: json, as: UTF8.self)
        #expect(!text.contains("parentId") && !text.contains("epochCount"), "snake_case keys")
        #expect(text.contains("\"epoch_count\" : 1") && text.contains("\"train_loss\" : 0.5") && text.contains("\"kind\" : \"adapt\""))
        #expect(try RunStore.jsonDecoder().decode(RunDetail.self, from: json) == d)
    }
}

@Suite struct EpochCallbackTests {
    /// The learner callback records every epoch of a real fit, and a database that stops accepting writes costs the
    /// fit nothing: one warning, and the epochs go on.
    @Test func theCallbackRecordsEachEpochAndAFailedWriteWarnsOnceWithoutStoppingTheFit() throws {
        let dir = try TempDirectory()
        let store = try RunStore(at: dir.file("runs.sqlite"))
        func learner(_ callback: Callback) -> Learner {
            let head = Head(.linear, inputs: 4, outputs: 2, seed: 1)
            let x = Tensor(shape: Shape([8, 4]), data: (0..<32).map { Float($0 % 7) / 7 })
            let l = Learner(model: head, objective: TaskKind.classification.objective(),
                            optimizer: AdamW(parameters: head.namedParameters().map { ($0.0, $0.1) }, learningRate: 1e-2),
                            trainData: TensorBatchSource(inputs: x, targets: .classes([0, 1, 0, 1, 1, 0, 1, 0]), batchSize: 4, shuffle: false),
                            validData: nil, callbacks: [callback])
            l.phase = "head"
            return l
        }
        let good = try RunRecorder.begin(in: store, kind: .train)
        let fit = learner(good.epochCallback { Issue.record("unexpected: \($0)") })
        try fit.fit(epochs: 3)
        #expect(try store.detail(good.id).epochs == fit.history)

        let broken = try RunRecorder.begin(in: store, kind: .train)
        try store.queue.close()
        final class Warnings: @unchecked Sendable { var errors: [RunStoreError] = [] }
        let warnings = Warnings()
        let l = learner(broken.epochCallback { warnings.errors.append($0) })
        try l.fit(epochs: 3)
        #expect(l.history.count == 3 && warnings.errors.count == 1)
    }

    /// Early stopping ends the fit at `afterEpoch` before later callbacks run: the stopping epoch is still recorded.
    @Test func theEpochThatTriggeredEarlyStoppingIsRecorded() throws {
        let dir = try TempDirectory()
        let store = try RunStore(at: dir.file("runs.sqlite"))
        let r = try RunRecorder.begin(in: store, kind: .train)
        let head = Head(.linear, inputs: 4, outputs: 2, seed: 1)
        let x = Tensor(shape: Shape([8, 4]), data: (0..<32).map { Float($0 % 7) / 7 })
        let source = TensorBatchSource(inputs: x, targets: .classes([0, 1, 0, 1, 1, 0, 1, 0]), batchSize: 4, shuffle: false)
        // A learning rate that makes the validation loss rise at once: patience 1 stops after the second epoch.
        let l = Learner(model: head, objective: TaskKind.classification.objective(),
                        optimizer: AdamW(parameters: head.namedParameters().map { ($0.0, $0.1) }, learningRate: 5),
                        trainData: source, validData: source,
                        callbacks: [EarlyStopping(monitor: .validLoss, patience: 1, restoreBest: false), r.epochCallback { Issue.record("\($0)") }])
        try l.fit(epochs: 50)
        #expect(l.history.count < 50, "early stopping did not stop: \(l.history.map(\.validLoss))")
        #expect(try store.detail(r.id).epochs == l.history)
    }
}
