import Datasets
import Foundation

/// A prediction and its ground truth drawn on one image, for the "worst images" of a dense evaluation report.
public struct DenseDrawing: Sendable {
    public let name: String
    public let score: Double
    public let predicted: RGBImage
    public let truth: RGBImage
}

public enum ReportDrawings {
    /// The indices of the `count` lowest finite scores, lowest first (ties by index).
    public static func worst(_ scores: [Double], count: Int) -> [Int] {
        Array(scores.indices.filter { scores[$0].isFinite }.sorted { (scores[$0], $0) < (scores[$1], $1) }.prefix(Swift.max(0, count)))
    }

    /// Scales `image` down (bilinear) so that its longer side is at most `maxSide`; smaller images are kept.
    static func thumbnail(_ image: RGBImage, maxSide: Int) -> RGBImage {
        let side = Swift.max(image.width, image.height)
        guard side > maxSide else { return image }
        let s = Double(maxSide) / Double(side)
        return image.resize(width: Swift.max(1, Int(Double(image.width) * s)), height: Swift.max(1, Int(Double(image.height) * s)))
    }

    /// The predicted and true masks of the `count` worst images of `data` by `perImage` (mean IoU per image, as
    /// ``SegmentationTraining/evaluate(_:on:size:normalization:batchSize:)`` returns it), each overlaid on its image
    /// (``LabelMask/overlay(on:palette:opacity:)``) at the image's size, then scaled to at most `maxSide` pixels.
    public static func segmentation(_ model: SegmentationModel, data: SegmentationDataset, perImage: [Double], count: Int, size: Int,
                                    normalization: Normalization, maxSide: Int = 256) -> [DenseDrawing] {
        worst(perImage, count: count).map { i in
            let pair = data.pairs[i]
            let mask = SegmentationTraining.predict(model, image: pair.image, size: size, normalization: normalization)
            return DenseDrawing(name: pair.name, score: perImage[i], predicted: thumbnail(mask.overlay(on: pair.image), maxSide: maxSide),
                                truth: thumbnail(pair.mask.overlay(on: pair.image), maxSide: maxSide))
        }
    }

    /// Detected boxes scored at least `minScore` and the true boxes of the `count` worst images by `perImage`
    /// (AP@0.5 per image), drawn with ``DetectionTraining/draw(_:on:)`` and scaled to at most `maxSide` pixels.
    public static func detection(_ samples: [DetectionSample], detections: [[DetectionBox]], perImage: [Double], count: Int,
                                 minScore: Float = 0.3, maxSide: Int = 512) -> [DenseDrawing] {
        worst(perImage, count: count).map { i in
            DenseDrawing(name: samples[i].name, score: perImage[i],
                         predicted: thumbnail(DetectionTraining.draw(detections[i].filter { $0.score >= minScore }, on: samples[i].image),
                                              maxSide: maxSide),
                         truth: thumbnail(DetectionTraining.draw(samples[i].boxes, on: samples[i].image), maxSide: maxSide))
        }
    }
}
