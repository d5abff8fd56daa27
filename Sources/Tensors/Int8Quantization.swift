import CDNNL

/// How one layer's input is quantised for int8 inference: symmetric, `real ≈ q · scale`, with `q` in
/// `0…255` (`u8`, for inputs that are never negative, e.g. after ReLU) or `−127…127` (`s8`).
///
/// Post-training static quantisation (Jacob et al., "Quantization and Training of Neural Networks for Efficient
/// Integer-Arithmetic-Only Inference", CVPR 2018; Krishnamoorthi, "Quantizing deep convolutional networks for
/// efficient inference", 2018): the scale comes from calibration and stays fixed at inference.
public struct Int8InputQuantization: Sendable, Equatable, Codable {
    /// The real value of one quantisation step (> 0).
    public let scale: Float
    /// `s8` when the input can be negative, `u8` otherwise.
    public let signed: Bool

    public init(scale: Float, signed: Bool) {
        self.scale = scale
        self.signed = signed
    }

    /// The scale that maps `[−absMax, absMax]` (signed) or `[0, absMax]` (unsigned) onto the full integer range;
    /// an all-zero range gets scale 1 (every value quantises to 0 either way).
    public static func symmetric(absMax: Float, signed: Bool) -> Int8InputQuantization {
        let limit = Int8Math.levels(signed: signed)
        return Int8InputQuantization(scale: absMax > 0 && absMax.isFinite ? absMax / limit : 1, signed: signed)
    }

    var dataType: dnnl_data_type_t { signed ? dnnl_s8 : dnnl_u8 }
}

extension Tensor {
    /// Whether the storage holds `u8`/`s8` values: an int8 layer's output written in the next int8 layer's input
    /// quantisation (``Int8Layer/conv2d(_:weight:bias:stride:padding:dilation:groups:residual:activation:output:residualQuantization:)``),
    /// which only that layer (and a residual sum in the same quantisation) may read.
    public var holdsIntegers: Bool {
        guard let l = layout else { return false }
        return l.desc.data_type == dnnl_s8 || l.desc.data_type == dnnl_u8
    }
}

/// The quantise/dequantise arithmetic of TransferKit's int8 path, as oneDNN performs it (round half to even,
/// saturate), for tests and for the calibration's error estimates.
public enum Int8Math {
    /// The largest quantised magnitude: 127 for `s8` (symmetric, −128 unused), 255 for `u8`.
    public static func levels(signed: Bool) -> Float { signed ? 127 : 255 }

    /// `clamp(round(x / scale))` in the integer range of `signed`.
    public static func quantize(_ x: Float, scale: Float, signed: Bool) -> Int {
        let q = (x / scale).rounded(.toNearestOrEven)
        let lo: Float = signed ? -128 : 0, hi: Float = signed ? 127 : 255
        guard q.isFinite else { return x < 0 ? Int(lo) : Int(hi) }
        return Int(Swift.min(Swift.max(q, lo), hi))
    }

    /// `q · scale`.
    public static func dequantize(_ q: Int, scale: Float) -> Float { Float(q) * scale }

    /// Per-output-channel symmetric weight scales: `max |w[c, …]| / 127` for each slice along the first axis
    /// (1 for an all-zero channel).
    public static func channelScales(_ weight: Tensor) -> [Float] {
        let w = weight.contiguous()
        let channels = w.shape[0], per = w.count / Swift.max(channels, 1)
        return w.withUnsafeBufferPointer { p in
            (0..<channels).map { c in
                var m: Float = 0
                for i in 0..<per { m = Swift.max(m, abs(p[c * per + i])) }
                return m > 0 ? m / 127 : 1
            }
        }
    }
}

/// A ``Layers`` convolution's or linear layer's int8 state: its calibrated input quantisation, and (built on first
/// use, rebuilt when the fp32 weight it derives from changes) the per-channel `s8` weight in the primitive's
/// layout, the bias in the accumulator's units and the cached primitives.
///
/// oneDNN 2.x computes `dst = outputScale[c] · (Σ src_q · wei_q + bias[c])` (then the post-ops), so the output
/// scale is `inputScale · weightScale[c]` and the bias is divided by it; the output is fp32, so every other layer
/// reads it unchanged. Set through `Conv2d.int8` / `Linear.int8`.
public final class Int8Layer: @unchecked Sendable {
    public let input: Int8InputQuantization
    var cache: Int8Prepared?

    public init(input: Int8InputQuantization) { self.input = input }
}

/// What an ``Int8Layer`` keeps for one fp32 weight (compared by identity and data version).
struct Int8Prepared {
    let source: Tensor
    let version: UInt64
    var weight: Tensor?
    let outputScales: [Float]
    let bias: Tensor
    var primitives: [String: DNNLPrimitive] = [:]
    var reorders: [String: DNNLPrimitive] = [:]

    func matches(_ w: Tensor) -> Bool { source === w && version == w.dataVersion }
}

extension Int8Layer {
    /// The cache for `weight` (`[out, …]` fp32) and `bias`, rebuilt when the weight changed.
    func prepared(weight: Tensor, bias: Tensor?) -> Int8Prepared {
        if let cache, cache.matches(weight) { return cache }
        let ws = Int8Math.channelScales(weight)
        let out = ws.map { $0 * input.scale }
        let b = Tensor(uninitialized: [ws.count])
        let given = bias?.contiguous().toArray() ?? [Float](repeating: 0, count: ws.count)
        b.withMutableData { p in for c in 0..<ws.count { p[c] = given[c] / out[c] } }
        let made = Int8Prepared(source: weight, version: weight.dataVersion, weight: nil, outputScales: out, bias: b)
        cache = made
        return made
    }

    /// `x` quantised into `dst` (`u8`/`s8`, the primitive's source layout) with this layer's scale, saturating.
    ///
    /// A tensor already in this layer's integer type (written by an int8 producer with this layer's input
    /// quantisation as its `output`) is only reordered into the layout, or taken as it is.
    func quantizedInput(_ x: Tensor, _ dst: dnnl_memory_desc_t) -> Tensor {
        if let l = x.layout, l.desc.data_type == input.dataType { return DNNL.asLayout(x, dst) }
        let src = x.layout == nil ? x.plainData() : x
        return quantized(src, from: DNNL.descOf(src), to: dst)
    }

    /// `x`'s storage (described by `from`) quantised with this layer's scale into `dst`, by a cached scaled reorder.
    func quantized(_ x: Tensor, from: dnnl_memory_desc_t, to dst: dnnl_memory_desc_t) -> Tensor {
        let key = "\(DNNL.key(from))|\(DNNL.key(dst))"
        let p: DNNLPrimitive
        if let cached = cache?.reorders[key] { p = cached } else {
            p = Int8Layer.scaledReorder(from: from, to: dst, scales: [1 / input.scale], mask: 0)!
            cache?.reorders[key] = p
        }
        let bl = BlockedLayout(dst)
        let out = Tensor(storage: TensorStorage(count: bl.elementCount), shape: x.shape, layout: bl)
        withExtendedLifetime(x) {
            p.execute([(DNNL_ARG_FROM, from, x.dnnlData), (DNNL_ARG_TO, dst, out.dnnlData)])
        }
        return out
    }

    /// `weight` (plain fp32, described by `from`) as `s8` in `to`, each output channel divided by its scale.
    func quantizedWeight(_ weight: Tensor, from: dnnl_memory_desc_t, to: dnnl_memory_desc_t, mask: Int32) -> Tensor {
        if let w = cache?.weight, DNNL.equal(DNNL.descOf(w), to) { return w }
        let scales = (cache?.outputScales ?? []).map { input.scale / $0 }
        let bl = BlockedLayout(to)
        let out = Tensor(storage: TensorStorage(count: bl.elementCount), shape: weight.shape, layout: bl)
        let plain = weight.contiguous()
        if let p = Int8Layer.scaledReorder(from: from, to: to, scales: scales, mask: mask, required: false) {
            withExtendedLifetime(plain) {
                p.execute([(DNNL_ARG_FROM, from, plain.dnnlData), (DNNL_ARG_TO, to, out.dnnlData)])
            }
        } else {
            // oneDNN 2.6 has no scaled reorder from fp32 straight into some s8 layouts with compensation (the
            // matmul's blocked weight): quantise into the same plain layout first, then reorder the s8 data.
            var plainS8 = from
            plainS8.data_type = dnnl_s8
            let staged = BlockedLayout(plainS8)
            let s8 = Tensor(storage: TensorStorage(count: staged.elementCount), shape: weight.shape, layout: staged)
            let quantize = Int8Layer.scaledReorder(from: from, to: plainS8, scales: scales, mask: mask)!
            withExtendedLifetime(plain) {
                quantize.execute([(DNNL_ARG_FROM, from, plain.dnnlData), (DNNL_ARG_TO, plainS8, s8.dnnlData)])
            }
            DNNL.reorder(from: plainS8, s8.dnnlData, to: to, out.dnnlData)
        }
        cache?.weight = out
        return out
    }

    /// A reorder that multiplies by `scales` (one, or one per index of the dims in `mask`), rounding to nearest and
    /// saturating into an integer destination.
    static func scaledReorder(from src: dnnl_memory_desc_t, to dst: dnnl_memory_desc_t, scales: [Float],
                              mask: Int32, required: Bool = true) -> DNNLPrimitive? {
        var attr: dnnl_primitive_attr_t?
        DNNL.check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        DNNL.check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "primitive_attr_set_scratchpad_mode")
        DNNL.check(dnnl_primitive_attr_set_output_scales(attr, Int64(scales.count), mask, scales), "primitive_attr_set_output_scales")
        var pd: dnnl_primitive_desc_t?
        var s = src, d = dst
        let status = dnnl_reorder_primitive_desc_create(&pd, &s, DNNL.engine, &d, DNNL.engine, attr)
        if status == dnnl_unimplemented && !required { return nil }
        DNNL.check(status, "reorder (int8 quantisation)")
        return DNNLPrimitive(pd: pd!)
    }

    /// Attributes with per-channel output scales over `mask` and the post-ops; the caller destroys them.
    /// `requantize`, when given, multiplies the result after every other post-op (a `linear` eltwise): the
    /// reciprocal of an integer destination's scale.
    /// `sumScale` multiplies the destination's previous (integer or fp32) values in a `sum` post-op.
    static func attributes(outputScales: [Float], mask: Int32, postOps: [DNNL.PostOp],
                           requantize: Float? = nil, sumScale: Float = 1) -> dnnl_primitive_attr_t? {
        var attr: dnnl_primitive_attr_t?
        DNNL.check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        DNNL.check(dnnl_primitive_attr_set_output_scales(attr, Int64(outputScales.count), mask, outputScales),
                   "primitive_attr_set_output_scales")
        var ops: dnnl_post_ops_t?
        DNNL.check(dnnl_post_ops_create(&ops), "post_ops_create")
        defer { dnnl_post_ops_destroy(ops) }
        for p in postOps {
            switch p {
            case .sum: DNNL.check(dnnl_post_ops_append_sum(ops, sumScale), "post_ops_append_sum")
            case .eltwise(let a):
                DNNL.check(dnnl_post_ops_append_eltwise(ops, 1, a.algorithm, a.alpha, a.beta), "post_ops_append_eltwise")
            case .binaryAdd(var d):
                DNNL.check(dnnl_post_ops_append_binary(ops, dnnl_binary_add, &d), "post_ops_append_binary")
            case .depthwise3x3: require(false, "int8: depthwise post-ops are not used")
            }
        }
        if let requantize {
            DNNL.check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_linear, requantize, 0), "post_ops_append_eltwise (requantise)")
        }
        DNNL.check(dnnl_primitive_attr_set_post_ops(attr, ops), "primitive_attr_set_post_ops")
        return attr
    }
}
