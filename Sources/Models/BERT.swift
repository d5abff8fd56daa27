import Checkpoints
import Foundation
import Layers
import Tensors

/// BERT hyper-parameters, read from a Hugging Face `config.json` (`transformers/models/bert/configuration_bert.py`,
/// `BertConfig`).
///
/// The five keys that fix the shapes (`vocab_size`, `hidden_size`, `num_hidden_layers`, `num_attention_heads`,
/// `intermediate_size`) are required; the others default to Hugging Face's defaults.
public struct BertConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    /// `gelu` (erf), `gelu_new` / `gelu_pytorch_tanh` (tanh approximation), `relu`, `silu` / `swish`, `tanh`.
    public var hiddenAct: String = "gelu"
    public var hiddenDropoutProb: Float = 0.1
    public var attentionProbsDropoutProb: Float = 0.1
    public var maxPositionEmbeddings: Int = 512
    public var typeVocabSize: Int = 2
    public var initializerRange: Float = 0.02
    public var layerNormEps: Float = 1e-12
    public var padTokenId: Int = 0
    /// Only `absolute` is implemented.
    public var positionEmbeddingType: String = "absolute"

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size", hiddenAct = "hidden_act"
        case hiddenDropoutProb = "hidden_dropout_prob", attentionProbsDropoutProb = "attention_probs_dropout_prob"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case initializerRange = "initializer_range", layerNormEps = "layer_norm_eps", padTokenId = "pad_token_id"
        case positionEmbeddingType = "position_embedding_type"
    }

    public init(vocabSize: Int, hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int,
                hiddenAct: String = "gelu", hiddenDropoutProb: Float = 0.1, attentionProbsDropoutProb: Float = 0.1,
                maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2, layerNormEps: Float = 1e-12) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.hiddenAct = hiddenAct
        self.hiddenDropoutProb = hiddenDropoutProb
        self.attentionProbsDropoutProb = attentionProbsDropoutProb
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? hiddenAct
        hiddenDropoutProb = try c.decodeIfPresent(Float.self, forKey: .hiddenDropoutProb) ?? hiddenDropoutProb
        attentionProbsDropoutProb = try c.decodeIfPresent(Float.self, forKey: .attentionProbsDropoutProb) ?? attentionProbsDropoutProb
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? maxPositionEmbeddings
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? typeVocabSize
        initializerRange = try c.decodeIfPresent(Float.self, forKey: .initializerRange) ?? initializerRange
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? layerNormEps
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? padTokenId
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? positionEmbeddingType
    }

    /// Reads and validates `config.json`; errors name the file and the key.
    public static func load(_ path: String) throws(TextModelError) -> BertConfig {
        let config = try TextJSON.decode(BertConfig.self, from: path)
        try config.validate(file: path)
        return config
    }

    /// Checks the values a model can be built from (positive sizes, heads dividing the width, known activation).
    public func validate(file: String = "config") throws(TextModelError) {
        for (key, value) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers),
                             ("num_attention_heads", numAttentionHeads), ("intermediate_size", intermediateSize),
                             ("max_position_embeddings", maxPositionEmbeddings), ("type_vocab_size", typeVocabSize)] where value < 1 {
            throw .malformedJSON(file: file, key: key, reason: "must be at least 1, found \(value)")
        }
        if hiddenSize % numAttentionHeads != 0 {
            throw .malformedJSON(file: file, key: "num_attention_heads",
                                 reason: "hidden_size \(hiddenSize) is not a multiple of \(numAttentionHeads) heads")
        }
        for (key, p) in [("hidden_dropout_prob", hiddenDropoutProb), ("attention_probs_dropout_prob", attentionProbsDropoutProb)]
        where !(0..<1).contains(p) {
            throw .malformedJSON(file: file, key: key, reason: "must lie in [0, 1), found \(p)")
        }
        if !(layerNormEps > 0) { throw .malformedJSON(file: file, key: "layer_norm_eps", reason: "must be positive, found \(layerNormEps)") }
        if !(0..<vocabSize).contains(padTokenId) {
            throw .malformedJSON(file: file, key: "pad_token_id", reason: "\(padTokenId) is outside the vocabulary of \(vocabSize)")
        }
        _ = try activation(file: file)
        if positionEmbeddingType != "absolute" {
            throw .unsupported(file: file, key: "position_embedding_type", value: positionEmbeddingType)
        }
    }

    /// The activation `hidden_act` names (`ACT2FN` of `transformers/activations.py`).
    public func activation(file: String = "config") throws(TextModelError) -> Activation.Kind {
        switch hiddenAct {
        case "gelu": return .gelu
        case "gelu_new", "gelu_pytorch_tanh": return .geluTanh
        case "relu": return .relu
        case "silu", "swish": return .silu
        case "tanh": return .tanh
        default: throw .unsupported(file: file, key: "hidden_act", value: hiddenAct)
        }
    }
}

/// Word, position and token-type embeddings, summed and layer-normalised (`BertEmbeddings`).
public final class BertEmbeddings: Module {
    /// `word_embeddings`.
    @Child public private(set) var wordEmbeddings: Embedding
    /// `position_embeddings`.
    @Child public private(set) var positionEmbeddings: Embedding
    /// `token_type_embeddings`.
    @Child public private(set) var tokenTypeEmbeddings: Embedding
    /// `LayerNorm`: a ``LayerNorm`` unless replaced (``Module/replaceModule(at:with:)``).
    @Child public private(set) var layerNorm: any UnaryLayer
    /// `dropout`: a ``Dropout`` unless replaced.
    @Child public private(set) var dropout: any UnaryLayer
    /// `position_ids` `[1, max_position_embeddings]`: 0, 1, 2, … (a persistent buffer of the checkpoint).
    public let positionIds: Tensor

    public init(_ c: BertConfig) {
        wordEmbeddings = Embedding(c.vocabSize, c.hiddenSize, initializer: .normal(std: c.initializerRange))
        positionEmbeddings = Embedding(c.maxPositionEmbeddings, c.hiddenSize, initializer: .normal(std: c.initializerRange))
        tokenTypeEmbeddings = Embedding(c.typeVocabSize, c.hiddenSize, initializer: .normal(std: c.initializerRange))
        layerNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
        dropout = Dropout(c.hiddenDropoutProb)
        positionIds = Tensor.arange(c.maxPositionEmbeddings).reshaped(1, c.maxPositionEmbeddings)
        super.init()
        child("word_embeddings", $wordEmbeddings)
        child("position_embeddings", $positionEmbeddings)
        child("token_type_embeddings", $tokenTypeEmbeddings)
        child("LayerNorm", $layerNorm)
        child("dropout", $dropout)
        buffer("position_ids", positionIds)
        // Hugging Face zeroes the padding token's row (`nn.Embedding(padding_idx=pad_token_id)`).
        wordEmbeddings.weight.withMutableData { w in
            for j in 0..<c.hiddenSize { w[c.padTokenId * c.hiddenSize + j] = 0 }
        }
    }

    /// ids and type ids row-major `[batch, length]` → `[batch, length, hidden]`.
    public func callAsFunction(ids: [Int], typeIds: [Int]?, shape: Shape) -> Tensor {
        precondition(shape.rank == 2, "BertEmbeddings: shape \(shape) must be [batch, length]")
        let length = shape[1]
        let maxPositions = positionEmbeddings.weight.shape[0]
        precondition(length <= maxPositions, "BertEmbeddings: \(length) tokens exceed the \(maxPositions) positions")
        let positions = positionIds.withUnsafeBufferPointer { p in (0..<length).map { Int(p[$0]) } }
        var x = wordEmbeddings(ids, shape: shape) + positionEmbeddings(positions, shape: [1, length])
        x = x + tokenTypeEmbeddings(typeIds ?? [Int](repeating: 0, count: ids.count), shape: shape)
        return dropout(layerNorm(x))
    }
}

/// `dense → dropout → LayerNorm(· + residual)`: `BertSelfOutput` and `BertOutput`.
public final class BertResidualOutput: Module {
    /// `dense`: a ``Linear`` unless replaced (``Module/replaceModule(at:with:)``).
    @Child public private(set) var dense: any UnaryLayer
    /// `LayerNorm`: a ``LayerNorm`` unless replaced.
    @Child public private(set) var layerNorm: any UnaryLayer
    /// `dropout`: a ``Dropout`` unless replaced.
    @Child public private(set) var dropout: any UnaryLayer

    public init(_ inFeatures: Int, _ c: BertConfig) {
        dense = Linear(inFeatures, c.hiddenSize)
        layerNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
        dropout = Dropout(c.hiddenDropoutProb)
        super.init()
        child("dense", $dense)
        child("LayerNorm", $layerNorm)
        child("dropout", $dropout)
    }

    public func callAsFunction(_ x: Tensor, residual: Tensor) -> Tensor {
        // Without dropout the residual sum is the matmul's post-op when nothing records; in bf16 the sum and the
        // LayerNorm stay bf16 (fp32 statistics), as the next layer's projections read them. Replaced layers run as
        // they are.
        if let linear = dense as? Linear, (dropout as? Dropout)?.isIdentity == true {
            return layerNorm(linear(x, activation: nil, residual: residual, keepsPrecision: layerNorm is LayerNorm))
        }
        return layerNorm(dropout(dense(x)) + residual)
    }

    /// The input quantisation of `dense` when it runs int8 on `x` in the fused path above (an int8 ``Linear``,
    /// dropout inactive, nothing recorded), so that its producer may write `x` as integers; nil otherwise.
    func int8Input(reading x: Tensor) -> Int8InputQuantization? {
        guard let linear = dense as? Linear, let int8 = linear.int8, (dropout as? Dropout)?.isIdentity == true,
              !GradMode.records([x, linear.weight, linear.bias]) else { return nil }
        return int8.input
    }
}

/// Self-attention and its output projection (`BertAttention`: children `self` and `output`).
public final class BertAttention: Module {
    /// `self`: `attention.self.{query,key,value}`.
    @Child public private(set) var selfAttention: MultiHeadSelfAttention
    /// `output`.
    @Child public private(set) var output: BertResidualOutput

    public init(_ c: BertConfig) {
        selfAttention = MultiHeadSelfAttention(hidden: c.hiddenSize, heads: c.numAttentionHeads,
                                               dropout: c.attentionProbsDropoutProb)
        output = BertResidualOutput(c.hiddenSize, c)
        super.init()
        child("self", $selfAttention)
        child("output", $output)
    }

    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        output(selfAttention(x, mask: mask), residual: x)
    }
}

/// The feed-forward expansion with its activation (`BertIntermediate`).
public final class BertIntermediate: Module {
    /// `dense`: a ``Linear`` unless replaced (``Module/replaceModule(at:with:)``).
    @Child public private(set) var dense: any UnaryLayer
    /// The activation (`intermediate_act_fn`; not a registered module, as in Hugging Face).
    public let activation: Activation

    public init(_ c: BertConfig, activation: Activation.Kind) {
        dense = Linear(c.hiddenSize, c.intermediateSize)
        self.activation = Activation(activation)
        super.init()
        child("dense", $dense)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, int8Output: nil) }

    /// With `int8Output` (the input quantisation of BertOutput's int8 dense), an int8 `dense` writes its activated
    /// result as integers in it; otherwise fp32 (bf16 under bf16 precision).
    func callAsFunction(_ x: Tensor, int8Output: Int8InputQuantization?) -> Tensor {
        guard let fused = activation.kind.fused, let linear = dense as? Linear else { return activation(dense(x)) }
        return linear(x, activation: fused, keepsPrecision: true, int8Output: int8Output)  // read only by BertOutput's dense
    }
}

/// One post-LN transformer layer (`BertLayer`: `attention`, `intermediate`, `output`).
public final class BertLayer: Module {
    /// `attention`.
    @Child public private(set) var attention: BertAttention
    /// `intermediate`.
    @Child public private(set) var intermediate: BertIntermediate
    /// `output`.
    @Child public private(set) var output: BertResidualOutput

    public init(_ c: BertConfig, activation: Activation.Kind) {
        attention = BertAttention(c)
        intermediate = BertIntermediate(c, activation: activation)
        output = BertResidualOutput(c.intermediateSize, c)
        super.init()
        child("attention", $attention)
        child("intermediate", $intermediate)
        child("output", $output)
    }

    /// x `[batch, length, hidden]`; mask additive, `[batch, 1, 1, length]`.
    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        let h = attention(x, mask: mask)
        // The expansion's result goes only to the output projection: in int8 it stays integers between them.
        return output(intermediate(h, int8Output: output.int8Input(reading: h)), residual: h)
    }
}

/// The stack of layers (`BertEncoder`, whose `layer` is an `nn.ModuleList`: paths `encoder.layer.N.…`).
public final class BertEncoder: Module {
    private let layerSlots: [Child<BertLayer>]

    /// `layer.0` … (as the registry holds them now).
    public var layers: [BertLayer] { layerSlots.map(\.wrappedValue) }

    /// The `nn.ModuleList` `layer`: registers the layers' slots, which the encoder reads.
    private final class LayerList: Module {}

    public init(_ c: BertConfig, activation: Activation.Kind) {
        layerSlots = (0..<c.numHiddenLayers).map { _ in Child(wrappedValue: BertLayer(c, activation: activation)) }
        super.init()
        let list = child("layer", LayerList())
        for (i, slot) in layerSlots.enumerated() { list.child(String(i), slot) }
    }

    public func callAsFunction(_ x: Tensor, mask: Tensor?) -> Tensor {
        layerSlots.reduce(x) { $1.wrappedValue($0, mask: mask) }
    }
}

/// `tanh(dense(first token))` (`BertPooler`), the input of BERT's next-sentence and classification heads.
public final class BertPooler: Module {
    /// `dense`: a ``Linear`` unless replaced (``Module/replaceModule(at:with:)``).
    @Child public private(set) var dense: any UnaryLayer

    public init(_ c: BertConfig) {
        dense = Linear(c.hiddenSize, c.hiddenSize)
        super.init()
        child("dense", $dense)
    }

    /// `[batch, length, hidden]` → `[batch, hidden]`.
    public func callAsFunction(_ hidden: Tensor) -> Tensor {
        dense(hidden.sliced(axis: 1, start: 0, end: 1).squeezed(1)).tanh()
    }
}

/// BERT's encoder (`transformers/models/bert/modeling_bert.py`, `BertModel`): token ids and an attention mask →
/// the last hidden state `[batch, length, hidden]`.
///
/// Parameter paths are the Hugging Face `state_dict` keys (`embeddings.word_embeddings.weight`,
/// `encoder.layer.0.attention.self.query.weight`, …, `pooler.dense.weight`), so a `model.safetensors` loads with a
/// strict key match. Dropout follows the config and is active only in train mode; a freshly built model is
/// initialised as Hugging Face's `_init_weights` does (normal(0, `initializer_range`) weights, zero biases).
public final class BertModel: Module {
    public let config: BertConfig
    /// `embeddings`.
    @Child public private(set) var embeddings: BertEmbeddings
    /// `encoder`.
    @Child public private(set) var encoder: BertEncoder
    private let poolerSlot: Child<BertPooler>?
    /// `pooler`, present when the checkpoint has `pooler.dense.*` (Hugging Face `add_pooling_layer`).
    public var pooler: BertPooler? { poolerSlot?.wrappedValue }

    public init(config: BertConfig, addPooler: Bool = true) throws(TextModelError) {
        try config.validate()
        self.config = config
        embeddings = BertEmbeddings(config)
        encoder = BertEncoder(config, activation: try config.activation())
        poolerSlot = addPooler ? Child(wrappedValue: BertPooler(config)) : nil
        super.init()
        child("embeddings", $embeddings)
        child("encoder", $encoder)
        if let poolerSlot { child("pooler", poolerSlot) }
        withNoGrad {
            for (_, m) in namedModules() {
                guard let linear = m as? Linear else { continue }
                linear.weight.assign(Initializer.normal(std: config.initializerRange).make(linear.weight.shape))
                linear.bias?.assign(.zeros(linear.bias!.shape))
            }
        }
    }

    /// The path prefixes of the model's blocks, input to output, for freezing and per-block learning rates:
    /// `embeddings`, `encoder.layer.0` … `encoder.layer.N-1`, and `pooler` when present.
    public var blocks: [String] {
        ["embeddings"] + (0..<config.numHiddenLayers).map { "encoder.layer.\($0)" } + (pooler == nil ? [] : ["pooler"])
    }

    /// The last hidden state `[batch, length, hidden]` of a padded batch.
    public func callAsFunction(_ batch: BatchEncoding) -> Tensor {
        callAsFunction(ids: batch.ids, attentionMask: batch.mask, typeIds: batch.typeIds, shape: batch.shape)
    }

    /// The last hidden state `[batch, length, hidden]`.
    ///
    /// - Parameters:
    ///   - ids: token ids, row-major `[batch, length]`.
    ///   - attentionMask: 1 for tokens, 0 for padding (nil: attend everywhere).
    ///   - typeIds: segment ids (nil: all 0).
    ///   - shape: `[batch, length]`.
    public func callAsFunction(ids: [Int], attentionMask: [Float]? = nil, typeIds: [Int]? = nil, shape: Shape) -> Tensor {
        precondition(shape.rank == 2 && ids.count == shape.count, "BertModel: \(ids.count) ids for shape \(shape)")
        for id in ids where id < 0 || id >= config.vocabSize {
            preconditionFailure("BertModel: token id \(id) outside the vocabulary of \(config.vocabSize)")
        }
        var mask: Tensor?
        if let attentionMask, attentionMask.contains(where: { $0 != 1 }) {
            precondition(attentionMask.count == shape.count, "BertModel: \(attentionMask.count) mask values for shape \(shape)")
            mask = MultiHeadSelfAttention.additiveMask(Tensor(shape: shape, data: attentionMask))
        }
        return encoder(embeddings(ids: ids, typeIds: typeIds, shape: shape), mask: mask)
    }

    /// Reads `config.json` and `model.safetensors` of a Hugging Face-style directory and loads the weights
    /// strictly (the pooler is built when the file has `pooler.dense.weight`). The model is returned in eval mode.
    public static func load(directory: String) throws(TextModelError) -> BertModel {
        let config = try BertConfig.load((directory as NSString).appendingPathComponent("config.json"))
        let weights = (directory as NSString).appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weights) else { throw .fileNotFound(file: weights) }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: weights) } catch { throw .checkpoint(error) }
        let prefix = Self.checkpointPrefix(file.keys)
        let model = try BertModel(config: config, addPooler: file.contains(prefix + "pooler.dense.weight"))
        try model.loadWeights(file, prefix: prefix)
        model.eval()
        return model
    }

    /// Loads every parameter and buffer from a safetensors file, strictly: a missing, unexpected or mis-shaped key
    /// throws ``TextModelError/stateDict(file:_:)`` listing all of them. Keys under `prefix` (e.g. `bert.` in a
    /// `BertForSequenceClassification` checkpoint) are used with the prefix removed; others are then ignored.
    public func loadWeights(_ file: SafeTensorsFile, prefix: String = "") throws(TextModelError) {
        var state: [String: Tensor] = [:]
        do {
            for key in file.keys where key.hasPrefix(prefix) { state[String(key.dropFirst(prefix.count))] = try file.tensor(key) }
        } catch {
            throw .checkpoint(error)
        }
        do { try load(state) } catch { throw .stateDict(file: file.path, error) }
    }

    /// `bert.` when the checkpoint stores the encoder under that prefix (a task model), else "".
    static func checkpointPrefix(_ keys: [String]) -> String {
        if keys.contains("embeddings.word_embeddings.weight") { return "" }
        return keys.contains("bert.embeddings.word_embeddings.weight") ? "bert." : ""
    }
}
