import Foundation
import Tensors

/// A resampling filter, with Pillow's kernels and supports (`src/libImaging/Resample.c`).
public enum ResizeFilter: String, Sendable, Equatable, CaseIterable {
    /// Triangle kernel, support 1 (PIL `Image.BILINEAR`, torchvision's default for PIL images).
    case bilinear
    /// Keys cubic convolution with a = −0.5, support 2 (PIL `Image.BICUBIC`).
    case bicubic

    var support: Double {
        switch self {
        case .bilinear: return 1
        case .bicubic: return 2
        }
    }

    @inline(__always)
    func weight(_ x: Double) -> Double {
        let x = Swift.abs(x)
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// The per-output-pixel taps of one resampling direction, computed exactly as Pillow's `precompute_coeffs`: the
/// kernel is stretched by the downscale factor when shrinking (so shrinking antialiases: every input pixel under
/// the stretched support contributes), the taps are clipped to the image and renormalised to sum to 1.
struct ResampleTaps {
    let outSize: Int
    /// Taps per output pixel (the stride of `weights`).
    let ksize: Int
    /// First input index of each output pixel.
    let start: [Int]
    /// Number of taps of each output pixel.
    let count: [Int]
    /// `outSize × ksize` weights, zero beyond `count`.
    let weights: [Double]

    init(inSize: Int, outSize: Int, filter: ResizeFilter) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = Swift.max(scale, 1)
        let support = filter.support * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Double](repeating: 0, count: outSize * ksize)
        let invScale = 1.0 / filterScale
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            // C's (int) cast truncates toward zero, as Swift's Int(_:) does.
            let xmin = Swift.max(Int(center - support + 0.5), 0)
            let xmax = Swift.min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for x in 0..<xmax {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * invScale)
                weights[xx * ksize + x] = w
                total += w
            }
            if total != 0 {
                for x in 0..<xmax { weights[xx * ksize + x] /= total }
            }
            start[xx] = xmin
            count[xx] = xmax
        }
        self.outSize = outSize
        self.ksize = ksize
        self.start = start
        self.count = count
        self.weights = weights
    }

    /// The weights in Pillow's 8-bit fixed point (22 fraction bits, rounded half away from zero).
    var fixedPoint: [Int32] {
        weights.map { w in Int32(w < 0 ? -0.5 + w * Double(1 << 22) : 0.5 + w * Double(1 << 22)) }
    }
}

/// Pillow's 8-bit accumulator: a 22-bit fixed-point sum started at one half, shifted and clipped to 0…255.
@inline(__always)
private func clip8(_ ss: Int32) -> UInt8 {
    let v = ss >> 22
    return v < 0 ? 0 : (v > 255 ? 255 : UInt8(truncatingIfNeeded: v))
}

/// Pillow 13's pass order (`ImagingResampleInner`): vertical first when the height shrinks by more than twice as
/// many pixels as the width, so the horizontal pass runs on fewer rows; horizontal first otherwise. Pillow ≤ 12
/// always ran horizontal first; the two orders differ only in the rounding of the 8-bit intermediate image.
func horizontalFirst(inWidth: Int, inHeight: Int, outWidth: Int, outHeight: Int) -> Bool {
    !((inHeight - outHeight) > 0 && (inHeight - outHeight) > (inWidth - outWidth) * 2)
}

/// Pillow's 8-bit horizontal pass over rows `firstRow ..< firstRow + rows` of a `width`-wide RGB image.
private func horizontalPass8(_ src: [UInt8], width: Int, firstRow: Int, rows: Int, taps: ResampleTaps) -> [UInt8] {
    let newWidth = taps.outSize
    let k = taps.fixedPoint
    var out = [UInt8](repeating: 0, count: newWidth * rows * 3)
    src.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            k.withUnsafeBufferPointer { kk in
                for y in 0..<rows {
                    let line = src.baseAddress! + (y + firstRow) * width * 3
                    let outLine = dst.baseAddress! + y * newWidth * 3
                    for xx in 0..<newWidth {
                        let xmin = taps.start[xx], n = taps.count[xx]
                        let kp = kk.baseAddress! + xx * taps.ksize
                        var s0: Int32 = 1 << 21, s1: Int32 = 1 << 21, s2: Int32 = 1 << 21
                        var p = line + xmin * 3
                        for x in 0..<n {
                            let w = kp[x]
                            s0 &+= Int32(p[0]) &* w
                            s1 &+= Int32(p[1]) &* w
                            s2 &+= Int32(p[2]) &* w
                            p += 3
                        }
                        outLine[xx * 3] = clip8(s0)
                        outLine[xx * 3 + 1] = clip8(s1)
                        outLine[xx * 3 + 2] = clip8(s2)
                    }
                }
            }
        }
    }
    return out
}

/// Pillow's 8-bit vertical pass of a `width`-wide RGB image; `starts` are the first source rows (possibly shifted
/// to the rows a preceding horizontal pass produced).
private func verticalPass8(_ src: [UInt8], width: Int, taps: ResampleTaps, starts: [Int]) -> [UInt8] {
    let newHeight = taps.outSize
    let k = taps.fixedPoint
    let rowLen = width * 3
    var out = [UInt8](repeating: 0, count: rowLen * newHeight)
    src.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            k.withUnsafeBufferPointer { kk in
                var acc = [Int32](repeating: 0, count: rowLen)
                acc.withUnsafeMutableBufferPointer { a in
                    for yy in 0..<newHeight {
                        let ymin = starts[yy], n = taps.count[yy]
                        let kp = kk.baseAddress! + yy * taps.ksize
                        for i in 0..<rowLen { a[i] = 1 << 21 }
                        for y in 0..<n {
                            let w = kp[y]
                            let line = src.baseAddress! + (ymin + y) * rowLen
                            for i in 0..<rowLen { a[i] &+= Int32(line[i]) &* w }
                        }
                        let outLine = dst.baseAddress! + yy * rowLen
                        for i in 0..<rowLen { outLine[i] = clip8(a[i]) }
                    }
                }
            }
        }
    }
    return out
}

extension RGBImage {
    /// The image resampled to `width × height`, computed as Pillow 13's `Image.resize(size, filter)` on an "RGB"
    /// image: two separable passes, each with 22-bit fixed-point weights and an 8-bit rounded, clipped result, a
    /// pass skipped when its size does not change, in Pillow 13's order (see `horizontalFirst`). Shrinking
    /// antialiases (the kernel support grows with the scale factor). Byte-identical to Pillow 13 on the fixtures.
    public func resize(width newWidth: Int, height newHeight: Int, filter: ResizeFilter = .bilinear) -> RGBImage {
        precondition(newWidth > 0 && newHeight > 0, "resize: target size \(newWidth)×\(newHeight) must be positive")
        let needH = newWidth != width, needV = newHeight != height
        if !needH && !needV { return self }
        let vTaps = ResampleTaps(inSize: height, outSize: newHeight, filter: filter)
        let hTaps = ResampleTaps(inSize: width, outSize: newWidth, filter: filter)
        var current = pixels
        if horizontalFirst(inWidth: width, inHeight: height, outWidth: newWidth, outHeight: newHeight) {
            var starts = vTaps.start
            if needH {
                // Only the rows the vertical pass reads.
                let firstRow = vTaps.start[0]
                let lastRow = vTaps.start[newHeight - 1] + vTaps.count[newHeight - 1]
                current = horizontalPass8(current, width: width, firstRow: firstRow, rows: lastRow - firstRow, taps: hTaps)
                starts = starts.map { $0 - firstRow }
            }
            if needV { current = verticalPass8(current, width: newWidth, taps: vTaps, starts: starts) }
        } else {
            if needV { current = verticalPass8(current, width: width, taps: vTaps, starts: vTaps.start) }
            if needH { current = horizontalPass8(current, width: width, firstRow: 0, rows: newHeight, taps: hTaps) }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: current)
    }

    /// The image resized so that its shorter side is `size`, keeping the aspect ratio as torchvision's
    /// `Resize(size)` (an int) does: the longer side becomes `int(size × long / short)` (truncated).
    public func resizeShorter(to size: Int, filter: ResizeFilter = .bilinear) -> RGBImage {
        let (w, h) = shorterSideSize(width: width, height: height, size: size)
        return resize(width: w, height: h, filter: filter)
    }

    /// The central `width × height` region, placed as torchvision's `CenterCrop`: the top-left corner is
    /// `round((H − h) / 2)`, `round((W − w) / 2)` with Python's round-half-to-even; a crop larger than the image
    /// pads with black (zeros) the way torchvision pads before cropping.
    public func centerCrop(width cropWidth: Int, height cropHeight: Int) -> RGBImage {
        precondition(cropWidth > 0 && cropHeight > 0, "centerCrop: size \(cropWidth)×\(cropHeight) must be positive")
        let left = centerCropOrigin(size: width, crop: cropWidth)
        let top = centerCropOrigin(size: height, crop: cropHeight)
        var out = [UInt8](repeating: 0, count: cropWidth * cropHeight * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<cropHeight {
                    let sy = y + top
                    guard sy >= 0 && sy < height else { continue }
                    let x0 = Swift.max(0, -left), x1 = Swift.min(cropWidth, width - left)
                    guard x0 < x1 else { continue }
                    let s = src.baseAddress! + (sy * width + x0 + left) * 3
                    let d = dst.baseAddress! + (y * cropWidth + x0) * 3
                    d.update(from: s, count: (x1 - x0) * 3)
                }
            }
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: out)
    }

    /// A square centre crop (torchvision `CenterCrop(size)`).
    public func centerCrop(size: Int) -> RGBImage { centerCrop(width: size, height: size) }
}

/// torchvision's `_compute_resized_output_size` for an int size: (width, height).
func shorterSideSize(width: Int, height: Int, size: Int) -> (Int, Int) {
    precondition(size > 0, "resizeShorter: size \(size) must be positive")
    if width <= height {
        return (size, Swift.max(1, Int(Double(size * height) / Double(width))))
    }
    return (Swift.max(1, Int(Double(size * width) / Double(height))), size)
}

/// torchvision's centre-crop origin along one axis; negative when the crop is larger (padding).
func centerCropOrigin(size: Int, crop: Int) -> Int {
    if crop > size { return -((crop - size) / 2) }
    return Int((Double(size - crop) / 2).rounded(.toNearestOrEven))
}

/// Pillow's mode-F horizontal pass over rows `firstRow ..< firstRow + rows` of one `width`-wide plane.
private func horizontalPassF(_ src: [Float], width: Int, firstRow: Int, rows: Int, taps: ResampleTaps) -> [Float] {
    let newWidth = taps.outSize
    var out = [Float](repeating: 0, count: newWidth * rows)
    src.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            taps.weights.withUnsafeBufferPointer { kk in
                for y in 0..<rows {
                    let line = src.baseAddress! + (y + firstRow) * width
                    for xx in 0..<newWidth {
                        let xmin = taps.start[xx], n = taps.count[xx]
                        let kp = kk.baseAddress! + xx * taps.ksize
                        var s = 0.0
                        for x in 0..<n { s += Double(line[xmin + x]) * kp[x] }
                        dst[y * newWidth + xx] = Float(s)
                    }
                }
            }
        }
    }
    return out
}

/// Pillow's mode-F vertical pass of one `width`-wide plane.
private func verticalPassF(_ src: [Float], width: Int, taps: ResampleTaps, starts: [Int]) -> [Float] {
    let newHeight = taps.outSize
    var out = [Float](repeating: 0, count: width * newHeight)
    src.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            taps.weights.withUnsafeBufferPointer { kk in
                var acc = [Double](repeating: 0, count: width)
                acc.withUnsafeMutableBufferPointer { a in
                    for yy in 0..<newHeight {
                        let ymin = starts[yy], n = taps.count[yy]
                        let kp = kk.baseAddress! + yy * taps.ksize
                        for i in 0..<width { a[i] = 0 }
                        for y in 0..<n {
                            let w = kp[y]
                            let line = src.baseAddress! + (ymin + y) * width
                            for i in 0..<width { a[i] += Double(line[i]) * w }
                        }
                        for i in 0..<width { dst[yy * width + i] = Float(a[i]) }
                    }
                }
            }
        }
    }
    return out
}

/// A planar (channel, row, column) float image, the layout of a `[C, H, W]` tensor.
public struct FloatImage: Sendable, Equatable {
    public let channels: Int
    public let width: Int
    public let height: Int
    /// `channels × height × width` values.
    public var data: [Float]

    /// An image over `data`, which must hold `channels × height × width` values; all three must be positive.
    public init(channels: Int, width: Int, height: Int, data: [Float]) {
        precondition(channels > 0 && width > 0 && height > 0, "FloatImage: \(channels)×\(height)×\(width) must be positive")
        precondition(data.count == channels * width * height,
                     "FloatImage: \(data.count) values for \(channels)×\(height)×\(width)")
        self.channels = channels
        self.width = width
        self.height = height
        self.data = data
    }

    /// A `[C, H, W]` tensor holding a copy of the values.
    public func tensor() -> Tensor { Tensor(shape: [channels, height, width], data: data) }

    /// Each channel resampled to `width × height` as Pillow 13 resamples a mode "F" (32-bit float) image: the
    /// same taps and pass order as the 8-bit path, accumulated in double precision and stored as Float after each
    /// pass, with no rounding to levels or clipping (bicubic can overshoot the input range).
    public func resize(width newWidth: Int, height newHeight: Int, filter: ResizeFilter = .bilinear) -> FloatImage {
        precondition(newWidth > 0 && newHeight > 0, "resize: target size \(newWidth)×\(newHeight) must be positive")
        let needH = newWidth != width, needV = newHeight != height
        if !needH && !needV { return self }
        let vTaps = ResampleTaps(inSize: height, outSize: newHeight, filter: filter)
        let hTaps = ResampleTaps(inSize: width, outSize: newWidth, filter: filter)
        let hFirst = horizontalFirst(inWidth: width, inHeight: height, outWidth: newWidth, outHeight: newHeight)
        var out: [Float] = []
        out.reserveCapacity(channels * newWidth * newHeight)
        for c in 0..<channels {
            var plane = Array(data[(c * width * height)..<((c + 1) * width * height)])
            if hFirst {
                var starts = vTaps.start
                if needH {
                    let firstRow = vTaps.start[0]
                    let lastRow = vTaps.start[newHeight - 1] + vTaps.count[newHeight - 1]
                    plane = horizontalPassF(plane, width: width, firstRow: firstRow, rows: lastRow - firstRow, taps: hTaps)
                    starts = starts.map { $0 - firstRow }
                }
                if needV { plane = verticalPassF(plane, width: newWidth, taps: vTaps, starts: starts) }
            } else {
                if needV { plane = verticalPassF(plane, width: width, taps: vTaps, starts: vTaps.start) }
                if needH { plane = horizontalPassF(plane, width: width, firstRow: 0, rows: newHeight, taps: hTaps) }
            }
            out += plane
        }
        return FloatImage(channels: channels, width: newWidth, height: newHeight, data: out)
    }

    /// Resized so the shorter side is `size` (torchvision `Resize(size)` rule, see ``RGBImage/resizeShorter(to:filter:)``).
    public func resizeShorter(to size: Int, filter: ResizeFilter = .bilinear) -> FloatImage {
        let (w, h) = shorterSideSize(width: width, height: height, size: size)
        return resize(width: w, height: h, filter: filter)
    }

    /// The central `width × height` region (torchvision `CenterCrop` placement; zero padding when larger).
    public func centerCrop(width cropWidth: Int, height cropHeight: Int) -> FloatImage {
        precondition(cropWidth > 0 && cropHeight > 0, "centerCrop: size \(cropWidth)×\(cropHeight) must be positive")
        let left = centerCropOrigin(size: width, crop: cropWidth)
        let top = centerCropOrigin(size: height, crop: cropHeight)
        var out = [Float](repeating: 0, count: channels * cropWidth * cropHeight)
        for c in 0..<channels {
            for y in 0..<cropHeight {
                let sy = y + top
                guard sy >= 0 && sy < height else { continue }
                for x in 0..<cropWidth {
                    let sx = x + left
                    guard sx >= 0 && sx < width else { continue }
                    out[(c * cropHeight + y) * cropWidth + x] = data[(c * height + sy) * width + sx]
                }
            }
        }
        return FloatImage(channels: channels, width: cropWidth, height: cropHeight, data: out)
    }
}

/// Per-channel normalisation of 0…255 pixel values into model inputs:
/// `out = (x / divisor − mean[c]) / std[c]`, computed in Float32 in that order, as torchvision's `ToTensor()`
/// (x / 255) followed by `Normalize(mean, std)` (subtract, then divide).
public struct Normalization: Sendable, Equatable {
    /// What each byte is divided by first (255 for torchvision's `ToTensor`, 1 to work on 0…255).
    public var divisor: Float
    /// Per-channel (R, G, B) value subtracted after the division.
    public var mean: [Float]
    /// Per-channel (R, G, B) value divided by last.
    public var std: [Float]

    /// A normalisation `(x / divisor − mean[c]) / std[c]`; `mean` and `std` hold 3 values, none of the divisors 0.
    public init(divisor: Float, mean: [Float], std: [Float]) {
        precondition(mean.count == 3 && std.count == 3, "Normalization: mean and std need 3 values (R, G, B)")
        precondition(divisor != 0 && std.allSatisfy { $0 != 0 }, "Normalization: divisor and std must be non-zero")
        self.divisor = divisor
        self.mean = mean
        self.std = std
    }

    /// ImageNet statistics on x / 255: mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) — torchvision's
    /// pretrained classification models (ResNet, MobileNetV2, …).
    public static let imagenet = Normalization(divisor: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// (x − 127) / 128, the input scaling of the EfficientNet-Lite checkpoints (TensorFlow's reference
    /// preprocessing for the Lite family: MEAN_RGB 127, STDDEV_RGB 128).
    public static let efficientNetLite = Normalization(divisor: 1, mean: [127, 127, 127], std: [128, 128, 128])
    /// x / 255 (torchvision `ToTensor()` alone).
    public static let unit = Normalization(divisor: 255, mean: [0, 0, 0], std: [1, 1, 1])
    /// x unchanged (0…255 floats).
    public static let identity = Normalization(divisor: 1, mean: [0, 0, 0], std: [1, 1, 1])

    /// The normalised value of byte `x` in channel `c`.
    @inline(__always)
    public func value(_ x: UInt8, channel c: Int) -> Float {
        (Float(x) / divisor - mean[c]) / std[c]
    }

    /// `image` as planar (C, H, W) normalised floats.
    func planar(_ image: RGBImage) -> [Float] {
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 { for x in 0..<256 { table[c * 256 + x] = value(UInt8(x), channel: c) } }
        let plane = image.width * image.height
        return [Float](unsafeUninitializedCapacity: 3 * plane) { out, n in
            image.pixels.withUnsafeBufferPointer { px in
                table.withUnsafeBufferPointer { t in
                    for i in 0..<plane {
                        out[i] = t[Int(px[3 * i])]
                        out[plane + i] = t[256 + Int(px[3 * i + 1])]
                        out[2 * plane + i] = t[512 + Int(px[3 * i + 2])]
                    }
                }
            }
            n = 3 * plane
        }
    }

    /// `image` as a `[3, H, W]` tensor.
    public func tensor(_ image: RGBImage) -> Tensor {
        Tensor(shape: [3, image.height, image.width], data: planar(image))
    }

    /// A float image holding 0…255 values (e.g. after ``FloatImage/resize(width:height:filter:)``), normalised
    /// channel by channel into a `[3, H, W]` tensor.
    public func tensor(_ image: FloatImage) -> Tensor {
        precondition(image.channels == 3, "Normalization: expected 3 channels, got \(image.channels)")
        let plane = image.width * image.height
        var out = image.data
        for c in 0..<3 {
            for i in 0..<plane { out[c * plane + i] = (out[c * plane + i] / divisor - mean[c]) / std[c] }
        }
        return Tensor(shape: [3, image.height, image.width], data: out)
    }
}
