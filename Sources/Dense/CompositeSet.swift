import Datasets
import Foundation
import Tensors

/// Builds a segmentation set with exact masks: Fashion-MNIST garments, tinted, composited at random scales and
/// places onto random crops of real photographs (the proposal; the label of a pixel is the class of the
/// garment painted there last, so the mask is exact by construction).
///
/// Each sample: a random square crop (side between `size` and the photo's shorter side) of a random photograph,
/// resized to `size × size`; then 1–3 garments of the chosen Fashion-MNIST split, each resized (bilinear) to a random
/// side in `size/4 … size·0.6`, placed fully inside, its pixels with grey value above ``threshold`` painted in a random
/// bright tint and labelled `garment class + 1` (0 is background).
public enum CompositeSegmentationSet {
    /// Grey level (0…255) above which a resized garment pixel belongs to the garment.
    public static let threshold: UInt8 = 40
    /// Class names in label order: "background" then Fashion-MNIST's ten.
    public static let classNames = ["background"] + FashionMNIST.labelNames

    /// Writes `count` samples into `directory/images/NNNN.png` and `directory/masks/NNNN.png` (palette PNGs).
    /// - Returns: pixels per class over the whole set.
    @discardableResult
    /// - Parameter binary: label every garment 1 (foreground/background) instead of its class + 1.
    public static func build(backgrounds: [RGBImage], garments: FashionMNIST, count: Int, size: Int, seed: UInt64,
                             binary: Bool = false, into directory: String) throws(DenseError) -> [Int] {
        guard !backgrounds.isEmpty else { throw .invalidOption(name: "--backgrounds", value: "(none)", accepted: "at least one photograph") }
        guard (1...100_000).contains(count) else { throw .invalidOption(name: "--count", value: "\(count)", accepted: "1…100000") }
        guard (32...1024).contains(size) else { throw .invalidOption(name: "--size", value: "\(size)", accepted: "32…1024") }
        for sub in ["images", "masks"] {
            do { try FileManager.default.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true) } catch {
                throw .writeFailed(path: directory + "/" + sub, reason: error.localizedDescription)
            }
        }
        var classPixels = [Int](repeating: 0, count: classNames.count)
        var g = SeededGenerator(seed: seed)
        for i in 0..<count {
            let (image, mask) = sample(backgrounds: backgrounds, garments: garments, size: size, binary: binary, generator: &g)
            for l in mask.labels { classPixels[Int(l)] += 1 }
            let name = String(format: "%05d.png", i)
            do throws(DatasetError) { try PNGEncoder.write(image, to: directory + "/images/" + name) } catch {
                throw .writeFailed(path: directory + "/images/" + name, reason: error.description)
            }
            let maskPath = directory + "/masks/" + name
            guard FileManager.default.createFile(atPath: maskPath, contents: Data(mask.pngData())) else {
                throw .writeFailed(path: maskPath, reason: "cannot create the file")
            }
        }
        return classPixels
    }

    static func sample(backgrounds: [RGBImage], garments: FashionMNIST, size: Int, binary: Bool,
                       generator g: inout SeededGenerator) -> (RGBImage, LabelMask) {
        let photo = backgrounds[g.nextInt(below: backgrounds.count)]
        let shorter = Swift.min(photo.width, photo.height)
        let side = Swift.max(1, Int(g.uniform(Double(Swift.min(size, shorter)), Double(shorter))))
        let x0 = g.nextInt(below: photo.width - side + 1), y0 = g.nextInt(below: photo.height - side + 1)
        var image = crop(photo, x: x0, y: y0, side: side).resize(width: size, height: size)
        var labels = [UInt8](repeating: 0, count: size * size)
        for _ in 0..<(1 + g.nextInt(below: 3)) {
            let index = g.nextInt(below: garments.count)
            let s = Int(g.uniform(Double(size) / 4, Double(size) * 0.6))
            let garment = garments.rgbImage(index).resize(width: s, height: s)
            let px = g.nextInt(below: size - s + 1), py = g.nextInt(below: size - s + 1)
            let tint = (0..<3).map { _ in Float(g.uniform(0.35, 1.0)) }
            let label = binary ? 1 : UInt8(garments.labels[index] + 1)
            for y in 0..<s {
                for x in 0..<s {
                    let v = garment.pixels[(y * s + x) * 3]
                    guard v > threshold else { continue }
                    let o = (py + y) * size + px + x
                    labels[o] = label
                    for c in 0..<3 { image.pixels[o * 3 + c] = UInt8(Swift.min(255, Float(v) * tint[c] + 40)) }
                }
            }
        }
        return (image, LabelMask(width: size, height: size, labels: labels))
    }

    static func crop(_ image: RGBImage, x: Int, y: Int, side: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        for row in 0..<side {
            let src = ((y + row) * image.width + x) * 3
            pixels.replaceSubrange((row * side * 3)..<((row + 1) * side * 3), with: image.pixels[src..<(src + side * 3)])
        }
        return RGBImage(width: side, height: side, pixels: pixels)
    }
}
