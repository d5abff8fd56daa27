import CDNNL

extension Tensor {
    /// A recorded linear layer under ``withTrainingPrecision(_:_:)`` `.bf16`: `x · Wᵀ + b` and both backward
    /// products (`g · W` and `gᵀ · x`) as oneDNN bf16 matmuls with fp32 accumulation and fp32 outputs; the bias
    /// gradient (row sums of `g`) in fp32. `x` and `g` are converted per call, the weight once per data version.
    /// Nil when oneDNN has only its reference kernel for the forward product (the caller runs fp32).
    static func linearBF16Training(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor? {
        require(weight.rank == 2 && x.rank >= 1 && x.shape.last == weight.shape[1],
                "linear: input \(x.shape) does not match weight \(weight.shape) ([out, in])")
        let k = weight.shape[1], n = weight.shape[0], m = x.shape.count / Swift.max(k, 1)
        guard m > 0, n > 0, k > 0,
              let p = linearPrimitive(m: m, n: n, k: k, hasBias: bias != nil, activation: nil, precision: .bf16)
        else { return nil }
        let rowsBF16 = DNNL.desc([m, k], dnnl_ab, type: dnnl_bf16)
        // bf16 rows from a frozen bf16 layer are read as they are; anything else is converted once here.
        let x16 = isPlainBF16(x)
            ? Tensor(storage: x.storage, shape: [m, k], layout: BlockedLayout(rowsBF16))
            : DNNL.asLayout((x.layout == nil ? x : x.plainData()).contiguous().reshaped(m, k), rowsBF16)
        let weightMD = p.md(dnnl_query_weights_md)
        var prepared: Tensor? = BF16Training.converted(weight, as: weightMD) {
            let converted = DNNL.output(Shape([k, n]), weightMD)
            let w = weight.contiguous()
            DNNL.reorder(from: DNNL.desc([k, n], dnnl_ba), w.dnnlData, to: weightMD, converted.dnnlData)
            return converted
        }
        let (_, y) = linearForward(x16, weight: weight, bias: bias, activation: nil, residual: nil, precision: .bf16,
                                   output: .fp32, preparedWeight: &prepared)
        let out = y.reshaped(Shape(Array(x.shape.dims.dropLast()) + [n]))
        let xShape = x.shape
        return out.recorded("linear.bf16", [x, weight] + (bias.map { [$0] } ?? [])) { g, needs in
            let g2 = g.contiguous().reshaped(m, n)
            let g16 = DNNL.asLayout(g2, DNNL.desc([m, n], dnnl_ab, type: dnnl_bf16))
            var gx: Tensor?, gw: Tensor?
            if needs[0] {
                let w16 = BF16Training.converted(weight, as: DNNL.desc([n, k], dnnl_ab, type: dnnl_bf16)) {
                    DNNL.asLayout(weight.contiguous(), DNNL.desc([n, k], dnnl_ab, type: dnnl_bf16))
                }
                gx = (matmulBF16(g16, DNNL.desc([m, n], dnnl_ab, type: dnnl_bf16), w16, m: m, k: n, n: k)
                      ?? g2.matmul(weight)).reshaped(xShape)
            }
            if needs[1] {
                // gᵀ · x: g read transposed (`ba`), or transposed by a reorder when oneDNN has no fast kernel for that.
                let transposedG = DNNL.desc([n, m], dnnl_ba, type: dnnl_bf16)
                gw = matmulBF16(g16, transposedG, x16, m: n, k: m, n: k, fastOnly: true)
                    ?? matmulBF16(transposedCopy(g16, rows: m, cols: n), DNNL.desc([n, m], dnnl_ab, type: dnnl_bf16),
                                  x16, m: n, k: m, n: k)
                    ?? g2.transposed(0, 1).matmul(x16.plainData().reshaped(m, k))
            }
            let gb = bias != nil && needs[2] ? g2.sum(axis: 0) : nil
            return bias == nil ? [gx, gw] : [gx, gw, gb]
        }
    }

    /// `a · b` (fp32 `[m, n]`) for bf16 `a` (`[m, k]` as described by `aDesc`) and plain bf16 `b` (`[k, n]`) through
    /// a oneDNN matmul with fp32 accumulation; nil when oneDNN has only its reference kernel (with `fastOnly`) or no
    /// implementation.
    static func matmulBF16(_ a: Tensor, _ aDesc: dnnl_memory_desc_t, _ b: Tensor, m: Int, k: Int, n: Int,
                           fastOnly: Bool = false) -> Tensor? {
        let bDesc = DNNL.desc([k, n], dnnl_ab, type: dnnl_bf16), cDesc = DNNL.desc([m, n], dnnl_ab)
        guard let p = DNNL.primitiveIfAvailable("matmul.bf16train|\(DNNL.key(aDesc))|\(DNNL.key(bDesc))", {
            var op = dnnl_matmul_desc_t()
            var a0 = aDesc, b0 = bDesc, c0 = cDesc
            DNNL.check(dnnl_matmul_desc_init(&op, &a0, &b0, nil, &c0), "matmul_desc_init (bf16 training)")
            return DNNL.makePD(&op, attr: nil, hint: nil, allowUnimplemented: true, "matmul (bf16 training)")
        }), !(fastOnly && p.isReference) else { return nil }
        let c = Tensor(uninitialized: [m, n])
        withExtendedLifetime((a, b)) {
            p.execute([(DNNL_ARG_SRC, aDesc, a.dnnlData), (DNNL_ARG_WEIGHTS, bDesc, b.dnnlData),
                       (DNNL_ARG_DST, cDesc, c.dnnlData)])
        }
        return c
    }

    /// The plain bf16 `[cols, rows]` transpose of plain bf16 `t` (`[rows, cols]`), by a oneDNN reorder.
    static func transposedCopy(_ t: Tensor, rows: Int, cols: Int) -> Tensor {
        let out = plainOutput([cols, rows], type: dnnl_bf16)
        DNNL.reorder(from: DNNL.desc([cols, rows], dnnl_ba, type: dnnl_bf16), t.dnnlData,
                     to: DNNL.desc([cols, rows], dnnl_ab, type: dnnl_bf16), out.dnnlData)
        return out
    }
}
