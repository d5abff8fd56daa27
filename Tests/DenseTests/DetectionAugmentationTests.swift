import Datasets
@testable import Dense
import Foundation
import Tensors
import Testing

/// Colour and scale augmentation of detection crops: under scale the boxes follow the resized pixels exactly; under
/// colour jitter the boxes (and every crop's place and flips) are unchanged; the options are range-checked.
@Suite struct DetectionAugmentationTests {
    /// White squares on black, 300 × 300, at least 20 px apart.
    static let squares: [DetectionBox] = [
        DetectionBox(x0: 20, y0: 30, x1: 60, y1: 70), DetectionBox(x0: 100, y0: 40, x1: 124, y1: 64),
        DetectionBox(x0: 200, y0: 150, x1: 260, y1: 230), DetectionBox(x0: 50, y0: 200, x1: 90, y1: 250),
        DetectionBox(x0: 150, y0: 100, x1: 180, y1: 140),
    ]

    static var image: RGBImage {
        var image = RGBImage(width: 300, height: 300)
        for b in squares {
            for y in Int(b.y0)..<Int(b.y1) { for x in Int(b.x0)..<Int(b.x1) { for c in 0..<3 { image.pixels[(y * 300 + x) * 3 + c] = 255 } } }
        }
        return image
    }

    static func value(_ image: RGBImage, _ x: Int, _ y: Int) -> UInt8 { image.pixels[(y * image.width + x) * 3] }

    static func inside(_ b: DetectionBox, _ px: Float, _ py: Float, margin m: Float) -> Bool {
        px >= b.x0 - m && px < b.x1 + m && py >= b.y0 - m && py < b.y1 + m
    }

    /// The window's boxes are `Tiling.boxes` of the window times `tile / window`, and the resized pixels agree: bright
    /// well inside every kept box, dark away from every square (kept or not) moved by the same map.
    @Test func scaledCropBoxesFollowTheResizedPixels() {
        let image = Self.image
        let tile = 128
        for (x, y, window) in [(0, 0, 64), (10, 20, 64), (40, 20, 256), (100, 60, 200), (180, 120, 160), (250, 250, 100), (0, 0, 300)] {
            let (crop, boxes) = DetectionTraining.scaledCrop(image, Self.squares, x: x, y: y, window: window, tile: tile)
            let f = Float(tile) / Float(window)
            #expect(crop.width == tile && crop.height == tile)
            let expected = Tiling.boxes(Self.squares, x: x, y: y, tile: window)
                .map { DetectionBox(x0: $0.x0 * f, y0: $0.y0 * f, x1: $0.x1 * f, y1: $0.y1 * f, label: $0.label, score: $0.score) }
            #expect(boxes == expected, "window \(window) at (\(x), \(y))")
            let moved = Self.squares.map { b in
                DetectionBox(x0: (b.x0 - Float(x)) * f, y0: (b.y0 - Float(y)) * f, x1: (b.x1 - Float(x)) * f, y1: (b.y1 - Float(y)) * f)
            }
            let m = 1.5 * Swift.max(1, f)
            var bright = 0
            for py in 0..<tile {
                for px in 0..<tile {
                    let cx = Float(px) + 0.5, cy = Float(py) + 0.5, v = Self.value(crop, px, py)
                    if boxes.contains(where: { Self.inside($0, cx, cy, margin: -m) }) {
                        #expect(v > 200, "pixel (\(px), \(py)) inside a box of window \(window) at (\(x), \(y)) is \(v)")
                        bright += 1
                    }
                    if !moved.contains(where: { Self.inside($0, cx, cy, margin: m) }) {
                        #expect(v < 55, "pixel (\(px), \(py)) away from every square of window \(window) at (\(x), \(y)) is \(v)")
                    }
                }
            }
            #expect(boxes.isEmpty || bright > 0)
        }
    }

    /// Through the training crops (random windows, places and flips): every kept box is bright inside and has a
    /// dark ring just outside it wherever the ring lies in the crop, and boxes appear at more than one scale.
    @Test func scaleJitteredTrainingCropsKeepBoxesOnTheirObjects() {
        let sample = DetectionSample(name: "squares", image: Self.image, boxes: Self.squares)
        var g = SeededGenerator(seed: 7), colors = SeededGenerator(seed: 8)
        let crops = DetectionTraining.crops([sample], tile: 96, total: 60, augmentation: DetectionAugmentation(scaleJitter: 0.5),
                                            generator: &g, colors: &colors)
        #expect(crops.count == 60)
        var widths = Set<Int>()
        for (crop, boxes) in crops {
            for b in boxes {
                if b.x0 > 0 && b.x1 < 96 { widths.insert(Int((b.width * 10).rounded())) }
                for py in 0..<96 {
                    for px in 0..<96 {
                        let cx = Float(px) + 0.5, cy = Float(py) + 0.5, v = Self.value(crop, px, py)
                        if Self.inside(b, cx, cy, margin: -3) { #expect(v > 200, "inside \(b): (\(px), \(py)) is \(v)") }
                        if Self.inside(b, cx, cy, margin: 4) && !Self.inside(b, cx, cy, margin: 3) {
                            #expect(v < 55, "ring of \(b): (\(px), \(py)) is \(v)")
                        }
                    }
                }
            }
        }
        #expect(widths.count > 5, "boxes at \(widths.count) widths")
    }

    /// Colour jitter changes pixels only: every crop keeps its boxes (its place and flips come from the geometry
    /// stream, colour from its own), and with augmentation off the crops are those of the plain pipeline.
    @Test func colorJitterLeavesBoxesAndCropsInPlace() {
        let sample = DetectionSample(name: "squares", image: Self.image, boxes: Self.squares)
        func run(_ a: DetectionAugmentation) -> [(RGBImage, [DetectionBox])] {
            var g = SeededGenerator(seed: 3), colors = SeededGenerator(seed: 4)
            return DetectionTraining.crops([sample], tile: 64, total: 24, augmentation: a, generator: &g, colors: &colors)
        }
        let plain = run(.none), jittered = run(DetectionAugmentation(colorJitter: 0.4, hueJitter: 0.1))
        #expect(plain.count == jittered.count)
        var changed = 0
        for (p, j) in zip(plain, jittered) {
            #expect(p.1 == j.1)
            if p.0.pixels != j.0.pixels { changed += 1 }
        }
        #expect(changed >= plain.count / 4, "\(changed) of \(plain.count) crops recoloured")
        // Off: the same crops as the plain crop-and-flip pipeline (no extra draws).
        var g = SeededGenerator(seed: 3)
        for (crop, boxes) in plain {
            let x = g.nextInt(below: 300 - 64 + 1), y = g.nextInt(below: 300 - 64 + 1)
            var image = Tiling.crop(sample.image, x: x, y: y, tile: 64), b = Tiling.boxes(sample.boxes, x: x, y: y, tile: 64)
            if g.nextDouble() < 0.5 { (image, b) = DetectionTraining.flip(image, b, horizontal: true) }
            if g.nextDouble() < 0.5 { (image, b) = DetectionTraining.flip(image, b, horizontal: false) }
            #expect(image.pixels == crop.pixels && b == boxes)
        }
    }

    @Test func augmentationOptionsAreRangeChecked() {
        for (a, flag) in [(DetectionAugmentation(colorJitter: 1.01), "--color-jitter"), (DetectionAugmentation(colorJitter: -0.1), "--color-jitter"),
                          (DetectionAugmentation(colorJitter: .nan), "--color-jitter"), (DetectionAugmentation(hueJitter: 0.51), "--hue-jitter"),
                          (DetectionAugmentation(scaleJitter: 0.95), "--scale-jitter"), (DetectionAugmentation(scaleJitter: .infinity), "--scale-jitter")] {
            var o = DetectionOptions()
            o.augmentation = a
            #expect(throws: DenseError.self) { try o.validate() }
            do { try o.validate() } catch { #expect(error.description.contains(flag), "\(error)") }
        }
        var o = DetectionOptions()
        o.augmentation = DetectionAugmentation(colorJitter: 1, hueJitter: 0.5, scaleJitter: 0.9)
        #expect(throws: Never.self) { try o.validate() }
    }
}
