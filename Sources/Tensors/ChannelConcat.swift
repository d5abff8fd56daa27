import CDNNL

extension Tensor {
    /// Joins NCHW tensors along the channel axis through oneDNN's `concat` primitive, keeping a blocked layout:
    /// the output takes the channel-blocked format of the first blocked input (`nChw8c` / `nChw16c` / `nChw4c`, or
    /// what oneDNN picks when that input has another layout), so a following convolution reads it without a
    /// reorder. ``concat(_:axis:)`` comes here for 4-D tensors along axis 1 when some input is
    /// blocked; plain inputs keep the plain path, whose output is plain.
    ///
    /// The backward hands each input its channels of the output gradient: a oneDNN reorder of that sub-block into
    /// the input's own layout when the gradient is blocked and the channel offset falls on a block boundary, a
    /// plain slice otherwise. Returns nil (the caller falls back to the plain path) when the inputs' data types
    /// differ or oneDNN has no implementation.
    static func concatChannelsDNNL(_ ts: [Tensor]) -> Tensor? {
        let srcs = ts.map { $0.layout == nil ? $0.plainData() : $0 }
        let descs = srcs.map(DNNL.descOf)
        let type = descs[0].data_type
        guard descs.allSatisfy({ $0.data_type == type }) else { return nil }
        var dims = ts[0].shape.dims
        dims[1] = ts.reduce(0) { $0 + $1.shape[1] }
        // oneDNN's `any` destination falls back to plain NCHW when a channel offset is not a multiple of the block;
        // asking for the first blocked input's channel-blocked format keeps the output blocked (oneDNN then copies
        // the unaligned inputs element by element).
        let tag = zip(ts, descs).lazy.compactMap { channelBlockedTag($1, dims: $0.shape.dims) }.first ?? dnnl_format_tag_any
        let key = "concat.channels|\(dims)|\(tag.rawValue)|" + descs.map(DNNL.key).joined(separator: ",")
        guard let p = DNNL.primitiveIfAvailable(key, {
            var dst = DNNL.desc(dims, tag, type: type)
            var attr: dnnl_primitive_attr_t?
            DNNL.check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
            defer { dnnl_primitive_attr_destroy(attr) }
            DNNL.check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
                       "primitive_attr_set_scratchpad_mode")
            var pd: dnnl_primitive_desc_t?
            let status = dnnl_concat_primitive_desc_create(&pd, &dst, Int32(descs.count), 1, descs, attr, DNNL.engine)
            return status == dnnl_success ? pd : nil
        }) else { return nil }
        let dstMD = p.md(dnnl_query_dst_md)
        let out = DNNL.output(Shape(dims), dstMD)
        var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [(DNNL_ARG_DST, dstMD, out.dnnlData)]
        for (i, (s, d)) in zip(srcs, descs).enumerated() { args.append((DNNL_ARG_MULTIPLE_SRC + Int32(i), d, s.dnnlData)) }
        withExtendedLifetime(srcs) { p.execute(args) }

        var starts: [Int] = [], start = 0
        for t in ts { starts.append(start); start += t.shape[1] }
        let layouts = ts.map(\.layout)
        return out.recorded("concat", ts) { g, needs in
            ts.indices.map { i in
                guard needs[i] else { return nil }
                return channelSlice(of: g, start: starts[i], count: ts[i].shape[1], into: layouts[i])
            }
        }
    }

    /// `nChw16c`, `nChw8c` or `nChw4c` when `d` (of a tensor with `dims`) is exactly that layout.
    private static func channelBlockedTag(_ d: dnnl_memory_desc_t, dims: [Int]) -> dnnl_format_tag_t? {
        guard d.format_kind == dnnl_blocked, d.ndims == 4 else { return nil }
        let b = d.format_desc.blocking
        guard b.inner_nblks == 1, b.inner_idxs.0 == 1 else { return nil }
        let tag: dnnl_format_tag_t
        switch b.inner_blks.0 {
        case 16: tag = dnnl_nChw16c
        case 8: tag = dnnl_nChw8c
        case 4: tag = dnnl_nChw4c
        default: return nil
        }
        return DNNL.equal(d, DNNL.desc(dims, tag, type: d.data_type)) ? tag : nil
    }

    /// Channels `start ..< start + count` of the NCHW gradient `g`, in layout `want` when it is given and oneDNN
    /// can address the region in `g`'s blocked layout; a plain copy otherwise.
    private static func channelSlice(of g: Tensor, start: Int, count: Int, into want: BlockedLayout?) -> Tensor {
        var dims = g.shape.dims
        dims[1] = count
        if let gl = g.layout, gl.desc.data_type == dnnl_f32 {
            var parent = gl.desc, sub = dnnl_memory_desc_t()
            let d = dims.map(Int64.init) + [Int64](repeating: 0, count: 8)
            let o: [Int64] = [0, Int64(start), 0, 0] + [Int64](repeating: 0, count: 8)
            if dnnl_memory_desc_init_submemory(&sub, &parent, d, o) == dnnl_success {
                let target = want.map { $0.desc.data_type == dnnl_f32 ? $0.desc : DNNL.plainDesc(Shape(dims)) }
                    ?? DNNL.plainDesc(Shape(dims))
                let out = DNNL.output(Shape(dims), target)
                withExtendedLifetime(g) { DNNL.reorder(from: sub, g.dnnlData, to: target, out.dnnlData) }
                return out
            }
        }
        return g.sliced(axis: 1, start: start, end: start + count).plainData()
    }
}
