import CDNNL
import Foundation

/// How ``Tensor/upsample(size:scaleFactor:mode:alignCorners:)`` picks source values.
public enum UpsampleMode: String, Sendable {
    /// PyTorch's legacy `mode='nearest'`: source index `min(floor(dst · scale), in − 1)`, not the half-pixel
    /// `'nearest-exact'`.
    case nearest
    /// Bilinear interpolation of the four nearest source pixels (PyTorch's `mode='bilinear'`).
    case bilinear
}

/// The source coordinates of one spatial axis of an upsampling: output index `o` reads `(1 − w1[o]) · x[i0[o]] +
/// w1[o] · x[i1[o]]`, computed exactly as PyTorch's CPU kernels do for float32 (float arithmetic included).
struct UpsampleAxis {
    let inSize: Int, outSize: Int
    var i0: [Int], i1: [Int], w1: [Float]

    /// - Parameter scaleFactor: the scale factor the caller passed (PyTorch then maps coordinates with
    ///   `1 / scaleFactor`), or nil when the output size was given (`in / out`).
    init(inSize: Int, outSize: Int, mode: UpsampleMode, alignCorners: Bool, scaleFactor: Double?) {
        self.inSize = inSize
        self.outSize = outSize
        i0 = []; i1 = []; w1 = []
        i0.reserveCapacity(outSize); i1.reserveCapacity(outSize); w1.reserveCapacity(outSize)
        // PyTorch's compute_scales_value<float>.
        let ratio: Float = if let s = scaleFactor, s > 0 { Float(1.0 / s) } else { Float(inSize) / Float(outSize) }
        switch mode {
        case .nearest:
            for o in 0..<outSize {
                let i: Int
                if outSize == inSize { i = o }
                else if outSize == 2 * inSize { i = o >> 1 }
                else { i = Swift.min(Int((Float(o) * ratio).rounded(.down)), inSize - 1) }
                i0.append(i); i1.append(i); w1.append(0)
            }
        case .bilinear:
            // area_pixel_compute_scale / area_pixel_compute_source_index / guard_index_and_lambda.
            let scale: Float = alignCorners ? (outSize > 1 ? Float(inSize - 1) / Float(outSize - 1) : 0) : ratio
            for o in 0..<outSize {
                var real: Float
                if alignCorners {
                    real = scale * Float(o)
                } else {
                    real = scale * (Float(o) + 0.5) - 0.5
                    if real < 0 { real = 0 }
                }
                let i = Swift.min(Int(real.rounded(.down)), inSize - 1)
                let lambda = Swift.min(Swift.max(real - Float(i), 0), 1)
                i0.append(i); i1.append(i + (i < inSize - 1 ? 1 : 0)); w1.append(lambda)
            }
        }
    }
}

/// The geometry of one oneDNN resampling: every parameter that selects a primitive.
struct ResamplingGeometry {
    let alg: dnnl_alg_kind_t
    let srcDims: [Int], dstDims: [Int]
    /// The source layout (plain NCHW or the blocked layout the input carries).
    let src: dnnl_memory_desc_t

    var anyDst: dnnl_memory_desc_t { DNNL.desc(dstDims, dnnl_format_tag_any, type: src.data_type) }
    var key: String { "\(alg.rawValue)|src\(srcDims)|dst\(dstDims)|\(DNNL.key(src))" }

    func forward(_ prop: dnnl_prop_kind_t) -> DNNLPrimitive {
        DNNL.primitive("resampling.fwd|\(prop.rawValue)|\(key)") {
            var op = dnnl_resampling_desc_t()
            var s = src, d = anyDst
            // factors nil: oneDNN takes them from the dims (OH / IH, OW / IW).
            DNNL.check(dnnl_resampling_forward_desc_init(&op, prop, alg, nil, &s, &d), "resampling_forward_desc_init")
            return DNNL.makePD(&op, "resampling_forward")
        }
    }

    func backward() -> DNNLPrimitive {
        DNNL.primitive("resampling.bwd|\(key)") {
            let hint = forward(dnnl_forward_training)
            var op = dnnl_resampling_desc_t()
            var ds = src, dd = hint.md(dnnl_query_dst_md)
            if ds.data_type != dnnl_f32 { ds = DNNL.desc(srcDims, dnnl_format_tag_any) }
            DNNL.check(dnnl_resampling_backward_desc_init(&op, alg, nil, &ds, &dd), "resampling_backward_desc_init")
            return DNNL.makePD(&op, hint: hint.pd, "resampling_backward")
        }
    }
}

extension Tensor {
    /// Resizes the spatial plane of an NCHW batch, as PyTorch's `torch.nn.functional.interpolate` with
    /// `mode='nearest'` or `mode='bilinear'` (and `recompute_scale_factor` left unset).
    ///
    /// - Parameters:
    ///   - size: the output `(OH, OW)`; coordinates map with `in / out`.
    ///   - scaleFactor: `(sH, sW)` instead of `size`: the output is `floor(in · s)` and coordinates map with `1 / s`,
    ///     as PyTorch does (so `scaleFactor: 1.7` and the `size` it produces can differ slightly).
    ///   - mode: ``UpsampleMode/nearest`` (PyTorch's legacy `floor(dst · in / out)`) or ``UpsampleMode/bilinear``.
    ///   - alignCorners: bilinear only: map the corner pixels' centres onto each other (`(in − 1) / (out − 1)`)
    ///     instead of the half-pixel mapping `(dst + 0.5) · scale − 0.5` (PyTorch's default `False`).
    /// - Returns: `[N, C, OH, OW]`.
    ///
    /// Downscaling and non-integer scales follow the same formulas. For an input in a oneDNN blocked layout, where
    /// oneDNN's `resampling` primitive computes the same thing — bilinear with `alignCorners == false` when the
    /// coordinate scale is exactly `in / out`, and nearest for integer upscales (oneDNN rounds
    /// `(dst + 0.5) / F − 0.5`, which equals PyTorch's floor only there; for 8 → 4 it picks the other pixel) —
    /// forward and backward run through it and keep the blocked layout. Otherwise a Swift kernel on plain NCHW runs
    /// (the output is plain). On plain data the two forwards are close (measured on a 2-core AVX-512 machine, ×2 of
    /// `[8, 64, 56, 56]`: bilinear 9.5 ms against 16 through oneDNN with per-call memory objects; transfer-bench's
    /// `upsample_bilinear2x`, raw oneDNN with bound buffers, 4.0 against 5.0 GB/s), but oneDNN's plain-layout
    /// backward is `simple:any` at 66–110 ms against the kernel's 16–25. On `nChw16c` oneDNN's JIT kernel moves
    /// ~28 GB/s. The backward is the adjoint: each output gradient is spread over the source pixels it read, with
    /// the same weights.
    public func upsample(size: (Int, Int)? = nil, scaleFactor: (Double, Double)? = nil, mode: UpsampleMode = .nearest,
                         alignCorners: Bool = false) -> Tensor {
        upsample(size: size, scaleFactor: scaleFactor, mode: mode, alignCorners: alignCorners, allowDNNL: true)
    }

    /// ``upsample(size:scaleFactor:mode:alignCorners:)`` with the same scale factor on both axes.
    public func upsample(scaleFactor: Double, mode: UpsampleMode = .nearest, alignCorners: Bool = false) -> Tensor {
        upsample(size: nil, scaleFactor: (scaleFactor, scaleFactor), mode: mode, alignCorners: alignCorners)
    }

    /// `allowDNNL: false` forces the Swift kernel (tests compare both paths).
    /// oneDNN runs only for blocked inputs (see ``upsample(size:scaleFactor:mode:alignCorners:)``).
    func upsample(size: (Int, Int)?, scaleFactor: (Double, Double)?, mode: UpsampleMode, alignCorners: Bool,
                  allowDNNL: Bool) -> Tensor {
        require(rank == 4, "upsample: input \(shape) must be [N, C, H, W]")
        require((size == nil) != (scaleFactor == nil), "upsample: give exactly one of size and scaleFactor (input \(shape))")
        require(mode == .bilinear || !alignCorners, "upsample: alignCorners applies to bilinear only (input \(shape))")
        let h = shape[2], w = shape[3]
        require(h > 0 && w > 0, "upsample: input \(shape) has an empty plane")
        let oh: Int, ow: Int
        if let size {
            (oh, ow) = size
        } else {
            let s = scaleFactor!
            require(s.0 > 0 && s.1 > 0, "upsample: scale factor \(s) must be positive (input \(shape))")
            oh = Int((Double(h) * s.0).rounded(.down))
            ow = Int((Double(w) * s.1).rounded(.down))
        }
        require(oh > 0 && ow > 0, "upsample: output size (\(oh), \(ow)) must be positive (input \(shape))")
        let ah = UpsampleAxis(inSize: h, outSize: oh, mode: mode, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
        let aw = UpsampleAxis(inSize: w, outSize: ow, mode: mode, alignCorners: alignCorners, scaleFactor: scaleFactor?.1)
        if allowDNNL && layout != nil && Tensor.resamplingMatches(ah, mode: mode, alignCorners: alignCorners, scaleFactor: scaleFactor?.0)
            && Tensor.resamplingMatches(aw, mode: mode, alignCorners: alignCorners, scaleFactor: scaleFactor?.1) {
            return upsampleDNNL(mode: mode, outSize: (oh, ow))
        }
        return upsampleKernel(ah, aw, name: "upsample.\(mode.rawValue)")
    }

    /// Whether oneDNN's resampling computes PyTorch's mapping along one axis (see
    /// ``upsample(size:scaleFactor:mode:alignCorners:)``).
    static func resamplingMatches(_ a: UpsampleAxis, mode: UpsampleMode, alignCorners: Bool, scaleFactor: Double?) -> Bool {
        switch mode {
        case .nearest:
            // Integer upscale k: oneDNN's round((o + 0.5) / k − 0.5) is o / k (the fraction stays within ±(0.5 − 0.5/k)).
            guard a.outSize % a.inSize == 0 else { return false }
            let k = a.outSize / a.inSize
            return a.i0.indices.allSatisfy { a.i0[$0] == $0 / k }
        case .bilinear:
            guard !alignCorners else { return false }
            // oneDNN maps with IH / OH; PyTorch with 1 / scaleFactor when one was given.
            if let s = scaleFactor { return Double(a.outSize) == Double(a.inSize) * s }
            return true
        }
    }

    /// oneDNN resampling from `IH × IW` to `outSize` (factors `OH / IH`, `OW / IW`), whatever PyTorch would compute.
    func upsampleDNNL(mode: UpsampleMode, outSize: (Int, Int)) -> Tensor {
        let x = layout == nil ? contiguous() : self
        let g = ResamplingGeometry(alg: mode == .nearest ? dnnl_resampling_nearest : dnnl_resampling_linear,
                                   srcDims: x.shape.dims, dstDims: [shape[0], shape[1], outSize.0, outSize.1],
                                   src: DNNL.descOf(x))
        let recording = GradMode.isEnabled && requiresGrad
        let p = g.forward(recording ? dnnl_forward_training : dnnl_forward_inference)
        let dstMD = p.md(dnnl_query_dst_md)
        let out = DNNL.output(Shape(g.dstDims), dstMD)
        withExtendedLifetime(x) { p.execute([(DNNL_ARG_SRC, g.src, x.dnnlData), (DNNL_ARG_DST, dstMD, out.dnnlData)]) }
        guard recording else { return out }
        let inShape = shape
        return out.recorded("upsample.\(mode.rawValue)", [self]) { gy, _ in
            let pb = g.backward()
            let ddstMD = pb.md(dnnl_query_diff_dst_md), dsrcMD = pb.md(dnnl_query_diff_src_md)
            let dy = DNNL.asLayout(gy, ddstMD)
            let dx = DNNL.output(inShape, dsrcMD)
            withExtendedLifetime(dy) {
                pb.execute([(DNNL_ARG_DIFF_DST, ddstMD, dy.dnnlData), (DNNL_ARG_DIFF_SRC, dsrcMD, dx.dnnlData)])
            }
            return [dx]
        }
    }

    /// The Swift kernel on plain NCHW (any mapping).
    private func upsampleKernel(_ ah: UpsampleAxis, _ aw: UpsampleAxis, name: String) -> Tensor {
        let x = plainData()
        let n = shape[0], c = shape[1], planes = n * c
        let out = Tensor(uninitialized: [n, c, ah.outSize, aw.outSize])
        withExtendedLifetime(x) {
            Tensor.upsampleForward(x.basePointer, out.storage.pointer, planes: planes, ah, aw)
        }
        let inShape = shape
        return out.recorded(name, [self]) { gy, _ in
            let g = gy.plainData()
            let gx = Tensor.zeros(inShape)
            withExtendedLifetime(g) { Tensor.upsampleBackward(g.basePointer, gx.storage.pointer, planes: planes, ah, aw) }
            return [gx]
        }
    }

    static func upsampleForward(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, planes: Int,
                                _ ah: UpsampleAxis, _ aw: UpsampleAxis) {
        let h = ah.inSize, w = aw.inSize, oh = ah.outSize, ow = aw.outSize
        let ps = UncheckedBox(src), pd = UncheckedBox(dst)
        let nearest = ah.w1.allSatisfy { $0 == 0 } && aw.w1.allSatisfy { $0 == 0 }
        ah.i0.withUnsafeBufferPointer { hi0 in ah.i1.withUnsafeBufferPointer { hi1 in ah.w1.withUnsafeBufferPointer { hw1 in
        aw.i0.withUnsafeBufferPointer { wi0 in aw.i1.withUnsafeBufferPointer { wi1 in aw.w1.withUnsafeBufferPointer { ww1 in
            let t = UncheckedBox((hi0, hi1, hw1, wi0, wi1, ww1))
            Threads.parallelFor(planes, grain: Swift.max(1, 32_768 / Swift.max(1, oh * ow))) { start, end in
                let (hi0, hi1, hw1, wi0, wi1, ww1) = t.value
                for p in start..<end {
                    let xp = ps.value + p * h * w, op = pd.value + p * oh * ow
                    for y in 0..<oh {
                        let r0 = xp + hi0[y] * w, r1 = xp + hi1[y] * w, row = op + y * ow
                        if nearest {
                            for xo in 0..<ow { row[xo] = r0[wi0[xo]] }
                            continue
                        }
                        let lh1 = hw1[y], lh0 = 1 - lh1
                        for xo in 0..<ow {
                            let a = wi0[xo], b = wi1[xo], lw1 = ww1[xo], lw0 = 1 - lw1
                            row[xo] = lh0 * (lw0 * r0[a] + lw1 * r0[b]) + lh1 * (lw0 * r1[a] + lw1 * r1[b])
                        }
                    }
                }
            }
        } } } } } }
    }

    /// Accumulates the output gradient `gy` into the zeroed input gradient `gx` (the adjoint of the forward).
    static func upsampleBackward(_ gy: UnsafeMutablePointer<Float>, _ gx: UnsafeMutablePointer<Float>, planes: Int,
                                 _ ah: UpsampleAxis, _ aw: UpsampleAxis) {
        let h = ah.inSize, w = aw.inSize, oh = ah.outSize, ow = aw.outSize
        let pg = UncheckedBox(gy), px = UncheckedBox(gx)
        ah.i0.withUnsafeBufferPointer { hi0 in ah.i1.withUnsafeBufferPointer { hi1 in ah.w1.withUnsafeBufferPointer { hw1 in
        aw.i0.withUnsafeBufferPointer { wi0 in aw.i1.withUnsafeBufferPointer { wi1 in aw.w1.withUnsafeBufferPointer { ww1 in
            let t = UncheckedBox((hi0, hi1, hw1, wi0, wi1, ww1))
            Threads.parallelFor(planes, grain: Swift.max(1, 32_768 / Swift.max(1, oh * ow))) { start, end in
                let (hi0, hi1, hw1, wi0, wi1, ww1) = t.value
                for p in start..<end {
                    let xp = px.value + p * h * w, gp = pg.value + p * oh * ow
                    for y in 0..<oh {
                        let r0 = xp + hi0[y] * w, r1 = xp + hi1[y] * w, row = gp + y * ow
                        let lh1 = hw1[y], lh0 = 1 - lh1
                        for xo in 0..<ow {
                            let g = row[xo], a = wi0[xo], b = wi1[xo], lw1 = ww1[xo], lw0 = 1 - lw1
                            r0[a] += lh0 * lw0 * g
                            r0[b] += lh0 * lw1 * g
                            r1[a] += lh1 * lw0 * g
                            r1[b] += lh1 * lw1 * g
                        }
                    }
                }
            }
        } } } } } }
    }
}
