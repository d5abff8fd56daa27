import Datasets
import Foundation
import Tensors

extension TransferModel {
    /// Metrics of the model on labelled data; inputs that cannot be read are skipped and returned.
    public func evaluate(_ data: LabeledData) throws -> (metrics: MetricsReport, skipped: [(String, String)]) {
        let r = try evaluateWithMistakes(data, mistakes: 0)
        return (r.metrics, r.skipped)
    }

    /// ``evaluate(_:)`` plus the `mistakes` most confident wrong predictions (classification), with thumbnails or
    /// text excerpts. Throws ``ModelOutputError`` when any output is NaN or infinite (naming the inputs) or the model
    /// has not one label per output, rather than computing metrics from them.
    public func evaluateWithMistakes(_ data: LabeledData, mistakes k: Int) throws
        -> (metrics: MetricsReport, skipped: [(String, String)], mistakes: [Mistake]) {
        guard data.task == task else {
            throw TrainError.unsupportedTask("the model was trained for \(task.reportName), the data holds \(data.task.reportName) targets")
        }
        guard task == .regression || data.classNames == classNames else { throw TrainError.labelsDiffer(train: classNames, test: data.classNames) }
        let (out, kept, failed) = predict(data.inputs)
        let columns = out.rank == 2 ? out.shape[1] : 0
        guard columns == expectedOutputColumns else {
            throw ModelOutputError.outputsDoNotMatchLabels(outputs: columns, labels: classNames.count)
        }
        let nonFinite = Self.nonFiniteRows(out)
        guard nonFinite.isEmpty else { throw ModelOutputError.nonFinite(inputs: nonFinite.map { data.inputs[kept[$0]].name }) }
        switch task {
        case .classification:
            let m = ClassificationMetrics(probabilities: out, targets: kept.map { data.labels[$0] }, labels: classNames)
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
            return (.classification(m), failed, mistakes)
        case .multiLabel:
            guard case .multiHot(let y) = data.learnerTargets(kept) else { fatalError("multi-label targets") }
            return (.multiLabel(MultiLabelMetrics(probabilities: out, targets: y, labels: classNames, thresholds: thresholds)), failed, [])
        case .regression:
            guard case .values(let y) = data.learnerTargets(kept) else { fatalError("regression targets") }
            return (.regression(RegressionMetrics(predictions: out, targets: y)), failed, [])
        }
    }
}
