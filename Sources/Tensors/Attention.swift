import CDNNL

extension Tensor {
    /// Multi-head self-attention for inference, `softmax(Q·Kᵀ/√d + mask)·V` with heads merged, from packed
    /// projections: `qkv` is `[B, T, 3·hidden]` holding Q, K and V side by side per token (the output of one linear
    /// over the concatenated query/key/value weights, as PyTorch's `in_proj_weight`), `mask` is additive,
    /// `[B, 1, 1, T]`. Returns the context `[B, T, hidden]`; nothing is recorded for autograd.
    ///
    /// Three oneDNN primitives, with no copy of Q, K or V: the scores matmul reads the heads through strides
    /// (scale as output scale, mask as a broadcast binary post-op) and writes fp32; softmax runs over them; the
    /// context matmul writes each head straight into its columns of the `[B, T, hidden]` output. When `qkv` is
    /// plain bf16 (a linear that kept bf16, see ``linear(_:weight:bias:activation:residual:output:preparedWeight:)``)
    /// both matmuls run in bf16 with fp32 accumulation, the probabilities are bf16 and so is the context; the scores
    /// and the softmax stay fp32. Nil when oneDNN offers only reference kernels for these shapes (callers then compose
    /// the ops).
    public static func packedSelfAttention(_ qkv: Tensor, heads: Int, mask: Tensor?) -> Tensor? {
        guard qkv.rank == 3, heads > 0, qkv.shape[2] % (3 * heads) == 0 else { return nil }
        let b = qkv.shape[0], t = qkv.shape[1], width = qkv.shape[2], hidden = width / 3, d = hidden / heads
        guard b > 0, t > 0, d > 0 else { return nil }
        let bf16 = isPlainBF16(qkv)
        guard bf16 || qkv.isContiguous else { return nil }
        let type = bf16 ? dnnl_bf16 : dnnl_f32
        let maskC = mask?.plainData()
        if let maskC, maskC.shape != [b, 1, 1, t] { return nil }

        // Head h of token j of sequence i starts at element i·T·3H + j·3H + h·d (+ H for K, + 2H for V).
        let headView = DNNL.desc([b, heads, t, d], strides: [t * width, d, width, 1], type: type)
        let keysT = DNNL.desc([b, heads, d, t], strides: [t * width, d, 1, width], type: type)
        let context = DNNL.desc([b, heads, t, d], strides: [t * hidden, d, hidden, 1], type: type)
        let scoresDesc = DNNL.plainDesc([b, heads, t, t])
        let probsDesc = DNNL.desc([b, heads, t, t], dnnl_abcd, type: type)
        let maskDesc = DNNL.plainDesc([b, 1, 1, t])
        let scale = 1 / Float(d).squareRoot()
        let shapeKey = "\(b)|\(t)|\(width)|\(heads)|\(type.rawValue)"

        let scoresP = DNNL.primitive("attn.scores|\(shapeKey)|\(maskC != nil)") {
            var op = dnnl_matmul_desc_t()
            var q = headView, k = keysT, s = scoresDesc
            DNNL.check(dnnl_matmul_desc_init(&op, &q, &k, nil, &s), "matmul_desc_init (attention scores)")
            return DNNL.makePD(&op, postOps: maskC == nil ? [] : [.binaryAdd(maskDesc)], outputScale: scale,
                               "matmul (attention scores)")
        }
        let softmaxP = DNNL.primitive("attn.softmax|\(shapeKey)") {
            var op = dnnl_softmax_v2_desc_t()
            var s = scoresDesc, p = probsDesc
            DNNL.check(dnnl_softmax_v2_forward_desc_init(&op, dnnl_forward_inference, dnnl_softmax_accurate, &s, &p, 3),
                       "softmax_v2_forward_desc_init (attention)")
            return DNNL.makePD(&op, "softmax (attention)")
        }
        let contextP = DNNL.primitive("attn.context|\(shapeKey)") {
            var op = dnnl_matmul_desc_t()
            var p = probsDesc, v = headView, c = context
            DNNL.check(dnnl_matmul_desc_init(&op, &p, &v, nil, &c), "matmul_desc_init (attention context)")
            return DNNL.makePD(&op, "matmul (attention context)")
        }
        guard !scoresP.isReference, !softmaxP.isReference, !contextP.isReference else { return nil }

        let elementBytes = bf16 ? 2 : 4
        let base = UnsafeMutableRawPointer(qkv.storage.pointer) + qkv.offset * 4
        let scores = Tensor(uninitialized: [b, heads, t, t])
        // fp32 probabilities overwrite the scores (oneDNN's softmax runs in place); bf16 ones need their own buffer.
        let probs = bf16 ? plainOutput([b, heads, t, t], type: type) : scores
        let out = plainOutput([b, t, hidden], type: type)
        var scoreArgs: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, headView, base),
            (DNNL_ARG_WEIGHTS, keysT, base + hidden * elementBytes),
            (DNNL_ARG_DST, scoresDesc, scores.dnnlData),
        ]
        if let maskC { scoreArgs.append((DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE | DNNL_ARG_SRC_1, maskDesc, maskC.dnnlData)) }
        withExtendedLifetime((qkv, maskC, scores, probs)) {
            scoresP.execute(scoreArgs)
            softmaxP.execute([(DNNL_ARG_SRC, scoresDesc, scores.dnnlData), (DNNL_ARG_DST, probsDesc, probs.dnnlData)])
            contextP.execute([(DNNL_ARG_SRC, probsDesc, probs.dnnlData),
                              (DNNL_ARG_WEIGHTS, headView, base + 2 * hidden * elementBytes),
                              (DNNL_ARG_DST, context, out.dnnlData)])
        }
        return out
    }
}
