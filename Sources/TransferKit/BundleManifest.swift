import Foundation
import Models

extension ModelBundle {
    /// The contents of a bundle's `manifest.json` (snake_case keys). Read it with ``ModelBundle/manifest(at:)``, which
    /// checks every field (``ModelBundle/validate(_:file:)``) and the ``manifestSha256`` that covers them.
    public struct Manifest: Codable, Sendable, Equatable {
        public var formatVersion: Int
        public var toolVersion: String
        public var createdAt: String
        public var backbone: String
        public var backboneWeightsSha256: String
        public var task: String
        public var strategy: String
        public var head: String
        public var headInputs: Int
        public var headOutputs: Int
        public var headHidden: Int
        public var labels: [String]
        /// Per-class decision thresholds (multi-label).
        public var thresholds: [Float]?
        /// Target standardisation (regression): predictions are `output · std + mean`.
        public var targetScaling: TargetScaling?
        public var preprocessing: ImagePreprocessing?
        public var weightsSha256: String
        /// Whether weights.safetensors holds the fine-tuned backbone too (else the registry's weights are used).
        public var includesBackbone: Bool
        public var training: [String: String]
        /// Metrics at the end of training; non-finite values are written as the strings "nan", "inf", "-inf".
        public var metrics: [String: Double]
        /// The inference precision of training (``Tensors/Precision``): the features the head learned from.
        public var precision: String?
        /// SHA-256 of the canonical encoding of every other field (``canonicalSha256``): an edit of any of them,
        /// the task or labels included, makes the bundle fail to load instead of reinterpreting its outputs.
        public var manifestSha256: String
    }
}

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

extension ModelBundle.Manifest {
    /// The keys of format ``ModelBundle/formatVersion``; `thresholds`, `target_scaling`, `preprocessing` and
    /// `precision` may be absent or null.
    static let keys = ["format_version", "tool_version", "created_at", "backbone", "backbone_weights_sha256", "task", "strategy",
                       "head", "head_inputs", "head_outputs", "head_hidden", "labels", "thresholds", "target_scaling",
                       "preprocessing", "weights_sha256", "includes_backbone", "training", "metrics", "precision", "manifest_sha256"]

    /// Decodes manifest.json bytes strictly: not JSON, not an object, a missing or unknown key, or a value of the
    /// wrong type throws a ``ModelBundle/BundleError`` naming `file` and the key. Values are not range-checked here
    /// (see ``ModelBundle/validate(_:file:)``).
    public static func decode(_ data: Data, file: String) throws(ModelBundle.BundleError) -> Self {
        guard !data.isEmpty else { throw .notJSON(file: file, reason: "the file is empty") }
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let DecodingError.dataCorrupted(c) {
            throw .notJSON(file: file, reason: syntaxError(in: data) ?? c.debugDescription)
        } catch {
            throw .notJSON(file: file, reason: "\(error)")
        }
        guard case .object(let o) = root else {
            throw .wrongType(file: file, key: "(top level)", expected: "a JSON object", found: root.echo)
        }
        let r = FieldReader(file: file, object: o, prefix: "")
        // The format first: an older or newer bundle gets that message, whatever else differs.
        let version = try r.int("format_version")
        guard version == ModelBundle.formatVersion else {
            throw .formatVersion(file: file, found: version, supported: ModelBundle.formatVersion)
        }
        try r.rejectUnknownKeys(keys)
        var scaling: TargetScaling?
        if let s = try r.optionalObject("target_scaling") {
            try s.rejectUnknownKeys(["mean", "std"])
            scaling = TargetScaling(mean: try s.float("mean"), std: try s.float("std"))
        }
        var preprocessing: ImagePreprocessing?
        if let p = try r.optionalObject("preprocessing") {
            try p.rejectUnknownKeys(["input_size", "resize_shorter_to", "normalization", "interpolation"])
            let name = try p.string("normalization")
            guard let n = ImagePreprocessing.Normalization(rawValue: name) else {
                throw .invalidValue(file: file, key: "preprocessing.normalization", value: ManifestText.quote(name),
                                    accepted: "imagenet, efficientNetLite")
            }
            preprocessing = ImagePreprocessing(inputSize: try p.int("input_size"), resizeShorterTo: try p.int("resize_shorter_to"),
                                               normalization: n, interpolation: try p.string("interpolation"))
        }
        return Self(
            formatVersion: version, toolVersion: try r.string("tool_version"), createdAt: try r.string("created_at"),
            backbone: try r.string("backbone"), backboneWeightsSha256: try r.string("backbone_weights_sha256"),
            task: try r.string("task"), strategy: try r.string("strategy"), head: try r.string("head"),
            headInputs: try r.int("head_inputs"), headOutputs: try r.int("head_outputs"), headHidden: try r.int("head_hidden"),
            labels: try r.strings("labels"), thresholds: try r.optionalFloats("thresholds"), targetScaling: scaling,
            preprocessing: preprocessing, weightsSha256: try r.string("weights_sha256"), includesBackbone: try r.bool("includes_backbone"),
            training: try r.stringMap("training"), metrics: try r.metricMap("metrics"),
            precision: try r.optionalString("precision"), manifestSha256: try r.string("manifest_sha256"))
    }
}

extension ModelBundle.Manifest {
    /// Where `data` stops being JSON, as the parser says it ("Invalid value around character 21") plus the line and
    /// column of that byte; nil when it parses.
    static func syntaxError(in data: Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return nil
        } catch {
            let text = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
            guard let r = text.range(of: #"character [0-9]+"#, options: .regularExpression),
                  let offset = Int(text[r].dropFirst("character ".count)) else { return text }
            let before = data.prefix(Swift.max(0, Swift.min(offset, data.count)))
            let line = before.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
            let column = before.count - (before.lastIndex(of: 0x0A).map { $0 - before.startIndex + 1 } ?? 0) + 1
            return "\(text) (line \(line), column \(column))"
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
