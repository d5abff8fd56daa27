import Dense
import Foundation
import Tensors
import Testing

/// Detection numerics against the references (tools/make_detection_fixtures.py): COCO mAP against pycocotools,
/// NMS against torchvision's `batched_nms`, CenterNet decoding against a PyTorch implementation.
@Suite struct DetectionGoldenTests {
    static func fixture() throws -> [String: Any] {
        guard let url = Bundle.module.url(forResource: "Fixtures/detection_golden", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile)
        }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
    }

    static func boxes(_ rows: Any?, scored: Bool) -> [[DetectionBox]] {
        ((rows as? [[[Double]]]) ?? []).map { image in
            image.map { r in DetectionBox(x0: Float(r[0]), y0: Float(r[1]), x1: Float(r[2]), y1: Float(r[3]), label: Int(r[4]),
                                          score: scored ? Float(r[5]) : 1) }
        }
    }

    @Test func cocoMapMatchesPycocotools() throws {
        let cases = try Self.fixture()["coco"] as? [[String: Any]] ?? []
        #expect(cases.count == 3)
        for c in cases {
            let e = DetectionEvaluation(truths: Self.boxes(c["truths"], scored: false), detections: Self.boxes(c["detections"], scored: true),
                                        classes: c["classes"] as? Int ?? 0)
            let stats = c["stats"] as? [Double] ?? []
            #expect(Swift.abs(e.map - stats[0]) < 1e-6, "mAP \(e.map) vs pycocotools \(stats[0])")
            #expect(Swift.abs(e.map50 - stats[1]) < 1e-6, "AP50 \(e.map50) vs pycocotools \(stats[1])")
        }
    }

    @Test func nmsKeepsWhatTorchvisionKeeps() throws {
        let n = try Self.fixture()["nms"] as? [String: Any] ?? [:]
        let rows = n["boxes"] as? [[Double]] ?? [], scores = n["scores"] as? [Double] ?? [], labels = n["labels"] as? [Int] ?? []
        let boxes = rows.indices.map { i in
            DetectionBox(x0: Float(rows[i][0]), y0: Float(rows[i][1]), x1: Float(rows[i][2]), y1: Float(rows[i][3]), label: labels[i], score: Float(scores[i]))
        }
        let kept = nonMaximumSuppression(boxes, iouThreshold: Float(n["threshold"] as? Double ?? 0))
        let expected = (n["keep"] as? [Int] ?? []).map { boxes[$0] }
        #expect(kept == expected)
    }

    @Test func centerNetDecodingMatchesPyTorch() throws {
        let d = try Self.fixture()["decode"] as? [String: Any] ?? [:]
        let shape = d["shape"] as? [Int] ?? []
        func t(_ key: String, _ channels: Int) -> Tensor {
            Tensor(shape: [shape[0], channels, shape[2], shape[3]], data: (d[key] as? [Double] ?? []).map(Float.init))
        }
        let decoded = decodeCenterNet(heatmap: t("heatmap", shape[1]), size: t("size", 2), offset: t("offset", 2), k: d["k"] as? Int ?? 0, minScore: 0)
        let expected = Self.boxes(d["boxes"], scored: true)
        #expect(decoded.count == expected.count)
        for (got, want) in zip(decoded, expected) {
            #expect(got.count == want.count)
            for (a, b) in zip(got, want) {
                #expect(a.label == b.label && Swift.abs(a.score - b.score) < 1e-6)
                #expect(Swift.abs(a.x0 - b.x0) < 1e-3 && Swift.abs(a.y1 - b.y1) < 1e-3, "\(a) vs \(b)")
            }
        }
    }

    @Test func tilesCoverTheImageAndBoxesFollowTheirTile() {
        #expect(Tiling.starts(length: 1000, tile: 256, overlap: 64) == [0, 192, 384, 576, 744])
        #expect(Tiling.starts(length: 200, tile: 256, overlap: 64) == [0])
        let boxes = [DetectionBox(x0: 180, y0: 10, x1: 220, y1: 30), DetectionBox(x0: 300, y0: 40, x1: 320, y1: 60)]
        let inFirst = Tiling.boxes(boxes, x: 0, y: 0, tile: 256)
        #expect(inFirst == [DetectionBox(x0: 180, y0: 10, x1: 220, y1: 30)])
        #expect(Tiling.boxes(boxes, x: 192, y: 0, tile: 256) == [DetectionBox(x0: 0, y0: 10, x1: 28, y1: 30), DetectionBox(x0: 108, y0: 40, x1: 128, y1: 60)])
    }

    @Test func centerNetLossGradientMatchesFiniteDifferences() {
        var g = SeededGenerator(seed: 4)
        let heat = Tensor.randn([1, 2, 8, 8], generator: &g), size = Tensor.randn([1, 2, 8, 8], generator: &g)
        let offset = Tensor.randn([1, 2, 8, 8], generator: &g)
        let targets = [CenterNetTargets(boxes: [DetectionBox(x0: 4, y0: 6, x1: 20, y1: 18, label: 1), DetectionBox(x0: 10, y0: 10, x1: 14, y1: 30)],
                                        classes: 2, height: 8, width: 8)]
        for t in [heat, size, offset] { t.requiresGrad = true }
        CenterNetLoss.total((heat, size, offset), targets: targets).backward()
        let h: Float = 1e-2
        for (which, tensor) in [heat, size, offset].enumerated() {
            let values = tensor.toArray(), analytic = tensor.grad!.contiguous().toArray()
            var worst: Float = 0
            for i in stride(from: 0, to: values.count, by: 5) {
                func loss(_ delta: Float) -> Float {
                    var v = values
                    v[i] += delta
                    let parts = [heat, size, offset].enumerated().map { $0.offset == which ? Tensor(shape: tensor.shape, data: v) : $0.element.detached() }
                    return withNoGrad { CenterNetLoss.total((parts[0], parts[1], parts[2]), targets: targets).item() }
                }
                worst = Swift.max(worst, Swift.abs((loss(h) - loss(-h)) / (2 * h) - analytic[i]))
            }
            #expect(worst < 5e-3, "input \(which): worst |numeric − analytic| = \(worst)")
        }
    }

    @Test func vocAndCSVAnnotationsGiveTheSameBoxes() throws {
        let dir = try temporaryDirectory("boxes")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let xml = "<annotation><filename>a.png</filename><object><name>Tree</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>11</xmax><ymax>12</ymax></bndbox></object>"
            + "<object><name>Tree</name><bndbox><xmin>20</xmin><ymin>20</ymin><xmax>30</xmax><ymax>35</ymax></bndbox></object></annotation>"
        try xml.write(toFile: dir + "/a.xml", atomically: true, encoding: .utf8)
        try "image_path,xmin,ymin,xmax,ymax,label\na.png,1,2,11,12,Tree\na.png,20,20,30,35,Tree\n".write(toFile: dir + "/a.csv", atomically: true, encoding: .utf8)
        let voc = try BoxAnnotations.read(dir + "/a.xml"), csv = try BoxAnnotations.read(dir + "/a.csv")
        #expect(voc == csv && voc.boxes["a.png"]?.count == 2 && voc.classNames == ["Tree"])
        try "image_path,xmin,ymin,xmax,ymax,label\na.png,5,2,1,12,Tree\n".write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        #expect(throws: DenseError.self) { try BoxAnnotations.read(dir + "/bad.csv") }
    }
}
