import Datasets
import Dense
import Foundation
import Reports
import Tensors

extension EvaluateCommand {
    /// How many worst images the dense report draws.
    static let worstImages = 8

    /// `evaluate --report DIR` of a segmentation bundle: mean IoU, Dice, pixel accuracy, per-class IoU/Dice and the
    /// worst images' predicted and true masks.
    func writeSegmentationReport(_ net: SegmentationModel, _ manifest: SegmentationManifest, data: SegmentationDataset,
                                 confusion: SegmentationConfusion, perImage: [Double], normalization: Normalization) throws {
        guard report != nil else { return }
        let drawings = ReportDrawings.segmentation(net, data: data, perImage: perImage, count: Self.worstImages, size: manifest.inputSize,
                                                   normalization: normalization)
        let page = DenseReport(
            title: "Segmentation: \(model)", task: "segmentation",
            headline: [("mean IoU", confusion.meanIoU), ("mean Dice", confusion.meanDice), ("pixel accuracy", confusion.pixelAccuracy)],
            classColumns: ["IoU", "Dice"],
            classes: (0..<manifest.classes).map { c in (name: "class \(c)", values: [confusion.iou[c], confusion.dice[c]]) },
            imageScoreName: "mean IoU", images: images(data.pairs.map(\.name), perImage, drawings),
            config: ["bundle": model, "data": self.data, "masks": masks ?? "", "encoder": manifest.encoder,
                     "decoder": manifest.architecture.rawValue, "input size": "\(manifest.inputSize)", "precision": Precision.current.rawValue])
        try writeDense(page)
    }

    /// `evaluate --report DIR` of a detection bundle: COCO mAP, mAP@0.5, recall@0.5, AP@0.5 and recall per class and
    /// the worst images' detected and true boxes.
    func writeDetectionReport(_ manifest: DetectionManifest, samples: [DetectionSample], detections: [[DetectionBox]],
                              all: DetectionEvaluation, perImage: [Double]) throws {
        guard report != nil else { return }
        let drawings = ReportDrawings.detection(samples, detections: detections, perImage: perImage, count: Self.worstImages)
        let page = DenseReport(
            title: "Detection: \(model)", task: "detection",
            headline: [("mAP@[.5:.95]", all.map), ("mAP@0.5", all.map50), ("recall@0.5", all.recall50)],
            classColumns: ["AP@0.5", "AP@[.5:.95]", "recall@0.5"],
            classes: manifest.classNames.enumerated().map { c, name in
                let ap = all.averagePrecision[c], r = all.recall[c]
                return (name: name, values: [ap?[0], ap.map { $0.reduce(0, +) / Double($0.count) }, r?[0]])
            },
            imageScoreName: "AP@0.5", images: images(samples.map(\.name), perImage, drawings),
            config: ["bundle": model, "data": data, "boxes": boxes ?? "", "encoder": manifest.encoder, "tile": "\(manifest.tile)",
                     "overlap": "\(manifest.overlap)", "precision": Precision.current.rawValue],
            drawingNote: "Detections scored below 0.3 are not drawn (all count in the scores).")
        try writeDense(page)
    }

    private func images(_ names: [String], _ scores: [Double], _ drawings: [DenseDrawing]) -> [DenseReport.Image] {
        let drawn = Dictionary(drawings.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return zip(names, scores).map { name, score in
            DenseReport.Image(name: name, score: score, predicted: drawn[name].map { PNGEncoder.encode($0.predicted) },
                              truth: drawn[name].map { PNGEncoder.encode($0.truth) })
        }
    }

    private func writeDense(_ page: DenseReport) throws {
        guard let report else { return }
        do { try page.write(to: URL(fileURLWithPath: report)) } catch { throw RuntimeError("cannot write the report into \(report): \(error)") }
        if !json { print("wrote \(report)/report.html") }
    }
}
