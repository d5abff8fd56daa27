import Tensors

/// A model's outputs cannot be reported: they are not finite, or there is not one label per output. Prediction
/// reports these per input (in `failed`); evaluation throws, since its metrics would be meaningless.
public enum ModelOutputError: Error, CustomStringConvertible, Equatable {
    /// The outputs for these inputs (names as given) hold NaN or infinity.
    case nonFinite(inputs: [String])
    /// The head has `outputs` outputs but the model names `labels` of them (regression: 1 output).
    case outputsDoNotMatchLabels(outputs: Int, labels: Int)

    /// The reason, without the input's name (for a per-input failure).
    public var reason: String {
        switch self {
        case .nonFinite: "the model's outputs for this input are not finite (NaN or infinity): its weights or this input are unusable"
        case .outputsDoNotMatchLabels(let o, let l): "the model has \(o) outputs but \(l) labels, so its outputs cannot be named"
        }
    }

    public var description: String {
        switch self {
        case .nonFinite(let inputs):
            let more = inputs.count > 1 ? " (and \(inputs.count - 1) more inputs)" : ""
            return ManifestText.oneLine("\(inputs.first ?? "an input")\(more): \(reason)")
        case .outputsDoNotMatchLabels: return reason
        }
    }
}

extension TransferModel {
    /// The number of output columns `predict` must produce: one per label, or 1 for regression.
    var expectedOutputColumns: Int { task == .regression ? 1 : classNames.count }

    /// Rows of `outputs` (`[N, C]`) holding any NaN or infinity.
    static func nonFiniteRows(_ outputs: Tensor) -> [Int] {
        guard outputs.rank == 2 else { return [] }
        let n = outputs.shape[0], c = outputs.shape[1], v = outputs.toArray()
        return (0..<n).filter { r in v[(r * c)..<((r + 1) * c)].contains { !$0.isFinite } }
    }
}
