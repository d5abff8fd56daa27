import Foundation
import TransferKit

/// `transfer train --config FILE`: a JSON object of train options (keys: the flags' names without `--`, as
/// `transfer tune` writes them), turned into flags before parsing. A flag given on the command line overrides the
/// file's value; an unknown key, a value of the wrong type, or an unreadable file is refused naming the file and key;
/// values are then checked by `train`'s own validation (whose messages name the flag, i.e. the key).
enum TrainConfigFile {
    enum Kind { case string, integer, number, boolean, flag }

    static let keys: [String: Kind] = [
        "model": .string, "data": .string, "test": .string, "strategy": .string, "unfreeze": .string, "augment": .string,
        "head": .string, "task": .string, "loss": .string, "precision": .string, "long-texts": .string, "max-windows": .integer,
        "val-split": .number, "lr": .number, "head-lr": .number, "mixup": .number, "cutmix": .number,
        "head-weight-decay": .number, "label-smoothing": .number, "logistic-c": .number,
        "epochs": .integer, "head-epochs": .integer, "batch-size": .integer, "views": .integer, "early-stopping": .integer,
        "seed": .integer, "calibrate": .boolean, "head-cv": .flag,
    ]

    /// `arguments` with the config file's options added (when the subcommand is `train` and `--config` is given).
    static func expand(_ arguments: [String]) throws -> [String] {
        guard arguments.first == "train" else { return arguments }
        var path: String?
        for (i, a) in arguments.enumerated() {
            if a == "--config", i + 1 < arguments.count { path = arguments[i + 1] }
            if a.hasPrefix("--config=") { path = String(a.dropFirst("--config=".count)) }
        }
        guard let path else { return arguments }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw RuntimeError("--config \(path): cannot read the file: \(FileErrors.reason(error))")
        }
        guard let object = try? JSONDecoder().decode([String: Value].self, from: data) else {
            throw RuntimeError("--config \(path): not a JSON object of train options (e.g. {\"head\": \"mlp\", \"head-lr\": 0.01})")
        }
        var added: [String] = []
        for key in object.keys.sorted() {
            guard let kind = keys[key] else {
                throw RuntimeError("--config \(path): unknown key \"\(key)\" (accepted: \(keys.keys.sorted().joined(separator: ", ")))")
            }
            let given = ["--\(key)", "--no-\(key)"]
            if arguments.contains(where: { a in given.contains { a == $0 || a.hasPrefix($0 + "=") } }) { continue }
            added += try flags(key, kind, object[key]!, path: path)
        }
        return [arguments[0]] + added + arguments.dropFirst()
    }

    /// A JSON value of the file.
    enum Value: Decodable, CustomStringConvertible {
        case bool(Bool), integer(Int64), number(Double), string(String), other

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .bool(b) } else if let i = try? c.decode(Int64.self) { self = .integer(i) }
            else if let d = try? c.decode(Double.self) { self = .number(d) } else if let s = try? c.decode(String.self) { self = .string(s) }
            else { self = .other }
        }

        var description: String {
            switch self {
            case .bool(let b): String(b)
            case .integer(let i): String(i)
            case .number(let d): String(d)
            case .string(let s): "\"\(s)\""
            case .other: "a list, object or null"
            }
        }
    }

    static func flags(_ key: String, _ kind: Kind, _ value: Value, path: String) throws -> [String] {
        func bad(_ expected: String) -> RuntimeError {
            RuntimeError("--config \(path): key \"\(key)\" must be \(expected) (received \(value))")
        }
        switch (kind, value) {
        case (.string, .string(let s)): return ["--\(key)", s]
        case (.string, .integer(let i)) where key == "unfreeze": return ["--\(key)", String(i)]
        case (.string, _): throw bad("a string")
        case (.integer, .integer(let i)): return ["--\(key)", String(i)]
        case (.integer, _): throw bad("a whole number")
        case (.number, .integer(let i)): return ["--\(key)", String(i)]
        case (.number, .number(let d)) where d.isFinite: return ["--\(key)", String(d)]
        case (.number, _): throw bad("a number")
        case (.boolean, .bool(let b)): return [b ? "--\(key)" : "--no-\(key)"]
        case (.boolean, _): throw bad("true or false")
        case (.flag, .bool(let b)): return b ? ["--\(key)"] : []
        case (.flag, _): throw bad("true or false")
        }
    }
}
