import Datasets
import Layers
import Tensors
import TransferKit

/// The ONNX form of a ``TransferKit/Head`` and of the model's readout.
extension GraphBuilder {
    /// `(logits, outputs)` of the head over `features`: standardise with `input_mean` / `input_std`, the linear layer
    /// (or linear → ReLU → linear; dropout is an identity in eval mode), then the task's readout
    /// (``TransferKit/TransferModel/readout(_:)``).
    mutating func head(_ features: String, _ model: TransferModel) throws(ExportError) -> (logits: String, outputs: String) {
        let head = model.head
        let centred = node("Sub", [features, constant("head.input_mean", head.inputMean)], "head.centred")
        var h = node("Div", [centred, constant("head.input_std", head.inputStd)], "head.standardized")
        let layers = Dictionary(head.children.map { ($0.name, $0.module) }, uniquingKeysWith: { a, _ in a })
        func linearLayer(_ name: String) throws(ExportError) -> Linear {
            guard let module = layers[name], let layer = module as? UnaryLayer else {
                throw .unsupportedLayer(path: "head.\(name)", type: "absent", accepted: "Linear")
            }
            return try Self.linear(layer, "head.\(name)")
        }
        switch head.kind {
        case .linear, .logistic:
            h = linear(h, try linearLayer("0"), path: "head.0")
        case .mlp:
            h = node("Relu", [linear(h, try linearLayer("0"), path: "head.0")], "head.1")
            h = linear(h, try linearLayer("3"), path: "head.3")
        }
        let logits = node("Identity", [h], "logits")
        let outputs: String
        switch model.task {
        case .classification:
            outputs = node("Softmax", [logits], "outputs", [Attribute.int("axis", 1)])
        case .multiLabel:
            outputs = node("Sigmoid", [logits], "outputs")
        case .regression:
            let s = model.scaling
            let scaled = node("Mul", [logits, scalar("target_std", s?.std ?? 1)], "outputs_scaled")
            outputs = node("Add", [scaled, scalar("target_mean", s?.mean ?? 0)], "outputs")
        }
        return (logits, outputs)
    }
}
