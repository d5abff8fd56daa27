import Foundation
import Tensors

/// What `transfer quantize` decided for a bundle, stored beside it as `quantization.json`: the calibrated input
/// quantisation of every int8 layer (by module path, e.g. `blocks.3.0.conv_pw`, `encoder.layer.0.output.dense`)
/// and the convolution and linear layers left in fp32 (the head, layers that never ran during calibration, layers
/// wrapped by an adapter).
public struct QuantizationPlan: Sendable, Equatable {
    /// The `quantization.json` format this TransferKit writes and reads.
    public static let formatVersion = 1
    public static let fileName = "quantization.json"

    public struct Layer: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable { case conv2d, linear }
        public let path: String
        public let kind: Kind
        public let input: Int8InputQuantization
    }

    public var method: CalibrationMethod
    public var samples: Int
    public var layers: [Layer]
    /// Paths of convolution and linear layers that stay fp32, with the reason.
    public var fp32Layers: [String: String]

    public init(method: CalibrationMethod, samples: Int, layers: [Layer], fp32Layers: [String: String]) {
        self.method = method
        self.samples = samples
        self.layers = layers
        self.fp32Layers = fp32Layers
    }

    /// The JSON bytes (sorted keys, pretty-printed).
    public func encoded() throws -> Data {
        let object: [String: Any] = [
            "format_version": Self.formatVersion,
            "method": method.rawValue,
            "samples": samples,
            "layers": layers.map { ["path": $0.path, "kind": $0.kind.rawValue, "scale": Double($0.input.scale),
                                    "signed": $0.input.signed] as [String: Any] },
            "fp32_layers": fp32Layers,
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// Decodes `quantization.json` strictly: exactly the format's keys and types, a known `format_version`, a known
    /// method, `samples` ≥ 1, every scale finite and > 0, no path twice. `file` names the file in errors.
    public static func decode(_ data: Data, file: String) throws(QuantizationError) -> QuantizationPlan {
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidFile(file: file, reason: "not a JSON object")
        }
        try exactKeys(root, ["format_version", "method", "samples", "layers", "fp32_layers"], file: file, at: "")
        let version = try int(root, "format_version", file: file)
        guard version == formatVersion else {
            throw .invalidValue(file: file, key: "format_version", value: "\(version)", accepted: "\(formatVersion)")
        }
        let methodName = try string(root, "method", file: file)
        guard let method = CalibrationMethod(rawValue: methodName) else {
            throw .invalidValue(file: file, key: "method", value: methodName,
                                accepted: CalibrationMethod.allCases.map(\.rawValue).joined(separator: ", "))
        }
        let samples = try int(root, "samples", file: file)
        guard samples >= 1 else { throw .invalidValue(file: file, key: "samples", value: "\(samples)", accepted: "≥ 1") }
        guard let rawLayers = root["layers"] as? [[String: Any]] else {
            throw .invalidValue(file: file, key: "layers", value: "\(root["layers"] ?? "null")", accepted: "an array of objects")
        }
        var layers: [Layer] = [], seen = Set<String>()
        for (i, l) in rawLayers.enumerated() {
            let at = "layers[\(i)]"
            try exactKeys(l, ["path", "kind", "scale", "signed"], file: file, at: at)
            let path = try string(l, "path", file: file, at: at)
            guard seen.insert(path).inserted else {
                throw .invalidValue(file: file, key: "\(at).path", value: path, accepted: "a path listed once")
            }
            let kindName = try string(l, "kind", file: file, at: at)
            guard let kind = Layer.Kind(rawValue: kindName) else {
                throw .invalidValue(file: file, key: "\(at).kind", value: kindName, accepted: "conv2d, linear")
            }
            guard let scale = number(l["scale"]).map(Float.init), scale.isFinite, scale > 0 else {
                throw .invalidValue(file: file, key: "\(at).scale", value: "\(l["scale"] ?? "null")", accepted: "a finite number > 0")
            }
            guard let value = l["signed"], isBool(value), let signed = value as? Bool else {
                throw .invalidValue(file: file, key: "\(at).signed", value: "\(l["signed"] ?? "null")", accepted: "true or false")
            }
            layers.append(Layer(path: path, kind: kind, input: Int8InputQuantization(scale: scale, signed: signed)))
        }
        guard let fp32 = root["fp32_layers"] as? [String: String] else {
            throw .invalidValue(file: file, key: "fp32_layers", value: "\(root["fp32_layers"] ?? "null")",
                                accepted: "an object of layer path → reason")
        }
        if let both = fp32.keys.first(where: seen.contains) {
            throw .invalidValue(file: file, key: "fp32_layers", value: both, accepted: "paths not also in layers")
        }
        return QuantizationPlan(method: method, samples: samples, layers: layers, fp32Layers: fp32)
    }

    private static func exactKeys(_ o: [String: Any], _ keys: Set<String>, file: String, at: String) throws(QuantizationError) {
        let prefix = at.isEmpty ? "" : at + "."
        if let missing = keys.subtracting(o.keys).sorted().first { throw .missingKey(file: file, key: prefix + missing) }
        if let extra = Set(o.keys).subtracting(keys).sorted().first { throw .unknownKey(file: file, key: prefix + extra) }
    }

    /// Whether a JSONSerialization value is a JSON `true`/`false` (not a number that bridges to Bool).
    private static func isBool(_ v: Any) -> Bool {
        if let n = v as? NSNumber, String(cString: n.objCType) == "c" { return true }
        return type(of: v) == Bool.self
    }

    /// A JSON number as a Double (nil for booleans, strings and everything else).
    private static func number(_ v: Any?) -> Double? {
        guard let v, !isBool(v) else { return nil }
        if let d = v as? Double { return d }
        if let i = v as? Int { return Double(i) }
        return (v as? NSNumber)?.doubleValue
    }

    private static func int(_ o: [String: Any], _ key: String, file: String) throws(QuantizationError) -> Int {
        guard let d = number(o[key]), let v = Int(exactly: d) else {
            throw .invalidValue(file: file, key: key, value: "\(o[key] ?? "null")", accepted: "an integer")
        }
        return v
    }

    private static func string(_ o: [String: Any], _ key: String, file: String, at: String = "") throws(QuantizationError) -> String {
        guard let s = o[key] as? String, !s.isEmpty else {
            throw .invalidValue(file: file, key: at.isEmpty ? key : "\(at).\(key)", value: "\(o[key] ?? "null")",
                                accepted: "a non-empty string")
        }
        return s
    }
}

/// Why a quantisation could not be made, stored or loaded.
public enum QuantizationError: Error, Equatable, CustomStringConvertible {
    case invalidFile(file: String, reason: String)
    case missingKey(file: String, key: String)
    case unknownKey(file: String, key: String)
    case invalidValue(file: String, key: String, value: String, accepted: String)
    /// `quantization.json` does not hash to the manifest's `training.quantization_sha256`.
    case fileHash(file: String, expected: String, actual: String)
    /// The manifest records a quantisation but the bundle has no `quantization.json`, or the reverse.
    case inconsistentBundle(directory: String, reason: String)
    /// A plan's layer path does not resolve in the model, or not to a layer of its kind.
    case layerMismatch(file: String, path: String, reason: String)
    case noCalibrationInputs(path: String, reason: String)
    case unsupportedCPU(isa: String)

    public var description: String {
        switch self {
        case let .invalidFile(f, r): "\(f): \(r)"
        case let .missingKey(f, k): "\(f): missing key \"\(k)\""
        case let .unknownKey(f, k): "\(f): unknown key \"\(k)\""
        case let .invalidValue(f, k, v, a): "\(f): \"\(k)\" is \(v); accepted: \(a)"
        case let .fileHash(f, e, a): "\(f) was edited or damaged: its SHA-256 is \(a), the manifest records \(e)"
        case let .inconsistentBundle(d, r): "\(d): \(r)"
        case let .layerMismatch(f, p, r): "\(f): layer \"\(p)\" \(r)"
        case let .noCalibrationInputs(p, r): "--calibration \(p): \(r)"
        case let .unsupportedCPU(isa):
            "int8 inference needs a CPU with AVX-512 VNNI or AVX2 (oneDNN int8 kernels); this CPU's oneDNN ISA is \(isa)"
        }
    }
}
