import CDNNL

extension Tensor {
    /// Joins NCHW tensors along the channel axis keeping a oneDNN blocked layout, for ``concat(_:axis:)`` (4-D,
    /// axis 1, some input blocked), so a following convolution reads the result without a reorder. Nil (the
    /// caller's plain path, plain output) when neither way below applies.
    ///
    /// 1. The first blocked input is channel-blocked (`nChw16c` / `nChw8c` / `nChw4c`, fp32) and every input but
    ///    the last has a multiple of the block of channels: each input is brought to that format (a oneDNN reorder
    ///    for the others) and, per image, copied as one contiguous run of blocks into the output, which has the same
    ///    format. The backward copies each input's blocks back out of a gradient in that format.
    /// 2. Otherwise oneDNN's `concat` primitive with the destination format left to oneDNN, when it has an
    ///    optimised (non-reference) implementation for the layouts.
    ///
    /// Why copies rather than oneDNN's `concat` for (1): measured on a 2-core AVX-512 machine for
    /// `[8, 64 | 32, 56, 56]` in `nChw8c`, oneDNN 2.6's `simple:any` concat took 8.0 ms, these copies ~1 ms (a plain
    /// copy of the same data 0.6 ms); with an unaligned channel offset oneDNN falls to `ref:any` (16–24 ms), which is
    /// why such inputs take the plain path instead.
    static func concatChannelsBlocked(_ ts: [Tensor]) -> Tensor? {
        var dims = ts[0].shape.dims
        dims[1] = ts.reduce(0) { $0 + $1.shape[1] }
        if let (tag, block) = ts.lazy.compactMap({ t in t.layout.flatMap { channelBlocked($0.desc, dims: t.shape.dims) } }).first,
           ts.dropLast().allSatisfy({ $0.shape[1] % block == 0 }) {
            return concatChannelBlocks(ts, dims: dims, tag: tag, block: block)
        }
        return concatChannelsDNNL(ts, dims: dims)
    }

    /// `nChw16c`, `nChw8c` or `nChw4c` and its block when `d` (of a tensor with `dims`) is exactly that fp32 layout.
    static func channelBlocked(_ d: dnnl_memory_desc_t, dims: [Int]) -> (dnnl_format_tag_t, Int)? {
        guard d.format_kind == dnnl_blocked, d.ndims == 4, d.data_type == dnnl_f32 else { return nil }
        let b = d.format_desc.blocking
        guard b.inner_nblks == 1, b.inner_idxs.0 == 1 else { return nil }
        let tag: dnnl_format_tag_t
        switch b.inner_blks.0 {
        case 16: tag = dnnl_nChw16c
        case 8: tag = dnnl_nChw8c
        case 4: tag = dnnl_nChw4c
        default: return nil
        }
        return DNNL.equal(d, DNNL.desc(dims, tag)) ? (tag, Int(b.inner_blks.0)) : nil
    }

    /// Path (1) of ``concatChannelsBlocked(_:)``.
    private static func concatChannelBlocks(_ ts: [Tensor], dims: [Int], tag: dnnl_format_tag_t, block: Int) -> Tensor {
        let n = dims[0], plane = dims[2] * dims[3]
        let srcs = ts.map { DNNL.asLayout($0, DNNL.desc($0.shape.dims, tag)) }
        let out = DNNL.output(Shape(dims), DNNL.desc(dims, tag))
        /// Elements of one image of a tensor with `c` channels in this format (channels padded to the block).
        func imageSize(_ c: Int) -> Int { (c + block - 1) / block * block * plane }
        var starts: [Int] = [], start = 0
        for t in ts { starts.append(start); start += t.shape[1] }
        let outImage = imageSize(dims[1])
        let runs = ts.indices.map { (src: imageSize(ts[$0].shape[1]), at: starts[$0] * plane) }
        copyRuns(n: n, runs: runs, outImage: outImage, big: out, smalls: srcs, intoBig: true)

        let outDesc = DNNL.descOf(out)
        return out.recorded("concat", ts) { g, needs in
            let gb = g.layout.map { DNNL.equal($0.desc, outDesc) } == true ? g : nil
            var grads: [Tensor?] = []
            for i in ts.indices {
                guard needs[i] else { grads.append(nil); continue }
                guard let gb else {
                    grads.append(channelSlice(of: g, start: starts[i], count: ts[i].shape[1], into: ts[i].layout))
                    continue
                }
                let gi = DNNL.output(ts[i].shape, DNNL.desc(ts[i].shape.dims, tag))
                copyRuns(n: n, runs: [runs[i]], outImage: outImage, big: gb, smalls: [gi], intoBig: false)
                grads.append(gi)
            }
            return grads
        }
    }

    /// Copies, for every image, run `k` (`src` elements at element `at` of the big tensor's image) between
    /// `smalls[k]` and `big`.
    private static func copyRuns(n: Int, runs: [(src: Int, at: Int)], outImage: Int, big: Tensor, smalls: [Tensor],
                                 intoBig: Bool) {
        let b = UncheckedBox(big.storage.pointer), ss = UncheckedBox(smalls.map(\.storage.pointer))
        let total = runs.reduce(0) { $0 + $1.src }
        withExtendedLifetime((big, smalls)) {
            Threads.parallelFor(n * runs.count, grain: Swift.max(1, 262_144 / Swift.max(1, total / runs.count))) { s, e in
                for j in s..<e {
                    let img = j / runs.count, k = j % runs.count
                    let p = b.value + img * outImage + runs[k].at, q = ss.value[k] + img * runs[k].src
                    if intoBig { p.update(from: q, count: runs[k].src) } else { q.update(from: p, count: runs[k].src) }
                }
            }
        }
    }

    /// Path (2) of ``concatChannelsBlocked(_:)``: oneDNN `concat`, or nil for a reference implementation.
    private static func concatChannelsDNNL(_ ts: [Tensor], dims: [Int]) -> Tensor? {
        let srcs = ts.map { $0.layout == nil ? $0.plainData() : $0 }
        let descs = srcs.map(DNNL.descOf)
        guard descs.allSatisfy({ $0.data_type == dnnl_f32 }) else { return nil }
        let key = "concat.channels|\(dims)|" + descs.map(DNNL.key).joined(separator: ",")
        guard let p = DNNL.primitiveIfAvailable(key, {
            var dst = DNNL.desc(dims, dnnl_format_tag_any)
            var attr: dnnl_primitive_attr_t?
            DNNL.check(dnnl_primitive_attr_create(&attr), "primitive_attr_create")
            defer { dnnl_primitive_attr_destroy(attr) }
            DNNL.check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
                       "primitive_attr_set_scratchpad_mode")
            var pd: dnnl_primitive_desc_t?
            let status = dnnl_concat_primitive_desc_create(&pd, &dst, Int32(descs.count), 1, descs, attr, DNNL.engine)
            return status == dnnl_success ? pd : nil
        }), !p.isReference else { return nil }
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
