import Datasets
@testable import Dense
import Foundation
import Tensors
import Testing

/// Training targets and the prediction decoder speak the same language: maps built from the targets (heatmap
/// logits of the Gaussian targets, sizes and offsets written at the centre cells) decode back to the very boxes
/// that made them. A disagreement in stride, centre cell, offset, log size or channel order fails here.
@Suite struct CenterNetRoundTripTests {
    /// Boxes of a 128-px tile at fractional pixel positions, two classes, one touching the left edge, one the bottom.
    static let boxes: [DetectionBox] = [
        DetectionBox(x0: 0, y0: 21, x1: 25, y1: 49, label: 0),
        DetectionBox(x0: 19.5, y0: 13.25, x1: 54, y1: 56, label: 0),
        DetectionBox(x0: 65, y0: 59, x1: 103.75, y1: 95, label: 1),
        DetectionBox(x0: 24, y0: 57, x1: 64, y1: 96.5, label: 0),
        DetectionBox(x0: 7, y0: 99, x1: 57, y1: 128, label: 1),
        DetectionBox(x0: 100, y0: 3, x1: 108, y1: 11, label: 0),
    ]

    /// The maps a perfect detector would output for `targets` (`[1, C, h, w]` logits, `[1, 2, h, w]` sizes, offsets).
    static func perfectMaps(_ t: CenterNetTargets, classes: Int, cells: Int) -> (Tensor, Tensor, Tensor) {
        let logits = t.heatmap.map { p -> Float in
            let q = Swift.min(Swift.max(p, 1e-6), 1 - 1e-6)
            return Foundation.log(q / (1 - q))
        }
        var size = [Float](repeating: 0, count: 2 * cells * cells), offset = size
        for (centre, r) in zip(t.centres, t.regression) {
            size[centre] = r[0]; size[cells * cells + centre] = r[1]
            offset[centre] = r[2]; offset[cells * cells + centre] = r[3]
        }
        return (Tensor(shape: [1, classes, cells, cells], data: logits), Tensor(shape: [1, 2, cells, cells], data: size),
                Tensor(shape: [1, 2, cells, cells], data: offset))
    }

    @Test func decodingTheTargetsGivesBackTheGroundTruthBoxes() {
        let cells = 128 / CenterNetTargets.stride
        let t = CenterNetTargets(boxes: Self.boxes, classes: 2, height: cells, width: cells)
        #expect(t.centres.count == Self.boxes.count)
        let (h, s, o) = Self.perfectMaps(t, classes: 2, cells: cells)
        let decoded = decodeCenterNet(heatmap: h, size: s, offset: o, k: 100, minScore: 0.5)[0]
        #expect(decoded.count == Self.boxes.count, "\(decoded)")
        for truth in Self.boxes {
            let match = decoded.first { $0.label == truth.label && $0.iou(truth) > 0.999 }
            #expect(match != nil, "no decoded box for \(truth) in \(decoded)")
            if let m = match {
                #expect(Swift.abs(m.x0 - truth.x0) < 1e-3 && Swift.abs(m.y0 - truth.y0) < 1e-3, "\(m) vs \(truth)")
                #expect(Swift.abs(m.x1 - truth.x1) < 1e-3 && Swift.abs(m.y1 - truth.y1) < 1e-3, "\(m) vs \(truth)")
            }
        }
    }

    /// The whole prediction path after the decoder (tile shift, clipping to the image, NMS at the default 0.3)
    /// keeps every one of a tile's touching tree crowns.
    @Test func defaultNmsKeepsEveryDecodedTargetBox() {
        let cells = 128 / CenterNetTargets.stride
        let t = CenterNetTargets(boxes: Self.boxes, classes: 2, height: cells, width: cells)
        let (h, s, o) = Self.perfectMaps(t, classes: 2, cells: cells)
        let decoded = decodeCenterNet(heatmap: h, size: s, offset: o, k: 100, minScore: 0.5)[0]
        #expect(nonMaximumSuppression(decoded, iouThreshold: DetectionOptions().nmsThreshold).count == Self.boxes.count)
    }

    /// Training flips move image and boxes together: after `DetectionTraining.flip` (either axis) the pixels inside
    /// each flipped box are the painted pixels of the original box, and none outside them.
    @Test func flipsMoveImageAndBoxesTogether() {
        var image = RGBImage(width: 40, height: 24)
        let box = DetectionBox(x0: 3, y0: 5, x1: 12, y1: 9)
        for y in 5..<9 { for x in 3..<12 { for c in 0..<3 { image.pixels[(y * 40 + x) * 3 + c] = 255 } } }
        for horizontal in [true, false] {
            let (f, boxes) = DetectionTraining.flip(image, [box], horizontal: horizontal)
            let b = boxes[0]
            #expect(b.width == box.width && b.height == box.height)
            for y in 0..<24 {
                for x in 0..<40 {
                    let inside = Float(x) >= b.x0 && Float(x) < b.x1 && Float(y) >= b.y0 && Float(y) < b.y1
                    #expect((f.pixels[(y * 40 + x) * 3] == 255) == inside, "pixel (\(x), \(y)) after flip to \(b)")
                }
            }
        }
    }

    /// Crops per epoch: a 400 × 400 photograph beside a 2299 × 2472 one still gets its equal half-share (the old
    /// split by area alone gave it none of 16), and the counts add up to the requested total.
    @Test func smallPhotographsGetTrainingCropsEveryEpoch() {
        let areas: [Double] = [2299 * 2472, 1249 * 1035, 400 * 400]
        let counts = DetectionTraining.cropCounts(areas: areas, tile: 128, total: 16)
        #expect(counts.reduce(0, +) == 16)
        #expect(counts[2] >= 2 && counts[0] > counts[1] && counts[1] >= counts[2], "\(counts)")
        #expect(DetectionTraining.cropCounts(areas: areas, tile: 128, total: 2) == [1, 1, 1])
        #expect(DetectionTraining.cropCounts(areas: [400.0 * 400], tile: 128, total: nil) == [10])
    }

    /// The focal loss keeps a gradient where the reference's clamp (sigmoid to [1e-4, 1 − 1e-4]) has none: a heatmap
    /// collapsed to logit −12 (p ≈ 6e-6) at an object's centre is pushed back up, and at moderate logits the loss
    /// equals CenterNet's `_neg_loss` formula computed directly.
    @Test func focalLossPullsACollapsedHeatmapBackUp() {
        let t = CenterNetTargets(boxes: [DetectionBox(x0: 8, y0: 8, x1: 24, y1: 24)], classes: 1, height: 8, width: 8)
        let collapsed = Tensor.full([1, 1, 8, 8], -12)
        collapsed.requiresGrad = true
        CenterNetLoss.heatmap(collapsed, target: Tensor(shape: [1, 1, 8, 8], data: t.heatmap), objects: 1).backward()
        let g = collapsed.grad!.contiguous().toArray()
        #expect(g[t.centres[0]] < -0.9, "gradient at the centre \(g[t.centres[0]])")
        let logits = (0..<64).map { Float(($0 * 37) % 11) / 2 - 3 }
        let loss = CenterNetLoss.heatmap(Tensor(shape: [1, 1, 8, 8], data: logits), target: Tensor(shape: [1, 1, 8, 8], data: t.heatmap), objects: 1).item()
        var direct: Double = 0
        for (x, y) in zip(logits, t.heatmap) {
            let p = 1 / (1 + Foundation.exp(-Double(x)))
            direct -= y == 1 ? (1 - p) * (1 - p) * Foundation.log(p) : Foundation.pow(1 - Double(y), 4) * p * p * Foundation.log(1 - p)
        }
        #expect(Swift.abs(Double(loss) - direct) < 1e-4 * Swift.max(1, direct), "\(loss) vs \(direct)")
    }
}
