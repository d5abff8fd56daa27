/// A confusion matrix of per-pixel labels and the segmentation scores read from it (the definitions of
/// torchmetrics' `JaccardIndex`/`Dice` with `average=None` and of PASCAL VOC's mean IoU).
public struct SegmentationConfusion: Sendable, Equatable {
    public let classes: Int
    /// `counts[truth * classes + predicted]`.
    public private(set) var counts: [Int]

    public init(classes: Int) {
        self.classes = classes
        counts = [Int](repeating: 0, count: classes * classes)
    }

    /// Adds pixels: `truth[i]` against `predicted[i]`; truths equal to ``SegmentationLoss/ignoreIndex`` are skipped.
    public mutating func add(predicted: [Int], truth: [Int]) {
        precondition(predicted.count == truth.count, "SegmentationConfusion: \(predicted.count) predictions for \(truth.count) labels")
        for (p, t) in zip(predicted, truth) where t != SegmentationLoss.ignoreIndex {
            precondition(t >= 0 && t < classes && p >= 0 && p < classes, "SegmentationConfusion: label \(t) or prediction \(p) outside 0..<\(classes)")
            counts[t * classes + p] += 1
        }
    }

    func truePositives(_ c: Int) -> Int { counts[c * classes + c] }
    func support(_ c: Int) -> Int { (0..<classes).reduce(0) { $0 + counts[c * classes + $1] } }
    func predictedCount(_ c: Int) -> Int { (0..<classes).reduce(0) { $0 + counts[$1 * classes + c] } }

    /// Intersection over union of each class, `TP / (TP + FP + FN)`; nil for a class that is neither in the labels
    /// nor predicted.
    public var iou: [Double?] {
        (0..<classes).map { c in
            let union = support(c) + predictedCount(c) - truePositives(c)
            return union == 0 ? nil : Double(truePositives(c)) / Double(union)
        }
    }

    /// Dice (F1) of each class, `2·TP / (2·TP + FP + FN)`; nil where ``iou`` is nil.
    public var dice: [Double?] {
        (0..<classes).map { c in
            let denominator = support(c) + predictedCount(c)
            return denominator == 0 ? nil : 2 * Double(truePositives(c)) / Double(denominator)
        }
    }

    /// The mean of ``iou`` over the classes where it is defined.
    public var meanIoU: Double { Self.mean(iou) }
    /// The mean of ``dice`` over the classes where it is defined.
    public var meanDice: Double { Self.mean(dice) }

    /// Correct pixels over labelled pixels.
    public var pixelAccuracy: Double {
        let total = counts.reduce(0, +)
        return total == 0 ? .nan : Double((0..<classes).reduce(0) { $0 + truePositives($1) }) / Double(total)
    }

    static func mean(_ values: [Double?]) -> Double {
        let defined = values.compactMap { $0 }
        return defined.isEmpty ? .nan : defined.reduce(0, +) / Double(defined.count)
    }
}
