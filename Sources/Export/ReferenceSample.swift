import Datasets
import Tensors
import TransferKit

extension ONNXExport {
    /// The graph inputs for `inputs`, prepared exactly as the bundle prepares them (decoded, resized, cropped and
    /// normalised images as `input`; token ids, attention mask and token type ids as float32 tensors named after the
    /// graph's int64 inputs), with the bundle's own answers for them under the graph's output names: `outputs` (what
    /// `predict` computes), `features` (the backbone's pooled features) and `logits` (the head's on them). A reference
    /// against which a runtime executing the exported graph is checked. Unreadable inputs are in `failed`.
    public static func referenceSample(_ model: TransferModel, inputs: [LabeledInput])
        -> (tensors: [String: Tensor], kept: [Int], failed: [(String, String)]) {
        model.eval()
        let prepared = model.backbone.encoder.prepare(inputs)
        guard let batch = prepared.inputs else { return ([:], [], prepared.failed) }
        let kept = prepared.kept.map { inputs[$0] }
        let (outputs, _, failed) = model.predict(kept)
        var tensors = ["outputs": outputs]
        if let features = model.backbone.encoder.pooledFeatures(kept, batchSize: 32).features {
            tensors["features"] = features
            tensors["logits"] = withNoGrad { model.head(features) }
        }
        switch batch {
        case .tensor(let x):
            tensors["input"] = x
        case .tokens(let e):
            tensors["input_ids"] = Tensor(shape: e.shape, data: e.ids.map(Float.init))
            tensors["attention_mask"] = Tensor(shape: e.shape, data: e.mask)
            tensors["token_type_ids"] = Tensor(shape: e.shape, data: e.typeIds.map(Float.init))
        }
        return (tensors, prepared.kept, prepared.failed + failed)
    }
}
