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
        var d = dnnl_memory_desc_t()
        let dd = dims.map(Int64.init) + [Int64](repeating: 0, count: 12 - rank)
        let ss = strides.map(Int64.init) + [Int64](repeating: 0, count: 12 - rank)
        DNNL.check(dnnl_memory_desc_init_by_strides(&d, Int32(rank), dd, dnnl_f32, ss), "memory_desc_init_by_strides \(dims)")
        return d
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

    /// Attention scores `scale · q·kᵀ + mask` for inference as one oneDNN matmul (the scale an output scale, the
    /// additive mask a broadcast binary post-op): `q` `[B, H, T, d]` and `k` `[B, H, S, d]` read through their
    /// strides, `mask` broadcastable as `[B, 1, 1, S]`. Nil when oneDNN offers no fast kernel for it (callers then
    /// compose the ops); nothing is recorded for autograd.
    public static func attentionScores(_ q0: Tensor, _ k0: Tensor, scale: Float, mask: Tensor?) -> Tensor? {
        guard q0.rank == 4, k0.rank == 4, q0.layout == nil, k0.layout == nil else { return nil }
        let b = q0.shape[0], h = q0.shape[1], t = q0.shape[2], d = q0.shape[3], s = k0.shape[2]
        guard k0.shape == [b, h, s, d] else { return nil }
        let maskC = mask.map { $0.contiguous() }
        if let maskC, maskC.shape != [b, 1, 1, s] { return nil }
        let kt = k0.transposed(-2, -1)
        guard gemmOperand(q0) != nil, gemmOperand(kt) != nil else { return nil }
        let qd = stridedDesc(q0, rank: 4), kd = stridedDesc(kt, rank: 4), od = DNNL.plainDesc([b, h, t, s]), md = DNNL.plainDesc([b, 1, 1, s])
        let key = "attn|\(DNNL.key(qd))|\(DNNL.key(kd))|\(scale.bitPattern)|\(maskC != nil)"
        let p = DNNL.primitive(key) {
            var op = dnnl_matmul_desc_t()
            var a = qd, w = kd, c = od
            DNNL.check(dnnl_matmul_desc_init(&op, &a, &w, nil, &c), "matmul_desc_init (attention)")
            return DNNL.makePD(&op, postOps: maskC == nil ? [] : [.binaryAdd(md)], outputScale: scale, "matmul (attention scores)")
        }
        guard !p.isReference else { return nil }
        let out = Tensor(uninitialized: [b, h, t, s])
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, qd, UnsafeMutableRawPointer(q0.basePointer)),
            (DNNL_ARG_WEIGHTS, kd, UnsafeMutableRawPointer(kt.basePointer)),
            (DNNL_ARG_DST, od, UnsafeMutableRawPointer(out.storage.pointer)),
        ]
        if let maskC { args.append((DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE | DNNL_ARG_SRC_1, md, UnsafeMutableRawPointer(maskC.basePointer))) }
        withExtendedLifetime((q0, k0, maskC)) { p.execute(args) }
        return out
    }

    /// `x · weightᵀ + bias` with PyTorch's weight layout `[out, in]` (`torch.nn.functional.linear`).
    ///
    /// One oneDNN matmul primitive over all rows of `x`, reading the weight through transposed strides and adding
    /// the bias in its epilogue (no separate bias pass); the backward is `g·W`, `gᵀ·x` and the row sums of `g`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let recording = GradMode.records([x, weight, bias])
        let (x2, y) = linearForward(x, weight: weight, bias: bias, activation: nil,
                                    precision: recording ? .fp32 : Precision.current)
        let n = weight.shape[0]
        return y.recorded("linear", [x, weight] + (bias.map { [$0] } ?? [])) { g, needs in
            let g2 = g.contiguous().reshaped(x2.shape[0], n)
            let gx = needs[0] ? g2.matmul(weight).reshaped(x.shape) : nil
            let gw = needs[1] ? g2.transposed(0, 1).matmul(x2) : nil
            let gb = bias != nil && needs[2] ? g2.sum(axis: 0) : nil
            return bias == nil ? [gx, gw] : [gx, gw, gb]
        }
    }

    /// `activation(x · weightᵀ + bias)` with the activation as a oneDNN post-op of the matmul, for inference:
    /// nothing is recorded, so callers use it only when no input requires a gradient (``Layers``' `Linear` decides).
    /// Under ``withPrecision(_:_:)`` `.bf16` the product reads bf16 copies of `x` and the weight (fp32 accumulation,
    /// bias and output).
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: FusedActivation?) -> Tensor {
        linearForward(x, weight: weight, bias: bias, activation: activation, precision: Precision.current).output
    }

    /// The forward of ``linear(_:weight:bias:)``: `x` flattened to plain rows `[M, in]`, and the output in `x`'s
    /// shape with the last dim `out`.
    static func linearForward(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: FusedActivation?,
                              precision: Precision) -> (rows: Tensor, output: Tensor) {
        require(weight.rank == 2 && x.rank >= 1 && x.shape.last == weight.shape[1],
                "linear: input \(x.shape) does not match weight \(weight.shape) ([out, in])")
        if let bias { require(bias.shape == [weight.shape[0]], "linear: bias \(bias.shape) for weight \(weight.shape)") }
        let k = weight.shape[1], n = weight.shape[0]
        let x2 = (x.layout == nil ? x : x.plainData()).contiguous().reshaped(x.shape.count / Swift.max(k, 1), k)
        let m = x2.shape[0]
        let outShape = Shape(Array(x.shape.dims.dropLast()) + [n])
        let w = weight.contiguous(), b = bias?.contiguous()
        if m > 0 && n > 0 && k > 0,
           let p = linearPrimitive(m: m, n: n, k: k, hasBias: b != nil, activation: activation, precision: precision) {
            // In bf16 the operands are converted into the primitive's descriptors (the weight possibly blocked).
            let xs = DNNL.asLayout(x2, p.md(dnnl_query_src_md))
            let weightMD = p.md(dnnl_query_weights_md), asStored = DNNL.desc([k, n], dnnl_ba)
            var ws = w
            if !DNNL.equal(asStored, weightMD) {
                ws = DNNL.output(Shape([k, n]), weightMD)
                DNNL.reorder(from: asStored, w.dnnlData, to: weightMD, ws.dnnlData)
            }
            let out = Tensor(uninitialized: outShape)
            var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                (DNNL_ARG_SRC, p.md(dnnl_query_src_md), xs.dnnlData),
                (DNNL_ARG_WEIGHTS, weightMD, ws.dnnlData),
                (DNNL_ARG_DST, p.md(dnnl_query_dst_md), UnsafeMutableRawPointer(out.storage.pointer)),
            ]
            if let b { args.append((DNNL_ARG_BIAS, p.md(dnnl_query_weights_md, 1), UnsafeMutableRawPointer(b.basePointer))) }
            withExtendedLifetime((xs, ws, b)) { p.execute(args) }
            return (x2, out)
        }
        // No fast primitive (or an empty product): the GEMM, then bias and activation as separate ops.
        let y = withNoGrad {
            let product = matmul(x2, w.transposed(0, 1))
            let biased = b.map { product + $0 } ?? product
            return activation?.apply(biased) ?? biased
        }
        return (x2, y.contiguous().reshaped(outShape))
    }

    /// The cached matmul primitive `[m, k] × [k, n]` (weights stored `[n, k]`, read transposed) `+ bias`, with an
    /// optional activation post-op; nil when oneDNN has only its reference kernel for it.
    static func linearPrimitive(m: Int, n: Int, k: Int, hasBias: Bool, activation: FusedActivation?,
                                precision: Precision = .fp32) -> DNNLPrimitive? {
        let p = DNNL.primitive("linear|\(m)|\(n)|\(k)|\(hasBias)|\(activation?.rawValue ?? "none")|\(precision)") {
            let type = precision.dataType
            // fp32 reads the weight `[n, k]` in place (`ba`); bf16 lets oneDNN choose the converted weight's layout.
            var src = DNNL.desc([m, k], dnnl_ab, type: type)
            var wei = DNNL.desc([k, n], precision == .fp32 ? dnnl_ba : dnnl_format_tag_any, type: type)
            var dst = DNNL.desc([m, n], dnnl_ab)
            var bia = DNNL.desc([1, n], dnnl_ab)
            var op = dnnl_matmul_desc_t()
            if hasBias {
                DNNL.check(dnnl_matmul_desc_init(&op, &src, &wei, &bia, &dst), "matmul_desc_init (linear)")
            } else {
                DNNL.check(dnnl_matmul_desc_init(&op, &src, &wei, nil, &dst), "matmul_desc_init (linear)")
            }
            return DNNL.makePD(&op, postOps: activation.map { [.eltwise($0)] } ?? [],
                               "matmul (linear \(m)×\(k) · \(k)×\(n), \(activation?.rawValue ?? "no activation"))")
        }
        return p.isReference ? nil : p
    }
}
