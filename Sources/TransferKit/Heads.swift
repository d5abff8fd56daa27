import Layers
import Tensors

/// The new head put on a backbone's pooled features for the target task.
public enum HeadKind: String, Codable, Sendable, CaseIterable {
    /// One linear layer (softmax regression on the features).
    case linear
    /// Linear → ReLU → dropout → linear.
    case mlp
}

/// A classifier or regressor over feature vectors. Parameter names: `0.*` (and `3.*` for the MLP).
public final class Head: Module, UnaryLayer {
    public let kind: HeadKind
    public let inputs: Int
    public let outputs: Int
    public let hidden: Int
    let body: Sequential

    public init(_ kind: HeadKind, inputs: Int, outputs: Int, hidden: Int = 512, dropout: Float = 0.2, seed: UInt64 = 0) {
        self.kind = kind; self.inputs = inputs; self.outputs = outputs; self.hidden = hidden
        Initializer.seed(seed)
        switch kind {
        case .linear: body = Sequential(Linear(inputs, outputs))
        case .mlp: body = Sequential(Linear(inputs, hidden), Activation(.relu), Dropout(dropout, seed: seed), Linear(hidden, outputs))
        }
        super.init()
        for (name, m) in body.children { child(name, m) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { body(x) }
}
