import Foundation
import GRDB

/// Why the run database could not be opened, read or written. Every message names the database's path.
public enum RunStoreError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The path is a directory (the database is a file).
    case isADirectory(path: String)
    /// The file or its directory cannot be created or written (`reason`: the system's words).
    case notWritable(path: String, reason: String)
    /// No database at the path (read commands do not create one).
    case missing(path: String)
    /// The file is not an SQLite database (SQLite's `SQLITE_NOTADB`), or is one without TransferKit's run tables.
    case notADatabase(path: String, detail: String)
    /// The file is an SQLite database whose content is damaged (`SQLITE_CORRUPT`, a truncated file).
    case corrupt(path: String, detail: String)
    /// The database was written by a newer TransferKit (a schema migration this build does not know).
    case newerSchema(path: String, migrations: [String])
    /// No run with this id.
    case noSuchRun(path: String, id: RunID)
    /// Any other SQLite failure.
    case sqlite(path: String, detail: String)

    public var description: String {
        switch self {
        case .isADirectory(let p):
            return "run database \(p) is a directory: give the path of a database file (e.g. \(p)/runs.sqlite)"
        case .notWritable(let p, let reason):
            return "run database \(p) cannot be written: \(reason) (choose another --runs-db, or --no-track)"
        case .missing(let p):
            return "no run database at \(p): no run was recorded there yet (see --runs-db)"
        case .notADatabase(let p, let detail):
            return "\(p) is not a TransferKit run database (\(detail)): choose another --runs-db; the file was left as it is"
        case .corrupt(let p, let detail):
            return "run database \(p) is damaged (\(detail)): move it away to start a new one, or choose another --runs-db"
        case .newerSchema(let p, let m):
            return "run database \(p) was written by a newer TransferKit (unknown schema migrations \(m)): upgrade, or choose another --runs-db"
        case .noSuchRun(let p, let id):
            return "no run \(id) in \(p) (see `transfer runs list`)"
        case .sqlite(let p, let detail):
            return "run database \(p): \(detail)"
        }
    }

    /// A GRDB/SQLite error as one of these, naming `path`.
    static func wrap(_ error: Error, path: String) -> RunStoreError {
        if let e = error as? RunStoreError { return e }
        guard let db = error as? DatabaseError else { return .sqlite(path: path, detail: "\(error)") }
        let detail = db.message ?? "SQLite error \(db.resultCode.rawValue)"
        switch db.resultCode {
        case .SQLITE_NOTADB: return .notADatabase(path: path, detail: detail)
        case .SQLITE_CORRUPT: return .corrupt(path: path, detail: detail)
        case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_IOERR, .SQLITE_FULL:
            return .notWritable(path: path, reason: detail)
        default: return .sqlite(path: path, detail: detail)
        }
    }
}
