/// Gradients of tensors other than parameters: PyTorch's `retain_grad()` and `torch.autograd.grad`.
///
/// **Frozen layers below a feature map.** When nothing below a feature map requires a gradient (a frozen backbone,
/// or a forward run under ``withNoGrad(_:)``), the feature map was not recorded: it is a plain tensor with no
/// graph behind it, and ``Tensor/retainGrad()`` does not apply. Set `featureMap.requiresGrad = true` instead: it
/// becomes a leaf, the ops that consume it afterwards record, and `loss.backward()` leaves `∂loss/∂featureMap` in
/// `featureMap.grad` (or pass it to ``Tensor/gradients(of:wrt:seed:retainGraph:)``). Nothing below it runs
/// backward work, exactly as for any leaf.
extension Tensor {
    /// Asks a recorded (non-leaf) tensor to keep its gradient: after ``backward(_:retainGraph:)`` its ``grad`` holds
    /// `∂output/∂self`, accumulating over repeated backward passes like a leaf's (PyTorch's `retain_grad()`).
    ///
    /// A leaf that requires a gradient already keeps one, so this does nothing there. The tensor must require a
    /// gradient (it must have been recorded, or be such a leaf); see the type's notes for a feature map computed
    /// with everything below it frozen. The graph refers to the tensor weakly: retaining a gradient keeps no
    /// intermediate alive. ``gradients(of:wrt:seed:retainGraph:)`` does not fill retained gradients.
    public func retainGrad() {
        require(requiresGrad, "retainGrad(): the tensor (shape \(shape)) does not require a gradient; "
                + "set requiresGrad = true to make an unrecorded tensor a leaf")
        guard let node = gradFn else { return }
        if node.retained.contains(where: { $0.tensor === self }) { return }
        node.retained.append(WeakTensor(tensor: self))
    }

    /// Whether ``grad`` is filled by ``backward(_:retainGraph:)``: true for a leaf that requires a gradient and for
    /// a recorded tensor after ``retainGrad()``.
    public var retainsGrad: Bool {
        guard requiresGrad else { return false }
        guard let node = gradFn else { return true }
        return node.retained.contains { $0.tensor === self }
    }

    /// The gradients of `output` with respect to `inputs` (PyTorch's `torch.autograd.grad`), without accumulating
    /// into any tensor's ``grad``.
    ///
    /// - Parameters:
    ///   - output: a one-element tensor, or any tensor when `seed` is given.
    ///   - inputs: tensors of `output`'s graph: leaves that require a gradient or recorded intermediates. Each gets
    ///     the total gradient that flows into it (all its uses summed).
    ///   - seed: `∂L/∂output` (ones when nil), the shape of `output`.
    ///   - retainGraph: keep the graph for another backward pass; otherwise the nodes that ran are released.
    /// - Returns: one gradient per input, in the input's shape (plain or in a oneDNN blocked layout), or nil for an
    ///   input that `output` does not depend on through recorded operations.
    ///
    /// Only the part of the graph that leads to `inputs` runs.
    public static func gradients(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil,
                                 retainGraph: Bool = false) -> [Tensor?] {
        require(seed != nil || output.count == 1,
                "gradients(of:wrt:): output of shape \(output.shape) is not a scalar; pass a seed gradient")
        if let seed {
            require(seed.shape == output.shape, "gradients(of:wrt:): seed \(seed.shape) for output \(output.shape)")
        }
        require(output.requiresGrad, "gradients(of:wrt:): the output does not require a gradient (nothing recorded)")
        let g0 = seed ?? Tensor.ones(output.shape)
        guard let root = output.gradFn else {
            // The output is a leaf: only itself has a gradient.
            return inputs.map { $0 === output ? g0 : nil }
        }
        var nodes = Set<ObjectIdentifier>(), leaves = Set<ObjectIdentifier>()
        for t in inputs {
            if let n = t.gradFn { nodes.insert(ObjectIdentifier(n)) } else if t.requiresGrad { leaves.insert(ObjectIdentifier(t)) }
        }
        let captured = Autograd.run(root: root, seed: g0, retainGraph: retainGraph,
                                    mode: .capture(nodes: nodes, leaves: leaves))
        return inputs.map { t in
            if let n = t.gradFn { return captured[ObjectIdentifier(n)] }
            return t.requiresGrad ? captured[ObjectIdentifier(t)] : nil
        }
    }
}
