import Foundation

/// A JSON value as parsed, before any field is interpreted.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int.self) { self = .int(i); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    /// What an error message says was found: the type and (shortened) value.
    var echo: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .int(let i): "\(i)"
        case .number(let d): "\(d)"
        case .string(let s): "the string \(ManifestText.quote(s))"
        case .array(let a): "an array of \(a.count) values"
        case .object(let o): "an object with \(o.count) keys"
        }
    }
}

/// Reads typed fields of one JSON object, throwing errors that name the file and the dotted key.
struct FieldReader {
    let file: String
    let object: [String: JSONValue]
    let prefix: String

    func name(_ key: String) -> String { prefix + key }

    func value(_ key: String) throws(ModelBundle.BundleError) -> JSONValue {
        guard let v = object[key] else { throw .missingKey(file: file, key: name(key)) }
        return v
    }

    func rejectUnknownKeys(_ known: [String]) throws(ModelBundle.BundleError) {
        if let k = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw .unknownKey(file: file, key: name(k), known: known)
        }
    }

    func wrong(_ key: String, _ expected: String, _ v: JSONValue) -> ModelBundle.BundleError {
        .wrongType(file: file, key: name(key), expected: expected, found: v.echo)
    }

    func int(_ key: String) throws(ModelBundle.BundleError) -> Int {
        let v = try value(key)
        guard case .int(let i) = v else { throw wrong(key, "an integer", v) }
        return i
    }

    func bool(_ key: String) throws(ModelBundle.BundleError) -> Bool {
        let v = try value(key)
        guard case .bool(let b) = v else { throw wrong(key, "true or false", v) }
        return b
    }

    func string(_ key: String) throws(ModelBundle.BundleError) -> String {
        let v = try value(key)
        guard case .string(let s) = v else { throw wrong(key, "a string", v) }
        return s
    }

    func float(_ key: String) throws(ModelBundle.BundleError) -> Float {
        let v = try value(key)
        switch v {
        case .int(let i): return Float(i)
        case .number(let d): return Float(d)
        default: throw wrong(key, "a number", v)
        }
    }

    func optionalString(_ key: String) throws(ModelBundle.BundleError) -> String? {
        guard let v = object[key], v != .null else { return nil }
        guard case .string(let s) = v else { throw wrong(key, "a string or null", v) }
        return s
    }

    func strings(_ key: String) throws(ModelBundle.BundleError) -> [String] {
        let v = try value(key)
        guard case .array(let a) = v else { throw wrong(key, "an array of strings", v) }
        var out: [String] = []
        for (i, e) in a.enumerated() {
            guard case .string(let s) = e else { throw wrong("\(key)[\(i)]", "a string", e) }
            out.append(s)
        }
        return out
    }

    func optionalFloats(_ key: String) throws(ModelBundle.BundleError) -> [Float]? {
        guard let v = object[key], v != .null else { return nil }
        guard case .array(let a) = v else { throw wrong(key, "an array of numbers or null", v) }
        var out: [Float] = []
        for (i, e) in a.enumerated() {
            switch e {
            case .int(let n): out.append(Float(n))
            case .number(let d): out.append(Float(d))
            default: throw wrong("\(key)[\(i)]", "a number", e)
            }
        }
        return out
    }

    func optionalObject(_ key: String) throws(ModelBundle.BundleError) -> FieldReader? {
        guard let v = object[key], v != .null else { return nil }
        guard case .object(let o) = v else { throw wrong(key, "an object or null", v) }
        return FieldReader(file: file, object: o, prefix: name(key) + ".")
    }

    func stringMap(_ key: String) throws(ModelBundle.BundleError) -> [String: String] {
        let v = try value(key)
        guard case .object(let o) = v else { throw wrong(key, "an object of strings", v) }
        var out: [String: String] = [:]
        for (k, e) in o {
            guard case .string(let s) = e else { throw wrong("\(key).\(k)", "a string", e) }
            out[k] = s
        }
        return out
    }

    /// Numbers, or the strings "nan", "inf" and "-inf" the writer uses for non-finite metrics.
    func metricMap(_ key: String) throws(ModelBundle.BundleError) -> [String: Double] {
        let v = try value(key)
        guard case .object(let o) = v else { throw wrong(key, "an object of numbers", v) }
        var out: [String: Double] = [:]
        for (k, e) in o {
            switch e {
            case .int(let i): out[k] = Double(i)
            case .number(let d): out[k] = d
            case .string("nan"): out[k] = .nan
            case .string("inf"): out[k] = .infinity
            case .string("-inf"): out[k] = -.infinity
            default: throw wrong("\(key).\(k)", "a number (or \"nan\", \"inf\", \"-inf\")", e)
            }
        }
        return out
    }
}
