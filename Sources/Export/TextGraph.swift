import Layers
import Models
import Tensors

/// The ONNX form of a sentence encoder (BERT/MiniLM, mean pooling over the attention mask, L2 normalisation): token
/// ids, attention mask and token type ids (`[N, T]` int64, Hugging Face's input names) → `[N, dimension]`, the same
/// computation as ``Models/SentenceEmbedder/forward(_:)`` in eval mode.
extension GraphBuilder {
    /// The graph inputs a text backbone reads.
    static let textInputs = ["input_ids", "attention_mask", "token_type_ids"]

    mutating func sentenceEmbedding(_ embedder: SentenceEmbedder) throws(ExportError) -> String {
        let p = embedder.pooling
        guard p.meanTokens, !p.clsToken, !p.maxTokens, !p.meanSqrtLenTokens else {
            throw .unsupportedSetting(name: "pooling", value: "\(p)", accepted: "mean pooling (pooling_mode_mean_tokens) alone")
        }
        let bert = embedder.bert
        let maskFloat = node("Cast", ["attention_mask"], "mask_float", [Attribute.int("to", Onnx_TensorProto.DataType.float.rawValue)])
        let additive = node("Unsqueeze", [node("Mul", [node("Sub", [scalar("one", 1), maskFloat], "mask_inverted"),
                                                      scalar("mask_value", -1e9)], "mask_additive_2d"),
                                          int64s("axes_1_2", [1, 2])], "mask_additive")
        var h = try embeddings(bert.embeddings)
        let activation = try bertActivation(bert.config)
        for (i, layer) in bert.encoder.layers.enumerated() {
            h = try bertLayer(h, layer, mask: additive, heads: bert.config.numAttentionHeads, activation: activation,
                              path: "encoder.layer.\(i)")
        }
        let mask3 = node("Unsqueeze", [maskFloat, int64s("axes_2", [2])], "mask_3d")
        let summed = node("ReduceSum", [node("Mul", [h, mask3], "masked_states"), int64s("axes_1", [1])], "token_sum",
                          [Attribute.int("keepdims", 0)])
        let counts = node("Max", [node("ReduceSum", [maskFloat, int64s("axes_1", [1])], "token_count", [Attribute.int("keepdims", 1)]),
                                  scalar("count_floor", 1e-9)], "token_count_floored")
        let mean = node("Div", [summed, counts], "mean_pooled")
        guard embedder.normalize else { return mean }
        let squares = node("ReduceSum", [node("Mul", [mean, mean], "squares"), int64s("axes_last", [-1])], "square_sum",
                           [Attribute.int("keepdims", 1)])
        let norm = node("Max", [node("Sqrt", [squares], "norm"), scalar("norm_floor", 1e-12)], "norm_floored")
        return node("Div", [mean, norm], "features")
    }

    private func bertActivation(_ config: BertConfig) throws(ExportError) -> FusedActivation {
        switch config.hiddenAct {
        case "gelu": return .gelu
        case "relu": return .relu
        default: throw .unsupportedSetting(name: "hidden_act", value: config.hiddenAct, accepted: "gelu, relu")
        }
    }

    /// Word + position + token type embeddings, then LayerNorm; positions are `Range(0, T)` of the input's length.
    private mutating func embeddings(_ e: BertEmbeddings) throws(ExportError) -> String {
        let words = node("Gather", [constant("embeddings.word_embeddings.weight", e.wordEmbeddings.weight), "input_ids"],
                         "embeddings.words")
        let length = node("Gather", [node("Shape", ["input_ids"], "input_shape"), int64s("index_1", [1], shape: [])], "length")
        let positions = node("Range", [int64s("index_0", [0], shape: []), length, int64s("step_1", [1], shape: [])], "positions")
        let positional = node("Gather", [constant("embeddings.position_embeddings.weight", e.positionEmbeddings.weight), positions],
                              "embeddings.positions")
        let types = node("Gather", [constant("embeddings.token_type_embeddings.weight", e.tokenTypeEmbeddings.weight),
                                    "token_type_ids"], "embeddings.token_types")
        let sum = node("Add", [node("Add", [words, positional], "embeddings.sum1"), types], "embeddings.sum")
        return try layerNorm(sum, e.layerNorm, path: "embeddings.LayerNorm")
    }

    private mutating func bertLayer(_ x: String, _ layer: BertLayer, mask: String, heads: Int, activation: FusedActivation,
                                    path: String) throws(ExportError) -> String {
        let att = layer.attention.selfAttention
        let context = try selfAttention(x, att, mask: mask, heads: heads, path: "\(path).attention.self")
        let h = try residualOutput(context, layer.attention.output, residual: x, path: "\(path).attention.output")
        let inner = try activate(linear(h, Self.linear(layer.intermediate.dense, "\(path).intermediate.dense"),
                                        path: "\(path).intermediate.dense"), activation, path: "\(path).intermediate")
        return try residualOutput(inner, layer.output, residual: h, path: "\(path).output")
    }

    private mutating func residualOutput(_ x: String, _ out: BertResidualOutput, residual: String, path: String) throws(ExportError) -> String {
        let y = linear(x, try Self.linear(out.dense, "\(path).dense"), path: "\(path).dense")
        return try layerNorm(node("Add", [y, residual], "\(path).residual"), out.layerNorm, path: "\(path).LayerNorm")
    }

    /// Scaled dot-product attention over `heads` heads with the additive mask `[N, 1, 1, T]`.
    private mutating func selfAttention(_ x: String, _ att: MultiHeadSelfAttention, mask: String, heads: Int,
                                        path: String) throws(ExportError) -> String {
        let q = try Self.linear(att.query, "\(path).query"), k = try Self.linear(att.key, "\(path).key")
        let v = try Self.linear(att.value, "\(path).value")
        let hidden = q.weight.shape[0], d = hidden / heads
        let split = int64s("split_heads", [0, 0, Int64(heads), Int64(d)])
        func project(_ layer: Linear, _ name: String, perm: [Int]) -> String {
            let y = node("Reshape", [linear(x, layer, path: "\(path).\(name)"), split], "\(path).\(name).split")
            return node("Transpose", [y], "\(path).\(name).heads", [Attribute.ints("perm", perm)])
        }
        let qh = project(q, "query", perm: [0, 2, 1, 3]), kh = project(k, "key", perm: [0, 2, 3, 1])
        let vh = project(v, "value", perm: [0, 2, 1, 3])
        let scores = node("Mul", [node("MatMul", [qh, kh], "\(path).scores_raw"), scalar("attention_scale", 1 / Float(d).squareRoot())],
                          "\(path).scores")
        let probs = node("Softmax", [node("Add", [scores, mask], "\(path).scores_masked")], "\(path).probs",
                         [Attribute.int("axis", -1)])
        let context = node("Transpose", [node("MatMul", [probs, vh], "\(path).context_heads")], "\(path).context_t",
                           [Attribute.ints("perm", [0, 2, 1, 3])])
        return node("Reshape", [context, int64s("merge_heads", [0, 0, Int64(hidden)])], "\(path).context")
    }
}
