import Foundation
import Layers
import Models
import Tensors
import TransferKit

/// End-to-end inference throughput of whole models (no reference: value only). Each is timed as the median of a few
/// runs after one warm-up (the models are far too slow for the default repeat count), in eval mode under
/// `withNoGrad`.
enum InferBench {
    static let batch = 32
    static let imageSize = 224
    static let sequenceLength = 128

    /// One warm-up, then the median of at most 3 timed runs (fewer with a smaller `--repeats`).
    static func plan(_ ctx: BenchContext) -> TimingPlan {
        TimingPlan(warmup: Swift.min(1, ctx.plan.warmup), repeats: Swift.min(3, ctx.plan.repeats))
    }

    /// Images per second of a vision model's forward on a random `[32, 3, 224, 224]` batch.
    static func vision(_ ctx: BenchContext, _ name: String, _ model: any VisionBackbone, weights: String) -> BenchResult {
        model.eval()
        let x = randomTensor([batch, 3, imageSize, imageSize], seed: 61)
        let seconds = medianSeconds(plan(ctx)) { withNoGrad { _ = model(x).contiguous() } }
        ctx.note("\(name): \(model.modelName) forward (with classifier), batch \(batch)×3×\(imageSize)×\(imageSize), eval(), "
                 + "withNoGrad; \(weights); images/s = \(batch) / median of \(plan(ctx).repeats) runs after 1 warm-up; no reference.")
        return BenchResult(name: name, value: Double(batch) / seconds, unit: "images/s", reference: nil, ratio: nil, target: nil)
    }

    static func efficientNetLite0(_ ctx: BenchContext) -> BenchResult {
        var model: any VisionBackbone = EfficientNetLite(.lite0)
        var weights = "random-initialised weights (efficientnet-lite0 not in the cache)"
        if let spec = try? ModelRegistry.spec(named: "efficientnet-lite0"), spec.isCached, let file = spec.cachedWeights {
            do {
                model = try Pretrained.loadVision(spec, weights: file.path)
                weights = "pretrained weights from the cache"
            } catch {
                weights = "random-initialised weights (cached weights failed to load: \(error))"
            }
        }
        return vision(ctx, "efficientnet_lite0_infer", model, weights: weights)
    }

    static func resNet18(_ ctx: BenchContext) -> BenchResult {
        vision(ctx, "resnet18_infer", ResNet(.resnet18), weights: "random-initialised weights (none ship offline)")
    }

    /// Sequences per second of a MiniLM-L6 (BERT) forward on `[32, 128]` token ids with a full attention mask.
    static func miniLM(_ ctx: BenchContext) -> BenchResult {
        var model: BertModel?
        var weights = "random-initialised all-MiniLM-L6-v2 architecture (minilm-l6 not in the cache)"
        if let spec = try? ModelRegistry.spec(named: "minilm-l6"), spec.isCached, let dir = spec.cachedWeights {
            do {
                model = try BertModel.load(directory: dir.path)
                weights = "pretrained weights from the cache"
            } catch {
                weights = "random-initialised all-MiniLM-L6-v2 architecture (cached weights failed to load: \(error))"
            }
        }
        let bert = model ?? (try! BertModel(config: BertConfig(vocabSize: 30522, hiddenSize: 384, numHiddenLayers: 6,
                                                              numAttentionHeads: 12, intermediateSize: 1536)))
        bert.eval()
        let count = batch * sequenceLength
        let vocab = bert.config.vocabSize
        // Deterministic ids spread over the vocabulary (CLS … SEP shape does not matter for timing).
        let ids = (0..<count).map { i in (i &* 7919 &+ 101) % vocab }
        let mask = [Float](repeating: 1, count: count)
        let shape: Shape = [batch, sequenceLength]
        let seconds = medianSeconds(plan(ctx)) {
            withNoGrad { _ = bert(ids: ids, attentionMask: mask, shape: shape).contiguous() }
        }
        ctx.note("minilm_infer: BertModel (\(bert.config.numHiddenLayers) layers, \(bert.config.hiddenSize)-d) forward to the last "
                 + "hidden state, batch \(batch) × \(sequenceLength) token ids, full attention mask, eval(), withNoGrad; \(weights); "
                 + "sequences/s = \(batch) / median of \(plan(ctx).repeats) runs after 1 warm-up; no reference.")
        return BenchResult(name: "minilm_infer", value: Double(batch) / seconds, unit: "seq/s", reference: nil, ratio: nil,
                           target: nil)
    }
}
