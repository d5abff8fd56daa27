import Foundation

/// COCO box evaluation as pycocotools' `COCOeval` computes it (Lin et al., "Microsoft COCO", ECCV 2014;
/// `cocoeval.py`): area range "all", at most `maxDetections` detections per image and class by score, IoU
/// thresholds 0.50:0.05:0.95, greedy matching of detections by descending score to the unmatched ground truth of
/// highest IoU, precision made monotone and read at 101 recall points; a class without ground truth is left out of
/// the mean. No crowd or "difficult" handling (every ground-truth box counts). As in pycocotools, an unmatched
/// detection whose signed area `(x1 − x0)·(y1 − y0)` is negative (outside the area range) is ignored rather than
/// counted as a false positive.
public struct DetectionEvaluation: Sendable {
    public static let iouThresholds: [Double] = (0..<10).map { 0.5 + 0.05 * Double($0) }
    /// pycocotools' largest `maxDets`.
    public static let defaultMaxDetections = 100

    /// AP per class (rows) and IoU threshold (columns); nil for a class without ground truth.
    public let averagePrecision: [[Double]?]
    /// Recall per class at each IoU threshold (pycocotools' `recall`: matched ground truth over all).
    public let recall: [[Double]?]

    /// COCO mAP@[.5:.95].
    public var map: Double { mean { $0.reduce(0, +) / Double($0.count) } }
    /// mAP at IoU 0.5 (PASCAL VOC's threshold, COCO's interpolation).
    public var map50: Double { mean { $0[0] } }
    /// Mean recall at IoU 0.5 over classes with ground truth.
    public var recall50: Double {
        let r = recall.compactMap { $0?[0] }
        return r.isEmpty ? .nan : r.reduce(0, +) / Double(r.count)
    }

    func mean(_ f: ([Double]) -> Double) -> Double {
        let v = averagePrecision.compactMap { $0.map(f) }
        return v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count)
    }

    /// Evaluates `detections[i]` against `truths[i]` for every image `i`, keeping the `maxDetections` best-scored
    /// detections of each image and class (pycocotools: 100; images with hundreds of objects need more).
    public init(truths: [[DetectionBox]], detections: [[DetectionBox]], classes: Int, maxDetections: Int = defaultMaxDetections) {
        precondition(truths.count == detections.count, "DetectionEvaluation: \(truths.count) images of truths, \(detections.count) of detections")
        var ap: [[Double]?] = [], rc: [[Double]?] = []
        for c in 0..<classes {
            let (a, r) = Self.evaluateClass(c, truths: truths, detections: detections, maxDetections: maxDetections)
            ap.append(a)
            rc.append(r)
        }
        averagePrecision = ap
        recall = rc
    }

    static func evaluateClass(_ c: Int, truths: [[DetectionBox]], detections: [[DetectionBox]], maxDetections: Int) -> ([Double]?, [Double]?) {
        let gtCount = truths.reduce(0) { $0 + $1.filter { $0.label == c }.count }
        guard gtCount > 0 else { return (nil, nil) }
        let t = iouThresholds.count
        // Per image: detections sorted by score (stable), cut to maxDetections; matched flags per threshold.
        var scored: [(score: Float, image: Int, matched: [Bool], ignored: [Bool])] = []
        for i in truths.indices {
            let gts = truths[i].filter { $0.label == c }
            let dets = detections[i].enumerated().filter { $0.element.label == c }
                .sorted { $0.element.score > $1.element.score || ($0.element.score == $1.element.score && $0.offset < $1.offset) }
                .prefix(maxDetections).map(\.element)
            var gtUsed = [[Bool]](repeating: [Bool](repeating: false, count: gts.count), count: t)
            for d in dets {
                var matched = [Bool](repeating: false, count: t)
                for (k, threshold) in iouThresholds.enumerated() {
                    var best = Swift.min(threshold, 1 - 1e-10), bestIndex = -1
                    for (g, gt) in gts.enumerated() where !gtUsed[k][g] {
                        let iou = Double(d.iou(gt))
                        if iou < best { continue }
                        best = iou
                        bestIndex = g
                    }
                    if bestIndex >= 0 {
                        gtUsed[k][bestIndex] = true
                        matched[k] = true
                    }
                }
                let negative = (d.x1 - d.x0) * (d.y1 - d.y0) < 0
                scored.append((d.score, i, matched, matched.map { !$0 && negative }))
            }
        }
        // pycocotools concatenates per-image detections and sorts by score with a stable mergesort.
        let order = scored.indices.sorted { scored[$0].score > scored[$1].score || (scored[$0].score == scored[$1].score && $0 < $1) }
        var aps: [Double] = [], recalls: [Double] = []
        let recallPoints = (0...100).map { Double($0) / 100 }
        for k in 0..<t {
            var tp = 0.0, fp = 0.0
            var precision: [Double] = [], recall: [Double] = []
            for i in order where !scored[i].ignored[k] {
                if scored[i].matched[k] { tp += 1 } else { fp += 1 }
                recall.append(tp / Double(gtCount))
                precision.append(tp / Swift.max(tp + fp, Double.ulpOfOne))
            }
            recalls.append(recall.last ?? 0)
            if precision.count > 1 { for j in stride(from: precision.count - 1, to: 0, by: -1) { precision[j - 1] = Swift.max(precision[j - 1], precision[j]) } }
            var sum = 0.0
            for r in recallPoints {
                // searchsorted(recall, r, side="left")
                var lo = 0, hi = recall.count
                while lo < hi { let mid = (lo + hi) / 2; if recall[mid] < r { lo = mid + 1 } else { hi = mid } }
                if lo < precision.count { sum += precision[lo] }
            }
            aps.append(sum / Double(recallPoints.count))
        }
        return (aps, recalls)
    }
}
