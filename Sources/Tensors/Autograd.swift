/// One recorded operation: the inputs that need gradients and how to map the output gradient to theirs.
final class GradNode {
    let name: String
    var inputs: [Tensor]
    /// Given the output gradient, returns one gradient per input (nil where that input needs none).
    var backward: ((Tensor) -> [Tensor?])?

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
}

/// Whether operations record themselves for ``Tensor/backward()``.
public enum GradMode {
    @TaskLocal static var enabled = true
    /// True outside ``withNoGrad(_:)``.
    public static var isEnabled: Bool { enabled }
}

/// Runs `body` without recording operations (inference, optimizer updates, metric computation).
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$enabled.withValue(false, operation: body)
}

extension Tensor {
    /// Records `self` as the output of `name` over `inputs` when gradients are on and some input needs one.
    /// `backward` receives the output gradient and the per-input need mask; it returns per-input gradients.
    @discardableResult
    func recorded(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor, [Bool]) -> [Tensor?]) -> Tensor {
        guard GradMode.enabled else { return self }
        let needs = inputs.map(\.requiresGrad)
        guard needs.contains(true) else { return self }
        requiresGrad = true
        gradFn = GradNode(name: name, inputs: inputs) { g in backward(g, needs) }
        return self
    }

    /// The name of the operation that produced this tensor, if it was recorded.
    public var gradFunctionName: String? { gradFn?.name }

    /// Back-propagates from this scalar, accumulating into ``grad`` of every leaf that requires a gradient.
    ///
    /// Only the part of the graph that leads to a tensor requiring a gradient was recorded, so a partly frozen
    /// network does no backward work below its first trainable layer. The graph is released afterwards unless
    /// `retainGraph` is true.
    public func backward(_ seed: Tensor? = nil, retainGraph: Bool = false) {
        require(seed != nil || count == 1, "backward(): called on a tensor of shape \(shape); pass a seed gradient")
        guard requiresGrad else {
            fatalError("backward(): the tensor does not require a gradient (nothing recorded)")
        }
        // Iterative post-order over the recorded graph.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if visited.contains(ObjectIdentifier(t)) { continue }
            visited.insert(ObjectIdentifier(t))
            stack.append((t, true))
            if let node = t.gradFn {
                for i in node.inputs where i.requiresGrad && !visited.contains(ObjectIdentifier(i)) { stack.append((i, false)) }
            }
        }
        withNoGrad {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed ?? Tensor.ones(shape)]
            for t in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                guard let node = t.gradFn else {
                    if t.requiresGrad { t.grad = t.grad.map { $0 + g } ?? g.plainData() }
                    continue
                }
                guard let fn = node.backward else {
                    fatalError("backward(): graph through \(node.name) was already released; use retainGraph")
                }
                let gs = fn(g)
                for (input, gi) in zip(node.inputs, gs) {
                    guard let gi, input.requiresGrad else { continue }
                    require(gi.shape == input.shape,
                                 "backward(\(node.name)): gradient shape \(gi.shape) for input \(input.shape)")
                    let k = ObjectIdentifier(input)
                    grads[k] = grads[k].map { $0 + gi } ?? gi
                }
                if !retainGraph {
                    node.backward = nil
                    node.inputs = []
                }
            }
        }
    }
}
