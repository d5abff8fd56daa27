import ArgumentParser
import Foundation
import Reports
import Tracking
import TransferKit

/// `--runs-db PATH`: the run database (default `$TRANSFERKIT_CACHE/runs.sqlite`).
struct RunsDatabaseOption: ParsableArguments {
    @Option(name: .customLong("runs-db"), help: "The run database, an SQLite file (default: $TRANSFERKIT_CACHE/runs.sqlite, i.e. ~/.cache/transferkit/runs.sqlite).")
    var path: String?

    func validate() throws {
        if let path, path.isEmpty { throw ValidationError("--runs-db must be the path of a database file (received an empty string)") }
    }

    var url: URL { path.map { URL(fileURLWithPath: $0) } ?? RunStore.defaultURL }

    /// The database, created when missing when `create` is true; its errors as one runtime error naming the path.
    func open(create: Bool) throws -> RunStore {
        do throws(RunStoreError) { return try RunStore(at: url, create: create) } catch { throw RuntimeError(error.description) }
    }
}

/// `--runs-db` and `--no-track` of the commands whose runs are recorded (train, evaluate).
struct TrackingOption: ParsableArguments {
    @OptionGroup var database: RunsDatabaseOption
    @Flag(name: .customLong("no-track"), help: "Do not record this run in the run database.") var noTrack = false

    func validate() throws {
        if noTrack && database.path != nil { throw ValidationError("--no-track and --runs-db exclude each other: give one") }
    }

    /// The open database, or nil with --no-track. Opened before any work, so a bad --runs-db stops the command
    /// before it trains.
    func store() throws -> RunStore? { noTrack ? nil : try database.open(create: true) }

    /// `tracking` in a command's JSON: the run's id, the database and the seconds recording cost (opening the
    /// database, fingerprinting the data, every write); nil when the run was not recorded.
    static func summary(_ store: RunStore?, _ recorder: RunRecorder?) -> [String: Any]? {
        guard let store, let recorder else { return nil }
        return ["run_id": recorder.id, "database": store.url.path, "seconds": store.openSeconds + recorder.secondsRecording]
    }

    /// The same in words, for the summary a command prints.
    static func line(_ store: RunStore?, _ recorder: RunRecorder?) -> String? {
        guard let store, let recorder else { return nil }
        let option = store.url == RunStore.defaultURL.standardizedFileURL ? "" : " --runs-db \(store.url.path)"
        return "recorded as run \(recorder.id) in \(store.url.path) (`transfer runs show \(recorder.id)\(option)`)"
    }

    /// Prints a recording failure once as a warning; the run goes on.
    static func warn(_ error: RunStoreError) {
        printErr("warning: this run is no longer being recorded: \(error.description)")
    }
}

/// `transfer runs`: the recorded runs.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List, show and compare the recorded train/evaluate/tune runs.",
        subcommands: [RunsListCommand.self, RunsShowCommand.self, RunsCompareCommand.self, RunsDeleteCommand.self])
}

/// `--status` values.
extension RunStatus: ExpressibleByArgument {}

/// Prints `value` as one JSON object (``RunStore/jsonEncoder()``).
func printRunJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try RunStore.jsonEncoder().encode(value), as: UTF8.self))
}

/// A run id on the command line: a positive whole number.
func parseRunID(_ s: String) -> RunID? { RunID(s).flatMap { $0 > 0 ? $0 : nil } }

struct RunsListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List recorded runs, newest first.")
    @OptionGroup var database: RunsDatabaseOption
    @Option(name: .long, help: "Only runs with this status.") var status: RunStatus?
    @Option(name: .long, help: "At most N runs, 1…1000000.") var limit = 50
    @Flag(name: .long, help: "Include the trials of tune runs.") var trials = false
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws { try requireWhole("--limit", limit, in: 1...1_000_000) }

    func run() throws {
        // No database yet: no run was recorded (a list does not create one).
        let runs = FileManager.default.fileExists(atPath: database.url.path)
            ? try database.open(create: false).list(status: status, includeChildren: trials, limit: limit) : []
        if json {
            struct Listing: Encodable { var database: String; var runs: [Run] }
            try printRunJSON(Listing(database: database.url.path, runs: runs))
        } else if runs.isEmpty {
            print("no runs recorded in \(database.url.path)")
        } else {
            print(RunReports.listTable(runs))
        }
    }
}

struct RunsShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one run: parameters, epochs, metrics.")
    @OptionGroup var database: RunsDatabaseOption
    @Argument(help: "The run's id (see `transfer runs list`).") var id: String
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard parseRunID(id) != nil else { throw ValidationError("run id must be a whole number ≥ 1 (received '\(id)')") }
    }

    func run() throws {
        let detail = try database.open(create: false).detail(parseRunID(id)!)
        if json { try printRunJSON(detail) } else { print(RunReports.detailText(detail)) }
    }
}

struct RunsCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compare", abstract: "Compare runs side by side; --html writes their curves overlaid.")
    @OptionGroup var database: RunsDatabaseOption
    @Argument(help: "Two or more run ids.") var ids: [String]
    @Option(name: .long, help: "Write a self-contained HTML page with the runs' curves overlaid to this file.") var html: String?
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard ids.count >= 2 else { throw ValidationError("compare needs at least 2 run ids (received \(ids.count))") }
        for s in ids where parseRunID(s) == nil { throw ValidationError("run id must be a whole number ≥ 1 (received '\(s)')") }
        guard let html else { return }
        guard !html.isEmpty else { throw ValidationError("--html must be the path of a file (received an empty string)") }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: html, isDirectory: &isDir), isDir.boolValue {
            throw ValidationError("--html \(html) is a directory: give the path of an .html file")
        }
    }

    func run() throws {
        let comparison = try database.open(create: false).compare(ids.compactMap(parseRunID))
        if let html {
            do { try Data(RunReports.comparisonHTML(comparison).utf8).write(to: URL(fileURLWithPath: html), options: .atomic) } catch {
                throw RuntimeError("--html \(html): cannot write the page: \(FileErrors.reason(error))")
            }
        }
        if json { try printRunJSON(comparison) } else {
            print(RunReports.comparisonTable(comparison))
            if let html { print("curves: \(html)") }
        }
    }
}

struct RunsDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a run (with its epochs and trials).")
    @OptionGroup var database: RunsDatabaseOption
    @Argument(help: "The run's id.") var id: String

    func validate() throws {
        guard parseRunID(id) != nil else { throw ValidationError("run id must be a whole number ≥ 1 (received '\(id)')") }
    }

    func run() throws {
        try database.open(create: false).delete(parseRunID(id)!)
        print("deleted run \(id)")
    }
}
