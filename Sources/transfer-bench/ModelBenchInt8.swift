import Foundation
import Layers
import Models
import Quantization
import Tensors

/// The `*_infer_int8` rows: the same forward as the fp32 `*_infer` rows, after post-training int8 quantisation
/// (``Quantizer``, min-max calibration on the timed batch itself: the scales do not change the kernels' speed).
extension ModelBench {
    static func visionInferenceInt8(_ ctx: BenchContext, _ name: String,
                                    _ load: () -> (model: any VisionBackbone, weights: String)) -> BenchResult {
        if let reason = Quantizer.unsupportedReason {
            ctx.note("\(name): not measured: \(reason)")
            return BenchResult(name: name, value: .nan, unit: "images/s", reference: nil, ratio: nil, target: nil)
        }
        let (model, weights) = load()
        model.eval()
        let x = randomTensor([batch, 3, imageSize, imageSize], seed: 61)
        let plan = Quantizer.calibrate(model, method: .minmax) { _ = model(x); return batch }
        try? Quantizer.apply(plan, to: model, file: name)
        let seconds = medianSeconds(self.plan(ctx)) { withNoGrad { _ = model(x).contiguous() } }
        ctx.note("\(name): \(model.modelName) forward with classifier, int8 (\(plan.layers.count) oneDNN int8 convolutions/linear "
                 + "layers, \(plan.fp32Layers.count) kept fp32), batch \(batch)×3×\(imageSize)×\(imageSize), eval(), withNoGrad; "
                 + "\(weights); images/s = \(batch) / median of \(self.plan(ctx).repeats) runs after 1 warm-up.")
        return perBatch(name, seconds, unit: "images/s")
    }

    static func textInferenceInt8(_ ctx: BenchContext) -> BenchResult {
        let name = "minilm_infer_int8"
        if let reason = Quantizer.unsupportedReason {
            ctx.note("\(name): not measured: \(reason)")
            return BenchResult(name: name, value: .nan, unit: "seq/s", reference: nil, ratio: nil, target: nil)
        }
        let (bert, weights) = miniLM()
        bert.eval()
        let ids = tokenIDs(vocab: bert.config.vocabSize)
        let mask = [Float](repeating: 1, count: ids.count)
        let plan = Quantizer.calibrate(bert, method: .minmax) {
            _ = bert(ids: ids, attentionMask: mask, shape: [batch, sequenceLength]); return batch
        }
        try? Quantizer.apply(plan, to: bert, file: name)
        let seconds = medianSeconds(self.plan(ctx)) {
            withNoGrad { _ = bert(ids: ids, attentionMask: mask, shape: [batch, sequenceLength]).contiguous() }
        }
        ctx.note("\(name): BertModel (\(bert.config.numHiddenLayers) layers, \(bert.config.hiddenSize)-d) forward to the last "
                 + "hidden state, int8 linear layers (\(plan.layers.count) int8, \(plan.fp32Layers.count) kept fp32), batch \(batch) × "
                 + "\(sequenceLength) token ids, full attention mask, eval(), withNoGrad; \(weights); sequences/s = \(batch) / "
                 + "median of \(self.plan(ctx).repeats) runs after 1 warm-up.")
        return perBatch(name, seconds, unit: "seq/s")
    }
}
