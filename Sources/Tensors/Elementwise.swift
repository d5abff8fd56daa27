import CDNNL
import CKernels

/// Binary elementwise kernels with NumPy broadcasting (no autograd; the operators below record).
enum BinaryKernel: Int32 {
    case add = 0, sub, mul, div, max, min, ge, gt

    var name: String {
        switch self {
        case .add: "add"
        case .sub: "sub"
        case .mul: "mul"
        case .div: "div"
        case .max: "maximum"
        case .min: "minimum"
        case .ge: "greater_equal"
        case .gt: "greater"
        }
    }

    /// Element strides of `t` seen with the broadcast `shape` (0 where `t` is broadcast).
    static func broadcastStrides(_ t: Tensor, to shape: Shape) -> [Int] {
        let lead = shape.rank - t.rank
        return (0..<shape.rank).map { i in
            i < lead ? 0 : (t.shape[i - lead] == 1 && shape[i] != 1 ? 0 : t.strides[i - lead])
        }
    }

    func callAsFunction(_ a0: Tensor, _ b0: Tensor) -> Tensor {
        guard let shape = Shape.broadcast(a0.shape, b0.shape) else {
            fatalError("\(name): shapes \(a0.shape) and \(b0.shape) do not broadcast")
        }
        var a = a0.layout == nil ? a0 : a0.plainData()
        var b = b0.layout == nil ? b0 : b0.plainData()
        let out = Tensor(uninitialized: shape)
        if shape.count == 0 { return out }
        var sa = Self.broadcastStrides(a, to: shape), sb = Self.broadcastStrides(b, to: shape)
        if let l = sa.last, l > 1 { a = a.plainData(); sa = Self.broadcastStrides(a, to: shape) }
        if let l = sb.last, l > 1 { b = b.plainData(); sb = Self.broadcastStrides(b, to: shape) }
        // Coalesce dimensions that are contiguous for all three operands.
        var dims: [Int] = [], stA: [Int] = [], stB: [Int] = [], stO: [Int] = []
        let so = shape.contiguousStrides
        for i in 0..<shape.rank where shape[i] != 1 {
            if let last = dims.last, stA.last! == sa[i] * shape[i], stB.last! == sb[i] * shape[i], stO.last! == so[i] * shape[i] {
                dims[dims.count - 1] = last * shape[i]
                stA[stA.count - 1] = sa[i]; stB[stB.count - 1] = sb[i]; stO[stO.count - 1] = so[i]
            } else {
                dims.append(shape[i]); stA.append(sa[i]); stB.append(sb[i]); stO.append(so[i])
            }
        }
        if dims.isEmpty { dims = [1]; stA = [0]; stB = [0]; stO = [1] }
        let inner = dims.removeLast()
        let ia = stA.removeLast(), ib = stB.removeLast()
        _ = stO.removeLast()
        let outer = dims.reduce(1, *)
        let pa = UncheckedBox(a.basePointer), pb = UncheckedBox(b.basePointer), po = UncheckedBox(out.storage.pointer)
        let op = rawValue
        if outer == 1 {
            // One long run: split it across threads.
            Threads.parallelFor(inner) { s, e in
                tk_binary_f32(op, pa.value + s * ia, ia, pb.value + s * ib, ib, po.value + s, e - s)
            }
            withExtendedLifetime((a, b)) {}
            return out
        }
        Threads.parallelFor(outer, grain: Swift.max(1, 32_768 / inner)) { start, end in
            for o in start..<end {
                var rem = o, offA = 0, offB = 0
                for d in stride(from: dims.count - 1, through: 0, by: -1) {
                    let idx = rem % dims[d]
                    rem /= dims[d]
                    offA += idx * stA[d]
                    offB += idx * stB[d]
                }
                tk_binary_f32(op, pa.value + offA, ia, pb.value + offB, ib, po.value + o * inner, inner)
            }
        }
        withExtendedLifetime((a, b)) {}
        return out
    }
}

extension Tensor {
    /// Sums a broadcast gradient back down to `shape` (the adjoint of broadcasting).
    public func sumTo(_ target: Shape) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.rank
        require(lead >= 0, "sumTo: cannot reduce \(shape) to \(target)")
        var axes: [Int] = Array(0..<lead)
        for i in 0..<target.rank where target[i] == 1 && shape[i + lead] != 1 { axes.append(i + lead) }
        let r = axes.isEmpty ? self : sum(axes: axes, keepDims: true)
        return r.reshaped(target)
    }

    static func binary(_ k: BinaryKernel, _ a: Tensor, _ b: Tensor) -> Tensor {
        let out = k(a, b)
        if k == .add || k == .sub {
            // Only the shapes are needed: the operands' storage is not kept for backward.
            let sa = a.shape, sb = b.shape, sign: Float = k == .add ? 1 : -1
            return out.recorded(k.name, [a, b]) { g, needs in
                [needs[0] ? g.sumTo(sa) : nil, needs[1] ? (sign == 1 ? g : -g).sumTo(sb) : nil]
            }
        }
        return out.recorded(k.name, [a, b]) { g, needs in
            let ga: Tensor?, gb: Tensor?
            switch k {
            case .add, .sub:
                fatalError("unreachable: add and sub are recorded above")
            case .mul:
                ga = needs[0] ? BinaryKernel.mul(g, b).sumTo(a.shape) : nil
                gb = needs[1] ? BinaryKernel.mul(g, a).sumTo(b.shape) : nil
            case .div:
                ga = needs[0] ? BinaryKernel.div(g, b).sumTo(a.shape) : nil
                gb = needs[1] ? (-(g * a / (b * b))).sumTo(b.shape) : nil
            case .ge, .gt:
                ga = nil
                gb = nil
            case .max, .min:
                // The gradient goes to the selected operand (to `a` on ties).
                let pickA = k == .max ? Tensor.compare(a, b, greaterOrEqual: true) : Tensor.compare(b, a, greaterOrEqual: true)
                ga = needs[0] ? (g * pickA).sumTo(a.shape) : nil
                gb = needs[1] ? (g * (1 - pickA)).sumTo(b.shape) : nil
            }
            return [ga, gb]
        }
    }

    /// 1 where a ≥ b (or a > b), else 0, broadcast; not differentiable.
    public static func compare(_ a: Tensor, _ b: Tensor, greaterOrEqual: Bool) -> Tensor {
        (greaterOrEqual ? BinaryKernel.ge : BinaryKernel.gt)(a, b)
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor { binary(.add, a, b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { binary(.sub, a, b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { binary(.mul, a, b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { binary(.div, a, b) }
    /// Elementwise maximum with broadcasting.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.max, a, b) }
    /// Elementwise minimum with broadcasting.
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.min, a, b) }

    /// `x * scale + shift`, elementwise (one pass, no scalar tensor).
    public func affine(scale: Float, shift: Float) -> Tensor {
        let x = plainData()
        let out = Tensor(uninitialized: shape)
        let px = UncheckedBox(x.basePointer), po = UncheckedBox(out.storage.pointer)
        Threads.parallelFor(count) { s, e in tk_affine_f32(px.value + s, scale, shift, po.value + s, e - s) }
        return out.recorded("affine", [self]) { g, _ in [g.affine(scale: scale, shift: 0)] }
    }

    public static func + (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1, shift: s) }
    public static func + (s: Float, a: Tensor) -> Tensor { a.affine(scale: 1, shift: s) }
    public static func - (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1, shift: -s) }
    public static func - (s: Float, a: Tensor) -> Tensor { a.affine(scale: -1, shift: s) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.affine(scale: s, shift: 0) }
    public static func * (s: Float, a: Tensor) -> Tensor { a.affine(scale: s, shift: 0) }
    public static func / (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1 / s, shift: 0) }
    public static func / (s: Float, a: Tensor) -> Tensor { Tensor(scalar: s) / a }
    public static prefix func - (a: Tensor) -> Tensor { a.affine(scale: -1, shift: 0) }
}

// MARK: - Unary ops through oneDNN eltwise (JIT-compiled for the host ISA)

extension Tensor {
    /// Runs a oneDNN eltwise algorithm forward; keeps a blocked layout if the input has one.
    static func eltwiseForward(_ alg: dnnl_alg_kind_t, _ alpha: Float, _ beta: Float, _ x0: Tensor) -> Tensor {
        let x = x0.layout == nil ? x0.plainData() : x0
        if x.count == 0 { return Tensor(uninitialized: x.shape) }
        let d = x.layout?.desc ?? DNNL.desc([x.count], dnnl_a)
        let p = DNNL.primitive("eltf|\(alg.rawValue)|\(alpha)|\(beta)|\(DNNL.key(d))") {
            var op = dnnl_eltwise_desc_t()
            var dd = d
            DNNL.check(dnnl_eltwise_forward_desc_init(&op, dnnl_forward_training, alg, &dd, alpha, beta), "eltwise_forward")
            return DNNL.makePD(&op, "eltwise_forward")
        }
        let out = x.layout == nil ? Tensor(uninitialized: x.shape) : DNNL.output(x.shape, d)
        p.execute([(DNNL_ARG_SRC, d, UnsafeMutableRawPointer(x.basePointer)),
                   (DNNL_ARG_DST, d, UnsafeMutableRawPointer(out.storage.pointer))])
        return out
    }

    /// oneDNN eltwise backward: `data` is the source (or the destination for `*_use_dst_for_bwd` algorithms).
    static func eltwiseBackward(_ alg: dnnl_alg_kind_t, _ alpha: Float, _ beta: Float, data: Tensor, diff g0: Tensor) -> Tensor {
        let x = data.layout == nil ? data.plainData() : data
        let g = x.layout == nil ? g0.plainData() : DNNL.asLayout(g0, x.layout!.desc)
        if x.count == 0 { return Tensor(uninitialized: x.shape) }
        let d = x.layout?.desc ?? DNNL.desc([x.count], dnnl_a)
        let key = "eltb|\(alg.rawValue)|\(alpha)|\(beta)|\(DNNL.key(d))"
        let p = DNNL.primitive(key) {
            var fop = dnnl_eltwise_desc_t()
            var dd = d
            DNNL.check(dnnl_eltwise_forward_desc_init(&fop, dnnl_forward_training, alg, &dd, alpha, beta), "eltwise_forward")
            let hint = DNNL.primitive("eltf|\(alg.rawValue)|\(alpha)|\(beta)|\(DNNL.key(d))") { DNNL.makePD(&fop, "eltwise_forward") }
            var op = dnnl_eltwise_desc_t()
            DNNL.check(dnnl_eltwise_backward_desc_init(&op, alg, &dd, &dd, alpha, beta), "eltwise_backward")
            return DNNL.makePD(&op, hint: hint.pd, "eltwise_backward")
        }
        let out = x.layout == nil ? Tensor(uninitialized: x.shape) : DNNL.output(x.shape, d)
        let isDst = alg.rawValue >= dnnl_eltwise_relu_use_dst_for_bwd.rawValue
        p.execute([(isDst ? DNNL_ARG_DST : DNNL_ARG_SRC, d, UnsafeMutableRawPointer(x.basePointer)),
                   (DNNL_ARG_DIFF_DST, d, UnsafeMutableRawPointer(g.basePointer)),
                   (DNNL_ARG_DIFF_SRC, d, UnsafeMutableRawPointer(out.storage.pointer))])
        return out
    }

    /// A differentiable unary op: forward and backward through oneDNN eltwise.
    func eltwise(_ name: String, _ alg: dnnl_alg_kind_t, _ alpha: Float = 0, _ beta: Float = 0) -> Tensor {
        let out = Tensor.eltwiseForward(alg, alpha, beta, self)
        // A `*_use_dst_for_bwd` algorithm keeps only the output for backward, so the input can be freed as soon as
        // nothing else needs it (PyTorch gets the same from in-place ReLU).
        if alg.rawValue >= dnnl_eltwise_relu_use_dst_for_bwd.rawValue {
            let saved = out.detached()  // the data, not the tensor that owns this node
            return out.recorded(name, [self]) { g, _ in [Tensor.eltwiseBackward(alg, alpha, beta, data: saved, diff: g)] }
        }
        return out.recorded(name, [self]) { [self] g, _ in [Tensor.eltwiseBackward(alg, alpha, beta, data: self, diff: g)] }
    }

    public func exp() -> Tensor { eltwise("exp", dnnl_eltwise_exp_use_dst_for_bwd) }
    public func log() -> Tensor { eltwise("log", dnnl_eltwise_log) }
    public func sqrt() -> Tensor { eltwise("sqrt", dnnl_eltwise_sqrt_use_dst_for_bwd) }
    /// 1 / √x.
    public func rsqrt() -> Tensor { eltwise("rsqrt", dnnl_eltwise_pow, 1, -0.5) }
    /// x raised to a constant power.
    public func pow(_ p: Float) -> Tensor { eltwise("pow", dnnl_eltwise_pow, 1, p) }
    public func square() -> Tensor { eltwise("square", dnnl_eltwise_square) }
    public func abs() -> Tensor { eltwise("abs", dnnl_eltwise_abs) }
    /// Clamps to [low, high].
    public func clamp(min low: Float, max high: Float) -> Tensor { eltwise("clamp", dnnl_eltwise_clip_v2, low, high) }
    public func relu() -> Tensor { eltwise("relu", dnnl_eltwise_relu_use_dst_for_bwd, 0) }
    /// min(max(x, 0), 6), as in MobileNet and EfficientNet-Lite.
    public func relu6() -> Tensor { eltwise("relu6", dnnl_eltwise_clip_v2_use_dst_for_bwd, 0, 6) }
    /// GELU, exact (erf) form by default, or the tanh approximation.
    public func gelu(approximate: Bool = false) -> Tensor {
        approximate ? eltwise("gelu_tanh", dnnl_eltwise_gelu_tanh) : eltwise("gelu", dnnl_eltwise_gelu_erf)
    }
    /// x · sigmoid(x) (swish).
    public func silu() -> Tensor { eltwise("silu", dnnl_eltwise_swish, 1) }
    public func sigmoid() -> Tensor { eltwise("sigmoid", dnnl_eltwise_logistic_use_dst_for_bwd) }
    public func tanh() -> Tensor { eltwise("tanh", dnnl_eltwise_tanh_use_dst_for_bwd) }
}
