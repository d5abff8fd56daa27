import CKernels

extension Tensor {
    // MARK: Views (no copy, no recording)

    func reshapedView(_ s: Shape) -> Tensor {
        require(isContiguous, "reshape view of non-contiguous tensor")
        return Tensor(storage: storage, shape: s, offset: offset)
    }

    func permutedView(_ perm: [Int]) -> Tensor {
        let src = layout == nil ? self : contiguous()
        return Tensor(storage: src.storage, shape: Shape(perm.map { src.shape[$0] }), strides: perm.map { src.strides[$0] },
                      offset: src.offset)
    }

    // MARK: Differentiable shape ops

    /// The same values with a new shape (one dimension may be -1). A view when the tensor is contiguous.
    public func reshaped(_ newShape: Shape) -> Tensor { reshaped(dims: newShape.dims) }

    /// Reshape to `dims`, where one entry may be -1 (inferred).
    public func reshaped(dims newDims: [Int]) -> Tensor {
        var dims = newDims
        if let i = dims.firstIndex(of: -1) {
            let known = dims.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            require(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(dims) for shape \(shape)")
            dims[i] = count / known
        }
        let s = Shape(dims)
        require(s.count == count, "reshape: shape \(shape) (\(count) elements) into \(s)")
        if s == shape { return self }
        let out = contiguous().reshapedView(s)
        let inShape = shape
        return out.recorded("reshape", [self]) { g, _ in [g.reshaped(inShape)] }
    }

    public func reshaped(_ dims: Int...) -> Tensor { reshaped(dims: dims) }

    /// Flattens dimensions `start...` into one.
    public func flattened(from start: Int = 1) -> Tensor {
        let s = shape.axis(start, op: "flatten")
        return reshaped(Shape(Array(shape.dims[..<s]) + [shape.dims[s...].reduce(1, *)]))
    }

    /// Reorders dimensions (a view).
    public func permuted(_ perm: [Int]) -> Tensor {
        require(perm.sorted() == Array(0..<rank), "permute: \(perm) is not a permutation of \(rank) axes (shape \(shape))")
        let out = permutedView(perm)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return out.recorded("permute", [self]) { g, _ in [g.permuted(inverse)] }
    }

    /// Swaps two dimensions (a view; matmul folds a transposed view into the GEMM call).
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
        var perm = Array(0..<rank)
        perm.swapAt(shape.axis(a, op: "transpose"), shape.axis(b, op: "transpose"))
        return permuted(perm)
    }

    /// Elements `start..<end` along `axis` (a view).
    public func sliced(axis: Int, start: Int, end: Int) -> Tensor {
        let a = shape.axis(axis, op: "slice")
        let s = start < 0 ? start + shape[a] : start, e = end < 0 ? end + shape[a] : end
        require(0 <= s && s <= e && e <= shape[a], "slice: \(start)..<\(end) out of range for axis \(axis) of \(shape)")
        let src = layout == nil ? self : contiguous()
        var dims = shape.dims
        dims[a] = e - s
        let out = Tensor(storage: src.storage, shape: Shape(dims), strides: src.strides, offset: src.offset + s * src.strides[a])
        let inShape = shape
        return out.recorded("slice", [self]) { g, _ in
            let full = Tensor.zeros(inShape)
            let region = Tensor(storage: full.storage, shape: g.shape, strides: full.strides, offset: s * full.strides[a])
            Tensor.scatter(g, into: region, accumulate: false)
            return [full]
        }
    }

    /// Writes `src`'s values into the (strided) view `dst`.
    static func scatter(_ src: Tensor, into dst: Tensor, accumulate: Bool) {
        let c = src.plainData()
        let dims = dst.shape.dims, st = dst.strides
        dims.withUnsafeBufferPointer { d in
            st.withUnsafeBufferPointer { s in
                tk_strided_scatter_f32(c.basePointer, d.baseAddress, s.baseAddress, Int32(dims.count), dst.basePointer,
                                       accumulate ? 1 : 0)
            }
        }
    }

    /// Broadcasts size-1 dimensions to `target` (a view with zero strides).
    public func expanded(to target: Shape) -> Tensor {
        require(Shape.broadcast(shape, target) == target, "expand: shape \(shape) cannot expand to \(target)")
        if target == shape { return self }
        let src = layout == nil ? self : contiguous()
        let out = Tensor(storage: src.storage, shape: target, strides: BinaryKernel.broadcastStrides(src, to: target),
                         offset: src.offset)
        let inShape = shape
        return out.recorded("expand", [self]) { g, _ in [g.sumTo(inShape)] }
    }

    /// Inserts a size-1 dimension at `axis`.
    public func unsqueezed(_ axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        require(a >= 0 && a <= rank, "unsqueeze: axis \(axis) out of range for \(shape)")
        var d = shape.dims
        d.insert(1, at: a)
        return reshaped(Shape(d))
    }

    /// Removes size-1 dimensions (`axis` only, or all when nil).
    public func squeezed(_ axis: Int? = nil) -> Tensor {
        if let axis {
            let a = shape.axis(axis, op: "squeeze")
            require(shape[a] == 1, "squeeze: axis \(axis) of \(shape) has size \(shape[a])")
            var d = shape.dims
            d.remove(at: a)
            return reshaped(Shape(d))
        }
        return reshaped(Shape(shape.dims.filter { $0 != 1 }))
    }

    /// Joins tensors along `axis`; all other dimensions must match. The result is plain, except for 4-D tensors
    /// joined along axis 1 (channels) when some input is in a oneDNN blocked layout: then oneDNN's concat keeps a
    /// blocked layout where it can (``concatChannelsBlocked(_:)``).
    public static func concat(_ ts: [Tensor], axis: Int) -> Tensor {
        require(!ts.isEmpty, "concat: no tensors")
        let a = ts[0].shape.axis(axis, op: "concat")
        for t in ts {
            var x = t.shape.dims, y = ts[0].shape.dims
            guard x.count == y.count else { fatalError("concat: shapes \(ts[0].shape) and \(t.shape) differ in rank") }
            x[a] = 0; y[a] = 0
            require(x == y, "concat: shapes \(ts[0].shape) and \(t.shape) differ outside axis \(axis)")
        }
        // Channels of NCHW tensors with a blocked input: oneDNN concat, keeping the blocked layout.
        if a == 1, ts.count > 1, ts[0].rank == 4, ts.contains(where: { $0.layout != nil }),
           let out = concatChannelsBlocked(ts) {
            return out
        }
        var dims = ts[0].shape.dims
        dims[a] = ts.reduce(0) { $0 + $1.shape[a] }
        let out = Tensor(uninitialized: Shape(dims))
        var start = 0
        var starts: [Int] = []
        for t in ts {
            starts.append(start)
            let region = Tensor(storage: out.storage, shape: t.shape, strides: out.strides, offset: start * out.strides[a])
            scatter(t, into: region, accumulate: false)
            start += t.shape[a]
        }
        return out.recorded("concat", ts) { g, needs in
            ts.indices.map { i in needs[i] ? g.sliced(axis: a, start: starts[i], end: starts[i] + ts[i].shape[a]).plainData() : nil }
        }
    }

    /// Stacks equal-shaped tensors along a new axis.
    public static func stack(_ ts: [Tensor], axis: Int = 0) -> Tensor {
        require(!ts.isEmpty, "stack: no tensors")
        for t in ts { require(t.shape == ts[0].shape, "stack: shapes \(ts[0].shape) and \(t.shape) differ") }
        return concat(ts.map { $0.unsqueezed(axis) }, axis: axis)
    }

    /// Selects entries `indices` along `axis` (embedding lookup is `weight.indexSelect(axis: 0, ...)`).
    /// The backward adds gradients into the selected rows (repeated indices accumulate).
    public func indexSelect(axis: Int, indices: [Int]) -> Tensor {
        let a = shape.axis(axis, op: "indexSelect")
        let n = shape[a]
        for i in indices where i < 0 || i >= n {
            fatalError("indexSelect: index \(i) out of range 0..<\(n) for axis \(axis) of \(shape)")
        }
        let x = contiguous()
        let outer = shape.dims[..<a].reduce(1, *), inner = shape.dims[(a + 1)...].reduce(1, *)
        var dims = shape.dims
        dims[a] = indices.count
        let out = Tensor(uninitialized: Shape(dims))
        let src = x.basePointer, dst = out.storage.pointer
        for o in 0..<outer {
            for (j, i) in indices.enumerated() {
                (dst + (o * indices.count + j) * inner).update(from: src + (o * n + i) * inner, count: inner)
            }
        }
        let inShape = shape
        return out.recorded("indexSelect", [self]) { g0, _ in
            let g = g0.plainData()
            let grad = Tensor.zeros(inShape)
            let gp = g.basePointer, dp = grad.storage.pointer
            for o in 0..<outer {
                for (j, i) in indices.enumerated() {
                    tk_axpy_f32(1, gp + (o * indices.count + j) * inner, dp + (o * n + i) * inner, inner)
                }
            }
            return [grad]
        }
    }

    /// Picks one entry per row along `axis`: out[..., 0, ...] = self[..., index[...], ...] (PyTorch `gather` with a
    /// size-1 index along `axis`). `indices` has one entry per position of the other axes, row-major.
    public func gather(axis: Int, indices: [Int]) -> Tensor {
        let a = shape.axis(axis, op: "gather")
        let outer = shape.dims[..<a].reduce(1, *), n = shape[a], inner = shape.dims[(a + 1)...].reduce(1, *)
        require(indices.count == outer * inner, "gather: \(indices.count) indices for shape \(shape) along axis \(axis)")
        let x = contiguous()
        var dims = shape.dims
        dims[a] = 1
        let out = Tensor(uninitialized: Shape(dims))
        for o in 0..<outer {
            for i in 0..<inner {
                let k = indices[o * inner + i]
                require(k >= 0 && k < n, "gather: index \(k) out of range 0..<\(n) (shape \(shape), axis \(axis))")
                out.storage.pointer[o * inner + i] = x.basePointer[(o * n + k) * inner + i]
            }
        }
        let inShape = shape
        return out.recorded("gather", [self]) { g0, _ in
            let g = g0.plainData()
            let grad = Tensor.zeros(inShape)
            for o in 0..<outer {
                for i in 0..<inner {
                    grad.storage.pointer[(o * n + indices[o * inner + i]) * inner + i] += g.basePointer[o * inner + i]
                }
            }
            return [grad]
        }
    }
}
