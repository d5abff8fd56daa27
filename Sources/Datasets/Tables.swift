import Foundation

/// A delimited text table: the header and the data rows, each with the line it starts on (1-based).
public struct DelimitedTable {
    public var header: [String]
    /// Each row's fields, decoded as UTF-8 (invalid bytes become U+FFFD); `invalidUTF8` maps the index of every field
    /// whose bytes were not valid UTF-8 to those bytes escaped (`\xHH`), so a caller can refuse such a field where a
    /// silently repaired value would mislead (a label would become a new class).
    public var rows: [(line: Int, fields: [String], invalidUTF8: [Int: String])]

    /// Parses CSV/TSV the way Python's `csv` module does with its defaults (RFC 4180 quoting): a field that starts
    /// with `"` is quoted, `""` inside it is one quote, and delimiters and newlines inside it are data; a quote in
    /// the middle of an unquoted field is an ordinary character. CRLF or LF line ends, a UTF-8 byte order mark and
    /// blank lines are skipped. Every row must have as many fields as the header.
    public static func parse(_ bytes: [UInt8], delimiter: UInt8, file: String) throws(DatasetError) -> DelimitedTable {
        var records: [(line: Int, fields: [String], invalidUTF8: [Int: String])] = []
        var fields: [String] = []
        var invalid: [Int: String] = [:]
        var field: [UInt8] = []
        var i = 0
        let n = bytes.count
        if n >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { i = 3 }
        var line = 1
        var recordLine = 1
        var atFieldStart = true
        var inQuotes = false
        var quoteLine = 1
        var recordHasContent = false

        func endField() {
            let text = String(decoding: field, as: UTF8.self)
            // U+FFFD appears where the bytes were invalid (or, rarely, was in the file): only then check exactly.
            if text.unicodeScalars.contains("\u{FFFD}") && String(validatingUTF8Bytes: field) == nil {
                invalid[fields.count] = escapedBytes(field)
            }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
            atFieldStart = true
        }
        func endRecord() {
            endField()
            if recordHasContent || fields.count > 1 || !(fields.first ?? "").isEmpty {
                records.append((recordLine, fields, invalid))
            }
            fields.removeAll(keepingCapacity: true)
            invalid.removeAll()
            recordHasContent = false
        }

        while i < n {
            let c = bytes[i]
            if inQuotes {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < n && bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(c)
                        i += 2
                        continue
                    }
                    inQuotes = false
                    i += 1
                    // After the closing quote only a delimiter or a line end may follow.
                    if i < n && bytes[i] != delimiter && bytes[i] != UInt8(ascii: "\n") && bytes[i] != UInt8(ascii: "\r") {
                        throw .malformedTable(file: file, line: line, reason: "unexpected character after a closing quote")
                    }
                    continue
                }
                if c == UInt8(ascii: "\n") { line += 1 }
                field.append(c)
                i += 1
                continue
            }
            if atFieldStart && c == UInt8(ascii: "\"") {
                inQuotes = true
                quoteLine = line
                atFieldStart = false
                recordHasContent = true
                i += 1
                continue
            }
            if c == delimiter {
                recordHasContent = true
                endField()
                i += 1
                continue
            }
            if c == UInt8(ascii: "\r") || c == UInt8(ascii: "\n") {
                endRecord()
                if c == UInt8(ascii: "\r") && i + 1 < n && bytes[i + 1] == UInt8(ascii: "\n") { i += 1 }
                i += 1
                line += 1
                recordLine = line
                continue
            }
            atFieldStart = false
            recordHasContent = true
            field.append(c)
            i += 1
        }
        if inQuotes {
            throw .malformedTable(file: file, line: quoteLine, reason: "quoted field is never closed")
        }
        if recordHasContent || !field.isEmpty || !fields.isEmpty { endRecord() }
        guard let first = records.first else { throw .emptyDataset(path: file) }
        let header = first.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        let rows = Array(records.dropFirst())
        for r in rows where r.fields.count != header.count {
            throw .malformedTable(file: file, line: r.line, reason: "\(r.fields.count) fields, but the header has \(header.count)")
        }
        return DelimitedTable(header: header, rows: rows)
    }

    /// Throws ``DatasetError/invalidLabel(file:line:value:reason:)`` for the first row whose field in `column` is not
    /// valid UTF-8, naming the row and showing the bytes escaped.
    public func requireUTF8(column: Int, name: String, file: String) throws(DatasetError) {
        for r in rows {
            if let escaped = r.invalidUTF8[column] {
                throw .invalidLabel(file: file, line: r.line, value: escaped,
                                    reason: "the '\(name)' field is not valid UTF-8 (invalid bytes shown as \\xHH)")
            }
        }
    }

    /// The index of column `name` (exact match after trimming the header), or `.missingColumn`.
    public func column(_ name: String, file: String) throws(DatasetError) -> Int {
        guard let c = header.firstIndex(of: name) else {
            throw .missingColumn(name: name, file: file, available: header)
        }
        return c
    }
}

/// One parsed JSON value (enough of JSON for JSON-lines tables).
enum JSONValue: Decodable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    /// The value as label text: strings as they are, integral numbers without a fraction ("3", not "3.0").
    var text: String? {
        switch self {
        case .string(let s): return s
        case .number(let d):
            if d == d.rounded() && Swift.abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        case .bool(let b): return b ? "true" : "false"
        case .array, .object, .null: return nil
        }
    }
}

/// JSON lines: one JSON object per non-blank line.
enum JSONLines {
    static func parse(_ bytes: [UInt8], file: String) throws(DatasetError) -> [(line: Int, object: [String: JSONValue])] {
        var out: [(Int, [String: JSONValue])] = []
        let decoder = JSONDecoder()
        var start = 0
        var line = 1
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { start = 3 }
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let slice = bytes[start..<end]
            if slice.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) {
                do {
                    let obj = try decoder.decode([String: JSONValue].self, from: Data(slice))
                    out.append((line, obj))
                } catch {
                    throw .malformedTable(file: file, line: line, reason: "not a JSON object: \(error)")
                }
            }
            start = end + 1
            line += 1
        }
        if out.isEmpty { throw .emptyDataset(path: file) }
        return out
    }
}

/// A label as read from a table, before the task decides what it means.
enum RawLabel {
    case single(String)
    case list([String])
}

/// Turns raw table labels into targets: the shared rules of ``CSVManifestDataset`` and ``TextTableDataset``.
enum LabelInterpreter {
    /// With `task` nil the task is inferred: multi-label when any label holds `separator` (or is a JSON array);
    /// regression when every label is a number and at least one is not an integer; classification otherwise
    /// (integer labels such as 0/1 are class names; pass `.regression` to treat them as values).
    ///
    /// Non-finite numbers: when every label is either a finite number or a spelling of a missing or non-finite one
    /// (anything `Double(_:)` parses to NaN or ±infinity, or one of ``missingValueSpellings``: `nan`, `inf`, `NA`,
    /// `null`, … in any case), with at least one finite number and at least one such spelling, the column is a
    /// numeric column with missing or broken values, never a set of classes named "nan" and "1.5": inference throws
    /// ``DatasetError/invalidLabel(file:line:value:reason:)`` for the first such row, listing the others' lines.
    /// An explicit `task: .classification` keeps such labels as class names; `.regression` refuses them row by row.
    ///
    /// Class names are sorted numerically when all are integers, else by code point (Python's `sorted`).
    static func interpret(_ raw: [(line: Int, label: RawLabel)], task: TaskKind?, separator: Character,
                          file: String) throws(DatasetError) -> (TaskKind, [String], [Target]) {
        let resolved: TaskKind
        if let task {
            resolved = task
        } else {
            try refuseNonFiniteNumericColumn(raw, file: file)
            let anyList = raw.contains { r in
                if case .list = r.label { return true }
                if case .single(let s) = r.label { return s.contains(separator) }
                return false
            }
            if anyList {
                resolved = .multiLabel
            } else {
                let texts = raw.compactMap { r -> String? in if case .single(let s) = r.label { return s }; return nil }
                let numbers = texts.map { Double($0.trimmingCharacters(in: .whitespaces)) }
                let allNumeric = !numbers.isEmpty && numbers.allSatisfy { $0 != nil && $0!.isFinite }
                let anyFraction = numbers.contains { $0 != nil && $0! != $0!.rounded() }
                resolved = allNumeric && anyFraction ? .regression : .classification
            }
        }

        switch resolved {
        case .regression:
            var targets: [Target] = []
            targets.reserveCapacity(raw.count)
            for r in raw {
                guard case .single(let s) = r.label else {
                    throw .invalidLabel(file: file, line: r.line, value: "[list]", reason: "a list cannot be a regression target")
                }
                guard let v = Double(s.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                    throw .invalidLabel(file: file, line: r.line, value: s, reason: "not a finite number (regression targets must be numeric)")
                }
                targets.append(.regression(Float(v)))
            }
            return (.regression, [], targets)

        case .classification:
            var names: [String] = []
            var seen = Set<String>()
            var labels: [(Int, String)] = []
            for r in raw {
                let s: String
                switch r.label {
                case .single(let v): s = v.trimmingCharacters(in: .whitespaces)
                case .list(let l):
                    guard l.count == 1 else {
                        throw .invalidLabel(file: file, line: r.line, value: l.joined(separator: String(separator)),
                                            reason: "several labels in a single-label (classification) table")
                    }
                    s = l[0].trimmingCharacters(in: .whitespaces)
                }
                guard !s.isEmpty else { throw .invalidLabel(file: file, line: r.line, value: s, reason: "empty label") }
                if seen.insert(s).inserted { names.append(s) }
                labels.append((r.line, s))
            }
            names = sortedClassNames(names)
            let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            return (.classification, names, labels.map { .classIndex(index[$0.1]!) })

        case .multiLabel:
            var perRow: [[String]] = []
            var seen = Set<String>()
            var names: [String] = []
            for r in raw {
                let parts: [String]
                switch r.label {
                case .single(let v): parts = v.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
                case .list(let l): parts = l
                }
                let cleaned = parts.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                for c in cleaned where seen.insert(c).inserted { names.append(c) }
                perRow.append(cleaned)
            }
            names = sortedClassNames(names)
            let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            return (.multiLabel, names, perRow.map { row in .multiLabel(Array(Set(row.map { index[$0]! })).sorted()) })
        }
    }

    /// Throws when every label is a number and some are NaN or infinite (see ``interpret(_:task:separator:file:)``).
    static func refuseNonFiniteNumericColumn(_ raw: [(line: Int, label: RawLabel)], file: String) throws(DatasetError) {
        var nonFinite: [(line: Int, value: String)] = []
        var finite = 0
        for r in raw {
            guard case .single(let s) = r.label else { return }
            let t = s.trimmingCharacters(in: .whitespaces)
            if let v = Double(t), v.isFinite {
                finite += 1
            } else if Double(t) != nil || missingValueSpellings.contains(t.lowercased()) {
                nonFinite.append((r.line, s))
            } else {
                return
            }
        }
        guard finite > 0, let first = nonFinite.first else { return }
        let lines = nonFinite.map { String($0.line) }
        let shown = lines.prefix(10).joined(separator: ", ") + (lines.count > 10 ? ", … (\(lines.count) in all)" : "")
        throw .invalidLabel(file: file, line: first.line, value: first.value,
                            reason: "not a finite number in a column of numbers (regression targets must be finite); "
                                + "non-finite labels on line\(lines.count == 1 ? "" : "s") \(shown)")
    }

    /// Spellings of a missing or non-finite number that pandas, R and spreadsheets write (compared lowercased),
    /// beyond those `Double(_:)` parses.
    static let missingValueSpellings: Set<String> = [
        "nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "na", "n/a", "null", "none",
    ]

    static func sortedClassNames(_ names: [String]) -> [String] {
        let ints = names.map { Int($0) }
        if !names.isEmpty && ints.allSatisfy({ $0 != nil }) {
            return zip(names, ints).sorted { $0.1! < $1.1! }.map(\.0)
        }
        return names.sorted(by: codePointLess)
    }
}
