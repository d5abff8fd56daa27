/// One recorded operation: where its inputs' gradients go and how to map the output gradient to theirs.
///
/// The graph holds nodes and leaf tensors, never intermediate tensors: an intermediate's storage lives only as long
/// as a user variable or an op's backward (which keeps exactly what it needs, e.g. a convolution's input) holds it,
/// as in PyTorch's saved-tensor design.
final class GradNode {
    /// Where one input's gradient goes.
    enum Edge {
        /// The input was produced by a recorded op.
        case node(GradNode, Shape)
        /// The input is a leaf that requires a gradient (a parameter): its ``Tensor/grad`` accumulates.
        case leaf(Tensor)
        /// The input needs no gradient.
        case none(Shape)

        var shape: Shape {
            switch self {
            case .node(_, let s), .none(let s): s
            case .leaf(let t): t.shape
            }
        }
    }

    let name: String
    var inputs: [Edge]
    /// Given the output gradient, returns one gradient per input (nil where that input needs none).
    var backward: ((Tensor) -> [Tensor?])?

    init(name: String, inputs: [Edge], backward: @escaping (Tensor) -> [Tensor?]) {
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

    /// Whether an op over `inputs` would be recorded: gradients are on and some input requires one. Fused
    /// inference paths (folded BatchNorm, post-ops, bf16) apply only when this is false.
    public static func records(_ inputs: [Tensor?]) -> Bool {
        enabled && inputs.contains { $0?.requiresGrad == true }
    }
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
        let edges: [GradNode.Edge] = inputs.map { t in
            guard t.requiresGrad else { return .none(t.shape) }
            return t.gradFn.map { .node($0, t.shape) } ?? .leaf(t)
        }
        gradFn = GradNode(name: name, inputs: edges) { g in backward(g, needs) }
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
        guard let root = gradFn else {
            // A leaf: its gradient is the seed.
            withNoGrad { let g = seed ?? Tensor.ones(shape); grad = grad.map { $0 + g } ?? g.plainData() }
            return
        }
        // Iterative post-order over the recorded nodes.
        var order: [GradNode] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(GradNode, Bool)] = [(root, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            if visited.contains(ObjectIdentifier(node)) { continue }
            visited.insert(ObjectIdentifier(node))
            stack.append((node, true))
            for case .node(let child, _) in node.inputs where !visited.contains(ObjectIdentifier(child)) {
                stack.append((child, false))
            }
        }
        withNoGrad {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed ?? Tensor.ones(shape)]
            for node in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(node)) else { continue }
                guard let fn = node.backward else {
                    fatalError("backward(): graph through \(node.name) was already released; use retainGraph")
                }
                let gs = fn(g)
                for (edge, gi) in zip(node.inputs, gs) {
                    guard let gi else { continue }
                    require(gi.shape == edge.shape,
                            "backward(\(node.name)): gradient shape \(gi.shape) for input \(edge.shape)")
                    switch edge {
                    case .node(let child, _):
                        let k = ObjectIdentifier(child)
                        grads[k] = grads[k].map { $0 + gi } ?? gi
                    case .leaf(let t):
                        // A leaf unmarked since it was recorded gets nothing (as before it was recorded).
                        guard t.requiresGrad else { continue }
                        t.grad = t.grad.map { $0 + gi } ?? gi.plainData()
                    case .none:
                        continue
                    }
                }
                if !retainGraph {
                    node.backward = nil
                    node.inputs = []
                }
            }
        }
    }
}
