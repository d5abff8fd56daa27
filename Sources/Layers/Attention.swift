import Foundation
import Tensors

/// Multi-head self-attention with separate query/key/value projections, in BERT's layout
/// (`attention.self.{query,key,value}` in Hugging Face `BertSelfAttention`): returns the per-token context
/// `softmax(QKᵀ/√d + mask) V` with heads merged, before the output projection.
///
/// `query`, `key`, `value` and `dropout` are replaceable (e.g. by a low-rank adapter on `query`); the packed
/// inference path runs only while the three projections are still ``Linear`` layers and `dropout` an inactive
/// ``Dropout``, and otherwise each projection is called as it is.
public final class MultiHeadSelfAttention: Module {
    /// `query`: a ``Linear`` unless replaced.
    @Child public private(set) var query: any UnaryLayer
    /// `key`: a ``Linear`` unless replaced.
    @Child public private(set) var key: any UnaryLayer
    /// `value`: a ``Linear`` unless replaced.
    @Child public private(set) var value: any UnaryLayer
    public let heads: Int
    /// `dropout` on the attention probabilities: a ``Dropout`` unless replaced.
    @Child public private(set) var dropout: any UnaryLayer

    public init(hidden: Int, heads: Int, dropout p: Float = 0, initializer: Initializer = .pytorchDefault) {
        require(hidden % heads == 0, "MultiHeadSelfAttention: hidden \(hidden) not divisible by \(heads) heads")
        self.heads = heads
        query = Linear(hidden, hidden, initializer: initializer)
        key = Linear(hidden, hidden, initializer: initializer)
        value = Linear(hidden, hidden, initializer: initializer)
        dropout = Dropout(p)
        super.init()
        child("query", $query)
        child("key", $key)
        child("value", $value)
        child("dropout", $dropout)
    }

    /// An additive mask [B, 1, 1, T] from a key mask [B, T] of 1 (attend) and 0 (padding).
    public static func additiveMask(_ keep: Tensor) -> Tensor {
        require(keep.rank == 2, "additiveMask: expected [batch, tokens], got \(keep.shape)")
        return ((1 - keep) * -1e9).reshaped(keep.shape[0], 1, 1, keep.shape[1])
    }

    /// Whether int8 projections hand the attention bf16 (this CPU has avx512_bf16) rather than fp32.
    static let int8AttentionInBF16 = Precision.bf16.unsupportedReason == nil

    /// The query, key and value weights and biases concatenated (`in_proj_weight`), for inference.
    var packed: FoldedWeights?

    /// `x · [W_q; W_k; W_v]ᵀ + [b_q; b_k; b_v]`, `[B, T, 3·hidden]`, as one matmul; bf16 under
    /// ``withPrecision(_:_:)`` `.bf16`, and bf16 from int8 projections on a CPU with avx512_bf16.
    func packedProjection(_ x: Tensor, _ query: Linear, _ key: Linear, _ value: Linear) -> Tensor {
        let sources = [query.weight, key.weight, value.weight] + [query.bias, key.bias, value.bias].compactMap { $0 }
        let cacheKey = FoldedWeights.Key(sources: sources, precision: Precision.current)
        if packed?.key != cacheKey {
            let projections = [query, key, value]
            let (w, b) = withNoGrad {
                (Tensor.concat(projections.map(\.weight), axis: 0),
                 Tensor.concat(projections.map { $0.bias ?? Tensor.zeros([$0.weight.shape[0]]) }, axis: 0))
            }
            packed = FoldedWeights(key: cacheKey, weight: w, bias: b, prepared: nil)
        }
        if let observer = InputObservation.current {
            for l in [query, key, value] { observer.observe(ObjectIdentifier(l), input: x) }
        }
        if let int8 = query.int8, key.int8 != nil, value.int8 != nil {
            // bf16 where the CPU has it: the attention products then run in bf16 (fp32 accumulation), and the
            // context reaches the int8 output projection in bf16 (docs/int8.md, session 11).
            return int8.linear(x, weight: packed!.weight, bias: packed!.bias, activation: nil, residual: nil,
                               output: Self.int8AttentionInBF16 ? .bf16 : .fp32)
        }
        var prepared = packed!.prepared
        let qkv = Tensor.linear(x, weight: packed!.weight, bias: packed!.bias, activation: nil, residual: nil,
                                output: Precision.current, preparedWeight: &prepared)
        packed!.prepared = prepared
        return qkv
    }

    /// x: [B, T, hidden]; mask: additive, broadcastable to [B, heads, T, T] (see ``additiveMask(_:)``).
    public func callAsFunction(_ x: Tensor, mask: Tensor? = nil) -> Tensor {
        require(x.rank == 3, "MultiHeadSelfAttention: expected [batch, tokens, hidden], got \(x.shape)")
        let b = x.shape[0], t = x.shape[1], h = x.shape[2], d = h / heads
        func split(_ y: Tensor) -> Tensor { y.reshaped(b, t, heads, d).permuted([0, 2, 1, 3]) }
        if let q = query as? Linear, let k = key as? Linear, let v = value as? Linear,
           (dropout as? Dropout)?.isIdentity == true,
           !GradMode.records([x, mask] + [q, k, v].flatMap { [$0.weight, $0.bias] }),
           let context = Tensor.packedSelfAttention(packedProjection(x, q, k, v), heads: heads, mask: mask) {
            return context  // inference: one projection GEMM, attention with no copies of Q, K, V
        }
        let q = split(query(x)), k = split(key(x)), v = split(value(x))
        let scale = 1 / Float(d).squareRoot()
        var scores = q.matmul(k.transposed(-2, -1)) * scale
        if let mask { scores = scores + mask }
        let probs = dropout(scores.softmax(axis: -1))
        return probs.matmul(v).permuted([0, 2, 1, 3]).reshaped(b, t, h)
    }
}
