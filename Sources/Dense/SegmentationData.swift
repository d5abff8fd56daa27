import Datasets
import Foundation
import Tensors

/// One image and its mask of the same size.
public struct SegmentationPair: Sendable {
    public let name: String
    public let image: RGBImage
    public let mask: LabelMask

    public init(name: String, image: RGBImage, mask: LabelMask) {
        self.name = name
        self.image = image
        self.mask = mask
    }
}

/// Images of a folder paired with the masks of another by file stem (`a.jpg` ↔ `a.png`).
public struct SegmentationDataset: Sendable {
    public var pairs: [SegmentationPair]
    /// Number of classes, background (0) included.
    public let classes: Int

    public init(pairs: [SegmentationPair], classes: Int) {
        self.pairs = pairs
        self.classes = classes
    }

    /// The JPEG and PNG files of `folder` (not recursive), sorted by name.
    public static func imageFiles(_ folder: String) throws(DenseError) -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
            throw .unreadable(path: folder, reason: "not a readable folder")
        }
        let images = names.filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        guard !images.isEmpty else { throw .noImages(folder: folder) }
        return images.map { folder + "/" + $0 }
    }

    /// Loads every image of `images` with the mask `masks/<stem>.png`.
    /// - Parameter classes: the number of classes; nil takes the largest label (other than 255) plus one.
    public static func load(images: String, masks: String, classes: Int? = nil) throws(DenseError) -> SegmentationDataset {
        var pairs: [SegmentationPair] = []
        var largest = 0
        for path in try imageFiles(images) {
            let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            let maskPath = masks + "/" + stem + ".png"
            guard FileManager.default.fileExists(atPath: maskPath) else { throw .missingMask(image: path, expected: maskPath) }
            let image: RGBImage, mask: LabelMask
            do { image = try ImageDecoder.decode(contentsOf: path) } catch { throw DenseError.wrap(error, path: path) }
            do { mask = try LabelMask.read(contentsOf: maskPath) } catch { throw DenseError.wrap(error, path: maskPath) }
            guard image.width == mask.width && image.height == mask.height else {
                throw .sizeMismatch(image: path, imageSize: "\(image.width)×\(image.height)", mask: maskPath,
                                    maskSize: "\(mask.width)×\(mask.height)")
            }
            let top = mask.labels.lazy.filter { Int($0) != SegmentationLoss.ignoreIndex }.max().map(Int.init) ?? 0
            if let classes, top >= classes { throw .labelOutOfRange(mask: maskPath, label: top, classes: classes) }
            largest = Swift.max(largest, top)
            pairs.append(SegmentationPair(name: stem, image: image, mask: mask))
        }
        let count = classes ?? largest + 1
        guard count >= 2 else { throw .tooFewClasses(masks: masks, found: count) }
        return SegmentationDataset(pairs: pairs, classes: count)
    }
}

/// Random geometric augmentation applied identically to an image and its mask (as albumentations' joint
/// transforms): horizontal flip, zoom (scale), rotation and a shifted crop, as one affine map from the output square to
/// the source. The image is sampled bilinearly, the mask by nearest neighbour (labels are never blended); pixels
/// from outside the source get the normalised value 0 and the label 255 (ignored).
public struct JointAugmentation: Sendable, Equatable {
    public var flip = true
    /// Zoom factors (> 1 crops in).
    public var scale: ClosedRange<Double> = 0.8...1.25
    /// Largest rotation, in degrees, either way.
    public var rotationDegrees: Double = 15
    /// Largest shift of the crop centre, as a fraction of the image size.
    public var shift: Double = 0.1

    public init() {}

    /// No augmentation: the whole image resized to the output square.
    public static let none: JointAugmentation = {
        var a = JointAugmentation()
        a.flip = false
        a.scale = 1...1
        a.rotationDegrees = 0
        a.shift = 0
        return a
    }()
}

/// The affine map from output pixel centres to source coordinates.
struct Warp {
    var a: Double, b: Double, c: Double, d: Double, tx: Double, ty: Double

    /// Resizes a `width × height` source to `size × size`, then flips, zooms, rotates and shifts by `generator`.
    init(width: Int, height: Int, size: Int, augmentation: JointAugmentation, generator: inout SeededGenerator) {
        let sx = Double(width) / Double(size), sy = Double(height) / Double(size)
        let flip = augmentation.flip && generator.nextDouble() < 0.5 ? -1.0 : 1.0
        let zoom = generator.uniform(augmentation.scale.lowerBound, augmentation.scale.upperBound)
        let angle = generator.uniform(-augmentation.rotationDegrees, augmentation.rotationDegrees) * .pi / 180
        let cx = Double(width) / 2 + generator.uniform(-augmentation.shift, augmentation.shift) * Double(width)
        let cy = Double(height) / 2 + generator.uniform(-augmentation.shift, augmentation.shift) * Double(height)
        let cosA = Foundation.cos(angle), sinA = Foundation.sin(angle)
        a = cosA * flip * sx / zoom; b = -sinA * sy / zoom
        c = sinA * flip * sx / zoom; d = cosA * sy / zoom
        let h = Double(size) / 2
        tx = cx - (a * h + b * h); ty = cy - (c * h + d * h)
    }

    func source(_ u: Int, _ v: Int) -> (Double, Double) {
        let x = Double(u) + 0.5, y = Double(v) + 0.5
        return (a * x + b * y + tx, c * x + d * y + ty)
    }
}

extension SegmentationPair {
    /// The image `[3, size, size]` normalised with `normalization` and the mask's labels (`size²`, row-major), both
    /// through the same random `augmentation`. With `grey`, one channel: the luminance (ITU-R 601: 0.299 R +
    /// 0.587 G + 0.114 B) normalised with the mean of the channels' means and deviations.
    public func sample(size: Int, normalization: Normalization, augmentation: JointAugmentation, grey: Bool = false,
                       generator: inout SeededGenerator) -> (image: [Float], labels: [Int]) {
        let (rgb, labels) = sample(size: size, normalization: normalization, augmentation: augmentation, generator: &generator)
        guard grey else { return (rgb, labels) }
        let plane = size * size
        // Undo the per-channel normalisation, mix, and normalise with the averaged statistics.
        let d = normalization.divisor, m = normalization.mean, s = normalization.std
        let mean = m.reduce(0, +) / 3, std = s.reduce(0, +) / 3
        let weights: [Float] = [0.299, 0.587, 0.114]
        var out = [Float](repeating: 0, count: plane)
        for j in 0..<plane {
            var v: Float = 0
            for c in 0..<3 { v += weights[c] * ((rgb[c * plane + j] * s[c] + m[c]) * d) }
            out[j] = (v / d - mean) / std
        }
        return (out, labels)
    }

    func sample(size: Int, normalization: Normalization, augmentation: JointAugmentation,
                generator: inout SeededGenerator) -> (image: [Float], labels: [Int]) {
        let warp = Warp(width: image.width, height: image.height, size: size, augmentation: augmentation, generator: &generator)
        var out = [Float](repeating: 0, count: 3 * size * size)
        var labels = [Int](repeating: SegmentationLoss.ignoreIndex, count: size * size)
        let w = image.width, h = image.height
        let scale = (0..<3).map { 1 / (normalization.divisor * normalization.std[$0]) }
        let offset = (0..<3).map { normalization.mean[$0] / normalization.std[$0] }
        image.pixels.withUnsafeBufferPointer { px in
            for v in 0..<size {
                for u in 0..<size {
                    let (x, y) = warp.source(u, v)
                    let mx = Int((x).rounded(.down)), my = Int((y).rounded(.down))
                    if mx >= 0 && mx < w && my >= 0 && my < h { labels[v * size + u] = Int(mask.labels[my * w + mx]) }
                    let fx = x - 0.5, fy = y - 0.5
                    let x0 = Int(fx.rounded(.down)), y0 = Int(fy.rounded(.down))
                    guard x0 >= -1 && x0 < w && y0 >= -1 && y0 < h else { continue }
                    let wx = Float(fx - Double(x0)), wy = Float(fy - Double(y0))
                    let xs = (Swift.max(0, x0), Swift.min(w - 1, x0 + 1)), ys = (Swift.max(0, y0), Swift.min(h - 1, y0 + 1))
                    for ch in 0..<3 {
                        let p00 = Float(px[(ys.0 * w + xs.0) * 3 + ch]), p01 = Float(px[(ys.0 * w + xs.1) * 3 + ch])
                        let p10 = Float(px[(ys.1 * w + xs.0) * 3 + ch]), p11 = Float(px[(ys.1 * w + xs.1) * 3 + ch])
                        let top = p00 + (p01 - p00) * wx, bottom = p10 + (p11 - p10) * wx
                        out[ch * size * size + v * size + u] = (top + (bottom - top) * wy) * scale[ch] - offset[ch]
                    }
                }
            }
        }
        return (out, labels)
    }
}
