import CKernels

extension Tensor {
    /// Normalised, sorted, unique axes; all axes when `axes` is nil.
    func reductionAxes(_ axes: [Int]?, op: String) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        return Array(Set(axes.map { shape.axis($0, op: op) })).sorted()
    }

    /// The shape after reducing `axes`, keeping them as size 1 or dropping them.
    func reducedShape(_ axes: [Int], keepDims: Bool) -> Shape {
        var d: [Int] = []
        for i in 0..<rank {
            if axes.contains(i) { if keepDims { d.append(1) } } else { d.append(shape[i]) }
        }
        return Shape(d)
    }

    /// Reduces over `axes` with a C kernel over an [outer, reduced, inner] view (no autograd).
    func reduceKernel(_ axes: [Int], max: Bool) -> Tensor {
        var x = contiguous()
        var ax = axes
        // Make the reduced axes one adjacent block by permuting them to the end when they are not.
        if let first = ax.first, ax.last! - first + 1 != ax.count {
            let keep = (0..<rank).filter { !ax.contains($0) }
            x = x.permutedView(keep + ax).plainData()
            ax = Array(keep.count..<rank)
        }
        let outShape = reducedShape(axes, keepDims: true)
        let out = Tensor(uninitialized: outShape)
        if ax.isEmpty {
            out.storage.pointer.update(from: x.basePointer, count: count)
            return out
        }
        let dims = x.shape.dims
        let outer = dims[..<ax.first!].reduce(1, *)
        let red = dims[ax.first!...ax.last!].reduce(1, *)
        let inner = dims[(ax.last! + 1)...].reduce(1, *)
        let px = UncheckedBox(x.basePointer), po = UncheckedBox(out.storage.pointer)
        if red == 0 {
            tk_fill_f32(out.storage.pointer, max ? -.infinity : 0, out.count)
            return out
        }
        Threads.parallelFor(outer, grain: Swift.max(1, 32_768 / Swift.max(1, red * inner))) { s, e in
            if max {
                tk_reduce_max_f32(px.value + s * red * inner, e - s, red, inner, po.value + s * inner)
            } else {
                tk_reduce_sum_f32(px.value + s * red * inner, e - s, red, inner, po.value + s * inner)
            }
        }
        withExtendedLifetime(x) {}
        return out
    }

    /// Sum over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "sum")
        let kept = reduceKernel(ax, max: false)
        let out = keepDims ? kept : kept.reshapedView(reducedShape(ax, keepDims: false))
        let keptShape = kept.shape, inShape = shape
        return out.recorded("sum", [self]) { g, _ in [g.reshaped(keptShape).expanded(to: inShape).plainData()] }
    }

    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// `x / max(‖x‖₂, 1e-12)` along the last axis (`torch.nn.functional.normalize`), differentiable.
    public func l2NormalizedRows() -> Tensor {
        let norm = (self * self).sum(axis: -1, keepDims: true).sqrt()
        return self / Tensor.maximum(norm, Tensor(scalar: 1e-12))
    }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) * (1 / Float(Swift.max(n, 1)))
    }

    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Maximum over `axes` (all when nil). The gradient is shared equally among tied maxima (PyTorch `amax`).
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "max")
        let kept = reduceKernel(ax, max: true)
        let out = keepDims ? kept : kept.reshapedView(reducedShape(ax, keepDims: false))
        let keptShape = kept.shape
        return out.recorded("max", [self]) { g, _ in
            let mask = BinaryKernel.ge(self, kept)
            let ties = mask.sum(axes: ax, keepDims: true)
            return [mask * (g.reshaped(keptShape) / ties)]
        }
    }

    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }

    /// Minimum over `axes`.
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { -((-self).max(axes: axes, keepDims: keepDims)) }

    /// Variance over `axes` with `correction` (1 = unbiased, as `torch.var`; 0 = population, as batch norm uses).
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, op: "variance")
        let n = ax.reduce(1) { $0 * shape[$1] }
        let d = self - mean(axes: ax, keepDims: true)
        return (d * d).sum(axes: ax, keepDims: keepDims) * (1 / Float(Swift.max(n - correction, 1)))
    }

    /// Index of the maximum along `axis` for each position (first on ties); not differentiable.
    public func argmax(axis: Int) -> [Int] {
        let a = shape.axis(axis, op: "argmax")
        let x = contiguous()
        let outer = shape.dims[..<a].reduce(1, *), red = shape[a], inner = shape.dims[(a + 1)...].reduce(1, *)
        var result = [Int](repeating: 0, count: outer * inner)
        let p = x.basePointer
        for o in 0..<outer {
            for i in 0..<inner {
                var best = -Float.infinity, bi = 0
                for r in 0..<red {
                    let v = p[(o * red + r) * inner + i]
                    if v > best { best = v; bi = r }
                }
                result[o * inner + i] = bi
            }
        }
        return result
    }
}
