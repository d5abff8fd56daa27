/// Why a model cannot be exported. Every message names the layer (by its checkpoint path) or setting at fault and
/// what the exporter accepts.
public enum ExportError: Error, CustomStringConvertible, Equatable {
    /// A layer is not one the exporter writes (e.g. an unmerged LoRA adapter, an activation tap).
    case unsupportedLayer(path: String, type: String, accepted: String)
    /// The backbone is not an architecture the exporter writes.
    case unsupportedBackbone(name: String, accepted: String)
    /// A setting of the model has a value the exporter cannot express.
    case unsupportedSetting(name: String, value: String, accepted: String)

    public var description: String {
        switch self {
        case let .unsupportedLayer(path, type, accepted):
            "cannot export layer '\(path)': it is a \(type); the ONNX exporter writes \(accepted)"
        case let .unsupportedBackbone(name, accepted):
            "cannot export backbone \(name): the ONNX exporter writes \(accepted)"
        case let .unsupportedSetting(name, value, accepted):
            "cannot export \(name) = \(value): the ONNX exporter accepts \(accepted)"
        }
    }
}
