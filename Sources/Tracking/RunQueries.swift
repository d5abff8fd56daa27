import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif
import TransferKit

extension RunStore {
    /// This machine's host name (`gethostname(2)`), recorded with each run's PID.
    public static var hostName: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "unknown" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Marks `killed` every `running` run of this host whose process no longer holds its lock (``RunLock``); returns
    /// their ids. Every read calls it first. Runs of other hosts (a database on a shared disk) are left as they are:
    /// their locks cannot be judged from here.
    @discardableResult
    public func reapDeadRuns() throws(RunStoreError) -> [RunID] {
        let host = Self.hostName
        let running = try read { db in
            try Row.fetchAll(db, sql: "SELECT id, liveness_token, pid FROM runs WHERE status = 'running' AND host = ?", arguments: [host])
        }
        var dead: [RunID] = []
        for row in running {
            let id: RunID = row["id"], token: String = row["liveness_token"], pid: Int64 = row["pid"]
            guard RunLock.holderIsGone(lockDirectory.appendingPathComponent("\(token).lock")) else { continue }
            let message = "process \(pid) on \(host) ended without finishing the run (killed or crashed); found at \(Self.timestamp(Date()))"
            // Only a run still marked running: one that finished between the two statements keeps its status.
            let changed = try write { db in
                try db.execute(sql: "UPDATE runs SET status = 'killed', error = ? WHERE id = ? AND status = 'running'",
                               arguments: [message, id])
                return db.changesCount
            }
            if changed > 0 { dead.append(id) }
        }
        return dead
    }

    /// Runs, newest first.
    ///
    /// - Parameters:
    ///   - status: only runs with this status.
    ///   - kind: only runs of this kind.
    ///   - parent: only the children of this run (e.g. a tune run's trials); nil: top-level runs, unless
    ///     `includeChildren`.
    ///   - limit: at most this many.
    public func list(status: RunStatus? = nil, kind: RunKind? = nil, parent: RunID? = nil, includeChildren: Bool = false,
                     limit: Int? = nil) throws(RunStoreError) -> [Run] {
        try reapDeadRuns()
        var conditions: [String] = [], arguments: [(any DatabaseValueConvertible)?] = []
        if let status { conditions.append("status = ?"); arguments.append(status.rawValue) }
        if let kind { conditions.append("kind = ?"); arguments.append(kind.rawValue) }
        if let parent { conditions.append("parent_id = ?"); arguments.append(parent) } else if !includeChildren { conditions.append("parent_id IS NULL") }
        var sql = Self.runSelect + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")) + " ORDER BY id DESC"
        if let limit { sql += " LIMIT \(max(0, limit))" }
        let args = StatementArguments(arguments)
        return try read { db in try Row.fetchAll(db, sql: sql, arguments: args).map(Self.run) }
    }

    /// One run with its epochs and children.
    ///
    /// - Throws: ``RunStoreError/noSuchRun(path:id:)``.
    public func detail(_ id: RunID) throws(RunStoreError) -> RunDetail {
        try reapDeadRuns()
        let path = url.path
        return try read { db in
            guard let row = try Row.fetchOne(db, sql: Self.runSelect + " WHERE id = ?", arguments: [id]) else {
                throw RunStoreError.noSuchRun(path: path, id: id)
            }
            let epochs = try Row.fetchAll(db, sql: "SELECT * FROM epochs WHERE run_id = ? ORDER BY ordinal, rowid", arguments: [id]).map(Self.epoch)
            let children = try Row.fetchAll(db, sql: Self.runSelect + " WHERE parent_id = ? ORDER BY id", arguments: [id]).map(Self.run)
            return RunDetail(run: try Self.run(row), epochs: epochs, children: children)
        }
    }

    /// Several runs side by side, in the order given.
    public func compare(_ ids: [RunID]) throws(RunStoreError) -> RunComparison {
        var runs: [RunDetail] = []
        for id in ids { runs.append(try detail(id)) }
        return RunComparison(runs: runs)
    }

    /// Deletes a run with its epochs and children. A running run (its process alive) is refused.
    public func delete(_ id: RunID) throws(RunStoreError) {
        let run = try detail(id).run
        guard run.status != .running else {
            throw .sqlite(path: url.path, detail: "run \(id) is running (PID \(run.pid) on \(run.host)): it can be deleted once it ends")
        }
        try write { db in try db.execute(sql: "DELETE FROM runs WHERE id = ?", arguments: [id]) }
    }

    static let runSelect = "SELECT runs.*, (SELECT count(*) FROM epochs WHERE epochs.run_id = runs.id) AS epoch_count FROM runs"

    static func run(_ row: Row) throws -> Run {
        let decoder = JSONDecoder()
        func object<T: Decodable>(_ column: String, _ type: T.Type) throws -> T {
            let text: String = row[column] ?? "{}"
            return try decoder.decode(T.self, from: Data(text.utf8))
        }
        let statusText: String = row["status"]
        return Run(id: row["id"], parentID: row["parent_id"], kind: RunKind(rawValue: row["kind"]),
                   status: RunStatus(rawValue: statusText) ?? .failed, startedAt: date(row["started_at"]) ?? .distantPast,
                   endedAt: date(row["ended_at"]), wallSeconds: row["wall_seconds"], commandLine: row["command_line"],
                   parameters: try object("parameters", [String: String].self), toolVersion: row["tool_version"],
                   dataFingerprint: row["data_fingerprint"], bundlePath: row["bundle_path"], bundleSha256: row["bundle_sha256"],
                   metrics: try object("metrics", [String: Double].self), error: row["error"], pid: Int32(truncatingIfNeeded: row["pid"] as Int64),
                   host: row["host"], epochCount: row["epoch_count"])
    }

    static func epoch(_ row: Row) -> EpochRecord {
        func float(_ c: String) -> Float? { (row[c] as Double?).map(Float.init) }
        return EpochRecord(epoch: row["epoch"], phase: row["phase"], trainLoss: float("train_loss") ?? .nan, validLoss: float("valid_loss"),
                           validMetric: float("valid_metric"), learningRate: float("learning_rate") ?? .nan, seconds: row["seconds"])
    }
}
