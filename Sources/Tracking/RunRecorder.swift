import Foundation
import GRDB
import Tensors
import TransferKit

/// Records one run as it happens: ``begin(in:kind:parameters:commandLine:dataFingerprint:parent:startedAt:)`` inserts it as
/// `running` and takes its liveness lock (``RunLock``), ``record(_:)`` appends an epoch, ``finish(metrics:bundle:)``
/// or ``fail(_:)`` ends it and drops the lock. A process that dies without ending its run leaves the lock free, and
/// the next read of the database marks the run `killed`.
///
/// One write per call, each its own transaction: a crash loses at most the call in flight. Use from one thread at
/// a time (the learner's).
///
/// ```swift
/// let store = try RunStore(at: RunStore.defaultURL)
/// let recorder = try RunRecorder.begin(in: store, kind: .train, parameters: ["model": "minilm-l6"])
/// run.callbacks.append(recorder.epochCallback { warning in print(warning) })
/// let outcome = try run.run(data, test: nil, bundle: out)
/// try recorder.finish(metrics: outcome.metrics, bundle: out)
/// ```
public final class RunRecorder: @unchecked Sendable {
    public let store: RunStore
    public let id: RunID
    public let startedAt: Date
    /// Held from ``begin(in:kind:parameters:commandLine:dataFingerprint:parent:startedAt:)`` to the end of the run.
    let lock: RunLock
    public private(set) var ended = false
    /// Seconds this recorder has spent writing to the database (and fingerprinting the data, when begun with
    /// ``begin(training:data:test:in:kind:parent:extra:dataFingerprint:startedAt:)``): the cost of tracking the run.
    public internal(set) var secondsRecording: Double = 0
    private var ordinal = 0

    init(store: RunStore, id: RunID, startedAt: Date, lock: RunLock) {
        self.store = store; self.id = id; self.startedAt = startedAt; self.lock = lock
    }

    /// Inserts a `running` run and holds its lock until the run ends.
    ///
    /// - Parameters:
    ///   - parameters: the run's configuration (more can be merged in later with ``addParameters(_:)``).
    ///   - commandLine: default: this process's arguments (``currentCommandLine``).
    ///   - dataFingerprint: ``DataFingerprint`` of the data read, when known now (or later, ``setDataFingerprint(_:)``).
    ///   - parent: the run this one belongs to (a tune run, for a trial).
    ///   - startedAt: when the run started (default: now; a command passes its own start, before its model loaded).
    public static func begin(in store: RunStore, kind: RunKind, parameters: [String: String] = [:], commandLine: String = currentCommandLine,
                             dataFingerprint: String? = nil, parent: RunID? = nil, startedAt: Date = Date()) throws(RunStoreError) -> RunRecorder {
        let t0 = Date()
        let token = UUID().uuidString.lowercased()
        let lock: RunLock
        do { lock = try RunLock(url: store.lockDirectory.appendingPathComponent("\(token).lock"), wait: false) } catch {
            throw .notWritable(path: store.lockDirectory.path, reason: error.description)
        }
        let start = startedAt
        let params = try json(parameters, path: store.url.path)
        let id = try store.write { db -> RunID in
            try db.execute(sql: """
                INSERT INTO runs (parent_id, kind, status, started_at, command_line, parameters, tool_version, data_fingerprint,
                                  pid, host, liveness_token)
                VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [parent, kind.rawValue, RunStore.timestamp(start), commandLine, params, TransferKitVersion.string,
                                 dataFingerprint, Int64(getpid()), RunStore.hostName, token])
            return db.lastInsertedRowID
        }
        let recorder = RunRecorder(store: store, id: id, startedAt: start, lock: lock)
        recorder.secondsRecording = Date().timeIntervalSince(t0)
        return recorder
    }

    /// A child run of this one (a trial of a tune run), recorded in the same database.
    public func beginChild(kind: RunKind, parameters: [String: String] = [:], dataFingerprint: String? = nil) throws(RunStoreError) -> RunRecorder {
        try Self.begin(in: store, kind: kind, parameters: parameters, commandLine: Self.currentCommandLine,
                       dataFingerprint: dataFingerprint, parent: id)
    }

    /// Appends one epoch (a repeated phase and epoch replaces the earlier row). Non-finite values are stored as NULL.
    public func record(_ e: EpochRecord) throws(RunStoreError) {
        ordinal += 1
        let n = ordinal
        func finite(_ x: Float?) -> Double? { x.flatMap { $0.isFinite ? Double($0) : nil } }
        let t0 = Date()
        defer { secondsRecording += Date().timeIntervalSince(t0) }
        try store.write { db in
            try db.execute(sql: """
                INSERT INTO epochs (run_id, ordinal, phase, epoch, train_loss, valid_loss, valid_metric, learning_rate, seconds, recorded_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id, phase, epoch) DO UPDATE SET
                    train_loss = excluded.train_loss, valid_loss = excluded.valid_loss, valid_metric = excluded.valid_metric,
                    learning_rate = excluded.learning_rate, seconds = excluded.seconds, recorded_at = excluded.recorded_at
                """, arguments: [id, n, e.phase, e.epoch, finite(e.trainLoss), finite(e.validLoss), finite(e.validMetric),
                                 finite(e.learningRate), e.seconds.isFinite ? e.seconds : 0, RunStore.timestamp(Date())])
        }
    }

    /// Merges `parameters` into the run's (values resolved during the run, e.g. a swept learning rate).
    public func addParameters(_ parameters: [String: String]) throws(RunStoreError) {
        let t0 = Date()
        defer { secondsRecording += Date().timeIntervalSince(t0) }
        let patch = try Self.json(parameters, path: store.url.path)
        try store.write { db in
            try db.execute(sql: "UPDATE runs SET parameters = json_patch(parameters, ?) WHERE id = ?", arguments: [patch, id])
        }
    }

    /// Sets the run's data fingerprint.
    public func setDataFingerprint(_ fingerprint: String) throws(RunStoreError) {
        try store.write { db in
            try db.execute(sql: "UPDATE runs SET data_fingerprint = ? WHERE id = ?", arguments: [fingerprint, id])
        }
    }

    /// Ends the run as `finished` with its final metrics (non-finite values are left out) and the bundle it wrote or
    /// read (its path and `manifest_sha256`, read from the bundle's manifest), then drops the lock.
    public func finish(metrics: [String: Double], bundle: URL? = nil) throws(RunStoreError) {
        var sha: String?
        if let bundle { sha = try? ModelBundle.manifest(at: bundle).manifestSha256 }
        try end(status: .finished, metrics: metrics, bundlePath: bundle?.path, bundleSha256: sha, error: nil)
    }

    /// Ends the run as `failed`, with the error in words, then drops the lock.
    public func fail(_ message: String) throws(RunStoreError) {
        try end(status: .failed, metrics: [:], bundlePath: nil, bundleSha256: nil, error: message)
    }

    func end(status: RunStatus, metrics: [String: Double], bundlePath: String?, bundleSha256: String?, error: String?) throws(RunStoreError) {
        guard !ended else { return }
        ended = true
        let t0 = Date()
        defer { secondsRecording += Date().timeIntervalSince(t0) }
        defer { lock.release(removingFile: true) }
        let m = try Self.json(metrics.filter { $0.value.isFinite }, path: store.url.path)
        let now = Date()
        try store.write { db in
            try db.execute(sql: """
                UPDATE runs SET status = ?, ended_at = ?, wall_seconds = ?, metrics = ?, bundle_path = coalesce(?, bundle_path),
                                bundle_sha256 = coalesce(?, bundle_sha256), error = ?
                WHERE id = ?
                """, arguments: [status.rawValue, RunStore.timestamp(now), now.timeIntervalSince(startedAt), m, bundlePath,
                                 bundleSha256, error, id])
        }
    }

    /// A learner callback that records every epoch of every phase it is added to. A failed write is passed to
    /// `onError` once and recording stops (the training goes on: tracking must never cost a run).
    public func epochCallback(onError: @escaping (RunStoreError) -> Void) -> Callback {
        EpochRecording(recorder: self, onError: onError)
    }

    /// This process's arguments as one line, each shell-quoted when it needs to be.
    public static var currentCommandLine: String {
        CommandLine.arguments.map { a in
            a.isEmpty || a.contains(where: { " \t\n'\"\\$`!*?;&|<>(){}[]#~".contains($0) })
                ? "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'" : a
        }.joined(separator: " ")
    }

    static func json<T: Encodable>(_ value: T, path: String) throws(RunStoreError) -> String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        do { return String(decoding: try e.encode(value), as: UTF8.self) } catch {
            throw .sqlite(path: path, detail: "cannot encode \(value) as JSON: \(error)")
        }
    }
}

/// Records each epoch through a ``RunRecorder``; see ``RunRecorder/epochCallback(onError:)``.
///
/// At `afterEpoch` it records the epoch just run; at `beforeFit` and `afterFit` it records every epoch of the
/// learner's history it has not recorded yet: the epochs a resumed fit restored from its checkpoint, and the last
/// epoch of a fit that a callback ordered before this one ended at `afterEpoch` (``EarlyStopping`` throws
/// `stopFit` there, before the later callbacks see the epoch).
final class EpochRecording: Callback {
    let recorder: RunRecorder
    let onError: (RunStoreError) -> Void
    private(set) var failed = false
    private var recorded: Set<String> = []

    init(recorder: RunRecorder, onError: @escaping (RunStoreError) -> Void) {
        self.recorder = recorder; self.onError = onError
    }

    /// After the metrics log (80), before the progress line (90).
    override var order: Int { 85 }

    override func on(_ event: LearnerEvent, learner: Learner) throws {
        switch event {
        case .afterEpoch: if let last = learner.history.last { record([last]) }
        case .beforeFit, .afterFit: record(learner.history)
        default: break
        }
    }

    func record(_ epochs: [EpochRecord]) {
        for e in epochs where !failed && !recorded.contains("\(e.phase) \(e.epoch)") {
            do throws(RunStoreError) {
                try recorder.record(e)
                recorded.insert("\(e.phase) \(e.epoch)")
            } catch {
                failed = true
                onError(error)
            }
        }
    }
}
