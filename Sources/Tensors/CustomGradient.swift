extension Tensor {
    /// The identity in the forward pass, recorded as the op `name` whose backward maps the output gradient through
    /// `vjp` (the vector–Jacobian product, PyTorch's `torch.autograd.Function.backward` for a unary op): the
    /// extension point for layers that change only the gradient, such as the gradient reversal layer of domain
    /// adversarial training (Ganin & Lempitsky 2015) or gradient scaling.
    ///
    /// The output shares this tensor's data (a new tensor object: an in-place write to either is seen by both).
    /// Outside gradient recording, or when this tensor needs no gradient, it is returned as it is.
    public func withCustomGradient(_ name: String, _ vjp: @escaping (Tensor) -> Tensor) -> Tensor {
        guard GradMode.records([self]) else { return self }
        let out = Tensor(storage: storage, shape: shape, strides: strides, offset: offset, layout: layout)
        return out.recorded(name, [self]) { g, _ in [vjp(g)] }
    }
}
