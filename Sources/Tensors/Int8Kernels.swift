import CDNNL

extension Int8Layer {
    /// `activation(conv2d(x, weight, bias) + residual)` through oneDNN's int8 convolution (`u8`/`s8` input
    /// quantised with this layer's scale, per-output-channel `s8` weights, `s32` accumulation, fp32 output with the
    /// output scales, bias, residual sum and activation fused), for inference: nothing is recorded. `weight` and
    /// `bias` are the fp32 ones with any frozen BatchNorm folded in, as for the fp32 fused convolution
    /// (`Tensor.conv2d(_:weight:bias:stride:padding:dilation:groups:residual:activation:preparedWeight:)`).
    ///
    /// With `output`, the result is written in that quantisation instead of fp32 (`u8`/`s8`, `q = round(y / scale)`,
    /// saturating; the scale folded into the primitive as a last `linear` post-op), for a consumer that is itself an
    /// int8 layer whose input quantisation `output` is: that consumer reads it without another pass over the
    /// activation (``quantizedInput(_:_:)``). The result's layout is then an integer one (``Tensor/holdsIntegers``),
    /// so it must not reach any other op; only ``Conv2d``'s fused int8 units use it, internally.
    ///
    /// A residual with an integer `output` is itself an integer tensor in `residualQuantization`, of the same
    /// signedness (the residual stream of chained inverted bottlenecks): it is copied into the output byte for byte
    /// and the `sum` post-op adds it in real units (`q · residualScale`) before the requantising scale, so the sum
    /// is `round((y + q_r · s_r) / s_out)`. With an fp32 output the residual is fp32.
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: Padding,
                       dilation: (Int, Int), groups: Int, residual: Tensor?, activation: FusedActivation?,
                       output: Int8InputQuantization? = nil,
                       residualQuantization: Int8InputQuantization? = nil) -> Tensor {
        let g = Conv2dGeometry(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation,
                               groups: groups)
        if let residual {
            require(residual.shape == Shape(g.dstDims),
                    "conv2d (int8): residual \(residual.shape) does not match the output \(g.dstDims) (input \(x.shape), weight \(weight.shape))")
            require(residual.holdsIntegers == (output != nil) && (residualQuantization != nil) == (output != nil),
                    "conv2d (int8): an integer output takes an integer residual with its quantisation, an fp32 output an fp32 one")
            if let output, let residualQuantization {
                require(residual.layout!.desc.data_type == output.dataType && residualQuantization.signed == output.signed,
                        "conv2d (int8): the integer residual and output differ in signedness")
            }
        }
        let prep = prepared(weight: weight, bias: bias)
        let epilogue = ConvEpilogue(addsResidual: residual != nil, activation: activation)
        let key = "\(g.key)|\(epilogue.key)|\(output.map { "\($0.signed ? "s8" : "u8")/\($0.scale)" } ?? "f32")"
            + (residualQuantization.map { "|sum\($0.scale)" } ?? "")
        let p: DNNLPrimitive
        if let cached = cache?.primitives[key] { p = cached } else {
            p = convPrimitive(g, epilogue: epilogue, outputScales: prep.outputScales, output: output,
                              sumScale: residualQuantization?.scale ?? 1)
            cache?.primitives[key] = p
        }
        let srcMD = p.md(dnnl_query_src_md), weiMD = p.md(dnnl_query_weights_md), dstMD = p.md(dnnl_query_dst_md)
        let xs = quantizedInput(x, srcMD)
        let plainWeight = DNNL.desc(g.weightDims, DNNL.plainTag(g.weightDims.count))
        // Per output channel: dim 0 of `oihw`, dims 0 and 1 (group, output in group) of `goihw`.
        let ws = quantizedWeight(g.weightView(weight), from: plainWeight, to: weiMD, mask: groups == 1 ? 1 : 3)
        let bs = prep.bias
        let out = DNNL.output(Shape(g.dstDims), dstMD)
        if let residual { DNNL.copy(residual, into: out, dstMD) }
        let args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, srcMD, xs.dnnlData), (DNNL_ARG_WEIGHTS, weiMD, ws.dnnlData), (DNNL_ARG_DST, dstMD, out.dnnlData),
            (DNNL_ARG_BIAS, p.md(dnnl_query_weights_md, 1), bs.dnnlData),
        ]
        withExtendedLifetime((xs, ws, bs)) { p.execute(args) }
        return out
    }

    /// The int8 convolution primitive for `g` (the source in this layer's integer type, `s8` weights, fp32 bias
    /// and output, layouts chosen by oneDNN).
    func convPrimitive(_ g: Conv2dGeometry, epilogue: ConvEpilogue, outputScales: [Float],
                       output: Int8InputQuantization? = nil, sumScale: Float = 1) -> DNNLPrimitive {
        var op = dnnl_convolution_desc_t()
        var src = DNNL.desc(g.srcDims, dnnl_format_tag_any, type: input.dataType)
        var wei = DNNL.desc(g.weightDims, dnnl_format_tag_any, type: dnnl_s8)
        var dst = DNNL.desc(g.dstDims, dnnl_format_tag_any, type: output?.dataType ?? dnnl_f32), b = g.biasDesc
        DNNL.check(dnnl_dilated_convolution_forward_desc_init(
            &op, dnnl_forward_inference, dnnl_convolution_direct, &src, &wei, &b, &dst, g.strides, g.dilates, g.padL, g.padR),
                   "convolution_forward_desc_init (int8)")
        let attr = Int8Layer.attributes(outputScales: outputScales, mask: 1 << 1, postOps: epilogue.postOps(dnnl_f32),
                                        requantize: output.map { 1 / $0.scale }, sumScale: sumScale)
        defer { dnnl_primitive_attr_destroy(attr) }
        return DNNLPrimitive(pd: DNNL.makePD(&op, attr: attr, "convolution_forward (int8, \(epilogue.key))"))
    }

    /// `activation(x · weightᵀ + bias) + residual` through oneDNN's int8 matmul (`x` quantised with this layer's
    /// scale, per-output-feature `s8` weights, `s32` accumulation, output scales, bias, activation and residual
    /// fused), for inference: nothing is recorded. `weight` is PyTorch's `[out, in]`; the output has `x`'s shape with
    /// the last dim `out`, in the type `output` asks for (see ``Int8LinearOutput``).
    ///
    /// `x` is read as it is when it is plain row-major bf16 (a bf16 attention's context, quantised by one scaled
    /// reorder) or integers in this layer's input quantisation (the previous layer's ``Int8LinearOutput/integers(_:)``,
    /// used without any pass); anything else is made plain fp32 rows and quantised.
    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?, activation: FusedActivation?, residual: Tensor?,
                       output: Int8LinearOutput = .fp32) -> Tensor {
        require(weight.rank == 2 && x.rank >= 1 && x.shape.last == weight.shape[1],
                "linear (int8): input \(x.shape) does not match weight \(weight.shape) ([out, in])")
        let k = weight.shape[1], n = weight.shape[0], m = x.shape.count / Swift.max(k, 1)
        let outShape = Shape(Array(x.shape.dims.dropLast()) + [n])
        if let residual {
            require(residual.shape == outShape, "linear (int8): residual \(residual.shape) does not match the output \(outShape)")
            require(output == .fp32, "linear (int8): a residual sum needs an fp32 output, not \(output)")
        }
        let prep = prepared(weight: weight, bias: bias)
        let key = "linear|\(m)|\(n)|\(k)|\(activation?.rawValue ?? "none")|\(residual != nil)|\(output.key)"
        let p: DNNLPrimitive
        if let cached = cache?.primitives[key] { p = cached } else {
            p = matmulPrimitive(m: m, n: n, k: k, activation: activation, residual: residual != nil,
                                outputScales: prep.outputScales, output: output)
            cache?.primitives[key] = p
        }
        let srcMD = p.md(dnnl_query_src_md), weiMD = p.md(dnnl_query_weights_md), dstMD = p.md(dnnl_query_dst_md)
        let xs = quantizedRows(x, m: m, k: k, srcMD)
        let ws = quantizedWeight(weight, from: DNNL.desc([k, n], dnnl_ba), to: weiMD, mask: 1 << 1)
        let bs = prep.bias
        let out = Tensor.plainOutput(outShape, type: output.dataType)
        let r = residual?.plainData().contiguous()
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, srcMD, xs.dnnlData), (DNNL_ARG_WEIGHTS, weiMD, ws.dnnlData),
            (DNNL_ARG_DST, dstMD, out.dnnlData), (DNNL_ARG_BIAS, p.md(dnnl_query_weights_md, 1), bs.dnnlData),
        ]
        if let r {
            let index: Int32 = activation == nil ? 1 : 2  // DNNL_ARG_ATTR_MULTIPLE_POST_OP(post-op index)
            args.append((DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * index | DNNL_ARG_SRC_1, DNNL.desc([m, n], dnnl_ab), r.dnnlData))
        }
        withExtendedLifetime((xs, ws, bs, r)) { p.execute(args) }
        return out
    }

    /// The int8 matmul `[m, k] × [k, n]` (source in this layer's integer type, `s8` weights in oneDNN's layout,
    /// fp32 bias `[1, n]`, plain output of `output`'s type; an integer output requantised by a last `linear`
    /// post-op).
    func matmulPrimitive(m: Int, n: Int, k: Int, activation: FusedActivation?, residual: Bool,
                         outputScales: [Float], output: Int8LinearOutput) -> DNNLPrimitive {
        var src = DNNL.desc([m, k], dnnl_ab, type: input.dataType)
        var wei = DNNL.desc([k, n], dnnl_format_tag_any, type: dnnl_s8)
        var dst = DNNL.desc([m, n], dnnl_ab, type: output.dataType)
        var bia = DNNL.desc([1, n], dnnl_ab)
        var op = dnnl_matmul_desc_t()
        DNNL.check(dnnl_matmul_desc_init(&op, &src, &wei, &bia, &dst), "matmul_desc_init (int8 linear)")
        var postOps: [DNNL.PostOp] = activation.map { [.eltwise($0)] } ?? []
        if residual { postOps.append(.binaryAdd(DNNL.desc([m, n], dnnl_ab))) }
        let attr = Int8Layer.attributes(outputScales: outputScales, mask: 1 << 1, postOps: postOps,
                                        requantize: output.integerScale.map { 1 / $0 })
        defer { dnnl_primitive_attr_destroy(attr) }
        return DNNLPrimitive(pd: DNNL.makePD(&op, attr: attr, "matmul (int8 linear \(m)×\(k) · \(k)×\(n))"))
    }
}

/// A layer that watches the inputs of convolutions and linear layers during calibration (see
/// ``InputObservation``).
public protocol InputObserver: AnyObject, Sendable {
    /// Called with a layer's identity and its input, before the layer runs in fp32.
    func observe(_ layer: ObjectIdentifier, input: Tensor)
}

/// The observer of the current scope: ``Layers``' convolutions and linear layers report their inference inputs to
/// it (calibration for int8 quantisation).
public enum InputObservation {
    @TaskLocal public static var current: (any InputObserver)?
}
