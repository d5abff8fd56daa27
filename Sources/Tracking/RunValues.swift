import Foundation
import TransferKit

/// A run's number in its database (SQLite `INTEGER PRIMARY KEY`, from 1).
public typealias RunID = Int64

/// What a run did. An open set: `train`, `evaluate`, `tune` and `trial` (one configuration a `tune` run tried,
/// recorded as a child of the tune run) are the project's; a new capability (`adapt`, `distill`, …) records its own
/// kind without a schema change.
public struct RunKind: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
    public var description: String { rawValue }

    public static let train: RunKind = "train"
    public static let evaluate: RunKind = "evaluate"
    public static let tune: RunKind = "tune"
    /// One trial of a `tune` run (its parent).
    public static let trial: RunKind = "trial"
}

/// Where a run stands. `running` is only ever read while the process that recorded it still holds the run's lock
/// (``RunLock``); a run whose process is gone reads as `killed`.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case running, finished, failed, killed
}

/// One recorded run: what was asked, on what, by which process, and how it ended.
public struct Run: Codable, Sendable, Equatable {
    public var id: RunID
    /// The run this one belongs to (a `tune` run for its trials); nil for a top-level run.
    public var parentID: RunID?
    public var kind: RunKind
    public var status: RunStatus
    public var startedAt: Date
    public var endedAt: Date?
    /// Seconds from the start to the end (finished or failed); nil while running or when killed.
    public var wallSeconds: Double?
    /// The command line as typed (arguments shell-quoted where needed).
    public var commandLine: String
    /// The run's configuration: options as given and as resolved (model, data, strategy, learning rates, …).
    public var parameters: [String: String]
    /// `TransferKitVersion.string` of the tool that recorded the run.
    public var toolVersion: String
    /// ``DataFingerprint`` of the data the run read (nil when it read none).
    public var dataFingerprint: String?
    /// The bundle the run wrote (train) or read (evaluate).
    public var bundlePath: String?
    /// That bundle's `manifest_sha256`.
    public var bundleSha256: String?
    /// Final metrics (finite values only), e.g. `validation_accuracy`, `test_macro_f1`.
    public var metrics: [String: Double]
    /// Why a failed run failed.
    public var error: String?
    public var pid: Int32
    public var host: String
    /// Epochs recorded so far.
    public var epochCount: Int

    // `parentId` so that snake_case JSON (`parent_id`) reads back (``RunStore/jsonDecoder()``).
    private enum CodingKeys: String, CodingKey {
        case id, parentID = "parentId", kind, status, startedAt, endedAt, wallSeconds, commandLine, parameters, toolVersion
        case dataFingerprint, bundlePath, bundleSha256, metrics, error, pid, host, epochCount
    }

    public init(id: RunID, parentID: RunID?, kind: RunKind, status: RunStatus, startedAt: Date, endedAt: Date?, wallSeconds: Double?,
                commandLine: String, parameters: [String: String], toolVersion: String, dataFingerprint: String?, bundlePath: String?,
                bundleSha256: String?, metrics: [String: Double], error: String?, pid: Int32, host: String, epochCount: Int) {
        self.id = id; self.parentID = parentID; self.kind = kind; self.status = status; self.startedAt = startedAt
        self.endedAt = endedAt; self.wallSeconds = wallSeconds; self.commandLine = commandLine; self.parameters = parameters
        self.toolVersion = toolVersion; self.dataFingerprint = dataFingerprint; self.bundlePath = bundlePath
        self.bundleSha256 = bundleSha256; self.metrics = metrics; self.error = error; self.pid = pid; self.host = host
        self.epochCount = epochCount
    }
}

/// A run with its per-epoch history and its children (the trials of a tune run).
public struct RunDetail: Codable, Sendable, Equatable {
    public var run: Run
    /// Every recorded epoch in the order they ran (phase by phase; `epoch` counts from 0 within its phase, as
    /// `metrics.jsonl` does). A loss that was not a finite number is read back as NaN.
    public var epochs: [EpochRecord]
    public var children: [Run]

    public init(run: Run, epochs: [EpochRecord], children: [Run]) {
        self.run = run; self.epochs = epochs; self.children = children
    }
}

/// Several runs side by side: what ``RunStore/compare(_:)`` returns.
public struct RunComparison: Codable, Sendable, Equatable {
    public var runs: [RunDetail]
    /// Parameter keys whose values are not the same in every run (a key missing from a run counts as different).
    public var differingParameters: [String]
    /// Every final-metric key any of the runs has, sorted.
    public var metricKeys: [String]

    public init(runs: [RunDetail]) {
        self.runs = runs
        let keys = Set(runs.flatMap { $0.run.parameters.keys })
        differingParameters = keys.filter { k in Set(runs.map { $0.run.parameters[k] ?? "\u{0}" }).count > 1 }.sorted()
        metricKeys = Set(runs.flatMap { $0.run.metrics.keys }).sorted()
    }
}

extension RunStore {
    /// The JSON form of the read API's values: snake_case keys, sorted, ISO 8601 UTC dates with milliseconds (as
    /// stored), non-finite losses as
    /// "NaN"/"Infinity" (as `metrics.jsonl` writes them).
    public static func jsonEncoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(RunStore.timestamp(date))
        }
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }

    /// Reads what ``jsonEncoder()`` writes.
    public static func jsonDecoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = RunStore.date(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "\(text) is not an ISO 8601 timestamp")
            }
            return date
        }
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }
}
