import Foundation
import Tensors
import TransferKit

/// A backbone's pooled features of a dataset, split as `transfer train` splits it (training and validation rows of
/// ``TransferKit/LabeledData/split(validation:seed:)``, plus optional test data), as a table another tool can read:
/// the proof that a head matches scikit-learn on the very same features (tools/sklearn_head_reference.py).
public struct FeatureTable: Sendable {
    public struct Row: Sendable {
        /// "train", "validation" or "test".
        public var split: String
        public var label: String
        public var input: String
        public var features: [Float]
    }
    public var rows: [Row] = []
    public let dimension: Int
    /// Inputs that could not be read, with the reason.
    public var skipped: [(path: String, reason: String)] = []

    /// Features of `data` (split with `validationFraction` and `seed`) and of `test`, through `backbone`'s feature
    /// cache at `cacheRoot`. Classification data only.
    public init(backbone: FeatureBackbone, data: LabeledData, test: LabeledData?, validationFraction: Double, seed: UInt64,
                cacheRoot: URL, progress: ((String, Int, Int) -> Void)? = nil) throws {
        guard data.task == .classification else {
            throw HeadFittingError.unsupported("feature export takes classification data; this data holds \(data.task.reportName) targets")
        }
        dimension = backbone.dimension
        let (train, valid) = try data.split(validation: validationFraction, seed: seed)
        let cache = backbone.featureCache(root: cacheRoot)
        for (name, part) in [("train", train), ("validation", valid), ("test", test)] {
            guard let part, !part.inputs.isEmpty else { continue }
            let r = backbone.features(part.inputs, cache: cache, progress: progress.map { p in { p(name, $0, $1) } })
            skipped += r.failed.map { (path: $0.0, reason: $0.1) }
            let v = r.features.toArray(), d = dimension
            for (j, i) in r.kept.enumerated() {
                rows.append(Row(split: name, label: part.classNames[part.labels[i]], input: part.inputs[i].name,
                                features: Array(v[(j * d)..<((j + 1) * d)])))
            }
        }
    }

    /// CSV: a header `split,label,input,f0,…` then one row per input; text fields are quoted when needed.
    public func csv() -> String {
        var out = "split,label,input," + (0..<dimension).map { "f\($0)" }.joined(separator: ",") + "\n"
        for r in rows {
            out += [r.split, Self.quote(r.label), Self.quote(r.input)].joined(separator: ",") + ","
            out += r.features.map { String($0) }.joined(separator: ",") + "\n"
        }
        return out
    }

    static func quote(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Rows per split.
    public var counts: [String: Int] { Dictionary(grouping: rows, by: \.split).mapValues(\.count) }
}
