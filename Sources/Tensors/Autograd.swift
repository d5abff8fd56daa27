/// One recorded operation: where its inputs' gradients go and how to map the output gradient to theirs.
///
/// The graph holds nodes and leaf tensors, never intermediate tensors (those that called ``Tensor/retainGrad()`` are
/// referenced weakly): an intermediate's storage lives only as long
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
    /// Outputs of this node that asked for their gradient (``Tensor/retainGrad()``), held weakly so the graph still
    /// keeps no intermediate alive: a tensor nobody holds can have no reader of its gradient.
    var retained: [WeakTensor] = []

    init(name: String, inputs: [Edge], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
}

/// A weak reference to a tensor (see ``GradNode/retained``).
struct WeakTensor {
    weak var tensor: Tensor?
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

    /// Back-propagates from this scalar, accumulating into ``grad`` of every leaf that requires a gradient and of
    /// every recorded tensor that called ``retainGrad()``.
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
            withNoGrad {
                let g = seed ?? Tensor.ones(shape); grad = grad.map { $0 + g } ?? g.plainData()
                for h in gradientReadyHooks { h.body(self) }
            }
            return
        }
        Autograd.run(root: root, seed: seed ?? Tensor.ones(shape), retainGraph: retainGraph, mode: .accumulate)
    }
}

/// The reverse-mode engine shared by ``Tensor/backward(_:retainGraph:)`` and
/// ``Tensor/gradients(of:wrt:seed:retainGraph:)``.
enum Autograd {
    enum Mode {
        /// `backward()`: leaves' ``Tensor/grad`` and retained intermediates' ``Tensor/grad`` accumulate.
        case accumulate
        /// `gradients(of:wrt:)`: nothing accumulates; the gradients reaching these nodes (the total gradient of a
        /// recorded tensor) and these leaves (by identity) are returned, and only the part of the graph leading to
        /// them runs.
        case capture(nodes: Set<ObjectIdentifier>, leaves: Set<ObjectIdentifier>)
    }

    /// Runs the backward of every node reachable from `root` (in reverse topological order), starting from `seed`.
    /// Returns the captured gradients by the identity of the node or leaf (empty in `.accumulate` mode).
    @discardableResult
    static func run(root: GradNode, seed: Tensor, retainGraph: Bool, mode: Mode) -> [ObjectIdentifier: Tensor] {
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
        // In capture mode, the nodes from which a wanted node or leaf is reachable (children come first in `order`).
        var needed: Set<ObjectIdentifier>?
        if case let .capture(nodes, leaves) = mode {
            var n = Set<ObjectIdentifier>()
            for node in order {
                let id = ObjectIdentifier(node)
                let leads = nodes.contains(id) || node.inputs.contains { edge in
                    switch edge {
                    case .node(let child, _): n.contains(ObjectIdentifier(child))
                    case .leaf(let t): leaves.contains(ObjectIdentifier(t))
                    case .none: false
                    }
                }
                if leads { n.insert(id) }
            }
            needed = n
        }
        var captured: [ObjectIdentifier: Tensor] = [:]
        var ready = GradientReadiness(order: order, mode: mode)
        withNoGrad {
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
            for node in order.reversed() {
                let id = ObjectIdentifier(node)
                // After this node (whether it ran or received no gradient), no more gradient reaches its leaves
                // through it: a hooked leaf whose last consumer this was is complete.
                let hookedLeaves = ready.hookedLeaves(of: node)
                defer { ready.release(hookedLeaves) }
                guard let g = grads.removeValue(forKey: id) else { continue }
                switch mode {
                case .accumulate:
                    for r in node.retained {
                        guard let t = r.tensor else { continue }
                        t.grad = t.grad.map { $0 + g } ?? g.plainData()
                    }
                case let .capture(nodes, _):
                    if nodes.contains(id) { captured[id] = g }
                    // Nothing wanted lies below this node: skip its backward (its graph stays intact).
                    guard needed!.contains(id), node.inputs.contains(where: { edgeLeads($0, needed!, mode) }) else { continue }
                }
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
                        switch mode {
                        case .accumulate:
                            // A leaf unmarked since it was recorded gets nothing (as before it was recorded).
                            guard t.requiresGrad else { continue }
                            t.grad = t.grad.map { $0 + gi } ?? gi.plainData()
                        case let .capture(_, leaves):
                            let k = ObjectIdentifier(t)
                            guard leaves.contains(k) else { continue }
                            captured[k] = captured[k].map { $0 + gi } ?? gi
                        }
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
        return captured
    }

    /// Whether a capture must run through `edge`: it leads to a needed node or is a wanted leaf.
    private static func edgeLeads(_ edge: GradNode.Edge, _ needed: Set<ObjectIdentifier>, _ mode: Mode) -> Bool {
        switch edge {
        case .node(let child, _): return needed.contains(ObjectIdentifier(child))
        case .leaf(let t):
            if case let .capture(_, leaves) = mode { return leaves.contains(ObjectIdentifier(t)) }
            return true
        case .none: return false
        }
    }
}
