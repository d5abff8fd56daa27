import CDNNL

/// The geometry of one 2-D pooling: every parameter that selects a oneDNN primitive.
struct Pool2dGeometry {
    let alg: dnnl_alg_kind_t
    let srcDims: [Int], dstDims: [Int]
    let kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int)
    let top, bottom, left, right: Int
    /// The source layout (plain NCHW or the blocked layout the input carries).
    let src: dnnl_memory_desc_t

    var kernelDims: [Int64] { [Int64(kernel.0), Int64(kernel.1)] }
    var strides: [Int64] { [Int64(stride.0), Int64(stride.1)] }
    /// oneDNN counts dilation from 0 (0 = dense).
    var dilates: [Int64] { [Int64(dilation.0 - 1), Int64(dilation.1 - 1)] }
    var padL: [Int64] { [Int64(top), Int64(left)] }
    var padR: [Int64] { [Int64(bottom), Int64(right)] }
    /// The output in the source's data type (bf16 stays bf16).
    var anyDst: dnnl_memory_desc_t { DNNL.desc(dstDims, dnnl_format_tag_any, type: src.data_type) }

    /// Every parameter and memory descriptor, for the primitive cache.
    var key: String {
        "\(alg.rawValue)|src\(srcDims)|dst\(dstDims)|k\(kernelDims)|s\(strides)|d\(dilates)|p\(padL)\(padR)"
            + "|\(DNNL.key(src)),\(DNNL.key(anyDst))"
    }

    func forward(_ prop: dnnl_prop_kind_t) -> DNNLPrimitive {
        DNNL.primitive("pool2d.fwd|\(prop.rawValue)|\(key)") {
            var op = dnnl_pooling_v2_desc_t()
            var s = src, d = anyDst
            DNNL.check(dnnl_pooling_v2_forward_desc_init(&op, prop, alg, &s, &d, strides, kernelDims, dilates, padL, padR),
                       "pooling_v2_forward_desc_init")
            return DNNL.makePD(&op, "pooling_forward")
        }
    }

    func backward() -> DNNLPrimitive {
        DNNL.primitive("pool2d.bwd|\(key)") {
            let hint = forward(dnnl_forward_training)
            var op = dnnl_pooling_v2_desc_t()
            var s = src, d = hint.md(dnnl_query_dst_md)
            DNNL.check(dnnl_pooling_v2_backward_desc_init(&op, alg, &s, &d, strides, kernelDims, dilates, padL, padR),
                       "pooling_v2_backward_desc_init")
            return DNNL.makePD(&op, hint: hint.pd, "pooling_backward")
        }
    }
}

extension Tensor {
    /// 2-D max pooling of an NCHW batch, as PyTorch's `torch.nn.functional.max_pool2d` (padding counts as −∞).
    ///
    /// - Parameters:
    ///   - kernel: `(kH, kW)`.
    ///   - stride: `(strideH, strideW)`; nil means the kernel size (PyTorch's default).
    ///   - padding: implicit −∞ padding (``Padding``); each amount must be at most half the dilated kernel, as
    ///     PyTorch requires.
    ///   - dilation: PyTorch-style spacing of window taps (1 = dense).
    ///   - ceilMode: round the output size up, as PyTorch's `ceil_mode=True`: the last window may run past the
    ///     bottom/right padding, but it must start inside the input or its top/left padding.
    /// - Returns: `[N, C, OH, OW]` in the layout of `x` (plain or oneDNN-blocked).
    ///
    /// Forward and backward run through oneDNN pooling; while recording, the forward runs as `forward_training`
    /// and keeps oneDNN's workspace (the argmax positions) for the backward.
    public static func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: Padding = .symmetric(0, 0), dilation: (Int, Int) = (1, 1),
                                 ceilMode: Bool = false) -> Tensor {
        pool2d("maxPool2d", x, alg: dnnl_pooling_max, kernel: kernel, stride: stride ?? kernel, padding: padding,
               dilation: dilation, ceilMode: ceilMode)
    }

    /// 2-D average pooling of an NCHW batch, as PyTorch's `torch.nn.functional.avg_pool2d` (with
    /// `ceil_mode=False`).
    ///
    /// - Parameters:
    ///   - kernel: `(kH, kW)`.
    ///   - stride: `(strideH, strideW)`; nil means the kernel size (PyTorch's default).
    ///   - padding: zero padding (``Padding``); each amount must be at most half the kernel, as PyTorch requires.
    ///   - countIncludePad: divide by the whole window `kH · kW` including padded positions (PyTorch's default,
    ///     oneDNN `pooling_avg_include_padding`), or only by the positions inside the input (oneDNN
    ///     `pooling_avg_exclude_padding`; what TensorFlow's `"SAME"` average pooling does).
    /// - Returns: `[N, C, OH, OW]` in the layout of `x` (plain or oneDNN-blocked).
    public static func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: Padding = .symmetric(0, 0), countIncludePad: Bool = true) -> Tensor {
        pool2d("avgPool2d", x, alg: countIncludePad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding,
               kernel: kernel, stride: stride ?? kernel, padding: padding, dilation: (1, 1), ceilMode: false)
    }

    /// The mean of each channel over its whole `H × W` plane: `[N, C, H, W]` → `[N, C]`, as PyTorch's
    /// `adaptive_avg_pool2d(x, 1).flatten(1)`. Runs as a oneDNN average pooling whose window is the whole plane;
    /// the result is plain.
    public static func globalAvgPool2d(_ x: Tensor) -> Tensor {
        require(x.rank == 4, "globalAvgPool2d: input \(x.shape) must be [N, C, H, W]")
        require(x.shape[2] > 0 && x.shape[3] > 0, "globalAvgPool2d: input \(x.shape) has an empty plane")
        let pooled = avgPool2d(x, kernel: (x.shape[2], x.shape[3]))
        return pooled.reshaped([x.shape[0], x.shape[1]])
    }

    static func pool2d(_ name: String, _ x0: Tensor, alg: dnnl_alg_kind_t, kernel: (Int, Int), stride: (Int, Int),
                       padding: Padding, dilation: (Int, Int), ceilMode: Bool) -> Tensor {
        require(x0.rank == 4, "\(name): input \(x0.shape) must be [N, C, H, W] (kernel \(kernel))")
        require(kernel.0 >= 1 && kernel.1 >= 1 && stride.0 >= 1 && stride.1 >= 1 && dilation.0 >= 1 && dilation.1 >= 1,
                     "\(name): kernel \(kernel), stride \(stride) and dilation \(dilation) must be ≥ 1 (input \(x0.shape))")
        let x = x0.layout == nil ? x0.contiguous() : x0
        let h = x.shape[2], w = x.shape[3]
        let pad = padding.amounts(input: (h, w), kernel: kernel, stride: stride, dilation: dilation)
        let rangeH = (kernel.0 - 1) * dilation.0 + 1, rangeW = (kernel.1 - 1) * dilation.1 + 1
        require(pad.top >= 0 && pad.bottom >= 0 && pad.left >= 0 && pad.right >= 0
                        && Swift.max(pad.top, pad.bottom) <= rangeH / 2 && Swift.max(pad.left, pad.right) <= rangeW / 2,
                     "\(name): padding \(padding) must be ≥ 0 and at most half the (dilated) kernel \(kernel) (input \(x0.shape))")
        /// PyTorch's `pooling_output_shape`, and the bottom/right padding that makes oneDNN's floor formula give it.
        func outSize(_ size: Int, _ range: Int, _ s: Int, _ lo: Int, _ hi: Int) -> (Int, Int) {
            let num = size + lo + hi - range
            require(num >= 0, "\(name): window \(kernel) (dilation \(dilation)) is larger than the padded input \(x0.shape)")
            guard ceilMode else { return (num / s + 1, hi) }
            var out = (num + s - 1) / s + 1
            if (out - 1) * s >= size + lo { out -= 1 }
            return (out, Swift.max(hi, (out - 1) * s + range - size - lo))
        }
        let (oh, bottom) = outSize(h, rangeH, stride.0, pad.top, pad.bottom)
        let (ow, right) = outSize(w, rangeW, stride.1, pad.left, pad.right)
        let g = Pool2dGeometry(alg: alg, srcDims: x.shape.dims, dstDims: [x.shape[0], x.shape[1], oh, ow],
                               kernel: kernel, stride: stride, dilation: dilation,
                               top: pad.top, bottom: bottom, left: pad.left, right: right, src: DNNL.descOf(x))
        let recording = GradMode.isEnabled && x0.requiresGrad
        let p = g.forward(recording ? dnnl_forward_training : dnnl_forward_inference)
        let dstMD = p.md(dnnl_query_dst_md)
        let out = DNNL.output(Shape(g.dstDims), dstMD)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, g.src, x.dnnlData), (DNNL_ARG_DST, dstMD, out.dnnlData),
        ]
        // Max pooling trained through oneDNN needs the workspace (argmax positions) from forward_training.
        var workspace: (dnnl_memory_desc_t, TensorStorage)?
        if recording && alg == dnnl_pooling_max {
            let wsMD = p.md(dnnl_query_workspace_md)
            let storage = TensorStorage(count: (dnnl_memory_desc_get_size([wsMD]) + 3) / 4)
            workspace = (wsMD, storage)
            args.append((DNNL_ARG_WORKSPACE, wsMD, UnsafeMutableRawPointer(storage.pointer)))
        }
        withExtendedLifetime(x) { p.execute(args) }
        guard recording else { return out }
        let inShape = x.shape
        return out.recorded(name, [x0]) { gy, _ in
            let pb = g.backward()
            let ddstMD = pb.md(dnnl_query_diff_dst_md), dsrcMD = pb.md(dnnl_query_diff_src_md)
            let dy = DNNL.asLayout(gy, ddstMD)
            let dx = DNNL.output(inShape, dsrcMD)
            var bargs: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                (DNNL_ARG_DIFF_DST, ddstMD, dy.dnnlData), (DNNL_ARG_DIFF_SRC, dsrcMD, dx.dnnlData),
            ]
            if let (wsMD, storage) = workspace {
                bargs.append((DNNL_ARG_WORKSPACE, wsMD, UnsafeMutableRawPointer(storage.pointer)))
            }
            withExtendedLifetime((dy, workspace?.1)) { pb.execute(bargs) }
            return [dx]
        }
    }
}
