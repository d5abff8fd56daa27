import Assets
import Datasets
import Foundation
import Tensors
import TransferKit

/// A teacher's logits and pooled features of some inputs, computed once and cached.
public struct TeacherOutputs {
    /// `[kept.count, classes]`.
    public var logits: Tensor
    /// `[kept.count, teacher feature dimension]`.
    public var features: Tensor
    /// The positions of the inputs the teacher could read.
    public var kept: [Int]
    public var failed: [(String, String)]
    /// How many inputs the teacher's backbone ran on (the rest came from its caches).
    public var computed: Int
}

/// A trained bundle used as a teacher. Its outputs are cached on disk like backbone features
/// (``TransferKit/FeatureCache``): the cache is keyed by the bundle's identity (``bundleHash``: the SHA-256 of its
/// manifest's sealed hash and weights hash) and each input's content (file bytes or text), so a second distillation,
/// another student or another α or T runs the teacher on nothing.
public final class Teacher {
    public let model: TransferModel
    public let bundleHash: String

    /// `bundleHash` identifies the teacher's weights and manifest (``bundleHash(manifest:)``).
    public init(model: TransferModel, bundleHash: String) throws {
        guard model.task == .classification else {
            throw DistillationError.teacher("the teacher must classify; it was trained for \(model.task.reportName)")
        }
        self.model = model; self.bundleHash = bundleHash
    }

    /// The identity of a bundle: the SHA-256 of its manifest's `manifest_sha256` and `weights_sha256`.
    public static func bundleHash(manifest: ModelBundle.Manifest) -> String {
        SHA256.hex(Data("\(manifest.manifestSha256)|\(manifest.weightsSha256)".utf8))
    }

    public var classCount: Int { model.head.outputs }
    public var featureDimension: Int { model.backbone.dimension }

    /// The cache of this teacher's outputs under `root` (logits then features, one vector per input).
    public func cache(root: URL) -> FeatureCache {
        FeatureCache(root: root, key: "teacher|\(bundleHash)|logits+features", dimension: classCount + featureDimension)
    }

    /// The teacher's logits and pooled features of `inputs` (eval mode, no gradients), from the cache where present.
    /// A teacher whose backbone is the registry's (a `features` bundle) reads and fills the backbone feature cache
    /// under `featureCacheRoot` too, so features `transfer train` computed are not computed again.
    public func outputs(_ inputs: [LabeledInput], cacheRoot: URL?, featureCacheRoot: URL? = nil, batchSize: Int = 32,
                        progress: ((Int, Int) -> Void)? = nil) -> TeacherOutputs {
        let cache = cacheRoot.map { self.cache(root: $0) }
        let backboneIsPretrained = model.strategy == .features && !model.backbone.hasAdaptedWeights
        let featureCache = backboneIsPretrained ? featureCacheRoot.map { model.backbone.featureCache(root: $0) } : nil
        let c = classCount, d = featureDimension, width = c + d
        var rows = [[Float]?](repeating: nil, count: inputs.count)
        var hashes = [String?](repeating: nil, count: inputs.count)
        var missing: [Int] = []
        for (i, input) in inputs.enumerated() {
            if let cache {
                hashes[i] = Self.contentHash(input)
                if let h = hashes[i], let v = cache.lookup(h) { rows[i] = v; continue }
            }
            missing.append(i)
        }
        model.eval()
        var failed: [(String, String)] = [], computed = 0
        for start in stride(from: 0, to: missing.count, by: batchSize) {
            progress?(start, missing.count)
            let chunk = Array(missing[start..<Swift.min(missing.count, start + batchSize)])
            let r = model.backbone.features(chunk.map { inputs[$0] }, cache: featureCache, batchSize: batchSize)
            failed += r.failed
            guard !r.kept.isEmpty else { continue }
            computed += r.computed
            let logits = withNoGrad { model.head(r.features) }.toArray(), feats = r.features.toArray()
            for (j, local) in r.kept.enumerated() {
                let i = chunk[local]
                let row = Array(logits[(j * c)..<((j + 1) * c)]) + Array(feats[(j * d)..<((j + 1) * d)])
                rows[i] = row
                if let cache, let h = hashes[i] { try? cache.store(h, row) }
            }
        }
        if !missing.isEmpty { progress?(missing.count, missing.count) }
        let kept = rows.indices.filter { rows[$0] != nil }
        let all = kept.map { rows[$0]! }
        return TeacherOutputs(logits: Tensor(shape: [kept.count, c], data: all.flatMap { $0[0..<c] }),
                              features: Tensor(shape: [kept.count, d], data: all.flatMap { $0[c..<width] }),
                              kept: kept, failed: failed, computed: computed)
    }

    /// SHA-256 of an input's content (file bytes or text).
    static func contentHash(_ input: LabeledInput) -> String? {
        switch input {
        case .image(let p): try? SHA256.hex(fileAt: p)
        case .text(let t, _): SHA256.hex(Data(t.utf8))
        }
    }
}

/// Why a distillation cannot run; each case names the option, file or value involved.
public enum DistillationError: Error, CustomStringConvertible, Equatable {
    case teacher(String)
    case data(String)
    case option(name: String, value: String, accepted: String)

    public var description: String {
        switch self {
        case .teacher(let m): "teacher: \(m)"
        case .data(let m): m
        case .option(let n, let v, let a): "\(n) must be \(a) (received \(v))"
        }
    }
}
