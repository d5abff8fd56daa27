import Foundation
import TransferKit

/// One task of a multi-task model: a named head on the shared backbone's features with its own loss — softmax
/// cross-entropy (classification), binary cross-entropy (multi-label, labels separated by `;` in a cell) or MSE on
/// standardised values (regression). Its labels come from a CSV column; an empty cell means "not labelled for this
/// task", and that sample adds nothing to the task's loss.
public struct TaskSpec: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case classification, multilabel, regression
    }
    /// The task's name: its head's key in the bundle and in predictions (letters, digits, `_` and `-`).
    public var name: String
    public var kind: Kind
    /// The CSV column holding its labels (default: ``name``).
    public var column: String?
    /// Its weight under ``LossWeighting/fixed`` (default 1).
    public var weight: Float?

    public init(name: String, kind: Kind, column: String? = nil, weight: Float? = nil) {
        self.name = name; self.kind = kind; self.column = column; self.weight = weight
    }

    public var columnName: String { column ?? name }
}

/// How the tasks' losses are combined.
public enum LossWeighting: String, Codable, Sendable, CaseIterable {
    /// `Σ wₜ Lₜ` with each task's ``TaskSpec/weight``.
    case fixed
    /// Homoscedastic uncertainty (Kendall, Gal & Cipolla 2018): `Σ Lₜ / (2 exp sₜ) + sₜ / 2` with a learned
    /// `sₜ = log σₜ²` per task (LibMTL `UW`).
    case uncertainty
    /// Dynamic weight average (Liu, Johns & Davison 2019): `wₜ = T · softmax(rₜ / τ)` with `rₜ` the ratio of task
    /// `t`'s mean training loss in the last two epochs, τ = 2; equal weights in the first two epochs (LibMTL `DWA`).
    case dwa
}

/// The tasks of a multi-task run (the `--tasks` JSON file: `{"tasks": [{"name": …, "kind": …}], "weighting": …}`).
public struct MultiTaskSpec: Codable, Sendable, Equatable {
    public var tasks: [TaskSpec]
    public var weighting: LossWeighting?

    public init(tasks: [TaskSpec], weighting: LossWeighting? = nil) {
        self.tasks = tasks; self.weighting = weighting
    }

    /// The most tasks a model may have.
    public static let maxTasks = 64

    /// Refuses no tasks, more than ``maxTasks``, a repeated or unusable name, and a weight that is not finite and ≥ 0.
    public func validate(file: String) throws(MultiTaskError) {
        guard (1...Self.maxTasks).contains(tasks.count) else {
            throw .invalidSpec(file: file, reason: "\(tasks.count) tasks; 1…\(Self.maxTasks) are accepted")
        }
        var seen = Set<String>()
        for t in tasks {
            let ok = !t.name.isEmpty && t.name.count <= 64
                && t.name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "_" || $0 == "-" }
            guard ok else {
                throw .invalidSpec(file: file, reason: "task name \"\(t.name)\": use 1…64 ASCII letters, digits, '_' or '-'")
            }
            guard t.name != "log_var" else { throw .invalidSpec(file: file, reason: "task name \"log_var\" is reserved (the uncertainty weights)") }
            guard seen.insert(t.name).inserted else { throw .invalidSpec(file: file, reason: "task name \"\(t.name)\" appears twice") }
            if let w = t.weight, !(w.isFinite && w >= 0) {
                throw .invalidSpec(file: file, reason: "task \(t.name): weight \(w); a finite number ≥ 0 is accepted")
            }
        }
    }

    /// Reads and validates a spec file.
    public static func load(_ path: String) throws(MultiTaskError) -> MultiTaskSpec {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .invalidSpec(file: path, reason: "cannot be read: \((error as NSError).localizedDescription)")
        }
        let spec: MultiTaskSpec
        do { spec = try JSONDecoder().decode(MultiTaskSpec.self, from: data) } catch {
            throw .invalidSpec(file: path, reason: "not a task spec ({\"tasks\": [{\"name\": …, \"kind\": \"classification|multilabel|regression\"}]}): \(error)")
        }
        try spec.validate(file: path)
        return spec
    }
}

/// Why multi-task data, a spec or a bundle was refused; each message names the file, column or task.
public enum MultiTaskError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidSpec(file: String, reason: String)
    case invalidData(file: String, line: Int?, reason: String)
    case invalidBundle(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidSpec(f, r): "\(f): \(r)"
        case let .invalidData(f, line?, r): "\(f):\(line): \(r)"
        case let .invalidData(f, nil, r): "\(f): \(r)"
        case let .invalidBundle(p, r): "\(p): \(r)"
        }
    }
}
