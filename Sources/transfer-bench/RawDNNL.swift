import CDNNL
import Foundation

/// The references: oneDNN used straight through its C API, as a hand-written program would — its own engine and
/// stream, primitives created once with `dnnl_format_tag_any`, memory objects bound once to buffers that are already
/// in each primitive's preferred layout. Timing a reference times `dnnl_primitive_execute` + `dnnl_stream_wait` only.

/// Stops with the failing call's name (a bench setup error, not a measurement).
func dnnlCheck(_ status: dnnl_status_t, _ what: String) {
    precondition(status == dnnl_success, "oneDNN \(what) failed with status \(status.rawValue)")
}

/// A oneDNN CPU engine and stream owned by the bench (separate from TransferKit's).
final class RawEngine {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    init() {
        var e: dnnl_engine_t?
        dnnlCheck(dnnl_engine_create(&e, dnnl_cpu, 0), "engine_create")
        var s: dnnl_stream_t?
        dnnlCheck(dnnl_stream_create(&s, e, dnnl_stream_default_flags.rawValue), "stream_create")
        engine = e!
        stream = s!
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// A primitive descriptor for an initialised oneDNN 2.x operation descriptor (`hint`: the forward one, for a
    /// backward primitive).
    func primitiveDesc<Op>(_ op: inout Op, hint: dnnl_primitive_desc_t? = nil, _ what: String) -> dnnl_primitive_desc_t {
        var pd: dnnl_primitive_desc_t?
        withUnsafeMutablePointer(to: &op) { p in
            dnnlCheck(dnnl_primitive_desc_create(&pd, UnsafeRawPointer(p), nil, engine, hint), what)
        }
        return pd!
    }
}

/// A plain memory descriptor, or one with `dnnl_format_tag_any` for the primitive to choose.
func rawDesc(_ dims: [Int], _ tag: dnnl_format_tag_t, type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var d = dnnl_memory_desc_t()
    let dd = dims.map(Int64.init) + [Int64](repeating: 0, count: 12 - dims.count)
    dnnlCheck(dnnl_memory_desc_init_by_tag(&d, Int32(dims.count), dd, type, tag), "memory_desc_init_by_tag \(dims)")
    return d
}

/// A 64-byte aligned buffer filled with small pseudo-random values, wrapped as a oneDNN memory object.
final class RawMemory {
    let desc: dnnl_memory_desc_t
    let memory: dnnl_memory_t
    let buffer: UnsafeMutableRawPointer
    let bytes: Int

    init(_ desc: dnnl_memory_desc_t, engine: RawEngine, seed: UInt64 = 7) {
        self.desc = desc
        var d = desc
        bytes = dnnl_memory_desc_get_size(&d)
        var raw: UnsafeMutableRawPointer?
        precondition(posix_memalign(&raw, 64, Swift.max(bytes, 64)) == 0, "cannot allocate \(bytes) bytes")
        buffer = raw!
        if desc.data_type == dnnl_bf16 {
            // bf16 values of the same small uniform numbers: the upper half of each float.
            let values = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(bytes / 2, 1))
            defer { values.deallocate() }
            fillRandom(values, count: bytes / 2, seed: seed)
            let halves = buffer.bindMemory(to: UInt16.self, capacity: bytes / 2)
            for i in 0..<bytes / 2 { halves[i] = UInt16(values[i].bitPattern >> 16) }
        } else {
            fillRandom(buffer.bindMemory(to: Float.self, capacity: bytes / 4), count: bytes / 4, seed: seed)
        }
        var m: dnnl_memory_t?
        dnnlCheck(dnnl_memory_create(&m, &d, engine.engine, buffer), "memory_create")
        memory = m!
    }

    deinit {
        dnnl_memory_destroy(memory)
        free(buffer)
    }
}

/// A primitive with its arguments bound once.
final class RawPrimitive {
    let pd: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    private let engine: RawEngine
    /// The memory objects the primitive runs on, kept alive with it.
    private(set) var memories: [Int32: RawMemory] = [:]

    init(_ pd: dnnl_primitive_desc_t, engine: RawEngine) {
        self.pd = pd
        self.engine = engine
        var p: dnnl_primitive_t?
        dnnlCheck(dnnl_primitive_create(&p, pd), "primitive_create")
        primitive = p!
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    /// The descriptor the primitive chose for `what` (e.g. `dnnl_query_src_md`).
    func md(_ what: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(pd, what, index)!.pointee
    }

    /// Binds argument `arg` to a fresh buffer in the layout the primitive chose for `what` (`index`: e.g. 1 for the
    /// bias among the weights).
    @discardableResult
    func allocate(_ arg: Int32, _ what: dnnl_query_t, index: Int32 = 0, seed: UInt64 = 7) -> RawMemory {
        let m = RawMemory(md(what, index), engine: engine, seed: seed)
        memories[arg] = m
        return m
    }

    /// Runs the primitive on its bound arguments and waits for it.
    func execute() {
        let args = memories.map { dnnl_exec_arg_t(arg: $0.key, memory: $0.value.memory) }
        dnnlCheck(dnnl_primitive_execute(primitive, engine.stream, Int32(args.count), args), "primitive_execute")
        dnnlCheck(dnnl_stream_wait(engine.stream), "stream_wait")
    }
}

/// The three primitives of a 2-D convolution (3×3 window, stride 1, padding 1, no bias, `dnnl_convolution_auto` — the
/// algorithm TransferKit uses), each with buffers in its preferred layout. Each primitive and its buffers are created
/// on first use, so a measurement holds only the memory of the passes it times. In bf16 (`type`) the source,
/// weights, destination and their gradients are bf16 and the weight gradient fp32 (mixed precision: fp32 master
/// weights), accumulation fp32.
final class RawConv3x3 {
    private let engine: RawEngine
    private let type: dnnl_data_type_t
    private let srcDims: [Int], dstDims: [Int], weiDims: [Int]
    private let strides: [Int64] = [1, 1], dilates: [Int64] = [0, 0], pad: [Int64] = [1, 1]
    private let alg = dnnl_convolution_auto

    /// - Parameters: batch `n`, channels `cin` → `cout` over `h × w`, `groups` (= `cin` for depthwise).
    init(engine: RawEngine, n: Int, cin: Int, cout: Int, h: Int, w: Int, groups: Int, type: dnnl_data_type_t = dnnl_f32) {
        self.engine = engine
        self.type = type
        srcDims = [n, cin, h, w]
        dstDims = [n, cout, h, w]
        weiDims = groups == 1 ? [cout, cin, 3, 3] : [groups, cout / groups, cin / groups, 3, 3]
    }

    private func forwardPD(_ prop: dnnl_prop_kind_t) -> dnnl_primitive_desc_t {
        var op = dnnl_convolution_desc_t()
        var src = rawDesc(srcDims, dnnl_format_tag_any, type: type), wei = rawDesc(weiDims, dnnl_format_tag_any, type: type)
        var dst = rawDesc(dstDims, dnnl_format_tag_any, type: type)
        dnnlCheck(dnnl_dilated_convolution_forward_desc_init(&op, prop, alg, &src, &wei, nil, &dst, strides, dilates,
                                                             pad, pad), "convolution_forward_desc_init")
        return engine.primitiveDesc(&op, "convolution_forward")
    }

    /// The timed forward: `forward_training`, the prop kind TransferKit's conv always uses (oneDNN 2.6 picks slower
    /// kernels for `forward_inference`).
    lazy var forward: RawPrimitive = {
        let p = RawPrimitive(forwardPD(dnnl_forward_training), engine: engine)
        p.allocate(DNNL_ARG_SRC, dnnl_query_src_md, seed: 1)
        p.allocate(DNNL_ARG_WEIGHTS, dnnl_query_weights_md, seed: 2)
        p.allocate(DNNL_ARG_DST, dnnl_query_dst_md, seed: 3)
        return p
    }()

    /// Backward-data, created with a forward-training descriptor as its hint.
    lazy var backwardData: RawPrimitive = {
        let hint = forwardPD(dnnl_forward_training)
        defer { dnnl_primitive_desc_destroy(hint) }
        var op = dnnl_convolution_desc_t()
        var dsrc = rawDesc(srcDims, dnnl_format_tag_any, type: type), wei = rawDesc(weiDims, dnnl_format_tag_any, type: type)
        var ddst = rawDesc(dstDims, dnnl_format_tag_any, type: type)
        dnnlCheck(dnnl_dilated_convolution_backward_data_desc_init(&op, alg, &dsrc, &wei, &ddst, strides, dilates, pad, pad),
                  "convolution_backward_data_desc_init")
        let p = RawPrimitive(engine.primitiveDesc(&op, hint: hint, "convolution_backward_data"), engine: engine)
        p.allocate(DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, seed: 4)
        p.allocate(DNNL_ARG_WEIGHTS, dnnl_query_weights_md, seed: 5)
        p.allocate(DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, seed: 6)
        return p
    }()

    /// Backward-weights (no bias), created with a forward-training descriptor as its hint.
    lazy var backwardWeights: RawPrimitive = {
        let hint = forwardPD(dnnl_forward_training)
        defer { dnnl_primitive_desc_destroy(hint) }
        var op = dnnl_convolution_desc_t()
        var src = rawDesc(srcDims, dnnl_format_tag_any, type: type), dwei = rawDesc(weiDims, dnnl_format_tag_any)
        var ddst = rawDesc(dstDims, dnnl_format_tag_any, type: type)
        dnnlCheck(dnnl_dilated_convolution_backward_weights_desc_init(&op, alg, &src, &dwei, nil, &ddst, strides, dilates,
                                                                      pad, pad), "convolution_backward_weights_desc_init")
        let p = RawPrimitive(engine.primitiveDesc(&op, hint: hint, "convolution_backward_weights"), engine: engine)
        p.allocate(DNNL_ARG_SRC, dnnl_query_src_md, seed: 7)
        p.allocate(DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, seed: 8)
        p.allocate(DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, seed: 9)
        return p
    }()
}

/// A oneDNN-style name for a memory descriptor's layout, e.g. `nChw16c` or `OIhw16i16o`: outer dimensions from
/// largest to smallest stride (upper case where a dimension is also blocked), then the inner blocks.
///
/// - Parameter letters: one letter per dimension, e.g. `"nchw"` or `"goihw"`.
func layoutName(_ md: dnnl_memory_desc_t, letters: String) -> String {
    guard md.format_kind == dnnl_blocked else { return "format kind \(md.format_kind.rawValue)" }
    let n = Int(md.ndims)
    let chars = Array(letters)
    precondition(chars.count == n, "layoutName: \(letters) for \(n) dimensions")
    var b = md.format_desc.blocking
    let strides = withUnsafeBytes(of: &b.strides) { Array($0.bindMemory(to: Int64.self).prefix(n)) }
    let nblks = Int(b.inner_nblks)
    let blks = withUnsafeBytes(of: &b.inner_blks) { Array($0.bindMemory(to: Int64.self).prefix(nblks)) }
    let idxs = withUnsafeBytes(of: &b.inner_idxs) { Array($0.bindMemory(to: Int64.self).prefix(nblks)) }
    let blocked = Set(idxs.map(Int.init))
    let order = (0..<n).sorted { strides[$0] != strides[$1] ? strides[$0] > strides[$1] : $0 < $1 }
    var name = order.map { blocked.contains($0) ? String(chars[$0]).uppercased() : String(chars[$0]) }.joined()
    for (size, idx) in zip(blks, idxs) { name += "\(size)\(chars[Int(idx)])" }
    return name
}
