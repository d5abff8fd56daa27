import Foundation
import Layers
import Tensors

/// The pooling of a sentence-transformers model (`1_Pooling/config.json`, `sentence_transformers/models/Pooling.py`).
/// When several modes are on, their vectors are concatenated in the order CLS, max, mean, mean·√length, as
/// sentence-transformers does.
public struct PoolingConfig: Codable, Sendable, Equatable {
    public var wordEmbeddingDimension: Int
    public var clsToken = false
    public var meanTokens = true
    public var maxTokens = false
    public var meanSqrtLenTokens = false

    enum CodingKeys: String, CodingKey {
        case wordEmbeddingDimension = "word_embedding_dimension", clsToken = "pooling_mode_cls_token"
        case meanTokens = "pooling_mode_mean_tokens", maxTokens = "pooling_mode_max_tokens"
        case meanSqrtLenTokens = "pooling_mode_mean_sqrt_len_tokens"
        case weightedMeanTokens = "pooling_mode_weightedmean_tokens", lastToken = "pooling_mode_lasttoken"
    }

    /// Masked mean pooling over `dimension`-wide token vectors.
    public init(dimension: Int) { wordEmbeddingDimension = dimension }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        wordEmbeddingDimension = try c.decode(Int.self, forKey: .wordEmbeddingDimension)
        clsToken = try c.decodeIfPresent(Bool.self, forKey: .clsToken) ?? false
        meanTokens = try c.decodeIfPresent(Bool.self, forKey: .meanTokens) ?? false
        maxTokens = try c.decodeIfPresent(Bool.self, forKey: .maxTokens) ?? false
        meanSqrtLenTokens = try c.decodeIfPresent(Bool.self, forKey: .meanSqrtLenTokens) ?? false
        for key in [CodingKeys.weightedMeanTokens, .lastToken] where try c.decodeIfPresent(Bool.self, forKey: key) == true {
            throw DecodingError.dataCorrupted(.init(codingPath: [key], debugDescription: "this pooling mode is not supported"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(wordEmbeddingDimension, forKey: .wordEmbeddingDimension)
        try c.encode(clsToken, forKey: .clsToken)
        try c.encode(meanTokens, forKey: .meanTokens)
        try c.encode(maxTokens, forKey: .maxTokens)
        try c.encode(meanSqrtLenTokens, forKey: .meanSqrtLenTokens)
    }

    /// Width of the pooled vector.
    public var outputDimension: Int {
        wordEmbeddingDimension * [clsToken, maxTokens, meanTokens, meanSqrtLenTokens].filter { $0 }.count
    }
}

/// A sentence encoder in the sentence-transformers layout: a ``BertModel``, its ``WordPieceTokenizer``, pooling of
/// the token vectors over the attention mask, and L2 normalisation (`SentenceTransformer.encode` of
/// `sentence_transformers/SentenceTransformer.py` with the `Transformer`, `Pooling` and `Normalize` modules).
///
/// For all-MiniLM-L6-v2: masked mean pooling of the last hidden state, then division by its L2 norm; inputs are
/// truncated to 256 tokens.
public final class SentenceEmbedder {
    public let bert: BertModel
    public let tokenizer: WordPieceTokenizer
    public let pooling: PoolingConfig
    /// Whether embeddings are divided by their L2 norm (a `Normalize` module).
    public let normalize: Bool
    /// Tokens per text, `[CLS]` and `[SEP]` included (`max_seq_length`).
    public let maxLength: Int
    /// Lower-case texts before tokenizing (`do_lower_case` of `sentence_bert_config.json`).
    public let lowercaseInput: Bool
    /// How a text longer than ``maxLength`` tokens is read.
    public let longTexts: LongTextPolicy
    /// With ``LongTextPolicy/windows``, the most windows read per text (the rest is dropped).
    public let maxWindows: Int

    /// Width of an embedding.
    public var dimension: Int { pooling.outputDimension }

    public init(bert: BertModel, tokenizer: WordPieceTokenizer, pooling: PoolingConfig? = nil, normalize: Bool = true,
                maxLength: Int? = nil, lowercaseInput: Bool = false, longTexts: LongTextPolicy = .truncate, maxWindows: Int = 16) {
        self.bert = bert
        self.tokenizer = tokenizer
        self.pooling = pooling ?? PoolingConfig(dimension: bert.config.hiddenSize)
        self.normalize = normalize
        self.maxLength = Swift.min(maxLength ?? bert.config.maxPositionEmbeddings, bert.config.maxPositionEmbeddings)
        self.lowercaseInput = lowercaseInput
        self.longTexts = longTexts
        self.maxWindows = maxWindows
        precondition(maxWindows >= 1, "SentenceEmbedder: maxWindows \(maxWindows) must be ≥ 1")
        precondition(self.pooling.wordEmbeddingDimension == bert.config.hiddenSize,
                     "SentenceEmbedder: pooling over \(self.pooling.wordEmbeddingDimension) dims, model width \(bert.config.hiddenSize)")
    }

    /// Loads a Hugging Face / sentence-transformers directory: `config.json`, `model.safetensors`, `vocab.txt`
    /// (+ `tokenizer.json` / `tokenizer_config.json`), and, when present, `modules.json` (which modules follow the
    /// transformer), the pooling directory's `config.json` (e.g. `1_Pooling/config.json`), and
    /// `sentence_bert_config.json` (`max_seq_length`, `do_lower_case`). Without `modules.json` the embedder uses
    /// masked mean pooling and L2 normalisation.
    public convenience init(directory: String) throws(TextModelError) {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let bert = try BertModel.load(directory: directory)
        let tokenizer = try WordPieceTokenizer(directory: directory)
        let fm = FileManager.default
        var pooling = PoolingConfig(dimension: bert.config.hiddenSize)
        var normalize = true
        if fm.fileExists(atPath: path("modules.json")) {
            let modules = try TextJSON.decode([SentenceModule].self, from: path("modules.json"))
            normalize = false
            var sawPooling = false
            for (i, m) in modules.enumerated() {
                let kind = m.type.split(separator: ".").last.map(String.init) ?? m.type
                switch kind {
                case "Transformer":
                    guard i == 0 else { throw .unsupported(file: path("modules.json"), key: "[\(i)].type", value: "\(m.type) after other modules") }
                case "Pooling":
                    pooling = try TextJSON.decode(PoolingConfig.self, from: path((m.path as NSString).appendingPathComponent("config.json")))
                    sawPooling = true
                case "Normalize":
                    normalize = true
                default:
                    throw .unsupported(file: path("modules.json"), key: "[\(i)].type", value: m.type)
                }
            }
            if !sawPooling { throw .unsupported(file: path("modules.json"), key: "type", value: "a model without a Pooling module") }
        }
        if pooling.wordEmbeddingDimension != bert.config.hiddenSize {
            throw .malformedJSON(file: path("1_Pooling/config.json"), key: "word_embedding_dimension",
                                 reason: "\(pooling.wordEmbeddingDimension) differs from the model's hidden_size \(bert.config.hiddenSize)")
        }
        var maxLength: Int?
        var lowercase = false
        if fm.fileExists(atPath: path("sentence_bert_config.json")) {
            let sb = try TextJSON.decode(SentenceBertConfig.self, from: path("sentence_bert_config.json"))
            if let n = sb.maxSeqLength {
                guard n >= 2 else { throw .malformedJSON(file: path("sentence_bert_config.json"), key: "max_seq_length", reason: "must be at least 2, found \(n)") }
                maxLength = n
            }
            lowercase = sb.doLowerCase ?? false
        }
        self.init(bert: bert, tokenizer: tokenizer, pooling: pooling, normalize: normalize, maxLength: maxLength,
                  lowercaseInput: lowercase)
    }

    /// The rows of one text: its first ``maxLength`` tokens, or its windows (``LongTextPolicy``).
    public func encodings(_ text: String) -> [Encoding] {
        let t = lowercaseInput ? text.lowercased() : text
        switch longTexts {
        case .truncate: return [tokenizer.encode(t, maxLength: maxLength)]
        case .windows: return tokenizer.windows(t, maxLength: maxLength, maxWindows: maxWindows)
        }
    }

    /// Tokenizes `texts` (``encodings(_:)``) and pads the rows to the longest; with several rows for a text the
    /// batch records each row's text in ``BatchEncoding/owners``.
    public func encode(_ texts: [String]) -> BatchEncoding {
        let rows = texts.map(encodings)
        var batch = tokenizer.pad(rows.flatMap { $0 })
        if rows.contains(where: { $0.count != 1 }) {
            batch.owners = rows.enumerated().flatMap { i, r in [Int](repeating: i, count: r.count) }
        }
        return batch
    }

    /// Embeddings `[texts.count, dimension]` in the order of `texts`, in eval mode and without recording gradients.
    ///
    /// Rows (one per text, or its windows) are sorted by token count and run in batches of `batchSize` (each padded
    /// to its own longest row), then combined per text as ``forward(_:)`` combines them; the result does not depend
    /// on `batchSize`.
    public func embed(_ texts: [String], batchSize: Int = 32) -> Tensor {
        precondition(batchSize >= 1, "SentenceEmbedder.embed: batchSize \(batchSize) must be ≥ 1")
        let d = dimension
        guard !texts.isEmpty else { return Tensor(shape: [0, d], data: []) }
        let perText = texts.map(encodings)
        let rows = perText.enumerated().flatMap { i, r in r.map { (owner: i, encoding: $0) } }
        let tokens = perText.map { $0.reduce(0) { $0 + $1.count } }
        let order = rows.indices.sorted { rows[$0].encoding.count != rows[$1].encoding.count ? rows[$0].encoding.count > rows[$1].encoding.count : $0 < $1 }
        var out = [Float](repeating: 0, count: texts.count * d)
        let wasTraining = bert.isTraining
        bert.eval()
        defer { if wasTraining { bert.train() } }
        withNoGrad {
            for start in stride(from: 0, to: order.count, by: batchSize) {
                let chunk = Array(order[start..<Swift.min(start + batchSize, order.count)])
                let batch = tokenizer.pad(chunk.map { rows[$0].encoding })
                pool(bert(batch), batch: batch).withUnsafeBufferPointer { e in
                    for (r, k) in chunk.enumerated() {
                        let i = rows[k].owner
                        let w = perText[i].count == 1 ? 1 : Float(rows[k].encoding.count) / Float(tokens[i])
                        for j in 0..<d { out[i * d + j] += w * e[r * d + j] }
                    }
                }
            }
        }
        let pooled = Tensor(shape: [texts.count, d], data: out)
        return normalize ? Self.l2Normalized(pooled) : pooled
    }

    /// The embeddings `[texts, dimension]` of an encoded batch, differentiable (for fine-tuning): transformer,
    /// pooling, the rows of a text combined weighted by their token counts (mean pooling over all of the text's
    /// tokens), and normalisation when the model has it.
    public func forward(_ batch: BatchEncoding) -> Tensor {
        var pooled = pool(bert(batch), batch: batch)
        if let owners = batch.owners { pooled = Self.windowWeights(owners: owners, lengths: batch.lengths).matmul(pooled) }
        return normalize ? Self.l2Normalized(pooled) : pooled
    }

    /// `[texts, rows]`: row `r` of text `t` weighs `lengths[r] / Σ lengths of t's rows`.
    static func windowWeights(owners: [Int], lengths: [Int]) -> Tensor {
        let texts = (owners.last ?? -1) + 1, rows = owners.count
        var total = [Float](repeating: 0, count: texts), w = [Float](repeating: 0, count: texts * rows)
        for (r, t) in owners.enumerated() { total[t] += Float(lengths[r]) }
        for (r, t) in owners.enumerated() { w[t * rows + r] = Float(lengths[r]) / total[t] }
        return Tensor(shape: [texts, rows], data: w)
    }

    /// Pools token vectors `[batch, length, hidden]` over the batch's attention mask (`Pooling.forward`).
    public func pool(_ hidden: Tensor, batch: BatchEncoding) -> Tensor {
        let b = batch.shape[0], t = batch.shape[1]
        precondition(hidden.rank == 3 && hidden.shape[0] == b && hidden.shape[1] == t,
                     "SentenceEmbedder.pool: hidden \(hidden.shape) for a batch of shape \(batch.shape)")
        let mask = Tensor(shape: [b, t, 1], data: batch.mask)
        let counts = Tensor(shape: [b, 1], data: (0..<b).map { r in Swift.max(batch.mask[(r * t)..<((r + 1) * t)].reduce(0, +), 1e-9) })
        var parts: [Tensor] = []
        if pooling.clsToken { parts.append(hidden.sliced(axis: 1, start: 0, end: 1).squeezed(1)) }
        if pooling.maxTokens { parts.append((hidden * mask + (1 - mask) * -1e9).max(axis: 1)) }
        let sum = pooling.meanTokens || pooling.meanSqrtLenTokens ? (hidden * mask).sum(axis: 1) : nil
        if pooling.meanTokens, let sum { parts.append(sum / counts) }
        if pooling.meanSqrtLenTokens, let sum { parts.append(sum / counts.sqrt()) }
        return parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 1)
    }

    /// `x / max(‖x‖₂, 1e-12)` along the last axis (`torch.nn.functional.normalize`).
    public static func l2Normalized(_ x: Tensor) -> Tensor { x.l2NormalizedRows() }
}

/// One entry of `modules.json`.
struct SentenceModule: Decodable {
    let path: String
    let type: String
}

/// `sentence_bert_config.json`.
struct SentenceBertConfig: Decodable {
    let maxSeqLength: Int?
    let doLowerCase: Bool?
    enum CodingKeys: String, CodingKey { case maxSeqLength = "max_seq_length", doLowerCase = "do_lower_case" }
}
