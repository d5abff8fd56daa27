import Datasets
import Dense
import Foundation
import Tensors
import Testing

@Suite struct MetricsAndMaskTests {
    /// Hand-computed: truth [0,0,1,1,2,255], prediction [0,1,1,1,0,2] → class 0: TP 1, FP 1, FN 1 → IoU 1/3;
    /// class 1: TP 2, FP 1 → 2/3; class 2: TP 0, FN 1 → 0; pixel accuracy 3/5 (the ignored pixel skipped).
    @Test func confusionGivesPerClassIoUDiceAndPixelAccuracy() {
        var c = SegmentationConfusion(classes: 3)
        c.add(predicted: [0, 1, 1, 1, 0, 2], truth: [0, 0, 1, 1, 2, 255])
        let iou = c.iou.map { $0! }
        #expect(Swift.abs(iou[0] - 1.0 / 3) < 1e-12 && Swift.abs(iou[1] - 2.0 / 3) < 1e-12 && iou[2] == 0)
        #expect(Swift.abs(c.meanIoU - 1.0 / 3) < 1e-12)
        #expect(Swift.abs(c.dice[1]! - 0.8) < 1e-12)
        #expect(Swift.abs(c.pixelAccuracy - 0.6) < 1e-12)
        var absent = SegmentationConfusion(classes: 3)
        absent.add(predicted: [0, 0], truth: [0, 0])
        #expect(absent.iou[1] == nil && absent.meanIoU == 1)
    }

    @Test func paletteAndGreyMasksReadAsIndices() throws {
        let dir = try temporaryDirectory("mask")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let labels: [UInt8] = [0, 1, 2, 255, 7, 0]
        let mask = LabelMask(width: 3, height: 2, labels: labels)
        try Data(mask.pngData()).write(to: URL(fileURLWithPath: dir + "/p.png"))
        #expect(try LabelMask.read(contentsOf: dir + "/p.png") == mask)
        try Data(PNGEncoder.encodeGray(width: 3, height: 2, pixels: labels)).write(to: URL(fileURLWithPath: dir + "/g.png"))
        #expect(try LabelMask.read(contentsOf: dir + "/g.png").labels == labels)
        // The palette PNG decodes to VOC colours as an ordinary image: index 1 is (128, 0, 0).
        let rgb = try ImageDecoder.decode(contentsOf: dir + "/p.png")
        #expect(Array(rgb.pixels[3..<6]) == [128, 0, 0])
        try PNGEncoder.write(RGBImage(width: 2, height: 2), to: dir + "/rgb.png")
        #expect(throws: DatasetError.self) { try LabelMask.read(contentsOf: dir + "/rgb.png") }
    }

    /// An image whose colour encodes the label of each pixel stays aligned with its mask through random flips, zooms,
    /// rotations and crops: away from label edges every labelled pixel has its label's colour.
    @Test func jointAugmentationKeepsImageAndMaskAligned() {
        let w = 40, h = 30
        var labels = [UInt8](repeating: 0, count: w * h)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let l: UInt8 = x < 20 ? (y < 15 ? 1 : 2) : 3
                labels[y * w + x] = l
                pixels[(y * w + x) * 3] = l * 60
            }
        }
        let pair = SegmentationPair(name: "a", image: RGBImage(width: w, height: h, pixels: pixels),
                                    mask: LabelMask(width: w, height: h, labels: labels))
        var augmentation = JointAugmentation()
        augmentation.rotationDegrees = 30
        for seed in 0..<8 {
            var g = SeededGenerator(seed: UInt64(seed))
            let (image, out) = pair.sample(size: 32, normalization: .identity, augmentation: augmentation, generator: &g)
            var checked = 0
            for v in 1..<31 {
                for u in 1..<31 {
                    let j: Int = v * 32 + u
                    let label: Int = out[j]
                    let neighbours: [Int] = [out[j - 1], out[j + 1], out[j - 32], out[j + 32]]
                    guard label != 255, neighbours.allSatisfy({ $0 == label }) else { continue }
                    let expected = Float(label * 60)
                    #expect(Swift.abs(image[j] - expected) < 1, "seed \(seed) at (\(u), \(v))")
                    checked += 1
                }
            }
            #expect(checked > 300)
            #expect(Set(out).isSubset(of: [1, 2, 3, 255]))
        }
    }
}
