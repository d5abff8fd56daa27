import Foundation
import HeadFitting
import Layers
import Models
import Optimizers
import Tensors

/// Settings of SetFit's contrastive phase.
public struct SetFitOptions: Sendable {
    /// Rounds of pair generation (SetFit's `num_iterations`, default 20): 2 · iterations · n pairs.
    public var iterations = 20
    /// An upper bound on the number of pairs (nil: none).
    public var maxPairs: Int?
    public var epochs = 1
    /// Pairs per step (SetFit's default 16).
    public var batchSize = 16
    /// Adam's learning rate of the encoder (SetFit's `body_learning_rate` 2e-5).
    public var learningRate: Float = 2e-5
    /// Transformer layers that train, from the top (nil: every layer and the embeddings, as SetFit).
    public var unfreeze: Int?
    /// Templated examples per label added to the pairs (zero-shot → few-shot, SetFit's `get_templated_dataset`).
    public var templatedPerLabel = 0
    public var template = ZeroShotClassifier.defaultTemplate
    /// C of the logistic head.
    public var c: Double = 1
    public var seed: UInt64 = 0

    public init() {}

    public func validate() throws(FewShotError) {
        func bad(_ n: String, _ v: Any, _ a: String) -> FewShotError { .invalidOption(name: n, value: "\(v)", accepted: a) }
        guard (1...1000).contains(iterations) else { throw bad("--iterations", iterations, "1…1000") }
        if let m = maxPairs, m < 2 { throw bad("--max-pairs", m, "at least 2") }
        guard (1...100).contains(epochs) else { throw bad("--epochs", epochs, "1…100") }
        guard (2...512).contains(batchSize) else { throw bad("--batch-size", batchSize, "2…512") }
        guard learningRate > 0 && learningRate < 1 && learningRate.isFinite else { throw bad("--lr", learningRate, "a number in (0, 1)") }
        if let u = unfreeze, u < 1 { throw bad("--unfreeze", u, "at least 1") }
        guard (0...100).contains(templatedPerLabel) else { throw bad("--templated", templatedPerLabel, "0…100") }
        guard c > 0 && c.isFinite else { throw bad("C", c, "a positive number") }
    }
}

/// SetFit (Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts"): contrastive fine-tuning of a
/// sentence encoder on pairs from ``PairSampler`` with sentence-transformers' `CosineSimilarityLoss`
/// (mean squared error between cos(u, v) and the pair's 0/1 target), then a logistic-regression head on the
/// fine-tuned embeddings.
public enum SetFit {
    /// The cosine-similarity loss of a batch: mean over pairs of (cos(uᵢ, vᵢ) − yᵢ)², differentiable in `u` and `v`.
    public static func cosineSimilarityLoss(_ u: Tensor, _ v: Tensor, targets: [Float]) -> Tensor {
        let un = SentenceEmbedder.l2Normalized(u), vn = SentenceEmbedder.l2Normalized(v)
        let cos = (un * vn).sum(axis: 1)
        return Tensor.mseLoss(cos, Tensor(shape: [targets.count], data: targets))
    }

    /// Fine-tunes `embedder` in place on `texts` with label sets `labels`; returns the mean loss per epoch.
    /// With ``SetFitOptions/templatedPerLabel`` > 0, `labelNames` are templated into extra examples first.
    @discardableResult
    public static func fineTune(_ embedder: SentenceEmbedder, texts: [String], labels: [[Int]], labelNames: [String] = [],
                                options o: SetFitOptions,
                                progress: ((_ step: Int, _ steps: Int, _ loss: Double) -> Void)? = nil) -> [Double] {
        var texts = texts, labels = labels
        if o.templatedPerLabel > 0 {
            for (l, name) in labelNames.enumerated() {
                for _ in 0..<o.templatedPerLabel { texts.append(o.template.replacingOccurrences(of: "{}", with: name)); labels.append([l]) }
            }
        }
        let bert = embedder.bert
        let layers = bert.config.numHiddenLayers
        bert.unfreeze()
        if let u = o.unfreeze, u < layers {
            let kept = (layers - u)..<layers
            bert.freeze(where: { key in !kept.contains { key.hasPrefix("encoder.layer.\($0).") } })
        }
        let parameters = bert.trainableParameters().map { (name: $0.0, tensor: $0.1) }
        let optimizer = Adam(groups: [ParameterGroup(name: "setfit", parameters: parameters, learningRate: o.learningRate)])
        Initializer.seed(o.seed)
        bert.train()
        defer { bert.eval(); bert.unfreeze() }
        var losses: [Double] = []
        for epoch in 0..<o.epochs {
            let pairs = PairSampler.pairs(labels: labels, iterations: o.iterations, maxPairs: o.maxPairs, seed: o.seed &+ UInt64(epoch))
            let steps = (pairs.count + o.batchSize - 1) / o.batchSize
            var total = 0.0
            for s in 0..<steps {
                let batch = Array(pairs[(s * o.batchSize)..<Swift.min(pairs.count, (s + 1) * o.batchSize)])
                let n = batch.count
                let z = embedder.forward(embedder.encode(batch.map { texts[$0.a] } + batch.map { texts[$0.b] }))
                let loss = cosineSimilarityLoss(z.sliced(axis: 0, start: 0, end: n), z.sliced(axis: 0, start: n, end: 2 * n),
                                                targets: batch.map(\.similarity))
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                let value = Double(loss.toArray()[0])
                total += value
                progress?(epoch * steps + s + 1, o.epochs * steps, value)
            }
            losses.append(total / Double(Swift.max(steps, 1)))
        }
        return losses
    }

    /// The logistic head of SetFit on (fine-tuned) embeddings of `texts`.
    public static func fitHead(_ embedder: SentenceEmbedder, texts: [String], classes: [Int], classCount: Int,
                               c: Double = 1) -> LogisticRegression.Model {
        LogisticRegression(c: c, maxIterations: 200).fit(FeatureMatrix(embedder.embed(texts)), classes, classes: classCount)
    }

    /// A multi-label head: one binary logistic regression per label (one-vs-rest, SetFit's `multi_target_strategy =
    /// "one-vs-rest"`); `predict` keeps the labels whose probability is ≥ 0.5.
    public static func fitMultiLabelHead(_ embedder: SentenceEmbedder, texts: [String], labels: [[Int]], classCount: Int,
                                         c: Double = 1) -> MultiLabelHead {
        MultiLabelHead(fitting: FeatureMatrix(embedder.embed(texts)), labels: labels, classCount: classCount, c: c)
    }
}

/// One binary logistic regression per label.
public struct MultiLabelHead: Sendable {
    public var models: [LogisticRegression.Model]

    /// Fits one binary logistic regression per label `0..<classCount` on rows `x` with label sets `labels`.
    public init(fitting x: FeatureMatrix, labels: [[Int]], classCount: Int, c: Double = 1) {
        models = (0..<classCount).map { l in
            LogisticRegression(c: c, maxIterations: 200).fit(x, labels.map { $0.contains(l) ? 1 : 0 }, classes: 2)
        }
    }

    /// The labels of each row whose probability is at least `threshold`.
    public func predict(_ x: FeatureMatrix, threshold: Double = 0.5) -> [[Int]] {
        let p = models.map { $0.probabilities(x) }
        return (0..<x.rows).map { r in models.indices.filter { p[$0][r * 2 + 1] >= threshold } }
    }
}
