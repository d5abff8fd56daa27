import Datasets
@testable import Dense
import Foundation
import Layers
import Tensors
import Testing

/// The detector's whole chain (targets, focal + L1 losses, FPN, head, decoding, tiling, NMS, COCO evaluation) can
/// learn: trained on one real DeepForest tile it must find that tile's trees almost perfectly. A wrong target
/// encoding, loss sign, size/offset convention or decoding keeps mAP far from 1 however long it trains.
@Suite(.serialized) struct DetectorOverfitTests {
    static let root = realCache + "/datasets/deepforest"
    static let fetched = FileManager.default.fileExists(atPath: root + "/.transferkit-verified")

    /// 120 Adam steps of batch 2 on a frozen encoder: 8–40 s on the shared 2-core machine (`OVERFIT_STEPS` overrides).
    static func steps() -> Int { Int(ProcessInfo.processInfo.environment["OVERFIT_STEPS"] ?? "") ?? 120 }

    @Test(.enabled(if: fetched && lite0Present, "needs the deepforest set and EfficientNet-Lite0 weights (make test fetches both)"))
    func detectorOverfitsOneTileToNearPerfectMAP() throws {
        let a = try BoxAnnotations.read(Self.root + "/OSBS_029/OSBS_029.xml")
        let full = try DetectionBundle.samples(images: Self.root + "/OSBS_029", annotations: a)[0]
        let t = 128, x = 96, y = 96
        let tile = DetectionSample(name: "tile", image: Tiling.crop(full.image, x: x, y: y, tile: t),
                                   boxes: Tiling.boxes(full.boxes, x: x, y: y, tile: t))
        Initializer.seed(0)
        let model = try DetectionBundle.build(encoder: "efficientnet-lite0", classes: 1, weights: lite0Weights)
        var o = DetectionOptions()
        o.tile = t
        o.overlap = 0
        o.epochs = Self.steps()
        o.cropsPerEpoch = 2
        o.batchSize = 2
        o.freezeEncoder = ProcessInfo.processInfo.environment["OVERFIT_FINETUNE"] == nil
        o.learningRate = Float(ProcessInfo.processInfo.environment["OVERFIT_LR"] ?? "") ?? 1e-3
        let start = Date()
        let losses = try DetectionTraining.train(model, on: [tile], options: o, normalization: .efficientNetLite)
        let found = DetectionTraining.predict(model, image: tile.image, options: o, normalization: .efficientNetLite)
        let e = DetectionEvaluation(truths: [tile.boxes], detections: [found], classes: 1, maxDetections: 1000)
        print("overfit: \(tile.boxes.count) trees, \(found.count) found, mAP@0.5 \(e.map50), mAP \(e.map), recall \(e.recall50), "
              + "loss \(losses.first!) → \(losses.last!), \(Date().timeIntervalSince(start)) s")
        Self.diagnose(model, tile: tile, found: found)
        #expect(tile.boxes.count >= 7)
        #expect(e.map50 > 0.9, "mAP@0.5 \(e.map50), recall \(e.recall50), losses \(losses.suffix(5))")
        // bf16 inference (`--precision bf16`) finds the same trees: mAP@0.5 within 0.05 of fp32.
        if Precision.bf16.unsupportedReason == nil {
            let bf16 = withPrecision(.bf16) { DetectionTraining.predict(model, image: tile.image, options: o, normalization: .efficientNetLite) }
            let b = DetectionEvaluation(truths: [tile.boxes], detections: [bf16], classes: 1, maxDetections: 1000)
            print("overfit bf16: \(bf16.count) found, mAP@0.5 \(b.map50), recall \(b.recall50)")
            #expect(abs(b.map50 - e.map50) < 0.05, "bf16 \(b.map50), fp32 \(e.map50)")
        }
    }

    /// Per tree: the predicted score at its target centre cell, the predicted box there against the truth, and the
    /// best IoU of any kept detection.
    static func diagnose(_ model: DetectionModel, tile: DetectionSample, found: [DetectionBox]) {
        let x = DetectionTraining.tensor([tile.image], normalization: .efficientNetLite)
        let out = withNoGrad { model(x) }
        let cells = tile.image.width / CenterNetTargets.stride
        let t = CenterNetTargets(boxes: tile.boxes, classes: 1, height: cells, width: cells)
        let hm = out.heatmap.sigmoid().contiguous().toArray(), sz = out.size.contiguous().toArray(), of = out.offset.contiguous().toArray()
        for (b, (c, r)) in zip(tile.boxes, zip(t.centres, t.regression)) {
            let best = found.map { $0.iou(b) }.max() ?? 0
            print(String(format: "tree (%.0f,%.0f,%.0f,%.0f) cell %d: score %.3f, log w/h %.2f/%.2f (target %.2f/%.2f), offset %.2f/%.2f (target %.2f/%.2f), best IoU %.2f",
                         b.x0, b.y0, b.x1, b.y1, c, hm[c], sz[c], sz[cells * cells + c], r[0], r[1], of[c], of[cells * cells + c], r[2], r[3], best))
        }
        for (h, v) in [(false, false), (true, false), (false, true), (true, true)] {
            var (img, bx) = (tile.image, tile.boxes)
            if h { (img, bx) = DetectionTraining.flip(img, bx, horizontal: true) }
            if v { (img, bx) = DetectionTraining.flip(img, bx, horizontal: false) }
            let tt = CenterNetTargets(boxes: bx, classes: 1, height: cells, width: cells)
            for mode in [false, true] {
                model.train(mode)
                let o = withNoGrad { model(DetectionTraining.tensor([img, img], normalization: .efficientNetLite)) }
                let l = CenterNetLoss.total(o, targets: [tt, tt]).item()
                let hl = CenterNetLoss.heatmap(o.heatmap, target: Tensor(shape: o.heatmap.shape, data: tt.heatmap + tt.heatmap), objects: 2 * tt.centres.count).item()
                print("flip h \(h) v \(v) training-mode \(mode): loss \(l), heatmap part \(hl)")
            }
            model.eval()
        }
        print("detections: " + found.map { String(format: "(%.0f,%.0f,%.0f,%.0f) %.2f", $0.x0, $0.y0, $0.x1, $0.y1, $0.score) }.joined(separator: ", "))
    }
}

@Suite struct ReportDrawingTests {
    @Test func worstImagesAreTheLowestFiniteScoresLowestFirst() {
        #expect(ReportDrawings.worst([0.5, .nan, 0.1, 0.9, 0.1], count: 3) == [2, 4, 0])
        #expect(ReportDrawings.worst([0.5], count: 0).isEmpty)
    }
}
