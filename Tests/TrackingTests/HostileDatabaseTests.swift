import Foundation
import GRDB
import Testing
@testable import Tracking

/// Paths and files that are not a run database are refused with an error naming the path, and left as they were.
@Suite struct HostileDatabaseTests {
    func refusal(_ url: URL, create: Bool = true) -> RunStoreError? {
        do { _ = try RunStore(at: url, create: create); return nil } catch { return error }
    }

    @Test func aDirectoryIsRefused() throws {
        let dir = try TempDirectory()
        #expect(refusal(dir.url) == .isADirectory(path: dir.url.path))
    }

    @Test func aFileThatIsNotSQLiteIsRefusedAndLeftUntouched() throws {
        let dir = try TempDirectory()
        let url = dir.file("runs.sqlite")
        let bytes = Data("id,label\n1,cat\n".utf8) + Data(repeating: 0xAB, count: 5000)
        try bytes.write(to: url)
        guard case .notADatabase(let path, let detail)? = refusal(url) else { Issue.record("not refused"); return }
        #expect(path == url.path && detail.contains("header"))
        #expect(try Data(contentsOf: url) == bytes)
        #expect(!FileManager.default.fileExists(atPath: url.path + "-wal"))
    }

    /// A real database of 300 epochs, checkpointed into the main file.
    func filledDatabase(_ url: URL) throws -> Data {
        let store = try RunStore(at: url)
        let r = try RunRecorder.begin(in: store, kind: .train, parameters: ["pad": String(repeating: "x", count: 20000)])
        for e in 0..<300 { try r.record(epoch("head", e, loss: Float(e))) }
        try r.finish(metrics: [:])
        try store.queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return try Data(contentsOf: url)
    }

    @Test func aTruncatedOrOverwrittenDatabaseIsRefusedAsDamaged() throws {
        let dir = try TempDirectory()
        let url = dir.file("runs.sqlite")
        let full = try filledDatabase(url)
        #expect(full.count > 16384)
        try full.prefix(full.count / 2).write(to: url)
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: url.path + suffix) }
        var e = refusal(url)
        guard case .corrupt(let path, let detail)? = e else { Issue.record("not refused as damaged: \(String(describing: e))"); return }
        #expect(path == url.path && detail.contains("truncated") && e!.description.contains("damaged"))
        // Same size, pages overwritten in the middle: found by quick_check.
        var damaged = full
        for i in 8192..<(8192 + 4096) { damaged[i] = UInt8(truncatingIfNeeded: i &* 31) }
        try damaged.write(to: url)
        e = refusal(url)
        guard case .corrupt? = e else { Issue.record("not refused as damaged: \(String(describing: e))"); return }
    }

    @Test func anotherApplicationsSQLiteDatabaseIsRefused() throws {
        let dir = try TempDirectory()
        let url = dir.file("app.sqlite")
        try DatabaseQueue(path: url.path).write { db in try db.execute(sql: "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me')") }
        guard case .notADatabase(_, let detail)? = refusal(url) else { Issue.record("not refused"); return }
        #expect(detail.contains("notes"))
        #expect(try DatabaseQueue(path: url.path).read { db in try String.fetchOne(db, sql: "SELECT body FROM notes") } == "keep me")
    }

    @Test func anUnwritableLocationAndAMissingFileAreRefused() throws {
        let dir = try TempDirectory()
        let file = dir.file("plain-file")
        try Data("x".utf8).write(to: file)
        guard case .notWritable(let path, let reason)? = refusal(file.appendingPathComponent("runs.sqlite")) else { Issue.record("not refused"); return }
        #expect(path.hasSuffix("plain-file/runs.sqlite") && !reason.isEmpty)
        #expect(refusal(URL(fileURLWithPath: "/proc/runs.sqlite")) != nil)
        #expect(refusal(dir.file("absent.sqlite"), create: false) == .missing(path: dir.file("absent.sqlite").path))
        #expect(!FileManager.default.fileExists(atPath: dir.file("absent.sqlite").path), "a read does not create a database")
    }
}
