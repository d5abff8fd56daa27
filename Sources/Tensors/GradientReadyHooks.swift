/// A callback on a leaf tensor that runs once per ``Tensor/backward(_:retainGraph:)`` pass, as soon as the leaf's
/// ``Tensor/grad`` is complete for that pass (PyTorch's `register_post_accumulate_grad_hook`, which DDP and Horovod
/// use to start all-reducing a bucket of gradients while the rest of backward still runs).
///
/// "Complete" means every recorded operation that consumed the leaf has run its backward (or received no gradient),
/// so a weight used several times (shared weights) fires once, after its last contribution. Hooks run on the thread
/// of `backward()`, with gradient recording off, in reverse topological order of the graph: the layers nearest the
/// loss first. ``Tensor/gradients(of:wrt:seed:retainGraph:)`` accumulates nothing and runs no hook.
public final class GradientReadyHook {
    let body: (Tensor) -> Void
    weak var tensor: Tensor?

    init(tensor: Tensor, body: @escaping (Tensor) -> Void) {
        self.tensor = tensor
        self.body = body
    }

    /// Unregisters the hook (doing nothing when it was already removed).
    public func remove() {
        tensor?.gradientReadyHooks.removeAll { $0 === self }
        tensor = nil
    }
}

extension Tensor {
    /// Runs `hook` with this leaf each time a backward pass has finished accumulating into its ``grad``.
    ///
    /// - Returns: the registration; ``GradientReadyHook/remove()`` unregisters it.
    @discardableResult
    public func registerGradientReadyHook(_ hook: @escaping (Tensor) -> Void) -> GradientReadyHook {
        let h = GradientReadyHook(tensor: self, body: hook)
        gradientReadyHooks.append(h)
        return h
    }

    /// Whether some ``registerGradientReadyHook(_:)`` is registered on this tensor.
    public var hasGradientReadyHooks: Bool { !gradientReadyHooks.isEmpty }
}

/// The bookkeeping of one backward pass for gradient-ready hooks: how many recorded consumers of each hooked leaf
/// are still to run.
struct GradientReadiness {
    private var pending: [ObjectIdentifier: Int] = [:]

    init(order: [GradNode], mode: Autograd.Mode) {
        guard case .accumulate = mode else { return }
        for node in order {
            for case .leaf(let t) in node.inputs where !t.gradientReadyHooks.isEmpty {
                pending[ObjectIdentifier(t), default: 0] += 1
            }
        }
    }

    /// The hooked leaves `node` feeds (one entry per edge), read before the node's backward releases its edges.
    func hookedLeaves(of node: GradNode) -> [Tensor] {
        guard !pending.isEmpty else { return [] }
        return node.inputs.compactMap { edge in
            if case .leaf(let t) = edge, pending[ObjectIdentifier(t)] != nil { return t }
            return nil
        }
    }

    /// Counts one consumer of each leaf as done, running the hooks of the leaves that have no consumer left.
    mutating func release(_ leaves: [Tensor]) {
        for t in leaves {
            let k = ObjectIdentifier(t)
            guard let n = pending[k] else { continue }
            if n > 1 {
                pending[k] = n - 1
            } else {
                pending[k] = nil
                for h in t.gradientReadyHooks { h.body(t) }
            }
        }
    }
}
