import CDNNL

extension Tensor {
    /// Batch normalisation of an NCHW batch over `(N, H, W)` per channel, as PyTorch's
    /// `torch.nn.functional.batch_norm`: `y = (x − mean) / √(var + eps) · weight + bias`.
    ///
    /// - Parameters:
    ///   - x: `[N, C, H, W]`, plain or in a oneDNN blocked layout (e.g. a convolution's output); the result keeps
    ///     the layout of `x`.
    ///   - weight, bias: optional per-channel scale and shift `[C]` (PyTorch's `affine=False` passes neither).
    ///   - runningMean, runningVar: `[C]`, plain and contiguous. Updated in place when `training` is true.
    ///   - training: true normalises with the batch statistics (biased variance) and then updates the running
    ///     statistics without recording, exactly as PyTorch: `running = (1 − momentum) · running + momentum ·
    ///     batch`, where the running variance takes the *unbiased* batch variance (`n / (n − 1)` with
    ///     `n = N · H · W`). False normalises with the running statistics (oneDNN `use_global_stats`), which the
    ///     backward then treats as constants.
    ///   - momentum: weight of the batch statistics in the running update.
    ///   - eps: added to the variance.
    ///
    /// Forward and backward run through oneDNN batch normalisation (`use_scale` / `use_shift`). The backward is
    /// `dnnl_backward` whenever there is a weight or bias (oneDNN 2.6 has no `backward_data` with scale and shift;
    /// the gradients of frozen parameters come from sums the input gradient needs anyway and are dropped), and
    /// `dnnl_backward_data` without them.
    public static func batchNorm2d(_ x0: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor, runningVar: Tensor,
                                   training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
        require(x0.rank == 4, "batchNorm2d: input \(x0.shape) must be [N, C, H, W] (running mean \(runningMean.shape))")
        let c = x0.shape[1]
        let channels = Shape([c])
        for (what, t) in [("weight", weight), ("bias", bias), ("runningMean", runningMean), ("runningVar", runningVar)] {
            if let t {
                require(t.shape == channels, "batchNorm2d: \(what) \(t.shape) does not match the \(c) channels of input \(x0.shape)")
            }
        }
        let n = x0.shape[0] * x0.shape[2] * x0.shape[3]
        require(!training || n > 1,
                     "batchNorm2d: training needs more than one value per channel, input \(x0.shape) has \(n) (running mean \(runningMean.shape))")
        let x = x0.layout == nil ? x0.contiguous() : x0
        let data = DNNL.descOf(x)
        let statDesc = DNNL.desc([c], dnnl_a)
        var flags: UInt32 = 0
        if weight != nil { flags |= dnnl_use_scale.rawValue }
        if bias != nil { flags |= dnnl_use_shift.rawValue }
        if !training { flags |= dnnl_use_global_stats.rawValue }
        let inputs = [x0] + [weight, bias].compactMap { $0 }
        let recording = GradMode.records(inputs)
        // Batch statistics are an output of forward_training; eval uses forward_inference unless it is recorded.
        let prop = training || recording ? dnnl_forward_training : dnnl_forward_inference
        let epsKey = String(eps.bitPattern, radix: 16)
        let forwardKey = "bnorm.fwd|\(prop.rawValue)|\(flags)|\(epsKey)|\(x.shape.dims)|\(DNNL.key(data))"
        let makeForward: () -> dnnl_primitive_desc_t = {
            var op = dnnl_batch_normalization_desc_t()
            var d = data
            DNNL.check(dnnl_batch_normalization_forward_desc_init(&op, prop, &d, eps, flags), "batch_normalization_forward_desc_init")
            return DNNL.makePD(&op, "batch_normalization_forward")
        }
        let p = DNNL.primitive(forwardKey, makeForward)
        let dstMD = p.md(dnnl_query_dst_md)
        let out = DNNL.output(x.shape, dstMD)
        let scale = weight?.contiguous(), shift = bias?.contiguous()
        // Training: fresh batch statistics. Eval: a copy of the running ones, so the backward sees the values the
        // forward used even if the caller updates them in between.
        let mean = training ? Tensor(uninitialized: channels) : runningMean.copy()
        let variance = training ? Tensor(uninitialized: channels) : runningVar.copy()
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, data, x.dnnlData), (DNNL_ARG_DST, dstMD, out.dnnlData),
            (DNNL_ARG_MEAN, statDesc, mean.dnnlData), (DNNL_ARG_VARIANCE, statDesc, variance.dnnlData),
        ]
        if let scale { args.append((DNNL_ARG_SCALE, statDesc, scale.dnnlData)) }
        if let shift { args.append((DNNL_ARG_SHIFT, statDesc, shift.dnnlData)) }
        withExtendedLifetime((x, scale, shift)) { p.execute(args) }

        if training {
            let m = momentum, unbiased = Float(n) / Float(n - 1)
            withNoGrad {
                runningMean.withMutableData { r in
                    for i in 0..<c { r[i] = (1 - m) * r[i] + m * mean.basePointer[i] }
                }
                runningVar.withMutableData { r in
                    for i in 0..<c { r[i] = (1 - m) * r[i] + m * variance.basePointer[i] * unbiased }
                }
            }
        }
        guard recording else { return out }

        return out.recorded("batchNorm2d", inputs) { gy, needs in
            let needWeight = weight != nil && needs[1]
            let needBias = bias != nil && needs[weight != nil ? 2 : 1]
            // oneDNN 2.6 implements `backward_data` for batch norm only without scale and shift (status
            // `unimplemented` otherwise), so an affine batch norm always runs `backward`; the scale and shift
            // gradients come from the same per-channel sums that the input gradient needs, and frozen ones are
            // dropped.
            let bprop = weight != nil || bias != nil ? dnnl_backward : dnnl_backward_data
            let pb = DNNL.primitive("bnorm.bwd|\(bprop.rawValue)|\(flags)|\(epsKey)|\(x.shape.dims)|\(DNNL.key(data))") {
                let hint = DNNL.primitive(forwardKey, makeForward)
                var op = dnnl_batch_normalization_desc_t()
                var d = data, dd = data
                DNNL.check(dnnl_batch_normalization_backward_desc_init(&op, bprop, &dd, &d, eps, flags),
                           "batch_normalization_backward_desc_init")
                return DNNL.makePD(&op, hint: hint.pd, "batch_normalization_backward")
            }
            let ddstMD = pb.md(dnnl_query_diff_dst_md), dsrcMD = pb.md(dnnl_query_diff_src_md)
            let dy = DNNL.asLayout(gy, ddstMD)
            let dx = DNNL.output(x.shape, dsrcMD)
            let dscale: Tensor? = bprop == dnnl_backward && weight != nil ? Tensor(uninitialized: channels) : nil
            let dshift: Tensor? = bprop == dnnl_backward && bias != nil ? Tensor(uninitialized: channels) : nil
            var bargs: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                (DNNL_ARG_SRC, data, x.dnnlData), (DNNL_ARG_DIFF_DST, ddstMD, dy.dnnlData),
                (DNNL_ARG_MEAN, statDesc, mean.dnnlData), (DNNL_ARG_VARIANCE, statDesc, variance.dnnlData),
                (DNNL_ARG_DIFF_SRC, dsrcMD, dx.dnnlData),
            ]
            // oneDNN 2.6 counts the shift among the backward's inputs when `use_shift` is set, though it does not read it.
            if let scale { bargs.append((DNNL_ARG_SCALE, statDesc, scale.dnnlData)) }
            if let shift { bargs.append((DNNL_ARG_SHIFT, statDesc, shift.dnnlData)) }
            if let dscale { bargs.append((DNNL_ARG_DIFF_SCALE, statDesc, dscale.dnnlData)) }
            if let dshift { bargs.append((DNNL_ARG_DIFF_SHIFT, statDesc, dshift.dnnlData)) }
            withExtendedLifetime((x, dy, scale, shift, mean, variance)) { pb.execute(bargs) }
            var grads: [Tensor?] = [needs[0] ? dx : nil]
            if weight != nil { grads.append(needWeight ? dscale : nil) }
            if bias != nil { grads.append(needBias ? dshift : nil) }
            return grads
        }
    }

    /// Layer normalisation over the last dimension (BERT-style), as PyTorch's
    /// `torch.nn.functional.layer_norm(x, [x.shape[-1]], weight, bias, eps)`:
    /// `y = (x − mean) / √(var + eps) · weight + bias`, with the biased variance of each row.
    ///
    /// - Parameters:
    ///   - x: rank 2 to 5; read as plain row-major data (a blocked or strided input is copied plain first).
    ///   - weight, bias: optional `[lastDim]` scale and shift.
    ///   - eps: added to the variance.
    ///
    /// Forward and backward run through oneDNN layer normalisation; while recording, the forward runs as
    /// `forward_training` and keeps the per-row mean and variance for the backward. As for batch norm, the backward
    /// is `dnnl_backward` when there is a weight or bias (oneDNN 2.6 lacks `backward_data` with them) and drops the
    /// gradients of frozen parameters.
    public static func layerNorm(_ x0: Tensor, weight: Tensor?, bias: Tensor?, eps: Float = 1e-5) -> Tensor {
        require(x0.rank >= 2 && x0.rank <= 5, "layerNorm: input \(x0.shape) must have rank 2 to 5 (weight \(weight?.shape.description ?? "nil"))")
        let last = x0.shape[x0.rank - 1]
        for (what, t) in [("weight", weight), ("bias", bias)] {
            if let t {
                require(t.shape == Shape([last]), "layerNorm: \(what) \(t.shape) does not match the last dimension of input \(x0.shape)")
            }
        }
        let inputs = [x0] + [weight, bias].compactMap { $0 }
        let recording = GradMode.records(inputs)
        // Inference on plain bf16 rows (a bf16 linear's output) normalises them in bf16 (fp32 statistics) and
        // writes bf16, for the next linear layer to read as is.
        let bf16 = !recording && isPlainBF16(x0)
        let x = bf16 ? x0 : x0.contiguous()
        let data = DNNL.desc(x.shape.dims, DNNL.plainTag(x.rank), type: bf16 ? dnnl_bf16 : dnnl_f32)
        let statShape = Shape(Array(x.shape.dims.dropLast()))
        let statDesc = DNNL.plainDesc(statShape)
        let paramDesc = DNNL.desc([last], dnnl_a)
        var flags: UInt32 = 0
        if weight != nil { flags |= dnnl_use_scale.rawValue }
        if bias != nil { flags |= dnnl_use_shift.rawValue }
        let prop = recording ? dnnl_forward_training : dnnl_forward_inference
        let epsKey = String(eps.bitPattern, radix: 16)
        let forwardKey = "lnorm.fwd|\(prop.rawValue)|\(flags)|\(epsKey)|\(x.shape.dims)|\(DNNL.key(data))|\(DNNL.key(statDesc))"
        let makeForward: () -> dnnl_primitive_desc_t = {
            var op = dnnl_layer_normalization_desc_t()
            var d = data, s = statDesc
            DNNL.check(dnnl_layer_normalization_forward_desc_init(&op, prop, &d, &s, eps, flags),
                       "layer_normalization_forward_desc_init")
            return DNNL.makePD(&op, "layer_normalization_forward")
        }
        let p = DNNL.primitive(forwardKey, makeForward)
        let out = plainOutput(x.shape, type: bf16 ? dnnl_bf16 : dnnl_f32)
        let scale = weight?.contiguous(), shift = bias?.contiguous()
        let mean: Tensor? = recording ? Tensor(uninitialized: statShape) : nil
        let variance: Tensor? = recording ? Tensor(uninitialized: statShape) : nil
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
            (DNNL_ARG_SRC, data, x.dnnlData), (DNNL_ARG_DST, data, out.dnnlData),
        ]
        if let mean, let variance {
            args.append((DNNL_ARG_MEAN, statDesc, mean.dnnlData))
            args.append((DNNL_ARG_VARIANCE, statDesc, variance.dnnlData))
        }
        if let scale { args.append((DNNL_ARG_SCALE, paramDesc, scale.dnnlData)) }
        if let shift { args.append((DNNL_ARG_SHIFT, paramDesc, shift.dnnlData)) }
        withExtendedLifetime((x, scale, shift)) { p.execute(args) }
        guard recording, let mean, let variance else { return out }

        return out.recorded("layerNorm", inputs) { gy, needs in
            let needWeight = weight != nil && needs[1]
            let needBias = bias != nil && needs[weight != nil ? 2 : 1]
            // oneDNN 2.6 implements `backward_data` only without scale and shift (as for batch norm): an affine
            // layer norm runs `backward` and drops the gradients of frozen parameters.
            let bprop = weight != nil || bias != nil ? dnnl_backward : dnnl_backward_data
            let pb = DNNL.primitive("lnorm.bwd|\(bprop.rawValue)|\(flags)|\(epsKey)|\(x.shape.dims)|\(DNNL.key(data))|\(DNNL.key(statDesc))") {
                let hint = DNNL.primitive(forwardKey, makeForward)
                var op = dnnl_layer_normalization_desc_t()
                var d = data, dd = data, s = statDesc
                DNNL.check(dnnl_layer_normalization_backward_desc_init(&op, bprop, &dd, &d, &s, eps, flags),
                           "layer_normalization_backward_desc_init")
                return DNNL.makePD(&op, hint: hint.pd, "layer_normalization_backward")
            }
            let dy = gy.contiguous()
            let dx = Tensor(uninitialized: x.shape)
            let dscale: Tensor? = bprop == dnnl_backward && weight != nil ? Tensor(uninitialized: [last]) : nil
            let dshift: Tensor? = bprop == dnnl_backward && bias != nil ? Tensor(uninitialized: [last]) : nil
            var bargs: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
                (DNNL_ARG_SRC, data, x.dnnlData), (DNNL_ARG_DIFF_DST, data, dy.dnnlData),
                (DNNL_ARG_MEAN, statDesc, mean.dnnlData), (DNNL_ARG_VARIANCE, statDesc, variance.dnnlData),
                (DNNL_ARG_DIFF_SRC, data, dx.dnnlData),
            ]
            // As for batch norm, oneDNN 2.6 counts the (unread) shift among the backward's inputs.
            if let scale { bargs.append((DNNL_ARG_SCALE, paramDesc, scale.dnnlData)) }
            if let shift { bargs.append((DNNL_ARG_SHIFT, paramDesc, shift.dnnlData)) }
            if let dscale { bargs.append((DNNL_ARG_DIFF_SCALE, paramDesc, dscale.dnnlData)) }
            if let dshift { bargs.append((DNNL_ARG_DIFF_SHIFT, paramDesc, dshift.dnnlData)) }
            withExtendedLifetime((x, dy, scale, shift, mean, variance)) { pb.execute(bargs) }
            var grads: [Tensor?] = [needs[0] ? dx : nil]
            if weight != nil { grads.append(needWeight ? dscale : nil) }
            if bias != nil { grads.append(needBias ? dshift : nil) }
            return grads
        }
    }
}
