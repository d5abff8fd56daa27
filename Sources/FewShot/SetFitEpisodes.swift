import Foundation
import HeadFitting
import Models
import Tensors

/// Runs a procedure that changes a sentence encoder's weights and restores them afterwards, so that every episode or
/// seed starts from the same pretrained encoder.
public enum WeightsSnapshot {
    public static func restoring<T>(_ embedder: SentenceEmbedder, _ body: () throws -> T) rethrows -> T {
        let saved = Dictionary(uniqueKeysWithValues: embedder.bert.stateDict().map { ($0.key, Tensor(shape: $0.tensor.shape, data: $0.tensor.toArray())) })
        defer { _ = try? embedder.bert.load(saved) }
        return try body()
    }
}

extension SetFit {
    /// SetFit on one episode: fine-tunes `embedder` on the support texts, fits the logistic head, predicts the
    /// queries, and restores the pretrained weights.
    public static func classify(_ embedder: SentenceEmbedder, support: [String], labels: [Int], ways: Int,
                                query: [String], options: SetFitOptions, labelNames: [String] = []) -> [Int] {
        WeightsSnapshot.restoring(embedder) {
            fineTune(embedder, texts: support, labels: labels.map { [$0] }, labelNames: labelNames, options: options)
            let head = fitHead(embedder, texts: support, classes: labels, classCount: ways, c: options.c)
            return head.predict(FeatureMatrix(embedder.embed(query)))
        }
    }
}
