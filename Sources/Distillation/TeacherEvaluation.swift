import Datasets
import Foundation
import Tensors
import TransferKit

extension Teacher {
    /// The teacher's metrics on labelled `data`, from its cached outputs (``outputs(_:cacheRoot:featureCacheRoot:batchSize:progress:)``):
    /// a teacher is scored on a test set once, and every later distillation against that set reads its logits back
    /// instead of running the teacher again. Returns the metrics, how many inputs the teacher ran on, and the
    /// inputs it could not read.
    public func evaluate(_ data: LabeledData, cacheRoot: URL?, featureCacheRoot: URL? = nil, batchSize: Int = 32) throws
        -> (metrics: ClassificationMetrics, computed: Int, skipped: [(String, String)]) {
        guard data.task == .classification, data.classNames == model.classNames else {
            throw DistillationError.data("the test data's classes \(data.classNames) are not the teacher's \(model.classNames)")
        }
        let t = outputs(data.inputs, cacheRoot: cacheRoot, featureCacheRoot: featureCacheRoot, batchSize: batchSize)
        guard !t.kept.isEmpty else { throw DistillationError.data("the teacher could read none of the \(data.inputs.count) test inputs") }
        let metrics = ClassificationMetrics(logits: t.logits, targets: t.kept.map { data.labels[$0] }, labels: model.classNames)
        return (metrics, t.computed, t.failed)
    }
}

/// Inference speed of a model, measured the same way for a teacher and its students: items per second of
/// ``TransferKit/TransferModel/predict(_:)`` on the same inputs, decoding and preprocessing included, with no
/// feature cache.
public enum InferenceSpeed {
    /// Up to `count` indices of `0..<total`, evenly spaced (so a class-sorted set gives every class its share).
    public static func sample(total: Int, count: Int) -> [Int] {
        guard total > 0, count > 0 else { return [] }
        let n = Swift.min(total, count)
        return (0..<n).map { $0 * total / n }
    }

    /// Items per second of `model` predicting `inputs` (after one warm-up batch of up to 8 inputs, not timed).
    public static func itemsPerSecond(_ model: TransferModel, _ inputs: [LabeledInput]) -> Double {
        guard !inputs.isEmpty else { return 0 }
        let cache = model.featureCache
        model.featureCache = nil
        defer { model.featureCache = cache }
        _ = model.predict(Array(inputs.prefix(8)))
        let t = Date()
        _ = model.predict(inputs)
        return Double(inputs.count) / Swift.max(Date().timeIntervalSince(t), 1e-9)
    }
}
