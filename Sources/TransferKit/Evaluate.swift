import Datasets
import Foundation
import Tensors

extension TransferModel {
    /// Metrics of the model on labelled data; inputs that cannot be read are skipped and returned.
    public func evaluate(_ data: LabeledData) throws -> (metrics: ClassificationMetrics, skipped: [(String, String)]) {
        let r = try evaluateWithMistakes(data, mistakes: 0)
        return (r.metrics, r.skipped)
    }

    /// ``evaluate(_:)`` plus the `mistakes` most confident wrong predictions, with thumbnails or text excerpts.
    public func evaluateWithMistakes(_ data: LabeledData, mistakes k: Int) throws
        -> (metrics: ClassificationMetrics, skipped: [(String, String)], mistakes: [Mistake]) {
        guard data.classNames == classNames else { throw TrainError.labelsDiffer(train: classNames, test: data.classNames) }
        let (probs, kept, failed) = predict(data.inputs)
        let m = ClassificationMetrics(probabilities: probs, targets: kept.map { data.labels[$0] }, labels: classNames)
        let mistakes = m.worstMistakes(k: k).map { j -> Mistake in
            let input = data.inputs[kept[j]], p = m.predictions[j]
            var thumb: [UInt8]?, text: String?
            switch input {
            case .image(let path): thumb = (try? ImageDecoder.decode(contentsOf: path)).map { Mistake.thumbnail(of: $0) }
            case .text(let t, _): text = String(t.prefix(400))
            }
            return Mistake(thumbnailPNG: thumb, text: text, source: input.name, trueLabel: classNames[p.target],
                           predictedLabel: classNames[p.predicted], confidence: p.confidence)
        }
        return (m, failed, mistakes)
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
