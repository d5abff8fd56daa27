import Datasets
import Dense
import Foundation
import Reports
import Tensors
import TransferKit

/// The dense report pages (``DenseReport``), one recipe shared by `evaluate --report` (a bundle on labelled data) and
/// `train --task segment|detect --report` (the trained model on the run's held-out data, with its training-loss
/// curve).
enum DenseReports {
    /// How many worst images the dense report draws.
    static let worstImages = 8

    /// Mean IoU, Dice, pixel accuracy, per-class IoU/Dice and the worst images' predicted and true masks.
    static func segmentation(title: String, _ net: SegmentationModel, inputSize: Int, data: SegmentationDataset, confusion: SegmentationConfusion,
                             perImage: [Double], normalization: Normalization, config: [String: String],
                             trainingLoss: [Double]? = nil) -> DenseReport {
        let drawings = ReportDrawings.segmentation(net, data: data, perImage: perImage, count: worstImages, size: inputSize,
                                                   normalization: normalization)
        return DenseReport(
            title: title, task: "segmentation",
            headline: [("mean IoU", confusion.meanIoU), ("mean Dice", confusion.meanDice), ("pixel accuracy", confusion.pixelAccuracy)],
            classColumns: ["IoU", "Dice"],
            classes: (0..<net.classes).map { c in (name: "class \(c)", values: [confusion.iou[c], confusion.dice[c]]) },
            imageScoreName: "mean IoU", images: images(data.pairs.map(\.name), perImage, drawings),
            config: config.merging(["precision": Precision.current.rawValue]) { a, _ in a }, trainingLoss: trainingLoss)
    }

    /// COCO mAP, mAP@0.5, recall@0.5, AP@0.5 and recall per class and the worst images' detected and true boxes.
    static func detection(title: String, classNames: [String], samples: [DetectionSample], scores: DetectionScores,
                          config: [String: String], trainingLoss: [Double]? = nil) -> DenseReport {
        let perImage = scores.perImage.map(\.map50)
        let drawings = ReportDrawings.detection(samples, detections: scores.detections, perImage: perImage, count: worstImages)
        let all = scores.all
        return DenseReport(
            title: title, task: "detection",
            headline: [("mAP@[.5:.95]", all.map), ("mAP@0.5", all.map50), ("recall@0.5", all.recall50)],
            classColumns: ["AP@0.5", "AP@[.5:.95]", "recall@0.5"],
            classes: classNames.enumerated().map { c, name in
                let ap = all.averagePrecision[c], r = all.recall[c]
                return (name: name, values: [ap?[0], ap.map { $0.reduce(0, +) / Double($0.count) }, r?[0]])
            },
            imageScoreName: "AP@0.5", images: images(samples.map(\.name), perImage, drawings),
            config: config.merging(["precision": Precision.current.rawValue]) { a, _ in a },
            drawingNote: "Detections scored below 0.3 are not drawn (all count in the scores).", trainingLoss: trainingLoss)
    }

    private static func images(_ names: [String], _ scores: [Double], _ drawings: [DenseDrawing]) -> [DenseReport.Image] {
        let drawn = Dictionary(drawings.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return zip(names, scores).map { name, score in
            DenseReport.Image(name: name, score: score, predicted: drawn[name].map { PNGEncoder.encode($0.predicted) },
                              truth: drawn[name].map { PNGEncoder.encode($0.truth) })
        }
    }

    /// Writes `directory/report.html`; `bundle` names a bundle already written (train), for the error.
    static func write(_ page: DenseReport, to directory: String, json: Bool, bundle: String? = nil) throws {
        do { try page.write(to: URL(fileURLWithPath: directory)) } catch {
            let kept = bundle.map { "the bundle \($0) was written, but " } ?? ""
            throw RuntimeError("\(kept)the report could not be written to \(directory): \(FileErrors.reason(error))")
        }
        if !json { print("wrote \(directory)/report.html") }
    }
}

extension EvaluateCommand {
    /// `evaluate --report DIR` of a segmentation bundle.
    func writeSegmentationReport(_ net: SegmentationModel, _ manifest: SegmentationManifest, data: SegmentationDataset,
                                 confusion: SegmentationConfusion, perImage: [Double], normalization: Normalization) throws {
        guard let report else { return }
        let page = DenseReports.segmentation(
            title: "Segmentation: \(model)", net, inputSize: manifest.inputSize, data: data, confusion: confusion, perImage: perImage,
            normalization: normalization,
            config: ["bundle": model, "data": self.data, "masks": masks ?? "", "encoder": manifest.encoder,
                     "decoder": manifest.architecture.rawValue, "input size": "\(manifest.inputSize)"])
        try DenseReports.write(page, to: report, json: json)
    }

    /// `evaluate --report DIR` of a detection bundle.
    func writeDetectionReport(_ manifest: DetectionManifest, samples: [DetectionSample], scores: DetectionScores) throws {
        guard let report else { return }
        let page = DenseReports.detection(
            title: "Detection: \(model)", classNames: manifest.classNames, samples: samples, scores: scores,
            config: ["bundle": model, "data": data, "boxes": boxes ?? "", "encoder": manifest.encoder, "tile": "\(manifest.tile)",
                     "overlap": "\(manifest.overlap)"])
        try DenseReports.write(page, to: report, json: json)
    }
}
