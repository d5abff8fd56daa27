import Datasets
import Foundation
import Tensors

/// A detector's detections on annotated images, scored over all of them and per image (pycocotools semantics,
/// ``DetectionEvaluation``; `maxDets` raised to the largest number of detections of an image so that none is
/// cut). `transfer evaluate` and `transfer train --task detect --test|--val-split` both score through this.
public struct DetectionScores: Sendable {
    public let detections: [[DetectionBox]]
    public let all: DetectionEvaluation
    public let perImage: [DetectionEvaluation]
    public let maxDetections: Int

    /// Predicts every sample (``DetectionTraining/predict(_:image:options:normalization:)``) and scores it.
    public init(_ model: DetectionModel, on samples: [DetectionSample], options: DetectionOptions, normalization: Normalization) {
        let detections = samples.map { DetectionTraining.predict(model, image: $0.image, options: options, normalization: normalization) }
        self.init(samples: samples, detections: detections, classes: model.classes)
    }

    public init(samples: [DetectionSample], detections: [[DetectionBox]], classes: Int) {
        let most = Swift.max(DetectionEvaluation.defaultMaxDetections, detections.map(\.count).max() ?? 0)
        self.detections = detections
        maxDetections = most
        all = DetectionEvaluation(truths: samples.map(\.boxes), detections: detections, classes: classes, maxDetections: most)
        perImage = zip(samples, detections).map { s, d in
            DetectionEvaluation(truths: [s.boxes], detections: [d], classes: classes, maxDetections: most)
        }
    }
}

extension BoxAnnotations {
    /// The annotations with labels in the order of `classNames` (a model's classes). For a one-class model every box
    /// becomes that class (a detector trained with `--merge-classes` scores every ground-truth box as its class);
    /// otherwise a class the model does not know is an error naming `file`.
    public func labelled(as classNames: [String], file: String) throws(DenseError) -> BoxAnnotations {
        if classNames.count == 1 && self.classNames != classNames { return merged(into: classNames[0]) }
        var out = self
        out.classNames = classNames
        for (name, list) in boxes {
            var relabelled: [DetectionBox] = []
            for b in list {
                guard let i = classNames.firstIndex(of: self.classNames[b.label]) else {
                    throw .invalidOption(name: "--boxes", value: "\(file): class \(self.classNames[b.label])", accepted: "the model's classes \(classNames)")
                }
                var c = b
                c.label = i
                relabelled.append(c)
            }
            out.boxes[name] = relabelled
        }
        return out
    }
}
