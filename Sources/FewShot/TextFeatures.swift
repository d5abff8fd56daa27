import Assets
import Foundation
import HeadFitting
import Models
import Tensors
import TransferKit

/// Pooled features of a registry backbone for few-shot work, cached on disk, with an optional shorter token limit for
/// text models (CPU budgets: a text truncated to 128 tokens costs half as much as at MiniLM's 256).
public final class FewShotFeatures {
    public let backbone: FeatureBackbone
    /// The sentence encoder used for texts (the backbone's, or a copy sharing its weights with ``maxTokens``).
    public let embedder: SentenceEmbedder?
    public let maxTokens: Int?
    public let cacheRoot: URL?

    /// `maxTokens` (texts only) truncates inputs to that many tokens, `[CLS]` and `[SEP]` included (2…the model's
    /// limit). `cacheRoot` nil computes without a cache.
    public init(backbone: FeatureBackbone, maxTokens: Int? = nil, cacheRoot: URL? = AssetStore.cacheRoot.appendingPathComponent("features")) throws {
        self.backbone = backbone; self.cacheRoot = cacheRoot
        if let text = backbone.encoder as? TextEncoder {
            let e = text.embedder
            if let m = maxTokens, !(2...e.maxLength).contains(m) {
                throw FewShotError.invalidOption(name: "--max-tokens", value: "\(m)", accepted: "2…\(e.maxLength) for \(backbone.spec.name)")
            }
            embedder = maxTokens.map {
                SentenceEmbedder(bert: e.bert, tokenizer: e.tokenizer, pooling: e.pooling, normalize: e.normalize, maxLength: $0,
                                 lowercaseInput: e.lowercaseInput)
            } ?? e
            self.maxTokens = maxTokens
        } else {
            if let m = maxTokens {
                throw FewShotError.invalidOption(name: "--max-tokens", value: "\(m)", accepted: "only with a text model")
            }
            embedder = nil; self.maxTokens = nil
        }
    }

    /// The feature cache (nil without a cache root), keyed as the backbone's with the token limit.
    public var cache: FeatureCache? {
        guard let cacheRoot else { return nil }
        guard let embedder else { return backbone.featureCache(root: cacheRoot) }
        let key = backbone.cacheKey.replacingOccurrences(of: backbone.encoder.inputSignature, with: "tokens\(embedder.maxLength)")
        return FeatureCache(root: cacheRoot, key: key, dimension: backbone.dimension)
    }

    /// Features of `inputs` (rows of the inputs kept) and the inputs that failed.
    public func features(_ inputs: [LabeledInput], progress: ((Int, Int) -> Void)? = nil)
        -> (features: FeatureMatrix, kept: [Int], failed: [(String, String)]) {
        guard let embedder else {
            let r = backbone.features(inputs, cache: cache, progress: progress)
            return (FeatureMatrix(r.features), r.kept, r.failed)
        }
        var texts: [String] = [], kept: [Int] = [], failed: [(String, String)] = []
        for (i, input) in inputs.enumerated() {
            if case .text(let t, _) = input { texts.append(t); kept.append(i) } else { failed.append((input.name, "not a text")) }
        }
        return (FeatureMatrix(Self.embed(texts, embedder: embedder, cache: cache, progress: progress)), kept, failed)
    }

    /// Embeddings of `texts` with `embedder`, looked up in and added to `cache`.
    public static func embed(_ texts: [String], embedder: SentenceEmbedder, cache: FeatureCache?,
                             progress: ((Int, Int) -> Void)? = nil) -> Tensor {
        let d = embedder.dimension
        var rows = [[Float]?](repeating: nil, count: texts.count)
        let hashes = texts.map { SHA256.hex(Data($0.utf8)) }
        if let cache { for i in texts.indices { rows[i] = cache.lookup(hashes[i]) } }
        let missing = texts.indices.filter { rows[$0] == nil }
        let chunk = 64
        for start in stride(from: 0, to: missing.count, by: chunk) {
            progress?(start, missing.count)
            let idx = Array(missing[start..<Swift.min(missing.count, start + chunk)])
            let v = embedder.embed(idx.map { texts[$0] }).toArray()
            for (j, i) in idx.enumerated() {
                rows[i] = Array(v[(j * d)..<((j + 1) * d)])
                try? cache?.store(hashes[i], rows[i]!)
            }
        }
        if !missing.isEmpty { progress?(missing.count, missing.count) }
        return Tensor(shape: [texts.count, d], data: rows.flatMap { $0! })
    }
}
