import Datasets
import Foundation
import Tensors

extension TransferModel {
    /// Metrics of the model on labelled data; inputs that cannot be read are skipped and returned.
    public func evaluate(_ data: LabeledData) throws -> (metrics: ClassificationMetrics, skipped: [(String, String)]) {
        guard data.classNames == classNames else { throw TrainError.labelsDiffer(train: classNames, test: data.classNames) }
        let (probs, kept, failed) = predict(data.inputs)
        return (ClassificationMetrics(probabilities: probs, targets: kept.map { data.labels[$0] }, labels: classNames), failed)
    }
}

extension LabeledData {
    /// A stratified train/validation split with a seed (Datasets' `Splits.stratified`).
    public func split(validation: Double, seed: UInt64) throws -> (train: LabeledData, validation: LabeledData) {
        let samples = labels.enumerated().map { Sample(source: .index($0.offset), target: .classIndex($0.element)) }
        let s = try Splits.stratified(samples, classCount: classNames.count, validation: validation, seed: seed)
        return (subset(s.train), subset(s.validation))
    }
}
