import CDNNL

extension Tensor {
    /// How a matrix view can be handed to a row-major SGEMM without a copy: as is (row stride `ld`) or transposed.
    struct GemmOperand {
        let trans: Bool
        let ld: Int
    }

    /// The GEMM view of the last two dims of a plain tensor, or nil if neither dim is unit-stride.
    static func gemmOperand(_ t: Tensor) -> GemmOperand? {
        let r = t.rank, rows = t.shape[r - 2], cols = t.shape[r - 1]
        let sr = t.strides[r - 2], sc = t.strides[r - 1]
        if sc == 1 || cols == 1 { return GemmOperand(trans: false, ld: Swift.max(sr, cols, 1)) }
        if sr == 1 || rows == 1 { return GemmOperand(trans: true, ld: Swift.max(sc, rows, 1)) }
        return nil
    }

    /// Matrix product over the last two dimensions with broadcast batch dimensions (`torch.matmul` for rank ≥ 2).
    ///
    /// Transposed views (from ``transposed(_:_:)``) are passed to the GEMM as transposed operands, never
    /// copied. When `b` is a single matrix and `a`'s rows are evenly strided, all of `a`'s batch is one GEMM; other batches run
    /// as one oneDNN matmul over strided views.
    public func matmul(_ other: Tensor) -> Tensor { Tensor.matmul(self, other) }

    public static func matmul(_ a0: Tensor, _ b0: Tensor) -> Tensor {
        require(a0.rank >= 2 && b0.rank >= 2, "matmul: needs rank ≥ 2, got \(a0.shape) and \(b0.shape)")
        let m = a0.shape[a0.rank - 2], k = a0.shape[a0.rank - 1], n = b0.shape[b0.rank - 1]
        require(b0.shape[b0.rank - 2] == k, "matmul: inner dimensions differ: \(a0.shape) × \(b0.shape)")
        let batchA = Shape(Array(a0.shape.dims.dropLast(2))), batchB = Shape(Array(b0.shape.dims.dropLast(2)))
        guard let batch = Shape.broadcast(batchA, batchB) else {
            fatalError("matmul: batch dimensions of \(a0.shape) and \(b0.shape) do not broadcast")
        }
        var a = a0.layout == nil ? a0 : a0.plainData()
        var b = b0.layout == nil ? b0 : b0.plainData()
        if gemmOperand(a) == nil { a = a.plainData() }
        if gemmOperand(b) == nil { b = b.plainData() }
        let out = Tensor(uninitialized: Shape(batch.dims + [m, n]))
        let opA = gemmOperand(a)!, opB = gemmOperand(b)!

        // One GEMM for the whole batch of `a` when b is a plain matrix and a's rows stack evenly.
        let rowsStack = batchB.count == 1 && !opA.trans && a.strides[a.rank - 1] == 1 && batchA == batch
            && a.isContiguousRows(rowStride: opA.ld)
        if rowsStack {
            gemm(opA, opB, m: batch.count * m, n: n, k: k, a.basePointer, b.basePointer, out.storage.pointer, ldc: n)
        } else if let p = batchedPrimitive(a, b, batch: batch, m: m, n: n, k: k) {
            p.execute([(DNNL_ARG_SRC, p.md(dnnl_query_src_md), UnsafeMutableRawPointer(a.basePointer)),
                       (DNNL_ARG_WEIGHTS, p.md(dnnl_query_weights_md), UnsafeMutableRawPointer(b.basePointer)),
                       (DNNL_ARG_DST, p.md(dnnl_query_dst_md), UnsafeMutableRawPointer(out.storage.pointer))])
        } else {
            let sa = BinaryKernel.broadcastStrides(Tensor(storage: a.storage, shape: batchA, strides: Array(a.strides.dropLast(2))), to: batch)
            let sb = BinaryKernel.broadcastStrides(Tensor(storage: b.storage, shape: batchB, strides: Array(b.strides.dropLast(2))), to: batch)
            for i in 0..<batch.count {
                var rem = i, offA = 0, offB = 0
                for d in stride(from: batch.rank - 1, through: 0, by: -1) {
                    let idx = rem % batch[d]
                    rem /= batch[d]
                    offA += idx * sa[d]
                    offB += idx * sb[d]
                }
                gemm(opA, opB, m: m, n: n, k: k, a.basePointer + offA, b.basePointer + offB,
                     out.storage.pointer + i * m * n, ldc: n)
            }
        }
        withExtendedLifetime((a, b)) {}
        return out.recorded("matmul", [a0, b0]) { g, needs in
            let ga = needs[0] ? Tensor.matmul(g, b0.transposed(-2, -1)).sumTo(a0.shape) : nil
            let gb = needs[1] ? Tensor.matmul(a0.transposed(-2, -1), g).sumTo(b0.shape) : nil
            return [ga, gb]
        }
    }

    /// True when all rows of all batch matrices lie at a single stride `rowStride` (so the batch flattens into rows).
    func isContiguousRows(rowStride: Int) -> Bool {
        var expected = rowStride
        for d in stride(from: rank - 2, through: 0, by: -1) {
            if shape[d] != 1 && strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }

    static func gemm(_ opA: GemmOperand, _ opB: GemmOperand, m: Int, n: Int, k: Int,
                     _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 { c.initialize(repeating: 0, count: m * ldc); return }
        // oneDNN's row-major SGEMM: as fast as OpenBLAS on large shapes and faster on small ones here
        // (benchmarks/RESULTS.md), and it runs on the same OpenMP threads as every other oneDNN primitive, so no
        // second pool spins while the first one works.
        DNNL.check(dnnl_sgemm(opA.trans ? 84 : 78, opB.trans ? 84 : 78, Int64(m), Int64(n), Int64(k), 1,
                              a, Int64(opA.ld), b, Int64(opB.ld), 0, c, Int64(ldc)), "sgemm \(m)×\(n)×\(k)")
    }

    /// `t`'s memory as it is, through its strides, left-padded with size-1 (broadcast) dims to `rank`; a size-1 dim
    /// gets the stride it would have if it were dense.
    static func stridedDesc(_ t: Tensor, rank: Int) -> dnnl_memory_desc_t {
        let pad = rank - t.rank
        let dims = [Int](repeating: 1, count: pad) + t.shape.dims
        var strides = [Int](repeating: 0, count: pad) + t.strides
        for i in stride(from: rank - 1, through: 0, by: -1) where dims[i] == 1 {
            strides[i] = (i + 1..<rank).map { strides[$0] * dims[$0] }.max() ?? 1
        }
        return DNNL.desc(dims, strides: strides)
    }

    /// A oneDNN matmul primitive over the whole broadcast batch, reading `a` and `b` through their strides (so
    /// permuted attention heads need no copy), or nil when oneDNN has only its reference kernel for the layout.
    static func batchedPrimitive(_ a: Tensor, _ b: Tensor, batch: Shape, m: Int, n: Int, k: Int) -> DNNLPrimitive? {
        let rank = batch.rank + 2
        guard rank <= 6 else { return nil }
        let ad = stridedDesc(a, rank: rank), bd = stridedDesc(b, rank: rank), cd = DNNL.plainDesc(Shape(batch.dims + [m, n]))
        let key = "matmul|\(DNNL.key(ad))|\(DNNL.key(bd))|\(DNNL.key(cd))"
        let p = DNNL.primitive(key) {
            var op = dnnl_matmul_desc_t()
            var a0 = ad, b0 = bd, c0 = cd
            DNNL.check(dnnl_matmul_desc_init(&op, &a0, &b0, nil, &c0), "matmul_desc_init")
            return DNNL.makePD(&op, "matmul \(a.shape)×\(b.shape)")
        }
        return p.isReference ? nil : p
    }

    /// `x · weightᵀ + bias` with PyTorch's weight layout `[out, in]` (`torch.nn.functional.linear`).
    ///
    /// One oneDNN matmul primitive over all rows of `x`, reading the weight through transposed strides and adding
    /// the bias in its epilogue (no separate bias pass); the backward is `g·W`, `gᵀ·x` and the row sums of `g`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let recording = GradMode.records([x, weight, bias])
        if recording && BF16Training.isActive, let y = linearBF16Training(x, weight: weight, bias: bias) { return y }
        var prepared: Tensor?
        let (x2, y) = linearForward(x, weight: weight, bias: bias, activation: nil, residual: nil,
                                    precision: recording ? .fp32 : Precision.current, output: .fp32,
                                    preparedWeight: &prepared)
        let n = weight.shape[0]
        return y.recorded("linear", [x, weight] + (bias.map { [$0] } ?? [])) { g, needs in
            let g2 = g.contiguous().reshaped(x2.shape[0], n)
            let gx = needs[0] ? g2.matmul(weight).reshaped(x.shape) : nil
            let gw = needs[1] ? g2.transposed(0, 1).matmul(x2) : nil
            let gb = bias != nil && needs[2] ? g2.sum(axis: 0) : nil
            return bias == nil ? [gx, gw] : [gx, gw, gb]
        }
    }

    /// `activation(x · weightᵀ + bias) + residual` as one oneDNN matmul for inference (the activation and the
    /// residual sum are post-ops, in that order); nothing is recorded.
    ///
    /// Under ``withPrecision(_:_:)`` `.bf16` the product reads `x` and the weight in bf16 and accumulates in fp32.
    /// `output: .bf16` then writes the result in bf16 (a plain row-major tensor whose ``BlockedLayout`` says bf16):
    /// for a consumer that is itself a bf16 matmul, such as the next linear layer, which reads it as is; any other
    /// reader gets fp32 through ``contiguous()``. Outside bf16 scope `output` is ignored and the result is fp32.
    ///
    /// `preparedWeight` caches the weight in the primitive's layout and precision between calls, as in
    /// ``conv2d(_:weight:bias:stride:padding:dilation:groups:residual:activation:preparedWeight:)``: used as is when
    /// it matches the primitive (the caller guarantees it derives from the current `weight`), else replaced.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: FusedActivation?,
                              residual: Tensor?, output: Precision, preparedWeight: inout Tensor?) -> Tensor {
        linearForward(x, weight: weight, bias: bias, activation: activation, residual: residual,
                      precision: Precision.current, output: output, preparedWeight: &preparedWeight).output
    }

    /// True when `t` holds plain row-major bf16 data (the output of a linear or attention that kept bf16).
    static func isPlainBF16(_ t: Tensor) -> Bool {
        guard let l = t.layout, l.isBF16, t.rank >= 1, t.offset == 0 else { return false }
        return DNNL.equal(l.desc, DNNL.desc(t.shape.dims, DNNL.plainTag(t.rank), type: dnnl_bf16))
    }

    /// A new plain row-major tensor of `shape` in `type` (bf16 or integer storage carries a ``BlockedLayout``
    /// saying so).
    static func plainOutput(_ shape: Shape, type: dnnl_data_type_t) -> Tensor {
        guard type != dnnl_f32 else { return Tensor(uninitialized: shape) }
        let layout = BlockedLayout(DNNL.desc(shape.dims, DNNL.plainTag(shape.rank), type: type))
        return Tensor(storage: TensorStorage(count: layout.elementCount), shape: shape, layout: layout)
    }

    /// The forward of the linear ops: `x` flattened to plain rows `[M, in]` (for the backward), and the output in
    /// `x`'s shape with the last dim `out`.
    static func linearForward(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: FusedActivation?,
                              residual: Tensor?, precision: Precision, output: Precision,
                              preparedWeight: inout Tensor?) -> (rows: Tensor, output: Tensor) {
        require(weight.rank == 2 && x.rank >= 1 && x.shape.last == weight.shape[1],
                "linear: input \(x.shape) does not match weight \(weight.shape) ([out, in])")
        if let bias { require(bias.shape == [weight.shape[0]], "linear: bias \(bias.shape) for weight \(weight.shape)") }
        let k = weight.shape[1], n = weight.shape[0]
        let m = x.shape.count / Swift.max(k, 1)
        let outShape = Shape(Array(x.shape.dims.dropLast()) + [n])
        if let residual {
            require(residual.shape == outShape, "linear: residual \(residual.shape) does not match the output \(outShape) (input \(x.shape), weight \(weight.shape))")
        }
        // A bf16 input from a previous bf16 linear is read as is; anything else becomes plain fp32 rows first.
        let bf16Input = precision == .bf16 && isPlainBF16(x)
        let x2 = bf16Input ? x : (x.layout == nil ? x : x.plainData()).contiguous().reshaped(m, k)
        let outType = precision == .bf16 && output == .bf16 ? dnnl_bf16 : dnnl_f32
        let w = weight.contiguous(), b = bias?.contiguous()
        // A bf16 residual (a bf16 LayerNorm's output) is added as it is.
        let bf16Residual = precision == .bf16 && residual.map(isPlainBF16) == true
        let r = bf16Residual ? residual : residual?.plainData()
        let residualType = bf16Residual ? dnnl_bf16 : dnnl_f32
        if m > 0 && n > 0 && k > 0,
           let p = linearPrimitive(m: m, n: n, k: k, hasBias: b != nil, activation: activation,
                                   residual: r == nil ? nil : residualType, precision: precision, output: outType) {
            // In bf16 the operands are converted into the primitive's descriptors (the weight possibly blocked).
            let srcMD = p.md(dnnl_query_src_md)
            let xs = bf16Input ? x : DNNL.asLayout(x2, srcMD)
            let weightMD = p.md(dnnl_query_weights_md), asStored = DNNL.desc([k, n], dnnl_ba)
            let ws = DNNL.equal(asStored, weightMD) ? w : DNNL.prepared(&preparedWeight, as: weightMD) {
                let converted = DNNL.output(Shape([k, n]), weightMD)
                DNNL.reorder(from: asStored, w.dnnlData, to: weightMD, converted.dnnlData)
                return converted
            }
            let out = plainOutput(outShape, type: outType)
            var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                (DNNL_ARG_SRC, srcMD, xs.dnnlData),
                (DNNL_ARG_WEIGHTS, weightMD, ws.dnnlData),
                (DNNL_ARG_DST, p.md(dnnl_query_dst_md), out.dnnlData),
            ]
            if let b { args.append((DNNL_ARG_BIAS, p.md(dnnl_query_weights_md, 1), b.dnnlData)) }
            if let r {
                let index: Int32 = activation == nil ? 1 : 2  // DNNL_ARG_ATTR_MULTIPLE_POST_OP(post-op index)
                args.append((DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * index | DNNL_ARG_SRC_1,
                             DNNL.desc([m, n], dnnl_ab, type: residualType), r.dnnlData))
            }
            withExtendedLifetime((xs, ws, b, r)) { p.execute(args) }
            return (x2, out)
        }
        // No fast primitive (or an empty product): the GEMM, then bias, activation and residual as separate ops.
        let rows = bf16Input ? x.plainData().reshaped(m, k) : x2
        let y = withNoGrad {
            let product = matmul(rows, w.transposed(0, 1))
            let biased = b.map { product + $0 } ?? product
            let activated = activation?.apply(biased) ?? biased
            return r.map { activated + $0.plainData().reshaped(m, n) } ?? activated
        }
        return (rows, y.contiguous().reshaped(outShape))
    }

    /// The cached matmul primitive `[m, k] × [k, n]` (weights stored `[n, k]`, read transposed) `+ bias`, with
    /// optional activation and residual-sum (of type `residual`) post-ops; nil when oneDNN has only its reference
    /// kernel for it.
    static func linearPrimitive(m: Int, n: Int, k: Int, hasBias: Bool, activation: FusedActivation?,
                                residual: dnnl_data_type_t? = nil, precision: Precision = .fp32,
                                output: dnnl_data_type_t = dnnl_f32) -> DNNLPrimitive? {
        let key = "linear|\(m)|\(n)|\(k)|\(hasBias)|\(activation?.rawValue ?? "none")|\(residual?.rawValue ?? 0)|\(precision)|\(output.rawValue)"
        let p = DNNL.primitive(key) {
            let type = precision.dataType
            // fp32 reads the weight `[n, k]` in place (`ba`); bf16 lets oneDNN choose the converted weight's layout.
            var src = DNNL.desc([m, k], dnnl_ab, type: type)
            var wei = DNNL.desc([k, n], precision == .fp32 ? dnnl_ba : dnnl_format_tag_any, type: type)
            var dst = DNNL.desc([m, n], dnnl_ab, type: output)
            var bia = DNNL.desc([1, n], dnnl_ab)
            var op = dnnl_matmul_desc_t()
            if hasBias {
                DNNL.check(dnnl_matmul_desc_init(&op, &src, &wei, &bia, &dst), "matmul_desc_init (linear)")
            } else {
                DNNL.check(dnnl_matmul_desc_init(&op, &src, &wei, nil, &dst), "matmul_desc_init (linear)")
            }
            var postOps: [DNNL.PostOp] = activation.map { [.eltwise($0)] } ?? []
            if let residual { postOps.append(.binaryAdd(DNNL.desc([m, n], dnnl_ab, type: residual))) }
            return DNNL.makePD(&op, postOps: postOps,
                               "matmul (linear \(m)×\(k) · \(k)×\(n), \(activation?.rawValue ?? "no activation")\(residual != nil ? " + residual" : ""))")
        }
        return p.isReference ? nil : p
    }
}
