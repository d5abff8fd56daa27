import Layers
import Tensors

/// The new head put on a backbone's pooled features for the target task.
public enum HeadKind: String, Codable, Sendable, CaseIterable {
    /// One linear layer (softmax regression on the features).
    case linear
    /// Linear → ReLU → dropout → linear.
    case mlp
    /// One linear layer over centred, unit-length features (SimpleShot's CL2N: Wang et al., *SimpleShot*, 2019,
    /// §3.2) whose weights a ``HeadSolver`` solves in one full-batch fit instead of the gradient-trained head phase
    /// (the `HeadFitting` module's multinomial logistic regression by L-BFGS, its L2 strength chosen by
    /// cross-validation, as scikit-learn's `LogisticRegressionCV`). Stored like ``linear``.
    case logistic

    /// Whether the head's inputs are scaled to unit length after centring (``Head/standardized(_:)``): on
    /// sentence-encoder and CNN features this makes one L2 strength C suit every backbone and lifts few-shot accuracy.
    public var normalizesRows: Bool { self == .logistic }
}

/// A classifier or regressor over feature vectors, which it first centres and scales with statistics of the training
/// features (buffers `input_mean`, `input_std`; see ``standardize(using:)``): one learning rate then suits backbones
/// whose features differ in scale, like a CNN's pooled activations and a sentence encoder's unit vectors. Parameter names: `0.*`
/// (and `3.*` for the MLP).
public final class Head: Module, UnaryLayer {
    public let kind: HeadKind
    public let inputs: Int
    public let outputs: Int
    public let hidden: Int
    public let inputMean: Tensor
    public let inputStd: Tensor
    let body: Sequential
    /// The last linear layer (its outputs are the logits): what a solver fits and temperature scaling rescales.
    public let outputLayer: Linear

    public init(_ kind: HeadKind, inputs: Int, outputs: Int, hidden: Int = 512, dropout: Float = 0.2, seed: UInt64 = 0) {
        self.kind = kind; self.inputs = inputs; self.outputs = outputs; self.hidden = hidden
        Initializer.seed(seed)
        switch kind {
        case .linear, .logistic:
            outputLayer = Linear(inputs, outputs)
            body = Sequential(outputLayer)
        case .mlp:
            outputLayer = Linear(hidden, outputs)
            body = Sequential(Linear(inputs, hidden), Activation(.relu), Dropout(dropout, seed: seed), outputLayer)
        }
        inputMean = .zeros([inputs])
        inputStd = .ones([inputs])
        super.init()
        buffer("input_mean", inputMean)
        buffer("input_std", inputStd)
        for (name, slot) in body.childSlots { child(name, slot) }  // shared: surgery on the head reaches body
    }

    /// Sets the standardisation from training features `[N, inputs]`: each column's mean, and one scale for all
    /// columns, the root of their mean variance (so the features' relative scales, which carry information, are
    /// kept, while their overall scale no longer decides which learning rate works).
    public func standardize(using features: Tensor) {
        require(features.rank == 2 && features.shape[1] == inputs, "Head.standardize: features \(features.shape), head inputs \(inputs)")
        let n = features.shape[0], v = features.toArray()
        var mean = [Double](repeating: 0, count: inputs)
        for r in 0..<n { for c in 0..<inputs { mean[c] += Double(v[r * inputs + c]) } }
        for c in 0..<inputs { mean[c] /= Double(Swift.max(n, 1)) }
        var sq = 0.0
        for r in 0..<n { for c in 0..<inputs { let d = Double(v[r * inputs + c]) - mean[c]; sq += d * d } }
        let scale = (sq / Double(Swift.max(n * inputs, 1))).squareRoot()
        withNoGrad {
            inputMean.assign(Tensor(shape: [inputs], data: mean.map { Float($0) }))
            inputStd.assign(Tensor(shape: [inputs], data: [Float](repeating: Float(scale > 0 ? scale : 1), count: inputs)))
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { body(normalize(x)) }

    /// Standardised features `(x − input_mean) / input_std`, scaled to unit length when the kind says so
    /// (``HeadKind/normalizesRows``): the inputs of the first linear layer.
    public func standardized(_ x: Tensor) -> Tensor { withNoGrad { normalize(x) } }

    func normalize(_ x: Tensor) -> Tensor {
        let z = (x - inputMean) / inputStd
        return kind.normalizesRows ? z.l2NormalizedRows() : z
    }

    /// Divides every logit by `temperature` from now on, by scaling ``outputLayer``'s weight and bias by
    /// 1 / `temperature` (temperature scaling folded into the weights, so a bundle applies it with no extra field).
    public func divideLogits(by temperature: Float) {
        precondition(temperature > 0 && temperature.isFinite, "Head.divideLogits: temperature \(temperature)")
        withNoGrad {
            outputLayer.weight.assign(outputLayer.weight / temperature)
            if let b = outputLayer.bias { b.assign(b / temperature) }
        }
    }

    /// The head's penultimate representation of features `x` (what its last linear layer reads): the hidden
    /// activations of an MLP head (after ReLU and dropout), the standardised features of a linear head. Domain
    /// adaptation aligns these (TLlib's bottleneck features); `classify(features(x))` equals `self(x)`.
    public func features(_ x: Tensor) -> Tensor {
        let z = normalize(x)
        guard kind == .mlp else { return z }
        return body.layers.dropLast().reduce(z) { h, layer in layer(h) }
    }

    /// The head's last linear layer applied to penultimate features (see ``features(_:)``).
    public func classify(_ features: Tensor) -> Tensor { body.layers[body.layers.count - 1](features) }

    /// The length of ``features(_:)``'s rows.
    public var featureDimension: Int { kind == .mlp ? hidden : inputs }

    /// The keys and shapes of ``Module/stateDict()`` of a head of this kind and size, computed without allocating
    /// it (so a bundle's weights file can be checked before a head of the manifest's size is built).
    public static func stateShapes(_ kind: HeadKind, inputs: Int, outputs: Int, hidden: Int) -> [String: [Int]] {
        var shapes = ["input_mean": [inputs], "input_std": [inputs]]
        switch kind {
        case .linear, .logistic:
            shapes["0.weight"] = [outputs, inputs]
            shapes["0.bias"] = [outputs]
        case .mlp:
            shapes["0.weight"] = [hidden, inputs]
            shapes["0.bias"] = [hidden]
            shapes["3.weight"] = [outputs, hidden]
            shapes["3.bias"] = [outputs]
        }
        return shapes
    }
}
