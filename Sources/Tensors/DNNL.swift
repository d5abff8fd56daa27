import CDNNL
import Foundation

/// A oneDNN memory descriptor describing how a tensor's storage is laid out when it is not plain row-major
/// (e.g. `nChw16c`, chosen by a convolution with `format_tag_any`).
public final class BlockedLayout: @unchecked Sendable {
    public let desc: dnnl_memory_desc_t
    init(_ desc: dnnl_memory_desc_t) { self.desc = desc }
    /// Storage size in Float32 slots (padded blocks can exceed the logical count; bf16 data needs half).
    public var elementCount: Int { (dnnl_memory_desc_get_size([desc]) + 3) / 4 }
    /// Whether the data is bfloat16 (see ``Precision``).
    public var isBF16: Bool { desc.data_type == dnnl_bf16 }
}

/// A oneDNN primitive descriptor and its primitive, destroyed together.
public final class DNNLPrimitive: @unchecked Sendable {
    public let pd: dnnl_primitive_desc_t
    public let primitive: dnnl_primitive_t
    init(pd: dnnl_primitive_desc_t) {
        self.pd = pd
        var p: dnnl_primitive_t?
        DNNL.check(dnnl_primitive_create(&p, pd), "primitive_create")
        self.primitive = p!
    }
    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }
    /// oneDNN's implementation name, e.g. `brg:avx512_core` or `ref:any`.
    public var implementation: String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "" }
        return String(cString: name)
    }
    /// True for oneDNN's slow reference kernels (`ref:…`), which a caller should avoid.
    public var isReference: Bool { implementation.hasPrefix("ref") }
    /// The memory descriptor the primitive wants for `what` (e.g. `dnnl_query_src_md`).
    public func md(_ what: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(pd, what, index)!.pointee
    }
    /// Runs the primitive on `args` (argument id → pointer with its descriptor), handing it a pooled scratchpad
    /// when it needs one.
    public func execute(_ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) {
        if let sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)?.pointee {
            let bytes = dnnl_memory_desc_get_size([sp])
            if bytes > 0 {
                let scratch = TensorStorage(count: (bytes + 3) / 4)
                withExtendedLifetime(scratch) {
                    run(args + [(DNNL_ARG_SCRATCHPAD, sp, UnsafeMutableRawPointer(scratch.pointer))])
                }
                return
            }
        }
        run(args)
    }

    private func run(_ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) {
        var mems: [dnnl_memory_t?] = []
        mems.reserveCapacity(args.count)
        var execArgs: [dnnl_exec_arg_t] = []
        for (arg, desc, ptr) in args {
            var m: dnnl_memory_t?
            var d = desc
            DNNL.check(dnnl_memory_create(&m, &d, DNNL.engine, ptr), "memory_create")
            mems.append(m)
            execArgs.append(dnnl_exec_arg_t(arg: arg, memory: m))
        }
        let stream = DNNL.stream
        DNNL.check(dnnl_primitive_execute(primitive, stream, Int32(execArgs.count), execArgs), "primitive_execute")
        DNNL.check(dnnl_stream_wait(stream), "stream_wait")
        for m in mems { dnnl_memory_destroy(m) }
    }
}

/// The oneDNN CPU engine, one stream per thread (a oneDNN stream must not be shared between threads that execute
/// at the same time), and a per-shape cache of primitives (primitives may run concurrently).
public enum DNNL {
    private final class Context: @unchecked Sendable {
        let engine: dnnl_engine_t
        var streamKey = pthread_key_t()
        var cache: [String: DNNLPrimitive] = [:]
        /// Keys for which oneDNN has no implementation (see ``primitiveIfAvailable(_:_:)``).
        var unavailable: Set<String> = []
        let lock = NSLock()
        init() {
            _ = Threads.count  // apply the thread setting before oneDNN spins up OpenMP
            var e: dnnl_engine_t?
            DNNL.check(dnnl_engine_create(&e, dnnl_cpu, 0), "engine_create")
            engine = e!
            pthread_key_create(&streamKey) { raw in
                dnnl_stream_destroy(OpaquePointer(raw))
            }
        }
    }
    private static let context = Context()
    public static var engine: dnnl_engine_t { context.engine }
    /// The calling thread's stream, created on first use.
    public static var stream: dnnl_stream_t {
        if let raw = pthread_getspecific(context.streamKey) { return OpaquePointer(raw) }
        var s: dnnl_stream_t?
        check(dnnl_stream_create(&s, context.engine, dnnl_stream_default_flags.rawValue), "stream_create")
        pthread_setspecific(context.streamKey, UnsafeRawPointer(s!))
        return s!
    }

    /// Stops with a message naming the oneDNN call when it fails (these are programmer errors: bad shapes).
    public static func check(_ status: dnnl_status_t, _ what: String) {
        require(status == dnnl_success, "oneDNN \(what) failed with status \(status.rawValue)")
    }

    /// The cached primitive for `key`, created by `make` (which returns a primitive descriptor) on first use.
    public static func primitive(_ key: String, _ make: () -> dnnl_primitive_desc_t) -> DNNLPrimitive {
        context.lock.lock()
        if let p = context.cache[key] { context.lock.unlock(); return p }
        context.lock.unlock()
        let p = DNNLPrimitive(pd: make())
        context.lock.lock()
        context.cache[key] = p
        context.lock.unlock()
        return p
    }

    /// The cached primitive for `key`, or nil when `make` returns nil (oneDNN has no implementation for it, e.g. a
    /// fusion this CPU's kernels do not offer); the answer is cached either way.
    static func primitiveIfAvailable(_ key: String, _ make: () -> dnnl_primitive_desc_t?) -> DNNLPrimitive? {
        context.lock.lock()
        if let p = context.cache[key] { context.lock.unlock(); return p }
        if context.unavailable.contains(key) { context.lock.unlock(); return nil }
        context.lock.unlock()
        let pd = make()
        context.lock.lock()
        defer { context.lock.unlock() }
        guard let pd else {
            context.unavailable.insert(key)
            return nil
        }
        let p = DNNLPrimitive(pd: pd)
        context.cache[key] = p
        return p
    }

    /// Whether a primitive for `key` has been created (tests use it to prove that a backward pass was skipped).
    static func isCached(_ key: String) -> Bool {
        context.lock.lock()
        defer { context.lock.unlock() }
        return context.cache[key] != nil
    }

    /// Creates a primitive descriptor from an operation descriptor (oneDNN 2.x API), in `scratchpad_mode_user`.
    ///
    /// In oneDNN's default `scratchpad_mode_library` a CPU primitive's scratchpad is a thread-local buffer sized by
    /// the primitives created on that thread (Debian's 2.6.3 is built without DNNL_ENABLE_CONCURRENT_EXEC), so a
    /// cached primitive executed on another thread writes into a missing or too small buffer (seen as heap
    /// corruption when tests ran in parallel). Every primitive therefore gets its scratchpad from
    /// ``DNNLPrimitive/execute(_:)``, out of the buffer pool.
    public static func makePD<Op>(_ op: inout Op, attr userAttr: dnnl_primitive_attr_t? = nil, hint: dnnl_primitive_desc_t? = nil,
                                  _ what: String) -> dnnl_primitive_desc_t {
        makePD(&op, attr: userAttr, hint: hint, allowUnimplemented: false, what)!
    }

    /// ``makePD(_:attr:hint:_:)``, returning nil instead of stopping when `allowUnimplemented` and oneDNN has no
    /// implementation for the operation and attributes.
    static func makePD<Op>(_ op: inout Op, attr userAttr: dnnl_primitive_attr_t?, hint: dnnl_primitive_desc_t?,
                           allowUnimplemented: Bool, _ what: String) -> dnnl_primitive_desc_t? {
        var owned: dnnl_primitive_attr_t?
        if userAttr == nil { check(dnnl_primitive_attr_create(&owned), "primitive_attr_create") }
        defer { if owned != nil { dnnl_primitive_attr_destroy(owned) } }
        let attr = userAttr ?? owned
        check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "primitive_attr_set_scratchpad_mode")
        var pd: dnnl_primitive_desc_t?
        let status = withUnsafeMutablePointer(to: &op) { p in
            dnnl_primitive_desc_create(&pd, UnsafeRawPointer(p), attr, engine, hint)
        }
        if status == dnnl_unimplemented && allowUnimplemented { return nil }
        check(status, what)
        return pd
    }

    /// One post-op of a fused primitive, applied to its output in order.
    enum PostOp {
        /// Adds what the destination holds before the primitive runs (a residual copied in).
        case sum
        case eltwise(FusedActivation)
        /// Adds a second tensor (`DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * (index + 1) | DNNL_ARG_SRC_1`), broadcast.
        case binaryAdd(dnnl_memory_desc_t)
        /// A 3×3 depthwise convolution of the output (`DNNL_ARG_ATTR_POST_OP_DW` weights `[C, 1, 1, 3, 3]` and an
        /// fp32 bias), with `padding` on the top and left.
        case depthwise3x3(stride: Int, padding: Int, type: dnnl_data_type_t)
    }

    /// ``makePD(_:attr:hint:_:)`` with post-ops and an optional output scale in the primitive's attributes.
    static func makePD<Op>(_ op: inout Op, postOps: [PostOp], outputScale: Float? = nil, _ what: String) -> dnnl_primitive_desc_t {
        makePD(&op, postOps: postOps, outputScale: outputScale, allowUnimplemented: false, what)!
    }

    /// ``makePD(_:postOps:outputScale:_:)``, returning nil when `allowUnimplemented` and oneDNN has no implementation.
    static func makePD<Op>(_ op: inout Op, postOps: [PostOp], outputScale: Float? = nil, allowUnimplemented: Bool,
                           _ what: String) -> dnnl_primitive_desc_t? {
        var attr: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        if var scale = outputScale {
            check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "primitive_attr_set_output_scales")
        }
        var ops: dnnl_post_ops_t?
        check(dnnl_post_ops_create(&ops), "post_ops_create")
        defer { dnnl_post_ops_destroy(ops) }
        for p in postOps {
            switch p {
            case .sum: check(dnnl_post_ops_append_sum(ops, 1), "post_ops_append_sum")
            case .eltwise(let a):
                check(dnnl_post_ops_append_eltwise(ops, 1, a.algorithm, a.alpha, a.beta), "post_ops_append_eltwise")
            case .binaryAdd(var d): check(dnnl_post_ops_append_binary(ops, dnnl_binary_add, &d), "post_ops_append_binary")
            case let .depthwise3x3(stride, padding, type):
                check(dnnl_post_ops_append_dw(ops, type, dnnl_f32, type, 3, Int64(stride), Int64(padding), 0, 0, nil),
                      "post_ops_append_dw")
            }
        }
        check(dnnl_primitive_attr_set_post_ops(attr, ops), "primitive_attr_set_post_ops")
        return makePD(&op, attr: attr, hint: nil, allowUnimplemented: allowUnimplemented, what)
    }

    /// A memory descriptor with explicit dims and a format tag (`dnnl_format_tag_any` lets the primitive choose).
    public static func desc(_ dims: [Int], _ tag: dnnl_format_tag_t, type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
        var d = dnnl_memory_desc_t()
        let dd = dims.map(Int64.init) + [Int64](repeating: 0, count: 12 - dims.count)
        check(dnnl_memory_desc_init_by_tag(&d, Int32(dims.count), dd, type, tag), "memory_desc_init_by_tag \(dims)")
        return d
    }

    /// A memory descriptor for data at explicit element strides (views such as transposed or permuted heads).
    public static func desc(_ dims: [Int], strides: [Int], type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
        var d = dnnl_memory_desc_t()
        let dd = dims.map(Int64.init) + [Int64](repeating: 0, count: 12 - dims.count)
        let ss = strides.map(Int64.init) + [Int64](repeating: 0, count: 12 - strides.count)
        check(dnnl_memory_desc_init_by_strides(&d, Int32(dims.count), dd, type, ss), "memory_desc_init_by_strides \(dims)")
        return d
    }

    /// `cache` when it already holds data in layout `md`, else what `make` returns, which then replaces it: a weight
    /// converted once for a primitive and reused between calls (the caller guarantees it derives from the current
    /// weight).
    static func prepared(_ cache: inout Tensor?, as md: dnnl_memory_desc_t, _ make: () -> Tensor) -> Tensor {
        if let cached = cache, equal(descOf(cached), md) { return cached }
        let t = make()
        cache = t
        return t
    }

    /// The plain row-major tag for a rank.
    public static func plainTag(_ rank: Int) -> dnnl_format_tag_t {
        switch rank {
        case 1: return dnnl_a
        case 2: return dnnl_ab
        case 3: return dnnl_abc
        case 4: return dnnl_abcd
        case 5: return dnnl_abcde
        case 6: return dnnl_abcdef
        default: fatalError("oneDNN: rank \(rank) not supported")
        }
    }

    public static func plainDesc(_ shape: Shape) -> dnnl_memory_desc_t {
        desc(shape.rank == 0 ? [1] : shape.dims, plainTag(Swift.max(shape.rank, 1)))
    }

    public static func equal(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
        dnnl_memory_desc_equal([a], [b]) != 0
    }

    /// A short, stable text form of a descriptor for cache keys.
    public static func key(_ d: dnnl_memory_desc_t) -> String {
        var copy = d
        return withUnsafeBytes(of: &copy) { raw in
            var h = Hasher()
            h.combine(bytes: raw)
            return String(h.finalize(), radix: 36)
        }
    }

    /// Reorders between two descriptors of the same logical shape.
    public static func reorder(from src: dnnl_memory_desc_t, _ srcPtr: UnsafeMutableRawPointer,
                               to dst: dnnl_memory_desc_t, _ dstPtr: UnsafeMutableRawPointer) {
        let p = primitive("reorder|\(key(src))|\(key(dst))") {
            var pd: dnnl_primitive_desc_t?
            var s = src, d = dst
            var attr: dnnl_primitive_attr_t?
            check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
            defer { dnnl_primitive_attr_destroy(attr) }
            check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "primitive_attr_set_scratchpad_mode")
            check(dnnl_reorder_primitive_desc_create(&pd, &s, engine, &d, engine, attr), "reorder")
            return pd!
        }
        p.execute([(DNNL_ARG_FROM, src, srcPtr), (DNNL_ARG_TO, dst, dstPtr)])
    }

    static func reorderToPlain(_ t: Tensor, layout: BlockedLayout) -> Tensor {
        let out = Tensor(uninitialized: t.shape)
        reorder(from: layout.desc, UnsafeMutableRawPointer(t.storage.pointer),
                to: plainDesc(t.shape), UnsafeMutableRawPointer(out.storage.pointer))
        return out
    }

    /// `t`'s data in layout `want`: itself when it already matches, else a reordered tensor carrying `want`.
    public static func asLayout(_ t: Tensor, _ want: dnnl_memory_desc_t) -> Tensor {
        if let l = t.layout, equal(l.desc, want) { return t }
        let src = t.layout == nil ? t.plainData() : t
        let srcDesc = src.layout?.desc ?? plainDesc(t.shape)
        if equal(srcDesc, want) { return src }
        let bl = BlockedLayout(want)
        let out = Tensor(storage: TensorStorage(count: bl.elementCount), shape: t.shape, layout: bl)
        reorder(from: srcDesc, UnsafeMutableRawPointer(src.storage.pointer + src.offset),
                to: want, UnsafeMutableRawPointer(out.storage.pointer))
        return out
    }

    /// Copies `t` (plain or blocked) into `out`, whose storage has layout `d`: a memory copy when the layouts
    /// match, a reorder otherwise. Used to seed a destination that a `sum` post-op accumulates into (the residual
    /// of a fused convolution, fp32 or int8).
    public static func copy(_ t: Tensor, into out: Tensor, _ d: dnnl_memory_desc_t) {
        let src = t.layout == nil ? t.plainData() : t
        let srcDesc = descOf(src)
        if equal(srcDesc, d) {
            out.storage.pointer.update(from: src.storage.pointer + src.offset, count: out.storage.count)
        } else {
            reorder(from: srcDesc, src.dnnlData, to: d, out.dnnlData)
        }
    }

    /// The descriptor of `t`'s storage as it is (plain or blocked); `t` must be contiguous or blocked.
    public static func descOf(_ t: Tensor) -> dnnl_memory_desc_t { t.layout?.desc ?? plainDesc(t.shape) }

    /// A new tensor whose storage has layout `d` (plain when `d` equals the plain descriptor of `shape`).
    public static func output(_ shape: Shape, _ d: dnnl_memory_desc_t) -> Tensor {
        if equal(d, plainDesc(shape)) { return Tensor(uninitialized: shape) }
        let bl = BlockedLayout(d)
        return Tensor(storage: TensorStorage(count: bl.elementCount), shape: shape, layout: bl)
    }

    /// oneDNN's version and the CPU ISA it dispatches to, e.g. "2.6.3 (avx512_core_bf16)".
    public static var versionDescription: String {
        let v = dnnl_version()!.pointee
        let isa = dnnl_get_effective_cpu_isa()
        return "\(v.major).\(v.minor).\(v.patch) (\(isaName(isa)))"
    }

    static func isaName(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx512_mic: return "avx512_mic"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        default: return "isa 0x\(String(isa.rawValue, radix: 16))"
        }
    }
}
