import Datasets
import Foundation
import Tensors
import TransferKit

/// A task as trained: its spec, its label names (classes; the target's name for regression) and, for regression,
/// the standardisation of its targets.
public struct TaskHead: Codable, Sendable, Equatable {
    public var spec: TaskSpec
    public var labels: [String]
    public var scaling: TargetScaling?

    /// Outputs of its head: one per label, or 1 for regression.
    public var outputs: Int { spec.kind == .regression ? 1 : labels.count }
    /// Columns of its targets in the target matrix (``MultiTaskData/targetMatrix(_:tasks:)``): the class index, the
    /// label indicators, or the standardised value.
    public var columns: Int { spec.kind == .multilabel ? labels.count : 1 }
}

/// Images with labels for several tasks, read from a CSV `path,task1,task2,…` whose empty cells are missing labels.
public struct MultiTaskData {
    public var inputs: [LabeledInput]
    /// `targets[t][i]`: sample `i`'s target for task `t`, nil when its cell is empty.
    public var targets: [[Target?]]
    public var tasks: [TaskHead]

    /// Reads `path` (comma-separated, a `path` column and one column per task; relative paths are resolved against
    /// the CSV's folder). Class names are the sorted distinct labels, or `known`'s when given (test data: a label
    /// the training data lacks is refused). Regression targets are standardised with `known`'s scaling, or one
    /// fitted on this data.
    public static func load(csv path: String, spec: MultiTaskSpec, known: [TaskHead]? = nil) throws -> MultiTaskData {
        let table = try readTable(path)
        let pc = try table.column("path", file: path)
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        var inputs: [LabeledInput] = []
        for r in table.rows {
            let p = r.fields[pc].trimmingCharacters(in: .whitespaces)
            guard !p.isEmpty else { throw MultiTaskError.invalidData(file: path, line: r.line, reason: "empty 'path' value") }
            inputs.append(.image(path: p.hasPrefix("/") ? p : base.appendingPathComponent(p).path))
        }
        var heads: [TaskHead] = [], targets: [[Target?]] = []
        for (ti, task) in spec.tasks.enumerated() {
            let c = try table.column(task.columnName, file: path)
            try table.requireUTF8(column: c, name: task.columnName, file: path)
            let cells = table.rows.map { (line: $0.line, text: $0.fields[c].trimmingCharacters(in: .whitespaces)) }
            let (head, column) = try interpret(cells, task: task, known: known?[ti], file: path)
            heads.append(head)
            targets.append(column)
        }
        return MultiTaskData(inputs: inputs, targets: targets, tasks: heads)
    }

    static func readTable(_ path: String) throws -> DelimitedTable {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw MultiTaskError.invalidData(file: path, line: nil, reason: "cannot be read: \((error as NSError).localizedDescription)")
        }
        let table = try DelimitedTable.parse([UInt8](data), delimiter: UInt8(ascii: ","), file: path)
        guard !table.rows.isEmpty else { throw MultiTaskError.invalidData(file: path, line: nil, reason: "no data rows") }
        return table
    }

    /// One task's column: its targets (nil for empty cells) and its head.
    static func interpret(_ cells: [(line: Int, text: String)], task: TaskSpec, known: TaskHead?,
                          file: String) throws -> (TaskHead, [Target?]) {
        let present = cells.filter { !$0.text.isEmpty }
        guard !present.isEmpty else {
            throw MultiTaskError.invalidData(file: file, line: nil, reason: "column '\(task.columnName)' (task \(task.name)) has no labels")
        }
        switch task.kind {
        case .regression:
            var values: [Float?] = []
            for c in cells {
                if c.text.isEmpty { values.append(nil); continue }
                guard let v = Float(c.text), v.isFinite else {
                    throw MultiTaskError.invalidData(file: file, line: c.line, reason: "task \(task.name): '\(c.text)' is not a finite number")
                }
                values.append(v)
            }
            let scaling = known?.scaling ?? TargetScaling(fitting: values.compactMap { $0 })
            return (TaskHead(spec: task, labels: [task.name], scaling: scaling), values.map { $0.map(Target.regression) })
        case .classification, .multilabel:
            let split: (String) -> [String] = task.kind == .multilabel
                ? { $0.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } } : { [$0] }
            let labels = known?.labels ?? Array(Set(present.flatMap { split($0.text) })).sorted()
            let minimum = task.kind == .classification ? 2 : 1
            guard labels.count >= minimum else {
                throw MultiTaskError.invalidData(file: file, line: nil, reason: "task \(task.name) has \(labels.count) label(s); \(task.kind.rawValue) needs at least \(minimum)")
            }
            let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
            var out: [Target?] = []
            for c in cells {
                if c.text.isEmpty { out.append(nil); continue }
                var ids: [Int] = []
                for l in split(c.text) {
                    guard let i = index[l] else {
                        throw MultiTaskError.invalidData(file: file, line: c.line, reason: "task \(task.name): label '\(l)' is not one of the training labels \(labels)")
                    }
                    ids.append(i)
                }
                out.append(task.kind == .classification ? .classIndex(ids[0]) : .multiLabel(Array(Set(ids)).sorted()))
            }
            return (TaskHead(spec: task, labels: labels, scaling: nil), out)
        }
    }

    /// A spec for `columns` of the CSV at `path`, each task's kind inferred from its cells: regression when every
    /// label is a number and some are not whole, multi-label when a label holds `;`, classification otherwise.
    public static func inferSpec(csv path: String, columns: [String], weighting: LossWeighting?) throws -> MultiTaskSpec {
        let table = try readTable(path)
        var tasks: [TaskSpec] = []
        for name in columns {
            let c = try table.column(name, file: path)
            let cells = table.rows.map { $0.fields[c].trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let numbers = cells.compactMap { Float($0) }
            let kind: TaskSpec.Kind = numbers.count == cells.count && numbers.contains { $0 != $0.rounded() } ? .regression
                : cells.contains { $0.contains(";") } ? .multilabel : .classification
            tasks.append(TaskSpec(name: name, kind: kind))
        }
        let spec = MultiTaskSpec(tasks: tasks, weighting: weighting)
        try spec.validate(file: "--label-columns")
        return spec
    }

    /// The rows `idx` (training/validation splits).
    public func subset(_ idx: [Int]) -> MultiTaskData {
        MultiTaskData(inputs: idx.map { inputs[$0] }, targets: targets.map { col in idx.map { col[$0] } }, tasks: tasks)
    }

    /// The targets of samples `rows` as one matrix `[rows, Σ columns]` (see ``TaskHead/columns``), NaN where a
    /// sample has no label for a task; regression values standardised.
    public static func targetMatrix(_ data: MultiTaskData, rows: [Int]) -> Tensor {
        let width = data.tasks.reduce(0) { $0 + $1.columns }
        var m = [Float](repeating: .nan, count: rows.count * width)
        for (r, i) in rows.enumerated() {
            var offset = 0
            for (t, head) in data.tasks.enumerated() {
                switch data.targets[t][i] {
                case .classIndex(let c)?: m[r * width + offset] = Float(c)
                case .multiLabel(let ls)?:
                    for j in 0..<head.columns { m[r * width + offset + j] = 0 }
                    for l in ls { m[r * width + offset + l] = 1 }
                case .regression(let v)?:
                    let s = head.scaling ?? TargetScaling(mean: 0, std: 1)
                    m[r * width + offset] = (v - s.mean) / s.std
                case nil: break
                }
                offset += head.columns
            }
        }
        return Tensor(shape: [rows.count, width], data: m)
    }
}
