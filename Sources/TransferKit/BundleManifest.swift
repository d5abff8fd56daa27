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
