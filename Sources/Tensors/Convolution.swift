import CDNNL

/// How a 2-D convolution or pooling window is padded at the borders of its input.
public enum Padding: Sendable, Equatable {
    /// `(padH, padW)` zeros on both sides of each spatial axis, as PyTorch's `padding=(padH, padW)`.
    case symmetric(Int, Int)
    /// Separate amounts for every border (asymmetric padding, e.g. what TensorFlow exports need).
    case explicit(top: Int, bottom: Int, left: Int, right: Int)
    /// TensorFlow `"SAME"`: the output has `ceil(in / stride)` positions. Along each axis the total padding is
    /// `max((ceil(in / stride) − 1) · stride + (k − 1) · dilation + 1 − in, 0)`; top/left get `total / 2` and
    /// bottom/right the rest (so it is asymmetric, e.g. for stride 2 with an even input).
    case same

    /// The padding of each border, `(top, bottom, left, right)`, for a window of `kernel` with `stride` and
    /// PyTorch-style `dilation` (1 = dense) over an input of spatial size `input`.
    public func amounts(input: (Int, Int), kernel: (Int, Int), stride: (Int, Int),
                        dilation: (Int, Int) = (1, 1)) -> (top: Int, bottom: Int, left: Int, right: Int) {
        switch self {
        case let .symmetric(h, w):
            return (h, h, w, w)
        case let .explicit(top, bottom, left, right):
            return (top, bottom, left, right)
        case .same:
            func total(_ size: Int, _ k: Int, _ s: Int, _ d: Int) -> Int {
                let out = (size + s - 1) / s
                return Swift.max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            }
            let th = total(input.0, kernel.0, stride.0, dilation.0)
            let tw = total(input.1, kernel.1, stride.1, dilation.1)
            return (th / 2, th - th / 2, tw / 2, tw - tw / 2)
        }
    }
}

extension Tensor {
    /// The address oneDNN reads or writes for this tensor: the first element of a plain view, or the start of a
    /// blocked buffer (blocked tensors have offset 0).
    var dnnlData: UnsafeMutableRawPointer { UnsafeMutableRawPointer(basePointer) }
}

/// An activation oneDNN applies inside a convolution or matmul (a post-op), for
/// ``Tensor/conv2d(_:weight:bias:stride:padding:dilation:groups:residual:activation:)`` and
/// ``Tensor/linear(_:weight:bias:activation:residual:output:preparedWeight:)``.
public enum FusedActivation: String, Sendable {
    case relu, relu6, gelu, geluTanh

    var algorithm: dnnl_alg_kind_t {
        switch self {
        case .relu: dnnl_eltwise_relu
        case .relu6: dnnl_eltwise_clip_v2
        case .gelu: dnnl_eltwise_gelu_erf
        case .geluTanh: dnnl_eltwise_gelu_tanh
        }
    }
    var alpha: Float { 0 }
    var beta: Float { self == .relu6 ? 6 : 0 }

    /// The same activation as a standalone op (used when the fused path does not apply).
    public func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .relu: x.relu()
        case .relu6: x.relu6()
        case .gelu: x.gelu()
        case .geluTanh: x.gelu(approximate: true)
        }
    }
}

/// The post-ops of a fused convolution: an optional residual `sum`, then an optional activation, then an optional
/// 3×3 depthwise convolution with its own activation.
struct ConvEpilogue {
    var addsResidual = false
    var activation: FusedActivation?
    var depthwise: DepthwiseEpilogue?
    var isEmpty: Bool { !addsResidual && activation == nil && depthwise == nil }
    var key: String {
        "sum\(addsResidual)|\(activation?.rawValue ?? "none")"
            + (depthwise.map { "|dw\($0.stride),\($0.padding),\($0.activation?.rawValue ?? "none")" } ?? "")
    }

    struct DepthwiseEpilogue {
        let stride: Int
        /// Top and left zero padding; oneDNN derives the bottom and right so the output is ⌈input / stride⌉.
        let padding: Int
        let activation: FusedActivation?
    }

    func postOps(_ type: dnnl_data_type_t) -> [DNNL.PostOp] {
        var ops: [DNNL.PostOp] = addsResidual ? [.sum] : []
        if let activation { ops.append(.eltwise(activation)) }
        if let depthwise {
            ops.append(.depthwise3x3(stride: depthwise.stride, padding: depthwise.padding, type: type))
            if let a = depthwise.activation { ops.append(.eltwise(a)) }
        }
        return ops
    }
}

/// The geometry of one 2-D convolution: every parameter that selects a oneDNN primitive.
struct Conv2dGeometry {
    let n, cin, h, w, cout, kh, kw, oh, ow, groups: Int
    let stride: (Int, Int), dilation: (Int, Int)
    let top, bottom, left, right: Int
    let hasBias: Bool
    /// `dnnl_convolution_auto`: oneDNN picks Winograd (`jit_wino_4x3`, AVX-512 only) where its heuristic expects
    /// it to win and direct otherwise. Measured on a 2-core AVX-512 machine (N 32, 64→64 channels, 56×56, 3×3,
    /// raw primitives): forward 13.4 ms against 31.8 ms direct, backward-data 13.7 against 32.4, backward-weights
    /// 19.7 against 36.3; output error 3.8e-6 against 7.8e-7 for direct (outputs of magnitude ~2.5). Depthwise
    /// 144-channel 3×3 gets the same `jit_dw` kernel either way.
    static let algorithm = dnnl_convolution_auto

    var srcDims: [Int] { [n, cin, h, w] }
    var dstDims: [Int] { [n, cout, oh, ow] }
    /// oneDNN weight dims: `oihw`, or `goihw` with groups.
    var weightDims: [Int] { groups == 1 ? [cout, cin, kh, kw] : [groups, cout / groups, cin / groups, kh, kw] }
    var strides: [Int64] { [Int64(stride.0), Int64(stride.1)] }
    /// oneDNN counts dilation from 0 (0 = dense).
    var dilates: [Int64] { [Int64(dilation.0 - 1), Int64(dilation.1 - 1)] }
    var padL: [Int64] { [Int64(top), Int64(left)] }
    var padR: [Int64] { [Int64(bottom), Int64(right)] }

    var anySrc: dnnl_memory_desc_t { DNNL.desc(srcDims, dnnl_format_tag_any) }
    var anyWeights: dnnl_memory_desc_t { DNNL.desc(weightDims, dnnl_format_tag_any) }
    var anyDst: dnnl_memory_desc_t { DNNL.desc(dstDims, dnnl_format_tag_any) }
    var biasDesc: dnnl_memory_desc_t { DNNL.desc([cout], dnnl_a) }

    /// Every parameter and memory descriptor, for the primitive cache.
    var key: String {
        "\(Self.algorithm.rawValue)|src\(srcDims)|w\(weightDims)|dst\(dstDims)|g\(groups)|s\(strides)|d\(dilates)"
            + "|p\(padL)\(padR)|b\(hasBias)|\(DNNL.key(anySrc)),\(DNNL.key(anyWeights)),\(DNNL.key(anyDst))"
    }

    func forward(_ prop: dnnl_prop_kind_t, epilogue: ConvEpilogue = ConvEpilogue(), precision: Precision = .fp32) -> DNNLPrimitive {
        forwardIfAvailable(prop, epilogue: epilogue, precision: precision, required: true)!
    }

    /// The forward primitive, or nil when oneDNN has no implementation and `required` is false (a fusion this
    /// CPU's kernels may not offer).
    func forwardIfAvailable(_ prop: dnnl_prop_kind_t, epilogue: ConvEpilogue, precision: Precision,
                            required: Bool = false) -> DNNLPrimitive? {
        DNNL.primitiveIfAvailable("conv2d.fwd|\(prop.rawValue)|\(key)|\(epilogue.key)|\(precision)") {
            var op = dnnl_convolution_desc_t()
            let type = precision.dataType
            var src = DNNL.desc(srcDims, dnnl_format_tag_any, type: type), wei = DNNL.desc(weightDims, dnnl_format_tag_any, type: type)
            // In bf16 the output (residual stream included) is bf16 too, as OpenVINO does: an fp32 residual stream
            // measured 10–15% slower (a reorder at every block) and kept chelsea's near-tied top-1 no better.
            var dst = DNNL.desc(dstDims, dnnl_format_tag_any, type: type), b = biasDesc
            let st = strides, dl = dilates, pl = padL, pr = padR
            if hasBias {
                DNNL.check(dnnl_dilated_convolution_forward_desc_init(
                    &op, prop, Self.algorithm, &src, &wei, &b, &dst, st, dl, pl, pr), "convolution_forward_desc_init")
            } else {
                DNNL.check(dnnl_dilated_convolution_forward_desc_init(
                    &op, prop, Self.algorithm, &src, &wei, nil, &dst, st, dl, pl, pr), "convolution_forward_desc_init")
            }
            guard !epilogue.isEmpty else { return DNNL.makePD(&op, "convolution_forward") }
            return DNNL.makePD(&op, postOps: epilogue.postOps(type), allowUnimplemented: !required,
                               "convolution_forward with \(epilogue.key) in \(precision)")
        }
    }

    func backwardData() -> DNNLPrimitive {
        DNNL.primitive("conv2d.bwd_data|\(key)") {
            let hint = forward(dnnl_forward_training)
            var op = dnnl_convolution_desc_t()
            var src = anySrc, wei = anyWeights, dst = anyDst
            DNNL.check(dnnl_dilated_convolution_backward_data_desc_init(
                &op, Self.algorithm, &src, &wei, &dst, strides, dilates, padL, padR), "convolution_backward_data_desc_init")
            return DNNL.makePD(&op, hint: hint.pd, "convolution_backward_data")
        }
    }

    func backwardWeights(withBias: Bool) -> DNNLPrimitive {
        DNNL.primitive("conv2d.bwd_weights|\(withBias)|\(key)") {
            let hint = forward(dnnl_forward_training)
            var op = dnnl_convolution_desc_t()
            var src = anySrc, wei = anyWeights, dst = anyDst, b = biasDesc
            let st = strides, dl = dilates, pl = padL, pr = padR
            if withBias {
                DNNL.check(dnnl_dilated_convolution_backward_weights_desc_init(
                    &op, Self.algorithm, &src, &wei, &b, &dst, st, dl, pl, pr), "convolution_backward_weights_desc_init")
            } else {
                DNNL.check(dnnl_dilated_convolution_backward_weights_desc_init(
                    &op, Self.algorithm, &src, &wei, nil, &dst, st, dl, pl, pr), "convolution_backward_weights_desc_init")
            }
            return DNNL.makePD(&op, hint: hint.pd, "convolution_backward_weights")
        }
    }

    /// The plain weight tensor seen with oneDNN's dims (a `goihw` view when grouped; no copy).
    func weightView(_ weight: Tensor) -> Tensor {
        let c = weight.contiguous()
        return groups == 1 ? c : Tensor(storage: c.storage, shape: Shape(weightDims), offset: c.offset)
    }
}

extension Conv2dGeometry {
    /// Validates a `conv2d` call (naming the input and weight shapes in every message) and computes its geometry.
    init(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: Padding, dilation: (Int, Int), groups: Int) {
        require(x.rank == 4, "conv2d: input \(x.shape) must be [N, Cin, H, W] (weight \(weight.shape))")
        require(weight.rank == 4,
                     "conv2d: weight \(weight.shape) must be [Cout, Cin/groups, kH, kW] (input \(x.shape))")
        require(groups >= 1, "conv2d: groups \(groups) must be ≥ 1 (input \(x.shape), weight \(weight.shape))")
        let n = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3]
        let cout = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3]
        require(cin % groups == 0 && cout % groups == 0,
                     "conv2d: groups \(groups) must divide input channels and output channels (input \(x.shape), weight \(weight.shape))")
        require(weight.shape[1] == cin / groups,
                     "conv2d: weight \(weight.shape) must have Cin/groups = \(cin / groups) input channels for input \(x.shape) with groups \(groups)")
        if let bias {
            require(bias.shape == Shape([cout]), "conv2d: bias \(bias.shape) must be [\(cout)] for weight \(weight.shape)")
        }
        require(stride.0 >= 1 && stride.1 >= 1 && dilation.0 >= 1 && dilation.1 >= 1,
                     "conv2d: stride \(stride) and dilation \(dilation) must be ≥ 1 (input \(x.shape), weight \(weight.shape))")
        let pad = padding.amounts(input: (h, w), kernel: (kh, kw), stride: stride, dilation: dilation)
        require(pad.top >= 0 && pad.bottom >= 0 && pad.left >= 0 && pad.right >= 0,
                     "conv2d: negative padding \(padding) (input \(x.shape), weight \(weight.shape))")
        let numH = h + pad.top + pad.bottom - ((kh - 1) * dilation.0 + 1)
        let numW = w + pad.left + pad.right - ((kw - 1) * dilation.1 + 1)
        require(numH >= 0 && numW >= 0,
                     "conv2d: dilated kernel of weight \(weight.shape) (dilation \(dilation)) is larger than the padded input \(x.shape)")
        self.init(n: n, cin: cin, h: h, w: w, cout: cout, kh: kh, kw: kw,
                  oh: numH / stride.0 + 1, ow: numW / stride.1 + 1, groups: groups,
                  stride: stride, dilation: dilation,
                  top: pad.top, bottom: pad.bottom, left: pad.left, right: pad.right,
                  hasBias: bias != nil)
    }
}

extension Tensor {
    /// 2-D convolution (cross-correlation) of an NCHW batch, as PyTorch's `torch.nn.functional.conv2d`.
    ///
    /// - Parameters:
    ///   - x: input `[N, Cin, H, W]`, plain or in a oneDNN blocked layout.
    ///   - weight: `[Cout, Cin / groups, kH, kW]` (PyTorch layout).
    ///   - bias: optional `[Cout]`.
    ///   - stride: `(strideH, strideW)`.
    ///   - padding: zero padding (``Padding``; `.same` is TensorFlow's `"SAME"`).
    ///   - dilation: PyTorch-style spacing of kernel taps (1 = dense); oneDNN's dilation is this minus one.
    ///   - groups: input and output channels split into `groups` independent convolutions; `groups == Cin` with
    ///     `Cout` a multiple of `Cin` is a depthwise convolution.
    /// - Returns: `[N, Cout, OH, OW]` with `OH = (H + padTop + padBottom − (kH − 1) · dilationH − 1) / strideH + 1`
    ///   (and likewise `OW`). The result keeps the blocked layout oneDNN chose (e.g. `nChw16c`), so a following
    ///   oneDNN op consumes it without a reorder; ``contiguous()`` gives plain NCHW.
    ///
    /// Forward, backward-data and backward-weights run through oneDNN primitives (`format_tag_any`, cached per
    /// shape and parameters). The backward computes the input gradient only when `x` requires a gradient and the
    /// weight (and bias) gradient only when they do, so a frozen layer costs no backward-weights work. Weight and
    /// bias gradients come back plain, in the shapes of `weight` and `bias`.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                              padding: Padding = .symmetric(0, 0), dilation: (Int, Int) = (1, 1),
                              groups: Int = 1) -> Tensor {
        let g = Conv2dGeometry(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                               groups: groups)
        let inputs = [x, weight] + (bias.map { [$0] } ?? [])
        let recording = GradMode.records(inputs)
        if recording && BF16Training.isActive,
           let out = conv2dBF16Training(x, weight: weight, bias: bias, geometry: g, inputs: inputs) { return out }

        // forward_training even when nothing is recorded: oneDNN 2.6 serves forward_inference with `brgconv` /
        // `brdgmm_dw` on NHWC, measured 2.5× (dense 3×3, where training gets Winograd) and 1.9× (depthwise) slower
        // than the training kernels here, and one kind keeps one blocked layout for training and evaluation alike.
        let (out, xs) = conv2dForwardFP32(x, weight: weight, bias: bias, geometry: g)
        guard recording else { return out }

        // Keep the (possibly reordered) input only when the weight gradient will need it.
        let savedSrc: Tensor? = weight.requiresGrad ? xs : nil
        let weightShape = weight.shape
        return out.recorded("conv2d", inputs) { gy, needs in
            var gx: Tensor?, gw: Tensor?, gb: Tensor?
            if needs[0] { gx = conv2dBackwardData(g, gy, weight: weight) }
            let needBias = g.hasBias && needs[2]
            if needs[1], let src = savedSrc {
                (gw, gb) = conv2dBackwardWeights(g, gy, src: src, weightShape: weightShape, withBias: needBias)
            } else if needBias {
                gb = channelSums(gy)
            }
            return g.hasBias ? [gx, gw, gb] : [gx, gw]
        }
    }

    /// The unrecorded fp32 forward (`forward_training` kind) and the input in the primitive's layout, which the
    /// weight gradient reads.
    static func conv2dForwardFP32(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: Conv2dGeometry) -> (output: Tensor, source: Tensor) {
        let p = g.forward(dnnl_forward_training)
        let srcMD = p.md(dnnl_query_src_md), weiMD = p.md(dnnl_query_weights_md), dstMD = p.md(dnnl_query_dst_md)
        let xs = DNNL.asLayout(x, srcMD)
        let ws = DNNL.asLayout(g.weightView(weight), weiMD)
        let bs = bias?.contiguous()
        let out = DNNL.output(Shape(g.dstDims), dstMD)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, srcMD, xs.dnnlData), (DNNL_ARG_WEIGHTS, weiMD, ws.dnnlData), (DNNL_ARG_DST, dstMD, out.dnnlData),
        ]
        if let bs { args.append((DNNL_ARG_BIAS, p.md(dnnl_query_weights_md, 1), bs.dnnlData)) }
        withExtendedLifetime((xs, ws, bs)) { p.execute(args) }
        return (out, xs)
    }

    /// `activation(conv2d(x, weight, bias) + residual)` as one oneDNN convolution with post-ops (a `sum` of the
    /// residual, then an eltwise activation), for inference: nothing is recorded for autograd, so callers use it
    /// only when no input requires a gradient (``Layers``' `Conv2d` decides). Frozen BatchNorm folds into `weight`
    /// and `bias` beforehand. The residual may be plain or blocked; it is copied into the output first (the `sum`
    /// post-op accumulates into the destination) and is not modified. Under ``withPrecision(_:_:)`` `.bf16` the
    /// input, weights and output are bfloat16 (the bias and accumulation fp32) and the output stays bf16.
    ///
    /// `preparedWeight` caches the weight in the primitive's layout and precision between calls: when it holds a
    /// tensor in exactly that layout it is used as is (the caller guarantees it derives from the current `weight`),
    /// otherwise it is replaced by this call's reordered weight.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: Padding,
                              dilation: (Int, Int), groups: Int, residual: Tensor?, activation: FusedActivation?,
                              preparedWeight: inout Tensor?) -> Tensor {
        let g = Conv2dGeometry(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                               groups: groups)
        if let residual {
            require(residual.shape == Shape(g.dstDims),
                    "conv2d: residual \(residual.shape) does not match the output [\(g.dstDims.map(String.init).joined(separator: ", "))] (input \(x.shape), weight \(weight.shape))")
        }
        let p = g.forward(dnnl_forward_training, epilogue: ConvEpilogue(addsResidual: residual != nil, activation: activation),
                          precision: Precision.current)
        let srcMD = p.md(dnnl_query_src_md), weiMD = p.md(dnnl_query_weights_md), dstMD = p.md(dnnl_query_dst_md)
        let xs = DNNL.asLayout(x, srcMD)
        let ws = DNNL.prepared(&preparedWeight, as: weiMD) { DNNL.asLayout(g.weightView(weight), weiMD) }
        let bs = bias?.contiguous()
        let out = DNNL.output(Shape(g.dstDims), dstMD)
        if let residual { DNNL.copy(residual, into: out, dstMD) }
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, srcMD, xs.dnnlData), (DNNL_ARG_WEIGHTS, weiMD, ws.dnnlData), (DNNL_ARG_DST, dstMD, out.dnnlData),
        ]
        if let bs { args.append((DNNL_ARG_BIAS, p.md(dnnl_query_weights_md, 1), bs.dnnlData)) }
        withExtendedLifetime((xs, ws, bs)) { p.execute(args) }
        return out
    }

    /// `dwActivation(depthwise3x3(activation(conv1x1(x) + bias)) + dwBias)`, the expansion and depthwise stage of
    /// an inverted-bottleneck block, as one oneDNN 1×1 convolution with a depthwise post-op, for inference: the
    /// expanded activation is computed a few rows at a time in cache and never written out. The issue's "1×1
    /// convolution with a fused depthwise post-op where oneDNN offers it" (`dnnl_post_ops_append_dw`).
    ///
    /// `weight` is `[C, Cin, 1, 1]`, `depthwiseWeight` `[C, 1, 3, 3]`; BatchNorm folds into both beforehand, as for
    /// ``conv2d(_:weight:bias:stride:padding:dilation:groups:residual:activation:preparedWeight:)``, and both
    /// prepared weights are cached the same way. Nil (the caller runs the two convolutions) when the depthwise
    /// padding is not the same on both axes, when its output is not ⌈input / stride⌉ (what oneDNN derives), or
    /// when oneDNN has only its reference implementation for the pair. Nothing is recorded.
    public static func conv2dThenDepthwise(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: FusedActivation?,
                                           depthwiseWeight: Tensor, depthwiseBias: Tensor, stride: Int, padding: Padding,
                                           depthwiseActivation: FusedActivation?, preparedWeight: inout Tensor?,
                                           preparedDepthwiseWeight: inout Tensor?) -> Tensor? {
        guard weight.rank == 4, weight.shape[2] == 1, weight.shape[3] == 1, x.rank == 4, stride == 1 || stride == 2
        else { return nil }
        let c = weight.shape[0], h = x.shape[2], w = x.shape[3]
        guard depthwiseWeight.shape == [c, 1, 3, 3], depthwiseBias.shape == [c] else { return nil }
        let pad = padding.amounts(input: (h, w), kernel: (3, 3), stride: (stride, stride))
        let oh = (h + pad.top + pad.bottom - 3) / stride + 1, ow = (w + pad.left + pad.right - 3) / stride + 1
        guard pad.top == pad.left, pad.top <= 1, oh == (h + stride - 1) / stride, ow == (w + stride - 1) / stride
        else { return nil }
        let g = Conv2dGeometry(x, weight: weight, bias: bias, stride: (1, 1), padding: .symmetric(0, 0),
                               dilation: (1, 1), groups: 1)
        let epilogue = ConvEpilogue(activation: activation, depthwise: .init(stride: stride, padding: pad.top,
                                                                            activation: depthwiseActivation))
        guard let p = g.forwardIfAvailable(dnnl_forward_training, epilogue: epilogue, precision: Precision.current),
              !p.isReference else { return nil }
        let srcMD = p.md(dnnl_query_src_md), weiMD = p.md(dnnl_query_weights_md), dstMD = p.md(dnnl_query_dst_md)
        let dwArg = DNNL_ARG_ATTR_POST_OP_DW
        let dwWeiMD = dnnl_primitive_desc_query_md(p.pd, dnnl_query_exec_arg_md, dwArg | DNNL_ARG_WEIGHTS)!.pointee
        let dwBiasMD = dnnl_primitive_desc_query_md(p.pd, dnnl_query_exec_arg_md, dwArg | DNNL_ARG_BIAS)!.pointee
        let xs = DNNL.asLayout(x, srcMD)
        let ws = DNNL.prepared(&preparedWeight, as: weiMD) { DNNL.asLayout(weight.contiguous(), weiMD) }
        let dws = DNNL.prepared(&preparedDepthwiseWeight, as: dwWeiMD) {
            DNNL.asLayout(depthwiseWeight.contiguous().reshaped(c, 1, 1, 3, 3), dwWeiMD)
        }
        let bs = bias?.contiguous(), dwb = depthwiseBias.contiguous()
        let out = DNNL.output([x.shape[0], c, oh, ow], dstMD)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, srcMD, xs.dnnlData), (DNNL_ARG_WEIGHTS, weiMD, ws.dnnlData), (DNNL_ARG_DST, dstMD, out.dnnlData),
            (dwArg | DNNL_ARG_WEIGHTS, dwWeiMD, dws.dnnlData), (dwArg | DNNL_ARG_BIAS, dwBiasMD, dwb.dnnlData),
        ]
        if let bs { args.append((DNNL_ARG_BIAS, p.md(dnnl_query_weights_md, 1), bs.dnnlData)) }
        withExtendedLifetime((xs, ws, dws, bs, dwb)) { p.execute(args) }
        return out
    }

    /// ∂L/∂x through oneDNN convolution backward-data; the result keeps oneDNN's chosen layout.
    static func conv2dBackwardData(_ g: Conv2dGeometry, _ gy: Tensor, weight: Tensor) -> Tensor {
        let p = g.backwardData()
        let dsrcMD = p.md(dnnl_query_diff_src_md), weiMD = p.md(dnnl_query_weights_md), ddstMD = p.md(dnnl_query_diff_dst_md)
        let dy = DNNL.asLayout(gy, ddstMD)
        let ws = DNNL.asLayout(g.weightView(weight), weiMD)
        let dx = DNNL.output(Shape(g.srcDims), dsrcMD)
        withExtendedLifetime((dy, ws)) {
            p.execute([(DNNL_ARG_DIFF_DST, ddstMD, dy.dnnlData), (DNNL_ARG_WEIGHTS, weiMD, ws.dnnlData),
                       (DNNL_ARG_DIFF_SRC, dsrcMD, dx.dnnlData)])
        }
        return dx
    }

    /// ∂L/∂weight (fp32, plain, `weightShape`) and optionally ∂L/∂bias through oneDNN convolution backward-weights;
    /// with `bf16`, the primitive reads bf16 copies of the input and `gy` (``Precision/training``).
    static func conv2dBackwardWeights(_ g: Conv2dGeometry, _ gy: Tensor, src: Tensor, weightShape: Shape,
                                      withBias: Bool, bf16: Bool = false) -> (Tensor, Tensor?) {
        let p = bf16 ? g.backwardWeightsBF16(withBias: withBias) : g.backwardWeights(withBias: withBias)
        let srcMD = p.md(dnnl_query_src_md), dweiMD = p.md(dnnl_query_diff_weights_md)
        let ddstMD = p.md(dnnl_query_diff_dst_md)
        let xs = DNNL.asLayout(src, srcMD)
        let dy = DNNL.asLayout(gy, ddstMD)
        let dw = DNNL.output(Shape(g.weightDims), dweiMD)
        let db: Tensor? = withBias ? Tensor(uninitialized: [g.cout]) : nil
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, srcMD, xs.dnnlData), (DNNL_ARG_DIFF_DST, ddstMD, dy.dnnlData),
            (DNNL_ARG_DIFF_WEIGHTS, dweiMD, dw.dnnlData),
        ]
        if let db { args.append((DNNL_ARG_DIFF_BIAS, p.md(dnnl_query_diff_weights_md, 1), db.dnnlData)) }
        withExtendedLifetime((xs, dy)) { p.execute(args) }
        let plain = dw.contiguous()
        return (plain.shape == weightShape ? plain : Tensor(storage: plain.storage, shape: weightShape), db)
    }

    /// Per-channel sums of an `[N, C, H, W]` tensor (the bias gradient of a convolution) through a oneDNN
    /// reduction that reads the tensor in its own layout.
    static func channelSums(_ t0: Tensor) -> Tensor {
        let t = t0.layout == nil ? t0.contiguous() : t0
        let c = t.shape[1]
        let src = DNNL.descOf(t)
        let dst = DNNL.desc([1, c, 1, 1], dnnl_abcd)
        let p = DNNL.primitive("reduce.sum|\(DNNL.key(src))|\(DNNL.key(dst))") {
            var op = dnnl_reduction_desc_t()
            var s = src, d = dst
            DNNL.check(dnnl_reduction_desc_init(&op, dnnl_reduction_sum, &s, &d, 0, 0), "reduction_desc_init")
            return DNNL.makePD(&op, "reduction")
        }
        let out = Tensor(uninitialized: [c])
        withExtendedLifetime(t) {
            p.execute([(DNNL_ARG_SRC, src, t.dnnlData), (DNNL_ARG_DST, dst, out.dnnlData)])
        }
        return out
    }
}
