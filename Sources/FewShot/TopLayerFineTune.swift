import Foundation
import HeadFitting
import Layers
import Models
import Optimizers
import Tensors

/// The fine-tuning baseline of few-shot text classification: a linear head on the sentence embedding trained with
/// cross-entropy together with the top `unfreeze` transformer layers (Adam), the rest frozen.
public struct TopLayerFineTune: Sendable {
    public var unfreeze = 2
    public var epochs = 10
    public var batchSize = 16
    public var learningRate: Float = 1e-4
    /// The head's learning rate (a new layer learns faster than pretrained ones).
    public var headLearningRate: Float = 1e-2
    public var seed: UInt64 = 0

    public init() {}

    /// Trains on `texts`/`labels`, predicts `query`, and restores the encoder's pretrained weights.
    public func classify(_ embedder: SentenceEmbedder, texts: [String], labels: [Int], classes: Int, query: [String]) -> [Int] {
        WeightsSnapshot.restoring(embedder) {
            let bert = embedder.bert, layers = bert.config.numHiddenLayers
            let kept = Swift.max(0, layers - unfreeze)..<layers
            bert.unfreeze()
            bert.freeze(where: { key in !kept.contains { key.hasPrefix("encoder.layer.\($0).") } })
            defer { bert.unfreeze(); bert.eval() }
            Initializer.seed(seed)
            let head = Linear(embedder.dimension, classes)
            let optimizer = Adam(groups: [
                ParameterGroup(name: "encoder", parameters: bert.trainableParameters().map { (name: $0.0, tensor: $0.1) }, learningRate: learningRate),
                ParameterGroup(name: "head", parameters: head.trainableParameters().map { (name: $0.0, tensor: $0.1) }, learningRate: headLearningRate),
            ])
            var g = SeededGenerator(seed: seed)
            bert.train()
            for _ in 0..<epochs {
                let order = Array(texts.indices).shuffled(using: &g)
                for start in stride(from: 0, to: order.count, by: batchSize) {
                    let idx = Array(order[start..<Swift.min(order.count, start + batchSize)])
                    let logits = head(embedder.forward(embedder.encode(idx.map { texts[$0] })))
                    let loss = Tensor.crossEntropy(logits: logits, targets: idx.map { labels[$0] })
                    optimizer.zeroGrad()
                    loss.backward()
                    optimizer.step()
                }
            }
            bert.eval()
            let z = withNoGrad { head(embedder.embed(query)) }
            return argmaxRows(z.toArray().map(Double.init), classes: classes)
        }
    }
}
