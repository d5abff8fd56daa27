import Assets
import Foundation
import Tensors

/// Features of inputs under one backbone, cached on disk so that a second run, another head or a sweep does no
/// backbone work.
///
/// The cache directory is keyed by the backbone's weights hash and the preprocessing (``key``); each input's
/// vector is stored under the SHA-256 of the input's content (file bytes or text), so renamed or moved files still
/// hit and edited files miss.
public struct FeatureCache: Sendable {
    public let directory: URL
    public let dimension: Int

    /// `key` names the backbone + preprocessing (e.g. weights SHA-256 and "224/256/efficientNetLite").
    public init(root: URL = AssetStore.cacheRoot.appendingPathComponent("features"), key: String, dimension: Int) {
        directory = root.appendingPathComponent(SHA256.hex(Data(key.utf8)).prefix(24).description, isDirectory: true)
        self.dimension = dimension
    }

    func url(_ contentHash: String) -> URL {
        directory.appendingPathComponent(String(contentHash.prefix(2))).appendingPathComponent(contentHash + ".f32")
    }

    /// The cached vector for content with this hash, if present and well-formed.
    public func lookup(_ contentHash: String) -> [Float]? {
        guard let d = try? Data(contentsOf: url(contentHash)), d.count == dimension * 4 else { return nil }
        return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// Stores a vector (atomically).
    public func store(_ contentHash: String, _ v: [Float]) throws {
        precondition(v.count == dimension, "FeatureCache: \(v.count) values for dimension \(dimension)")
        let u = url(contentHash)
        try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
        try v.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: u, options: .atomic)
    }
}
