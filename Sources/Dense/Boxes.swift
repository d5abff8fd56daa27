/// An axis-aligned box in pixels, `(x0, y0)` top-left and `(x1, y1)` bottom-right (Pascal VOC / COCO xyxy), with a
/// class and, for detections, a score.
public struct DetectionBox: Sendable, Equatable, Codable {
    public var x0: Float, y0: Float, x1: Float, y1: Float
    public var label: Int
    public var score: Float

    public init(x0: Float, y0: Float, x1: Float, y1: Float, label: Int = 0, score: Float = 1) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
        self.label = label
        self.score = score
    }

    public var width: Float { x1 - x0 }
    public var height: Float { y1 - y0 }
    public var area: Float { Swift.max(0, width) * Swift.max(0, height) }

    /// Intersection over union (0 when either box is empty).
    public func iou(_ o: DetectionBox) -> Float {
        let w = Swift.min(x1, o.x1) - Swift.max(x0, o.x0), h = Swift.min(y1, o.y1) - Swift.max(y0, o.y0)
        guard w > 0 && h > 0 else { return 0 }
        let inter = w * h
        return inter / (area + o.area - inter)
    }

    /// The box moved by `(dx, dy)`.
    public func shifted(_ dx: Float, _ dy: Float) -> DetectionBox {
        DetectionBox(x0: x0 + dx, y0: y0 + dy, x1: x1 + dx, y1: y1 + dy, label: label, score: score)
    }
}

/// Greedy non-maximum suppression as torchvision's `batched_nms`: per class, boxes by descending score, each kept box
/// removes the later ones whose IoU with it exceeds `iouThreshold`. Returns the kept boxes by descending score.
public func nonMaximumSuppression(_ boxes: [DetectionBox], iouThreshold: Float) -> [DetectionBox] {
    let order = boxes.indices.sorted { boxes[$0].score > boxes[$1].score || (boxes[$0].score == boxes[$1].score && $0 < $1) }
    var kept: [DetectionBox] = []
    var removed = [Bool](repeating: false, count: boxes.count)
    for (rank, i) in order.enumerated() where !removed[i] {
        kept.append(boxes[i])
        for j in order[(rank + 1)...] where !removed[j] && boxes[j].label == boxes[i].label {
            if boxes[i].iou(boxes[j]) > iouThreshold { removed[j] = true }
        }
    }
    return kept
}
