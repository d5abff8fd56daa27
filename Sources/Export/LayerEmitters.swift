import Layers
import Tensors

/// The ONNX form of the layers the backbones and heads are made of.
extension GraphBuilder {
    /// The layer at `path` as a ``Conv2d``, or ``ExportError/unsupportedLayer(path:type:accepted:)``.
    static func conv(_ layer: any UnaryLayer, _ path: String) throws(ExportError) -> Conv2d {
        guard let c = layer as? Conv2d else {
            throw .unsupportedLayer(path: path, type: "\(type(of: layer))", accepted: "Conv2d (merge adapters first)")
        }
        return c
    }

    /// The layer at `path` as a ``BatchNorm2d``, or ``ExportError/unsupportedLayer(path:type:accepted:)``.
    static func batchNorm(_ layer: any UnaryLayer, _ path: String) throws(ExportError) -> BatchNorm2d {
        guard let b = layer as? BatchNorm2d else {
            throw .unsupportedLayer(path: path, type: "\(type(of: layer))", accepted: "BatchNorm2d")
        }
        return b
    }

    /// The layer at `path` as a ``Linear``, or ``ExportError/unsupportedLayer(path:type:accepted:)``.
    static func linear(_ layer: any UnaryLayer, _ path: String) throws(ExportError) -> Linear {
        guard let l = layer as? Linear else {
            throw .unsupportedLayer(path: path, type: "\(type(of: layer))", accepted: "Linear (merge adapters first)")
        }
        return l
    }

    /// `activation(bn(conv(x)) + residual)` as one `Conv` (the eval-mode BatchNorm folded into its weight and bias,
    /// `w·γ/√(σ²+ε)` and `β + (b − μ)·γ/√(σ²+ε)`, as the fused inference path does), an `Add` and the activation.
    mutating func convUnit(_ x: String, _ conv: Conv2d, _ bn: BatchNorm2d?, activation: FusedActivation?,
                           residual: String? = nil, path: String) throws(ExportError) -> String {
        guard conv.dilation == (1, 1) else {
            throw .unsupportedSetting(name: "\(path).dilation", value: "\(conv.dilation)", accepted: "(1, 1)")
        }
        let shape = conv.weight.shape.dims
        var w = conv.weight.toArray()
        var b = conv.bias?.toArray() ?? [Float](repeating: 0, count: shape[0])
        if let bn {
            let gamma = bn.weight.toArray(), beta = bn.bias.toArray()
            let mean = bn.runningMean.toArray(), variance = bn.runningVar.toArray()
            let per = w.count / shape[0]
            for o in 0..<shape[0] {
                let scale = gamma[o] / (variance[o] + bn.eps).squareRoot()
                for i in 0..<per { w[o * per + i] *= scale }
                b[o] = beta[o] + (b[o] - mean[o]) * scale
            }
        }
        var attributes = [Attribute.ints("kernel_shape", [shape[2], shape[3]]),
                          Attribute.ints("strides", [conv.stride.0, conv.stride.1]),
                          Attribute.int("group", conv.groups)]
        switch conv.padding {
        case let .symmetric(h, pw): attributes.append(Attribute.ints("pads", [h, pw, h, pw]))
        case let .explicit(top, bottom, left, right): attributes.append(Attribute.ints("pads", [top, left, bottom, right]))
        case .same: attributes.append(Attribute.string("auto_pad", "SAME_UPPER"))  // TensorFlow "SAME": extra at the end
        }
        let wName = constant(path + ".weight", w, shape: shape)
        let bName = constant(path + ".bias", b, shape: [shape[0]])
        var y = node("Conv", [x, wName, bName], path, attributes)
        if let residual { y = node("Add", [y, residual], path + ".residual") }
        return try activate(y, activation, path: path)
    }

    /// `activation(x)`: `Relu`, `Clip(0, 6)`, or GELU with erf (`x · (1 + erf(x / √2)) / 2`).
    mutating func activate(_ x: String, _ activation: FusedActivation?, path: String) throws(ExportError) -> String {
        switch activation {
        case nil: return x
        case .relu: return node("Relu", [x], path + ".relu")
        case .relu6: return node("Clip", [x, scalar("zero", 0), scalar("six", 6)], path + ".relu6")
        case .gelu:
            let erf = node("Erf", [node("Div", [x, scalar("sqrt2", Float(2).squareRoot())], path + ".gelu_scaled")], path + ".gelu_erf")
            let onePlus = node("Add", [erf, scalar("one", 1)], path + ".gelu_one_plus")
            return node("Mul", [node("Mul", [x, onePlus], path + ".gelu_product"), scalar("half", 0.5)], path + ".gelu")
        case .geluTanh:
            throw .unsupportedSetting(name: "\(path) activation", value: "gelu_tanh", accepted: "relu, relu6, gelu (erf)")
        }
    }

    /// `x Wᵀ + b` over the last axis of a tensor of any rank: `MatMul` with the transposed weight, then `Add`.
    mutating func linear(_ x: String, _ layer: Linear, path: String) -> String {
        let out = layer.weight.shape[0], inputs = layer.weight.shape[1]
        let w = layer.weight.toArray()
        var t = [Float](repeating: 0, count: w.count)
        for o in 0..<out { for i in 0..<inputs { t[i * out + o] = w[o * inputs + i] } }
        let y = node("MatMul", [x, constant(path + ".weight_t", t, shape: [inputs, out])], path)
        guard let bias = layer.bias else { return y }
        return node("Add", [y, constant(path + ".bias", bias)], path + ".biased")
    }

    /// `LayerNormalization` over the last axis (opset 17).
    mutating func layerNorm(_ x: String, _ layer: any UnaryLayer, path: String) throws(ExportError) -> String {
        guard let ln = layer as? LayerNorm else {
            throw .unsupportedLayer(path: path, type: "\(type(of: layer))", accepted: "LayerNorm")
        }
        return node("LayerNormalization", [x, constant(path + ".weight", ln.weight), constant(path + ".bias", ln.bias)],
                    path, [Attribute.int("axis", -1), Attribute.float("epsilon", ln.eps)])
    }

    /// `[N, C, H, W]` → `[N, C]` by averaging over H and W.
    mutating func globalAveragePool(_ x: String) -> String {
        node("Flatten", [node("GlobalAveragePool", [x], "pooled_map")], "features", [Attribute.int("axis", 1)])
    }
}
