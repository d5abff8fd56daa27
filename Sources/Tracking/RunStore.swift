import Assets
import Foundation
import GRDB
import TransferKit
#if canImport(Glibc)
import Glibc
#endif

/// The SQLite database of recorded runs (GRDB.swift), shared by every TransferKit process on a machine.
///
/// Concurrency: the database is in WAL mode (readers never block the writer), every write is one `BEGIN IMMEDIATE`
/// transaction, and a connection waits up to ``busyTimeout`` for another process's write lock instead of failing
/// with `SQLITE_BUSY` (SQLite's "Write-Ahead Logging" and "busy timeout" documentation). Schema migrations run
/// under an exclusive `flock(2)` on `PATH.locks/migrate.lock`, so two processes opening a new file migrate it once.
///
/// Liveness: each running run holds a lock (``RunLock``) in `PATH.locks/`; every read first marks as `killed` the
/// running runs of this host whose lock is free, i.e. whose process is gone (SIGKILL, a crash, a power cut).
public final class RunStore: Sendable {
    /// The database file.
    public let url: URL
    /// Where the per-run lock files live: `PATH.locks/`.
    public let lockDirectory: URL
    let queue: DatabaseQueue
    /// Seconds spent opening the database (checks, migrations, `quick_check`).
    public let openSeconds: Double
    /// How long a write waits for another process's write to end.
    public static let busyTimeout: TimeInterval = 60

    /// `$TRANSFERKIT_CACHE/runs.sqlite` (default `~/.cache/transferkit/runs.sqlite`).
    public static var defaultURL: URL { AssetStore.cacheRoot.appendingPathComponent("runs.sqlite") }

    /// Opens the database at `url`, creating it (and its directory) when `create` is true, and migrates its schema.
    ///
    /// - Throws: ``RunStoreError``: `isADirectory`, `notWritable`, `missing` (when `create` is false),
    ///   `notADatabase` (not SQLite, or another application's SQLite file), `corrupt` (a damaged or truncated file,
    ///   found by the header's size or `PRAGMA quick_check`), `newerSchema`.
    public init(at url: URL, create: Bool = true) throws(RunStoreError) {
        let t0 = Date()
        let url = url.standardizedFileURL
        let path = url.path
        self.url = url
        lockDirectory = URL(fileURLWithPath: path + ".locks", isDirectory: true)
        try Self.checkPath(url, create: create)
        do {
            try FileManager.default.createDirectory(at: lockDirectory, withIntermediateDirectories: true)
        } catch {
            throw .notWritable(path: lockDirectory.path, reason: FileErrors.reason(error))
        }
        var config = Configuration()
        config.journalMode = .wal
        config.busyMode = .timeout(Self.busyTimeout)
        config.label = "TransferKit runs"
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        // Opening (which switches a new file to WAL) and migrating happen under one lock: two processes creating the
        // same database at once would otherwise race on the journal-mode switch ("database is locked").
        let lock: RunLock
        do { lock = try RunLock(url: lockDirectory.appendingPathComponent("migrate.lock"), wait: true) } catch {
            throw .notWritable(path: lockDirectory.path, reason: error.description)
        }
        defer { lock.release() }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
        } catch {
            throw RunStoreError.wrap(error, path: path)
        }
        try Self.migrate(queue, path: path)
        self.queue = queue
        openSeconds = Date().timeIntervalSince(t0)
    }

    /// Refuses a directory, a missing file (unless creating), a file that does not start with SQLite's header, and
    /// a location where the file cannot be created or written.
    static func checkPath(_ url: URL, create: Bool) throws(RunStoreError) {
        let fm = FileManager.default, path = url.path
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            guard !isDir.boolValue else { throw .isADirectory(path: path) }
            guard access(path, R_OK | W_OK) == 0 else { throw .notWritable(path: path, reason: String(cString: strerror(errno))) }
            let size = (try? fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            if size > 0 {
                guard let h = FileHandle(forReadingAtPath: path) else { throw .notWritable(path: path, reason: "cannot be opened") }
                defer { try? h.close() }
                let head = [UInt8]((try? h.read(upToCount: 100)) ?? Data())
                guard head.count == 100, head.prefix(16).elementsEqual("SQLite format 3\u{0}".utf8) else {
                    throw .notADatabase(path: path, detail: "its first bytes are not SQLite's file header")
                }
                if let pages = declaredBytes(header: head), pages > size {
                    throw .corrupt(path: path, detail: "its header declares \(pages) bytes of pages, the file holds \(size): truncated")
                }
            }
            return
        }
        guard create else { throw .missing(path: path) }
        let dir = url.deletingLastPathComponent()
        if fm.fileExists(atPath: dir.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw .notWritable(path: path, reason: "\(dir.path) is a file, not a directory") }
        } else {
            do { try fm.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                throw .notWritable(path: path, reason: FileErrors.reason(error))
            }
        }
        guard access(dir.path, W_OK | X_OK) == 0 else {
            throw .notWritable(path: path, reason: "\(dir.path): \(String(cString: strerror(errno)))")
        }
    }

    /// The database size its 100-byte header declares (page size × page count; SQLite's "Database File Format",
    /// §1.3), when the header's count is valid (its change counter equals its version-valid-for number).
    static func declaredBytes(header h: [UInt8]) -> Int? {
        func be32(_ at: Int) -> Int { h[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        let raw = Int(h[16]) << 8 | Int(h[17])
        let pageSize = raw == 1 ? 65536 : raw
        guard pageSize >= 512, be32(28) > 0, be32(24) == be32(92) else { return nil }
        return pageSize * be32(28)
    }

    /// Files up to this size get a `PRAGMA quick_check` when opened (about 0.1 s at this size); larger ones only
    /// the header's size check, so that opening stays cheap however many runs the file holds.
    static let quickCheckLimit = 16 << 20

    /// Applies the migrations this build knows (the caller holds the migration lock); refuses another application's database
    /// and one migrated by a newer build; runs `PRAGMA quick_check` (files up to ``quickCheckLimit``) so a damaged
    /// file is refused now, not mid-run.
    static func migrate(_ queue: DatabaseQueue, path: String) throws(RunStoreError) {
        do {
            let migrator = RunSchema.migrator
            try queue.read { db in
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                if size <= quickCheckLimit {
                    let check = try String.fetchOne(db, sql: "PRAGMA quick_check(1)") ?? "no answer"
                    guard check == "ok" else { throw RunStoreError.corrupt(path: path, detail: "quick_check: \(check)") }
                }
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                if !tables.isEmpty && !tables.contains("grdb_migrations") {
                    throw RunStoreError.notADatabase(path: path, detail: "an SQLite database of another kind, with tables \(tables.sorted())")
                }
                if try migrator.hasBeenSuperseded(db) {
                    let known = Set(migrator.migrations)
                    let applied = try migrator.appliedIdentifiers(db)
                    throw RunStoreError.newerSchema(path: path, migrations: applied.subtracting(known).sorted())
                }
            }
            try migrator.migrate(queue)
            let tables = try queue.read { db in try RunSchema.tables.filter { try !db.tableExists($0) } }
            guard tables.isEmpty else { throw RunStoreError.notADatabase(path: path, detail: "tables \(tables) are missing") }
        } catch {
            throw RunStoreError.wrap(error, path: path)
        }
    }

    /// One `BEGIN IMMEDIATE` transaction (it takes the write lock first, so it never fails half-way on a busy
    /// database); errors come back as ``RunStoreError``.
    func write<T>(_ body: (Database) throws -> T) throws(RunStoreError) -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch {
            throw RunStoreError.wrap(error, path: url.path)
        }
    }

    /// A read; errors come back as ``RunStoreError``.
    func read<T>(_ body: (Database) throws -> T) throws(RunStoreError) -> T {
        do { return try queue.read(body) } catch { throw RunStoreError.wrap(error, path: url.path) }
    }


    /// Timestamps as stored: ISO 8601 UTC with milliseconds, `2026-12-04T18:30:00.123Z` (they sort as text).
    static func timestamp(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(ms / 1000), parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(ms % 1000))
    }

    /// A stored timestamp as a date, to the millisecond.
    static func date(_ text: String?) -> Date? {
        guard let text, let d = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) else { return nil }
        return Date(timeIntervalSince1970: (d.timeIntervalSince1970 * 1000).rounded() / 1000)
    }
}
