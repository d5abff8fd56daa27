import Datasets
import Foundation
import HeadFitting
import Models
import Tensors

/// How a ``MetaBenchmark`` trains the backbone on the base classes.
public enum MetaMethod: String, Sendable, CaseIterable, Codable {
    /// Episodes with the prototypical loss (``EpisodicTraining``).
    case prototypical
    /// Reptile's first-order meta-learning (``Reptile``).
    case reptile
}

/// Few-shot accuracy on novel classes before and after episodic training of the backbone on base classes
/// (the meta-learning experiment of Prototypical Networks, on Fashion-MNIST: base classes 0–5, novel 6–9).
public struct MetaBenchmark {
    public var base: InMemoryImages
    public var novel: InMemoryImages
    public var method = MetaMethod.prototypical
    /// Settings of ``MetaMethod/prototypical``.
    public var training = EpisodicTrainingOptions()
    /// Settings of ``MetaMethod/reptile``.
    public var reptile = ReptileOptions()
    public var shots = [1, 5]
    public var queries = 15
    public var episodes = 600
    public var seed: UInt64 = 0

    public init(base: InMemoryImages, novel: InMemoryImages) { self.base = base; self.novel = novel }

    /// One measurement: a method at a shot count, before or after training.
    public struct Row: Sendable, Codable {
        public var stage: String
        public var method: FewShotMethod
        public var shots: Int
        public var summary: AccuracySummary
    }

    /// The novel-class episodes' accuracy of `net` (protonet and simpleshot centred on the base mean).
    public func evaluate(_ net: any VisionBackbone, stage: String) throws -> [Row] {
        let baseMean = EpisodicTraining.features(net, images: base).meanRow()
        let x = EpisodicTraining.features(net, images: novel)
        var rows: [Row] = []
        for k in shots {
            let sampler = try EpisodeSampler(labels: novel.labels, ways: Set(novel.labels).count, shots: k, queries: queries)
            for m in [FewShotMethod.protonet, .simpleshot] {
                let s = FeatureFewShotClassifier(method: m, baseMean: baseMean).evaluate(x, sampler: sampler, episodes: episodes, seed: seed)
                rows.append(Row(stage: stage, method: m, shots: k, summary: s.summary))
            }
        }
        return rows
    }

    /// Evaluates, trains episodically on the base classes, evaluates again; returns the rows and the training losses.
    public func run(_ net: any VisionBackbone, progress: ((Int, Int, Double) -> Void)? = nil) throws -> (rows: [Row], losses: [Double]) {
        var rows = try evaluate(net, stage: "before")
        let losses = switch method {
        case .prototypical: try EpisodicTraining.train(net, images: base, options: training, progress: progress)
        case .reptile: try Reptile.train(net, images: base, options: reptile, progress: progress)
        }
        rows += try evaluate(net, stage: "after")
        return (rows, losses)
    }
}
