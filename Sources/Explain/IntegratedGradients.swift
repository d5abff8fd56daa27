import Models
import Tensors
import TransferKit

/// Token attributions of one text.
public struct TokenAttributions: Sendable, Codable {
    public let text: String
    /// WordPiece tokens, `[CLS]` and `[SEP]` included.
    public let tokens: [String]
    /// One attribution per token: the sum over the embedding dimensions of (x − x′) ⊙ the averaged gradient.
    public let attributions: [Double]
    public let classIndex: Int
    public let label: String
    /// f(x): the model's probability of the class for the text.
    public let probability: Double
    /// f(x′): the probability for the baseline (every token but `[CLS]`/`[SEP]` replaced by `[PAD]`).
    public let baselineProbability: Double
    /// |Σ attributions − (f(x) − f(x′))|: the Riemann approximation's error (completeness, Sundararajan et al. §3).
    public var completenessGap: Double { Swift.abs(attributions.reduce(0, +) - (probability - baselineProbability)) }
}

/// Integrated gradients (Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017) on the word
/// embeddings of a text bundle: the path x′ + α (x − x′) from the baseline embeddings x′ (`[PAD]`, whose embedding
/// row is zero, at every position but `[CLS]` and `[SEP]`, as Captum's BERT tutorial builds its reference) to the
/// text's, α at the midpoints of `steps` equal intervals; position and segment embeddings are added as usual and
/// the rest of the model (LayerNorm, transformer, pooling, normalisation, head, softmax) runs unchanged.
public enum IntegratedGradients {
    /// Attributions of `text` for class `classIndex` (nil: the predicted class) of a text bundle.
    public static func attributions(_ model: TransferModel, text: String, classIndex: Int? = nil,
                                    steps: Int = 48) throws(ExplainError) -> TokenAttributions {
        guard let encoder = model.backbone.encoder as? TextEncoder else {
            throw .invalid(option: "--model", value: model.backbone.spec.name, accepted: "a bundle trained on texts")
        }
        guard steps >= 1 && steps <= 1024 else { throw .invalid(option: "--ig-steps", value: "\(steps)", accepted: "1…1024") }
        if let c = classIndex, c < 0 || c >= model.classNames.count { throw .classIndex(c, classes: model.classNames.count) }
        let embedder = encoder.embedder, bert = embedder.bert
        model.eval()
        return withPrecision(.fp32) {
            let encoded = embedder.tokenizer.encode(embedder.lowercaseInput ? text.lowercased() : text, maxLength: embedder.maxLength)
            let length = encoded.ids.count, hidden = bert.config.hiddenSize
            let special = Set([0, length - 1])
            let baselineIds = encoded.ids.enumerated().map { special.contains($0.offset) ? $0.element : bert.config.padTokenId }
            let x = withNoGrad { bert.embeddings.wordEmbeddings(encoded.ids, shape: [1, length]) }.contiguous().toArray()
            let b = withNoGrad { bert.embeddings.wordEmbeddings(baselineIds, shape: [1, length]) }.contiguous().toArray()
            let ends = withNoGrad { probabilities(model, embedder, words: Tensor(shape: [2, length, hidden], data: x + b), encoded: encoded) }.toArray()
            let k = model.classNames.count
            let c = classIndex ?? (0..<k).max { ends[$0] < ends[$1] }!
            // Path points in chunks of at most 16, gradients averaged.
            var avg = [Double](repeating: 0, count: length * hidden)
            for start in stride(from: 0, to: steps, by: 16) {
                let m = Swift.min(16, steps - start)
                var path = [Float](repeating: 0, count: m * length * hidden)
                for j in 0..<m {
                    let alpha = Float((Double(start + j) + 0.5) / Double(steps))
                    for i in 0..<(length * hidden) { path[j * length * hidden + i] = b[i] + alpha * (x[i] - b[i]) }
                }
                let words = Tensor(shape: [m, length, hidden], data: path)
                words.requiresGrad = true
                let p = probabilities(model, embedder, words: words, encoded: encoded)
                let score = p.gather(axis: 1, indices: [Int](repeating: c, count: m)).sum()
                let g = Tensor.gradients(of: score, wrt: [words])[0]!.contiguous().toArray()
                for j in 0..<m {
                    for i in 0..<(length * hidden) { avg[i] += Double(g[j * length * hidden + i]) / Double(steps) }
                }
            }
            let attributions = (0..<length).map { t in
                (0..<hidden).reduce(0.0) { $0 + Double(x[t * hidden + $1] - b[t * hidden + $1]) * avg[t * hidden + $1] }
            }
            return TokenAttributions(text: text, tokens: encoded.tokens, attributions: attributions, classIndex: c,
                                     label: model.classNames[c], probability: Double(ends[c]), baselineProbability: Double(ends[k + c]))
        }
    }

    /// Class probabilities `[m, classes]` from word embeddings `[m, length, hidden]` (one text's positions and
    /// segments, no padding): the bundle's forward pass with the word-embedding lookup replaced by `words`.
    static func probabilities(_ model: TransferModel, _ embedder: SentenceEmbedder, words: Tensor, encoded: Encoding) -> Tensor {
        let bert = embedder.bert, e = bert.embeddings
        let m = words.shape[0], length = words.shape[1], typeIds = encoded.typeIds
        let positions = e.positionIds.withUnsafeBufferPointer { p in (0..<length).map { Int(p[$0]) } }
        var h = words + e.positionEmbeddings(positions, shape: [1, length]) + e.tokenTypeEmbeddings(typeIds, shape: [1, length])
        h = e.dropout(e.layerNorm(h))
        let hiddenStates = bert.encoder(h, mask: nil)
        let batch = embedder.tokenizer.pad([Encoding](repeating: encoded, count: m))
        let pooled = embedder.pool(hiddenStates, batch: batch)
        let features = embedder.normalize ? SentenceEmbedder.l2Normalized(pooled) : pooled
        return model.head(features).softmax(axis: 1)
    }
}
