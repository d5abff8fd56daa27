import Assets
import Checkpoints
import Foundation
import HeadFitting
import Tensors
import TransferKit

/// A nearest-prototype classifier on disk, which grows by a class without any training: `BUNDLE/prototypes.json`
/// (backbone, labels, example counts, SHA-256 of the tensors) and `BUNDLE/prototypes.safetensors` (`centre` `[d]`
/// and `sums` `[classes, d]`). Features are SimpleShot's CL2N (centred on the mean feature of the examples the
/// bundle was created from, then L2-normalised); a class's prototype is the mean of its examples' CL2N features,
/// kept as a sum and a count so that adding a class (or reading its examples in any order) is exact.
public struct PrototypeBundle: Sendable {
    public static let manifestName = "prototypes.json"
    public static let tensorsName = "prototypes.safetensors"
    public static let format = "transferkit-prototypes-1"

    /// `prototypes.json`.
    public struct Info: Codable, Sendable, Equatable {
        public var format: String
        /// The registry model whose pooled features the prototypes live in.
        public var backbone: String
        public var backboneWeightsSha256: String
        public var labels: [String]
        /// Examples per class.
        public var counts: [Int]
        public var dimension: Int
        public var tensorsSha256: String
    }

    public private(set) var info: Info
    public private(set) var centre: [Double]
    /// Per class, the sum of its examples' CL2N features.
    public private(set) var sums: [[Double]]

    public var labels: [String] { info.labels }

    /// A bundle of the classes of `labels` (indices into `labelNames`), centred on the mean of `features`.
    public init(backbone: String, weightsSha256: String, features: FeatureMatrix, labels: [Int], labelNames: [String]) throws {
        guard features.rows == labels.count, features.rows > 0 else {
            throw FewShotError.invalidOption(name: "examples", value: "\(features.rows)", accepted: "at least one example with its label")
        }
        centre = features.meanRow()
        info = Info(format: Self.format, backbone: backbone, backboneWeightsSha256: weightsSha256, labels: [], counts: [],
                    dimension: features.columns, tensorsSha256: "")
        sums = []
        for (c, name) in labelNames.enumerated() {
            let rows = labels.indices.filter { labels[$0] == c }
            guard !rows.isEmpty else { continue }
            try addClass(name, features: features.rows(rows))
        }
    }

    /// The CL2N transform of the bundle.
    public var transform: SimpleShotTransform { SimpleShotTransform(mean: centre) }

    /// Adds class `name` whose examples have `features` (no training: its prototype is their mean CL2N feature).
    public mutating func addClass(_ name: String, features: FeatureMatrix) throws {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw FewShotError.invalidOption(name: "--label", value: "'\(name)'", accepted: "a non-empty class name")
        }
        guard !info.labels.contains(name) else {
            throw FewShotError.invalidOption(name: "--label", value: name, accepted: "a class the bundle does not have yet (it has \(info.labels.joined(separator: ", ")))")
        }
        guard features.rows > 0, features.columns == info.dimension else {
            throw FewShotError.invalidOption(name: "examples", value: "\(features.rows)×\(features.columns)",
                                             accepted: "at least one example of dimension \(info.dimension)")
        }
        let x = transform.apply(features)
        var s = [Double](repeating: 0, count: x.columns)
        for r in 0..<x.rows { for j in 0..<x.columns { s[j] += x.values[r * x.columns + j] } }
        sums.append(s)
        info.labels.append(name)
        info.counts.append(features.rows)
    }

    /// The class prototypes (cosine metric on CL2N features).
    public var prototypes: Prototypes {
        let d = info.dimension
        let v = zip(sums, info.counts).flatMap { s, n in s.map { $0 / Double(n) } }
        return Prototypes(centres: FeatureMatrix(values: v, rows: sums.count, columns: d), metric: .cosine)
    }

    /// The class index and the cosine similarity to every prototype (`[rows, classes]`) of each row of `features`.
    public func predict(_ features: FeatureMatrix) -> (classes: [Int], scores: [Double]) {
        let s = prototypes.scores(transform.apply(features))
        return (argmaxRows(s, classes: sums.count), s)
    }

    /// Writes the bundle into `directory` (created; files replaced atomically).
    public mutating func save(to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tensorsURL = directory.appendingPathComponent(Self.tensorsName)
        let d = info.dimension
        let tmp = directory.appendingPathComponent(".\(Self.tensorsName).tmp")
        try SafeTensorsWriter.write([
            "centre": Tensor(shape: [d], data: centre.map { Float($0) }),
            "sums": Tensor(shape: [sums.count, d], data: sums.flatMap { $0.map { Float($0) } }),
        ], metadata: ["format": Self.format], to: tmp.path)
        info.tensorsSha256 = try SHA256.hex(fileAt: tmp.path)
        try? FileManager.default.removeItem(at: tensorsURL)
        try FileManager.default.moveItem(at: tmp, to: tensorsURL)
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(info).write(to: directory.appendingPathComponent(Self.manifestName), options: .atomic)
    }

    /// Reads and checks a bundle: the manifest's format and counts, the tensors' SHA-256 and shapes.
    public static func load(_ path: String) throws -> PrototypeBundle {
        typealias E = ModelBundle.BundleError
        let dir = URL(fileURLWithPath: path)
        let manifest = dir.appendingPathComponent(manifestName), tensors = dir.appendingPathComponent(tensorsName)
        for f in [manifest, tensors] where !FileManager.default.fileExists(atPath: f.path) { throw E.missingFile(path: f.path) }
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        let info: Info
        do { info = try dec.decode(Info.self, from: Data(contentsOf: manifest)) } catch {
            throw E.notJSON(file: manifest.path, reason: "not a prototype-bundle manifest: \(error)")
        }
        guard info.format == format else { throw E.invalidValue(file: manifest.path, key: "format", value: info.format, accepted: format) }
        guard info.labels.count == info.counts.count, info.counts.allSatisfy({ $0 >= 1 }), info.dimension >= 1 else {
            throw E.invalidValue(file: manifest.path, key: "counts", value: "\(info.counts)", accepted: "one count ≥ 1 per label")
        }
        let actual = try SHA256.hex(fileAt: tensors.path)
        guard actual == info.tensorsSha256 else { throw E.weightsHash(file: tensors.path, expected: info.tensorsSha256, actual: actual) }
        let file = try SafeTensorsFile(path: tensors.path)
        let centre = try file.tensor("centre"), sums = try file.tensor("sums")
        let d = info.dimension
        guard centre.shape == [d], sums.shape == [info.labels.count, d] else {
            throw E.weights(file: tensors.path, key: "sums", reason: "shape \(sums.shape), expected [\(info.labels.count), \(d)]")
        }
        let s = sums.toArray().map(Double.init)
        return PrototypeBundle(info: info, centre: centre.toArray().map(Double.init),
                               sums: (0..<info.labels.count).map { Array(s[($0 * d)..<(($0 + 1) * d)]) })
    }

    init(info: Info, centre: [Double], sums: [[Double]]) { self.info = info; self.centre = centre; self.sums = sums }
}
