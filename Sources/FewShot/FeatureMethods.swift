import Foundation
import HeadFitting

/// A few-shot classifier on frozen features (`transfer fewshot eval --method`).
public enum FewShotMethod: String, Sendable, CaseIterable, Codable {
    /// Prototypical Networks on frozen features: nearest class mean by squared Euclidean distance.
    case protonet
    /// SimpleShot: CL2N features (centred, L2-normalised), nearest class mean (cosine).
    case simpleshot
    /// Multinomial logistic regression (L-BFGS, C = 1, scikit-learn's defaults) on L2-normalised features, the head
    /// SetFit fits.
    case logistic
    /// SetFit: contrastive fine-tuning of the sentence encoder on pairs of the support set, then the logistic head
    /// (text models only; fine-tunes per episode).
    case setfit
}

/// Classifies the queries of an episode from frozen features.
public struct FeatureFewShotClassifier: Sendable {
    public var method: FewShotMethod
    /// Refine the prototypes by soft k-means over the episode's queries (transductive; protonet and simpleshot).
    public var transductive = false
    /// SimpleShot's centring mean (e.g. the mean base-class feature); nil centres on the support set's mean.
    public var baseMean: [Double]?

    public init(method: FewShotMethod, transductive: Bool = false, baseMean: [Double]? = nil) {
        precondition(method != .setfit, "FeatureFewShotClassifier: SetFit fine-tunes the encoder (use SetFitEpisodes)")
        self.method = method; self.transductive = transductive; self.baseMean = baseMean
    }

    /// Predicted labels (0..<ways) of `query` given `support` and its labels.
    public func predict(support: FeatureMatrix, labels: [Int], ways: Int, query: FeatureMatrix) -> [Int] {
        switch method {
        case .logistic:
            let model = LogisticRegression(c: 1, maxIterations: 100).fit(support.l2Normalized(), labels, classes: ways)
            return model.predict(query.l2Normalized())
        case .protonet, .simpleshot, .setfit:
            var s = support, q = query
            if method == .simpleshot {
                let t = SimpleShotTransform(mean: baseMean ?? support.meanRow())
                s = t.apply(support); q = t.apply(query)
            }
            let p = Prototypes(fitting: s, labels: labels, classes: ways, metric: method == .simpleshot ? .cosine : .euclidean)
            return (transductive ? p.refined(support: s, labels: labels, queries: q) : p).predict(q)
        }
    }

    /// Evaluates on `episodes` episodes of `features` (rows aligned with the sampler's labels).
    public func evaluate(_ features: FeatureMatrix, sampler: EpisodeSampler, episodes: Int, seed: UInt64,
                         progress: ((Int, Int) -> Void)? = nil) -> (summary: AccuracySummary, accuracies: [Double]) {
        EpisodicEvaluation.run(sampler, episodes: episodes, seed: seed, progress: progress) { e in
            predict(support: features.rows(e.support), labels: e.supportLabels, ways: e.classes.count,
                    query: features.rows(e.query))
        }
    }
}
