import CDNNL

/// The bf16 primitives of a training convolution: bf16 source, weights and output gradient, fp32 destination,
/// input gradient, weight gradient and bias (oneDNN accumulates in fp32), `format_tag_any` so each primitive picks
/// its blocked layouts.
extension Conv2dGeometry {
    func forwardBF16() -> DNNLPrimitive {
        DNNL.primitive("conv2d.fwd.bf16train|\(key)") {
            var op = dnnl_convolution_desc_t()
            var src = DNNL.desc(srcDims, dnnl_format_tag_any, type: dnnl_bf16)
            var wei = DNNL.desc(weightDims, dnnl_format_tag_any, type: dnnl_bf16)
            var dst = anyDst, b = biasDesc
            let st = strides, dl = dilates, pl = padL, pr = padR
            let status = hasBias
                ? dnnl_dilated_convolution_forward_desc_init(&op, dnnl_forward_training, dnnl_convolution_direct,
                                                             &src, &wei, &b, &dst, st, dl, pl, pr)
                : dnnl_dilated_convolution_forward_desc_init(&op, dnnl_forward_training, dnnl_convolution_direct,
                                                             &src, &wei, nil, &dst, st, dl, pl, pr)
            DNNL.check(status, "convolution_forward_desc_init (bf16 training)")
            return DNNL.makePD(&op, "convolution_forward (bf16 training)")
        }
    }

    func backwardDataBF16() -> DNNLPrimitive {
        DNNL.primitive("conv2d.bwd_data.bf16train|\(key)") {
            let hint = forwardBF16()
            var op = dnnl_convolution_desc_t()
            var src = anySrc
            var wei = DNNL.desc(weightDims, dnnl_format_tag_any, type: dnnl_bf16)
            var dst = DNNL.desc(dstDims, dnnl_format_tag_any, type: dnnl_bf16)
            DNNL.check(dnnl_dilated_convolution_backward_data_desc_init(
                &op, dnnl_convolution_direct, &src, &wei, &dst, strides, dilates, padL, padR),
                       "convolution_backward_data_desc_init (bf16 training)")
            return DNNL.makePD(&op, hint: hint.pd, "convolution_backward_data (bf16 training)")
        }
    }

    func backwardWeightsBF16(withBias: Bool) -> DNNLPrimitive {
        DNNL.primitive("conv2d.bwd_weights.bf16train|\(withBias)|\(key)") {
            let hint = forwardBF16()
            var op = dnnl_convolution_desc_t()
            var src = DNNL.desc(srcDims, dnnl_format_tag_any, type: dnnl_bf16)
            var wei = anyWeights, b = biasDesc
            var dst = DNNL.desc(dstDims, dnnl_format_tag_any, type: dnnl_bf16)
            let st = strides, dl = dilates, pl = padL, pr = padR
            let status = withBias
                ? dnnl_dilated_convolution_backward_weights_desc_init(&op, dnnl_convolution_direct, &src, &wei, &b, &dst,
                                                                      st, dl, pl, pr)
                : dnnl_dilated_convolution_backward_weights_desc_init(&op, dnnl_convolution_direct, &src, &wei, nil, &dst,
                                                                      st, dl, pl, pr)
            DNNL.check(status, "convolution_backward_weights_desc_init (bf16 training)")
            return DNNL.makePD(&op, hint: hint.pd, "convolution_backward_weights (bf16 training)")
        }
    }
}

extension Tensor {
    /// A recorded convolution under ``withTrainingPrecision(_:_:)`` `.bf16`: the passes ``BF16Training/convPlan(_:)``
    /// selects run on bf16 copies (input and output gradient converted per call, the weight once per data version),
    /// the others as in fp32. The output and all gradients are fp32.
    static func conv2dBF16Training(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: Conv2dGeometry,
                                   inputs: [Tensor]) -> Tensor? {
        let plan = BF16Training.convPlan(g)
        guard plan.any else { return nil }
        let out: Tensor, src16: Tensor?
        if plan.forward {
            let p = g.forwardBF16()
            let srcMD = p.md(dnnl_query_src_md), weiMD = p.md(dnnl_query_weights_md), dstMD = p.md(dnnl_query_dst_md)
            let xs = DNNL.asLayout(x, srcMD)
            let ws = BF16Training.converted(weight, as: weiMD) { DNNL.asLayout(g.weightView(weight), weiMD) }
            let bs = bias?.contiguous()
            out = DNNL.output(Shape(g.dstDims), dstMD)
            var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                (DNNL_ARG_SRC, srcMD, xs.dnnlData), (DNNL_ARG_WEIGHTS, weiMD, ws.dnnlData), (DNNL_ARG_DST, dstMD, out.dnnlData),
            ]
            if let bs { args.append((DNNL_ARG_BIAS, p.md(dnnl_query_weights_md, 1), bs.dnnlData)) }
            withExtendedLifetime((xs, ws, bs)) { p.execute(args) }
            src16 = xs
        } else {
            out = withNoGrad { conv2dForwardFP32(x, weight: weight, bias: bias, geometry: g).output }
            src16 = nil
        }
        // Keep only what the weight gradient needs: the bf16 input (half the memory) or the fp32 one.
        let savedSrc: Tensor? = weight.requiresGrad ? (plan.backwardWeights ? (src16 ?? x) : x) : nil
        let weightShape = weight.shape
        return out.recorded("conv2d.bf16", inputs) { gy, needs in
            var gx: Tensor?, gw: Tensor?, gb: Tensor?
            var gy16: Tensor?
            if needs[0] {
                if plan.backwardData {
                    (gx, gy16) = conv2dBackwardDataBF16(g, gy, weight: weight)
                } else {
                    gx = conv2dBackwardData(g, gy, weight: weight)
                }
            }
            let needBias = g.hasBias && needs[2]
            if needs[1], let src = savedSrc {
                if plan.backwardWeights {
                    (gw, gb) = conv2dBackwardWeights(g, gy16 ?? gy, src: src, weightShape: weightShape, withBias: needBias, bf16: true)
                } else {
                    (gw, gb) = conv2dBackwardWeights(g, gy, src: src, weightShape: weightShape, withBias: needBias)
                }
            } else if needBias {
                gb = channelSums(gy)
            }
            return g.hasBias ? [gx, gw, gb] : [gx, gw]
        }
    }

    /// ∂L/∂x (fp32) from a bf16 copy of `gy` and the cached bf16 weight; also returns that bf16 `gy` for reuse.
    static func conv2dBackwardDataBF16(_ g: Conv2dGeometry, _ gy: Tensor, weight: Tensor) -> (Tensor, Tensor) {
        let p = g.backwardDataBF16()
        let dsrcMD = p.md(dnnl_query_diff_src_md), weiMD = p.md(dnnl_query_weights_md), ddstMD = p.md(dnnl_query_diff_dst_md)
        let dy = DNNL.asLayout(gy, ddstMD)
        let ws = BF16Training.converted(weight, as: weiMD) { DNNL.asLayout(g.weightView(weight), weiMD) }
        let dx = DNNL.output(Shape(g.srcDims), dsrcMD)
        withExtendedLifetime((dy, ws)) {
            p.execute([(DNNL_ARG_DIFF_DST, ddstMD, dy.dnnlData), (DNNL_ARG_WEIGHTS, weiMD, ws.dnnlData),
                       (DNNL_ARG_DIFF_SRC, dsrcMD, dx.dnnlData)])
        }
        return (dx, dy)
    }
}
