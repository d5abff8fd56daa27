import Foundation
import Layers
import Models
import Optimizers
import Tensors
import TransferKit

/// `*_train_bf16`: the training step of the `*_train` rows under ``withTrainingPrecision(_:_:)`` `.bf16`, timed in
/// alternation with the same step in fp32 on the same model in the same process (value = bf16 images/s, reference
/// = fp32, ratio = fp32 step time / bf16 step time), so that the ratio holds on a shared machine.
extension ModelBench {
    static func visionTrainingBF16(_ ctx: BenchContext, _ name: String,
                                   _ load: () -> (model: any VisionBackbone, weights: String)) -> BenchResult {
        if let refused = refuse(ctx, name, .bf16, unit: "images/s") { return refused }
        let (model, weights) = load()
        let head = Linear(model.featureDimension, classes)
        let what = freeze(model, model.blockGroups, .all)
        model.train()
        let opt = optimizer(model, head)
        let x = randomTensor([batch, 3, imageSize, imageSize], seed: 62), y = labels()
        let step = {
            opt.zeroGrad()
            Tensor.crossEntropy(logits: head(model.features(x)), targets: y).backward()
            opt.step()
        }
        let (tb, tf) = medianSecondsPaired(plan(ctx), { try! withTrainingPrecision(.bf16, step) }, step)
        ctx.note("\(name): the \(name.replacingOccurrences(of: "_bf16", with: "")) step (\(model.modelName), \(what), "
                 + "batch \(batch)×3×\(imageSize)×\(imageSize), AdamW) in bf16 mixed precision (withTrainingPrecision(.bf16)) "
                 + "vs the same step in fp32 (reference), alternated in one process; \(weights); medians of "
                 + "\(plan(ctx).repeats) steps each after 1 warm-up.")
        return BenchResult(name: name, value: Double(batch) / tb, unit: "images/s", reference: Double(batch) / tf,
                           ratio: tf / tb, target: 1.5)
    }

    static func textTrainingBF16(_ ctx: BenchContext) -> BenchResult {
        let name = "minilm_train_bf16"
        if let refused = refuse(ctx, name, .bf16, unit: "seq/s") { return refused }
        let (bert, weights) = miniLM()
        let layers = bert.config.numHiddenLayers
        let groups = [BlockGroup(name: "embeddings", prefixes: ["embeddings"])]
            + (0..<layers).map { BlockGroup(name: "layer\($0)", prefixes: ["encoder.layer.\($0)"]) }
        let what = freeze(bert, groups, .all)
        let head = Linear(bert.config.hiddenSize, classes)
        bert.train()
        let opt = optimizer(bert, head)
        let ids = tokenIDs(vocab: bert.config.vocabSize), y = labels()
        let mask = [Float](repeating: 1, count: ids.count)
        let step = {
            opt.zeroGrad()
            let hidden = bert(ids: ids, attentionMask: mask, shape: [batch, sequenceLength])
            Tensor.crossEntropy(logits: head(hidden.mean(axis: 1)), targets: y).backward()
            opt.step()
        }
        let (tb, tf) = medianSecondsPaired(plan(ctx), { try! withTrainingPrecision(.bf16, step) }, step)
        ctx.note("\(name): the minilm_train step (\(what), batch \(batch) × \(sequenceLength) tokens, AdamW) in bf16 mixed "
                 + "precision vs the same step in fp32 (reference), alternated in one process; \(weights); medians of "
                 + "\(plan(ctx).repeats) steps each after 1 warm-up.")
        return BenchResult(name: name, value: Double(batch) / tb, unit: "seq/s", reference: Double(batch) / tf,
                           ratio: tf / tb, target: 1.5)
    }
}
