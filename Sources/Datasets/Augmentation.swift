import Foundation
import Tensors

// Image augmentation, following torchvision's transforms on PIL images.
//
// **Representation.** Geometric and colour operations work on 8-bit ``RGBImage`` values, as torchvision's default
// training pipeline does on PIL images (`ImageFolder` yields PIL images; `ToTensor()` comes after the augmentations);
// each operation reproduces the PIL routine torchvision calls (`Image.transform`, `Image.rotate`, `Image.blend`,
// `ImageEnhance`, `ImageOps`), including its 8-bit rounding. ``RandomErasing`` works on the normalised planar
// ``FloatImage``, where torchvision applies it (after `ToTensor()` and `Normalize`). Batch-level mixing
// (``BatchMixing``) works on `[N, C, H, W]` tensors.
//
// **Randomness.** Every random transform draws from a ``SeededGenerator`` passed in; the data loader gives each sample
// of each epoch its own generator (``SeededGenerator/forSample(seed:epoch:index:)``), so results do not depend on
// thread scheduling. The draws follow torchvision's order and distributions, but the generator is not PyTorch's, so
// a given seed does not reproduce torchvision's samples.

// MARK: - Randomness

/// SplitMix64's finaliser: a bijective 64-bit mix.
@inline(__always)
func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

extension SeededGenerator {
    /// The generator of sample `index` in epoch `epoch` of a run seeded with `seed`: the three values are mixed
    /// through SplitMix64, so every (seed, epoch, index) gets an independent stream and a sample's augmentation is
    /// the same whichever thread processes it and whatever was processed before.
    public static func forSample(seed: UInt64, epoch: Int, index: Int) -> SeededGenerator {
        var h = splitMix64(seed ^ 0x5341_4D50_4C45_0001)  // "SAMPLE" domain tag
        h = splitMix64(h ^ UInt64(bitPattern: Int64(epoch)))
        h = splitMix64(h ^ UInt64(bitPattern: Int64(index)))
        return SeededGenerator(seed: h)
    }

    /// The generator of epoch-level draws (the shuffle, batch mixing) of epoch `epoch`, in a stream of its own
    /// (`stream` separates several uses within one epoch).
    public static func forEpoch(seed: UInt64, epoch: Int, stream: UInt64 = 0) -> SeededGenerator {
        var h = splitMix64(seed ^ 0x4550_4F43_4800_0002)  // "EPOCH" domain tag
        h = splitMix64(h ^ UInt64(bitPattern: Int64(epoch)))
        h = splitMix64(h ^ stream)
        return SeededGenerator(seed: h)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Uniform in [low, high) (torch's `uniform_(low, high)`).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextDouble() }

    /// Uniform integer in `0 ..< n` (torch's `randint(n)`), by Lemire's multiply-shift; `n` must be positive.
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0, "nextInt(below:): \(n) must be positive")
        return Int(next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// True with probability `p` (torchvision's `torch.rand(1) < p`).
    public mutating func bernoulli(_ p: Double) -> Bool { nextDouble() < p }

    /// Standard normal in double precision (Box–Muller).
    public mutating func nextGaussian() -> Double {
        let u1 = Swift.max(nextDouble(), 1e-300)
        let u2 = nextDouble()
        return (-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang's method (shape < 1 through the boost Gamma(shape + 1) · U^(1/shape)).
    public mutating func nextGamma(shape: Double) -> Double {
        precondition(shape > 0, "nextGamma: shape \(shape) must be positive")
        if shape < 1 {
            let u = Swift.max(nextDouble(), 1e-300)
            return nextGamma(shape: shape + 1) * Foundation.pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double, v: Double
            repeat {
                x = nextGaussian()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = nextDouble()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if Foundation.log(Swift.max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + Foundation.log(v)) { return d * v }
        }
    }

    /// Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (torch's `Beta(a, b).sample()`).
    public mutating func nextBeta(_ a: Double, _ b: Double) -> Double {
        let x = nextGamma(shape: a), y = nextGamma(shape: b)
        return x + y > 0 ? x / (x + y) : 0.5
    }

    /// A uniformly random permutation of `0 ..< n` (Fisher–Yates; torch's `randperm`).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                p.swapAt(i, nextInt(below: i + 1))
            }
        }
        return p
    }
}

// MARK: - Small helpers shared with PIL's C code

/// PIL's `COORD`: −1 for negative values, else truncation.
@inline(__always) private func pilCoord(_ v: Double) -> Int { v < 0 ? -1 : Int(v) }
/// PIL's `FLOOR`.
@inline(__always) private func pilFloor(_ v: Double) -> Int { v < 0 ? Int(Foundation.floor(v)) : Int(v) }
/// ITU-R 601-2 luma in PIL's fixed point (`Convert.c`, `L24(rgb) >> 16`), the value of `Image.convert("L")`.
@inline(__always) func pilLuma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
    UInt8(truncatingIfNeeded: (Int(r) * 19595 + Int(g) * 38470 + Int(b) * 7471 + 0x8000) >> 16)
}
/// Python's `round(x, 15)` (correctly rounded through decimal, as CPython's `round` with digits is).
private func pythonRound15(_ x: Double) -> Double { Double(String(format: "%.15f", x)) ?? x }
/// Python's float `%` with a positive divisor.
private func pythonMod(_ a: Double, _ m: Double) -> Double {
    var r = fmod(a, m)
    if r != 0 { if r < 0 { r += m } } else { r = 0 }
    return r
}
/// CPython's `math.radians`.
@inline(__always) private func radians(_ d: Double) -> Double { d * (Double.pi / 180.0) }

// MARK: - Pixel operations on RGBImage

/// A rectangle in pixel coordinates: column `x`, row `y` of the top-left corner, and its size.
public struct CropBox: Sendable, Equatable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
    /// Whether the box lies inside a `width × height` image.
    public func isInside(width w: Int, height h: Int) -> Bool {
        x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= w && y + height <= h
    }
    public var description: String { "(x \(x), y \(y), \(width)×\(height))" }
}

/// How geometric transforms sample the source image (torchvision's `InterpolationMode`, mapped to PIL's filters).
public enum InterpolationMode: String, Sendable, Equatable, CaseIterable {
    /// PIL `Image.NEAREST`.
    case nearest
    /// PIL `Image.BILINEAR` (2×2 neighbourhood, no antialiasing: PIL's `Image.transform` does not antialias).
    case bilinear
}

extension RGBImage {
    /// The region `box` (torchvision `F.crop`, PIL `Image.crop`): parts of the box outside the image are black.
    public func cropped(to box: CropBox) -> RGBImage {
        precondition(box.width > 0 && box.height > 0, "cropped(to:): box \(box) must have a positive size")
        if box.x == 0 && box.y == 0 && box.width == width && box.height == height { return self }
        var out = [UInt8](repeating: 0, count: box.width * box.height * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let x0 = Swift.max(0, -box.x), x1 = Swift.min(box.width, width - box.x)
                guard x0 < x1 else { return }
                for y in 0..<box.height {
                    let sy = y + box.y
                    guard sy >= 0 && sy < height else { continue }
                    (dst.baseAddress! + (y * box.width + x0) * 3)
                        .update(from: src.baseAddress! + (sy * width + box.x + x0) * 3, count: (x1 - x0) * 3)
                }
            }
        }
        return RGBImage(width: box.width, height: box.height, pixels: out)
    }

    /// The region `box` resized to `width × height` (torchvision `F.resized_crop` on a PIL image: `crop` then
    /// `resize`, with Pillow's antialiasing filters; see ``resize(width:height:filter:)``).
    public func resizedCrop(_ box: CropBox, width w: Int, height h: Int, filter: ResizeFilter = .bilinear) -> RGBImage {
        cropped(to: box).resize(width: w, height: h, filter: filter)
    }

    /// Mirrored left to right (torchvision `F.hflip`, PIL `Transpose.FLIP_LEFT_RIGHT`).
    public func flippedHorizontally() -> RGBImage {
        var out = pixels
        let w = width
        out.withUnsafeMutableBufferPointer { p in
            for y in 0..<height {
                let row = p.baseAddress! + y * w * 3
                var i = 0, j = w - 1
                while i < j {
                    let a = row + i * 3, b = row + j * 3
                    let t0 = a[0], t1 = a[1], t2 = a[2]
                    a[0] = b[0]; a[1] = b[1]; a[2] = b[2]
                    b[0] = t0; b[1] = t1; b[2] = t2
                    i += 1
                    j -= 1
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Mirrored top to bottom (torchvision `F.vflip`, PIL `Transpose.FLIP_TOP_BOTTOM`).
    public func flippedVertically() -> RGBImage {
        var out = [UInt8](repeating: 0, count: pixels.count)
        let rowBytes = width * 3
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    (dst.baseAddress! + y * rowBytes).update(from: src.baseAddress! + (height - 1 - y) * rowBytes, count: rowBytes)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Rotated `degrees` counter-clockwise about the centre, keeping the size (torchvision `F.rotate` on a PIL image
    /// with `expand=False`, which calls PIL's `Image.rotate`): multiples of 180° — and of 90° for a square image —
    /// are exact transpositions; any other angle maps every output pixel through PIL's inverse affine matrix
    /// (rounded to 15 decimals, as PIL does) and samples with `interpolation`. Pixels that map outside the image
    /// are `fill`.
    public func rotated(degrees: Double, interpolation: InterpolationMode = .bilinear,
                        fill: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) -> RGBImage {
        let angle = pythonMod(degrees, 360)
        if angle == 0 { return self }
        if angle == 180 { return applyingExifOrientation(3) }
        if (angle == 90 || angle == 270) && width == height {
            // PIL's ROTATE_90 (counter-clockwise) is EXIF orientation 8; ROTATE_270 is 6.
            return applyingExifOrientation(angle == 90 ? 8 : 6)
        }
        let cx = Double(width) / 2, cy = Double(height) / 2
        let a = -radians(angle)
        var m = [pythonRound15(cos(a)), pythonRound15(sin(a)), 0.0, pythonRound15(-sin(a)), pythonRound15(cos(a)), 0.0]
        let t2 = m[0] * -cx + m[1] * -cy + m[2]
        let t5 = m[3] * -cx + m[4] * -cy + m[5]
        m[2] = t2 + cx
        m[5] = t5 + cy
        return affineTransformed(inverseMatrix: m, interpolation: interpolation, fill: fill)
    }

    /// The affine transform torchvision's `F.affine` applies to a PIL image: rotation by `angle` degrees
    /// (counter-clockwise), translation by `translate` pixels, scaling by `scale` and shear by `shear` degrees
    /// (x, y), about `center` (default: the image centre `(w/2, h/2)`). The inverse matrix is torchvision's
    /// `_get_inverse_affine_matrix`; sampling is PIL's `Image.transform(size, AFFINE, matrix, filter)`.
    public func affine(angle: Double = 0, translate: (x: Double, y: Double) = (0, 0), scale: Double = 1,
                       shear: (x: Double, y: Double) = (0, 0), center: (x: Double, y: Double)? = nil,
                       interpolation: InterpolationMode = .bilinear,
                       fill: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) -> RGBImage {
        precondition(scale > 0, "affine: scale \(scale) must be positive")
        let c = center ?? (Double(width) * 0.5, Double(height) * 0.5)
        let m = RGBImage.inverseAffineMatrix(center: c, angle: angle, translate: translate, scale: scale, shear: shear)
        return affineTransformed(inverseMatrix: m, interpolation: interpolation, fill: fill)
    }

    /// torchvision's `_get_inverse_affine_matrix(center, angle, translate, scale, shear)` (inverted = True): the
    /// six coefficients mapping an output pixel centre to its source position.
    static func inverseAffineMatrix(center: (x: Double, y: Double), angle: Double, translate: (x: Double, y: Double),
                                    scale: Double, shear: (x: Double, y: Double)) -> [Double] {
        let rot = radians(angle), sx = radians(shear.x), sy = radians(shear.y)
        let (cx, cy) = center, (tx, ty) = translate
        let a = cos(rot - sy) / cos(sy)
        let b = -cos(rot - sy) * tan(sx) / cos(sy) - sin(rot)
        let c = sin(rot - sy) / cos(sy)
        let d = -sin(rot - sy) * tan(sx) / cos(sy) + cos(rot)
        var m = [d, -b, 0.0, -c, a, 0.0].map { $0 / scale }
        m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
        m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
        m[2] += cx
        m[5] += cy
        return m
    }

    /// PIL's `Image.transform(size, Transform.AFFINE, m, filter, fillcolor=fill)` at the same size: output pixel
    /// (x, y) samples the source at `(m0·(x+½) + m1·(y+½) + m2, m3·(x+½) + m4·(y+½) + m5)`. Nearest follows PIL's
    /// three engines (`ImagingScaleAffine` when there is no rotation or shear, the 16.16 fixed-point
    /// `affine_fixed`, or floating point); bilinear is PIL's `bilinear_filter32RGB` (edge pixels clamped, results
    /// truncated to 8 bits).
    func affineTransformed(inverseMatrix a: [Double], interpolation: InterpolationMode,
                           fill: (r: UInt8, g: UInt8, b: UInt8)) -> RGBImage {
        let w = width, h = height
        var out = [UInt8](repeating: 0, count: w * h * 3)
        if fill != (0, 0, 0) {
            for i in 0..<(w * h) {
                out[3 * i] = fill.r
                out[3 * i + 1] = fill.g
                out[3 * i + 2] = fill.b
            }
        }
        pixels.withUnsafeBufferPointer { srcBuf in
            out.withUnsafeMutableBufferPointer { dstBuf in
                let src = srcBuf.baseAddress!, dst = dstBuf.baseAddress!
                @inline(__always) func copy(_ x: Int, _ y: Int, _ sx: Int, _ sy: Int) {
                    let s = src + (sy * w + sx) * 3, d = dst + (y * w + x) * 3
                    d[0] = s[0]; d[1] = s[1]; d[2] = s[2]
                }
                switch interpolation {
                case .bilinear:
                    for y in 0..<h {
                        let yc = Double(y) + 0.5
                        for x in 0..<w {
                            let xc = Double(x) + 0.5
                            var xin = a[0] * xc + a[1] * yc + a[2]
                            var yin = a[3] * xc + a[4] * yc + a[5]
                            if xin < 0 || xin >= Double(w) || yin < 0 || yin >= Double(h) { continue }
                            xin -= 0.5
                            yin -= 0.5
                            let ix = pilFloor(xin), iy = pilFloor(yin)
                            let dx = xin - Double(ix), dy = yin - Double(iy)
                            let row0 = Swift.min(Swift.max(iy, 0), h - 1)
                            let x0 = Swift.min(Swift.max(ix, 0), w - 1), x1 = Swift.min(Swift.max(ix + 1, 0), w - 1)
                            let hasRow1 = iy + 1 >= 0 && iy + 1 < h
                            let d = dst + (y * w + x) * 3
                            for b in 0..<3 {
                                let p0 = src + row0 * w * 3 + b
                                var v1 = Double(p0[x0 * 3]) + Double(Int(p0[x1 * 3]) - Int(p0[x0 * 3])) * dx
                                let v2: Double
                                if hasRow1 {
                                    let p1 = src + (iy + 1) * w * 3 + b
                                    v2 = Double(p1[x0 * 3]) + Double(Int(p1[x1 * 3]) - Int(p1[x0 * 3])) * dx
                                } else {
                                    v2 = v1
                                }
                                v1 = v1 + (v2 - v1) * dy
                                d[b] = UInt8(Swift.min(Swift.max(v1, 0), 255))
                            }
                        }
                    }
                case .nearest:
                    if a[1] == 0 && a[3] == 0 {
                        // ImagingScaleAffine.
                        var xo = a[2] + a[0] * 0.5
                        var yo = a[5] + a[4] * 0.5
                        var xintab = [Int](repeating: 0, count: w)
                        var xmin = w, xmax = 0
                        for x in 0..<w {
                            let xin = pilCoord(xo)
                            if xin >= 0 && xin < w {
                                xmax = x + 1
                                if x < xmin { xmin = x }
                                xintab[x] = xin
                            }
                            xo += a[0]
                        }
                        for y in 0..<h {
                            let yi = pilCoord(yo)
                            if yi >= 0 && yi < h && xmin < xmax {
                                for x in xmin..<xmax { copy(x, y, xintab[x], yi) }
                            }
                            yo += a[4]
                        }
                    } else if Self.fitsFixedPoint(a, w, h) {
                        // affine_fixed: 16.16 fixed point.
                        func fix(_ v: Double) -> Int32 { Int32(truncatingIfNeeded: pilFloor(v * 65536.0 + 0.5)) }
                        let a0 = fix(a[0]), a1 = fix(a[1]), a3 = fix(a[3]), a4 = fix(a[4])
                        var a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5)
                        var a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5)
                        for y in 0..<h {
                            var xx = a2, yy = a5
                            for x in 0..<w {
                                let xin = Int(xx >> 16)
                                if xin >= 0 && xin < w {
                                    let yin = Int(yy >> 16)
                                    if yin >= 0 && yin < h { copy(x, y, xin, yin) }
                                }
                                xx = xx &+ a0
                                yy = yy &+ a3
                            }
                            a2 = a2 &+ a1
                            a5 = a5 &+ a4
                        }
                    } else {
                        var xo = a[2] + a[1] * 0.5 + a[0] * 0.5
                        var yo = a[5] + a[4] * 0.5 + a[3] * 0.5
                        for y in 0..<h {
                            var xx = xo, yy = yo
                            for x in 0..<w {
                                let xin = pilCoord(xx)
                                if xin >= 0 && xin < w {
                                    let yin = pilCoord(yy)
                                    if yin >= 0 && yin < h { copy(x, y, xin, yin) }
                                }
                                xx += a[0]
                                yy += a[3]
                            }
                            xo += a[1]
                            yo += a[4]
                        }
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// PIL's `check_fixed` on the four corners: whether 16.16 fixed point can represent every source coordinate.
    private static func fitsFixedPoint(_ a: [Double], _ w: Int, _ h: Int) -> Bool {
        func ok(_ x: Double, _ y: Double) -> Bool {
            Swift.abs(x * a[0] + y * a[1] + a[2]) < 32768.0 && Swift.abs(x * a[3] + y * a[4] + a[5]) < 32768.0
        }
        let W = Double(w), H = Double(h)
        return ok(0, 0) && ok(W, H) && ok(0, H) && ok(W, 0)
    }

    // MARK: Colour

    /// PIL's `Image.blend(degenerate, self, factor)` (`Blend.c`): `degenerate + factor · (self − degenerate)` in
    /// single precision, truncated to 8 bits; clipped to 0…255 when `factor` is outside [0, 1]. Factor 0 returns
    /// `degenerate`, factor 1 the image itself. `degenerate` holds `width × height × 3` bytes, or is nil for a
    /// constant `constant` in every channel.
    func blended(from degenerate: [UInt8]?, constant: UInt8 = 0, factor: Double) -> RGBImage {
        let alpha = Float(factor)
        if alpha == 1 { return self }
        if alpha == 0 {
            return RGBImage(width: width, height: height,
                            pixels: degenerate ?? [UInt8](repeating: constant, count: pixels.count))
        }
        let n = pixels.count
        let interpolate = alpha >= 0 && alpha <= 1
        let out = [UInt8](unsafeUninitializedCapacity: n) { dst, count in
            pixels.withUnsafeBufferPointer { img in
                func run(_ deg: (Int) -> Int) {
                    for i in 0..<n {
                        let d = deg(i)
                        let t = Float(d) + alpha * Float(Int(img[i]) - d)
                        if interpolate {
                            dst[i] = UInt8(Swift.min(Swift.max(t, 0), 255))
                        } else {
                            dst[i] = t <= 0 ? 0 : (t >= 255 ? 255 : UInt8(t))
                        }
                    }
                }
                if let degenerate {
                    degenerate.withUnsafeBufferPointer { deg in run { Int(deg[$0]) } }
                } else {
                    let c = Int(constant)
                    run { _ in c }
                }
            }
            count = n
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// The luma plane of PIL's `convert("L")` (`width × height` bytes).
    public func lumaPlane() -> [UInt8] {
        let n = width * height
        return [UInt8](unsafeUninitializedCapacity: n) { dst, count in
            pixels.withUnsafeBufferPointer { p in
                for i in 0..<n { dst[i] = pilLuma(p[3 * i], p[3 * i + 1], p[3 * i + 2]) }
            }
            count = n
        }
    }

    /// Greyscale with the luma replicated to three channels (torchvision `F.rgb_to_grayscale(img, 3)` on a PIL
    /// image: `convert("L")`, ITU-R 601-2 in PIL's fixed point, then stacked).
    public func grayscale() -> RGBImage {
        let l = lumaPlane()
        var out = [UInt8](repeating: 0, count: pixels.count)
        for i in 0..<l.count {
            out[3 * i] = l[i]
            out[3 * i + 1] = l[i]
            out[3 * i + 2] = l[i]
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Brightness scaled by `factor` (torchvision `F.adjust_brightness` → PIL `ImageEnhance.Brightness`: a blend
    /// with black). 1 returns the image unchanged.
    public func adjustingBrightness(_ factor: Double) -> RGBImage {
        precondition(factor >= 0, "adjustingBrightness: factor \(factor) must be non-negative")
        return blended(from: nil, constant: 0, factor: factor)
    }

    /// Contrast scaled by `factor` about the mean grey level (torchvision `F.adjust_contrast` → PIL
    /// `ImageEnhance.Contrast`: a blend with a flat image of `int(mean(L) + 0.5)`, where L is the luma). 1 returns
    /// the image unchanged.
    public func adjustingContrast(_ factor: Double) -> RGBImage {
        precondition(factor >= 0, "adjustingContrast: factor \(factor) must be non-negative")
        if Float(factor) == 1 { return self }
        var total = 0
        for v in lumaPlane() { total += Int(v) }
        let mean = Double(total) / Double(width * height)
        return blended(from: nil, constant: UInt8(Swift.min(255, Int(mean + 0.5))), factor: factor)
    }

    /// Saturation scaled by `factor` (torchvision `F.adjust_saturation` → PIL `ImageEnhance.Color`: a blend with
    /// the greyscale image). 0 gives greyscale, 1 the image unchanged.
    public func adjustingSaturation(_ factor: Double) -> RGBImage {
        precondition(factor >= 0, "adjustingSaturation: factor \(factor) must be non-negative")
        if Float(factor) == 1 { return self }
        return blended(from: grayscale().pixels, factor: factor)
    }

    /// Sharpness scaled by `factor` (torchvision `F.adjust_sharpness` → PIL `ImageEnhance.Sharpness`: a blend with
    /// PIL's `SMOOTH` 3×3 filter (1 1 1 / 1 5 1 / 1 1 1, ÷13), whose border pixels are the originals). 0 gives the
    /// smoothed image, 1 the image unchanged, 2 a sharpened one.
    public func adjustingSharpness(_ factor: Double) -> RGBImage {
        precondition(factor >= 0, "adjustingSharpness: factor \(factor) must be non-negative")
        if Float(factor) == 1 { return self }
        return blended(from: smoothed(), factor: factor)
    }

    /// PIL's `filter(ImageFilter.SMOOTH)` (`ImagingFilter3x3`): single-precision sums started at 0.5, truncated
    /// and clipped; the first and last rows and columns are copied. Images under 3×3 are returned as they are.
    func smoothed() -> [UInt8] {
        let w = width, h = height
        guard w >= 3 && h >= 3 else { return pixels }
        let k1 = Float(1) / Float(13), k5 = Float(5) / Float(13)
        var out = pixels
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 1..<(h - 1) {
                    let above = src.baseAddress! + (y - 1) * w * 3
                    let mid = src.baseAddress! + y * w * 3
                    let below = src.baseAddress! + (y + 1) * w * 3
                    for x in 1..<(w - 1) {
                        for c in 0..<3 {
                            let i = x * 3 + c
                            var ss: Float = 0.5
                            ss += Float(below[i - 3]) * k1 + Float(below[i]) * k1 + Float(below[i + 3]) * k1
                            ss += Float(mid[i - 3]) * k1 + Float(mid[i]) * k5 + Float(mid[i + 3]) * k1
                            ss += Float(above[i - 3]) * k1 + Float(above[i]) * k1 + Float(above[i + 3]) * k1
                            dst[y * w * 3 + i] = UInt8(Swift.min(Swift.max(ss, 0), 255))
                        }
                    }
                }
            }
        }
        return out
    }

    /// Hue rotated by `factor` turns (−0.5…0.5) (torchvision `F.adjust_hue` on a PIL image: `convert("HSV")`, the
    /// 8-bit hue plus `uint8(int32(factor · 255))` with wrap-around, back to RGB, with PIL's `rgb2hsv`/`hsv2rgb`
    /// rounding). A factor of exactly 0 returns the image unchanged (PIL's HSV round trip would move some pixels by
    /// one level; `ColorJitter` draws 0 with probability zero).
    public func adjustingHue(_ factor: Double) -> RGBImage {
        precondition(factor >= -0.5 && factor <= 0.5, "adjustingHue: factor \(factor) is not in [-0.5, 0.5]")
        if factor == 0 { return self }
        let shift = UInt8(truncatingIfNeeded: Int32(factor * 255))
        var out = pixels
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<(width * height) {
                let (h, s, v) = pilRGBToHSV(p[3 * i], p[3 * i + 1], p[3 * i + 2])
                let (r, g, b) = pilHSVToRGB(h &+ shift, s, v)
                p[3 * i] = r
                p[3 * i + 1] = g
                p[3 * i + 2] = b
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Each channel through a 256-entry table.
    func mapped(_ luts: [[UInt8]]) -> RGBImage {
        var out = pixels
        luts[0].withUnsafeBufferPointer { l0 in
            luts[1].withUnsafeBufferPointer { l1 in
                luts[2].withUnsafeBufferPointer { l2 in
                    out.withUnsafeMutableBufferPointer { p in
                        for i in 0..<(width * height) {
                            p[3 * i] = l0[Int(p[3 * i])]
                            p[3 * i + 1] = l1[Int(p[3 * i + 1])]
                            p[3 * i + 2] = l2[Int(p[3 * i + 2])]
                        }
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Per-channel histograms (256 counts each).
    func histograms() -> [[Int]] {
        var h = [[Int]](repeating: [Int](repeating: 0, count: 256), count: 3)
        for i in 0..<(width * height) {
            h[0][Int(pixels[3 * i])] += 1
            h[1][Int(pixels[3 * i + 1])] += 1
            h[2][Int(pixels[3 * i + 2])] += 1
        }
        return h
    }

    /// Only the top `bits` (1…8) bits of each channel kept (torchvision `F.posterize` → PIL `ImageOps.posterize`).
    public func posterized(bits: Int) -> RGBImage {
        precondition((1...8).contains(bits), "posterized: bits \(bits) must be in 1…8")
        let mask = UInt8(truncatingIfNeeded: ~((1 << (8 - bits)) - 1))
        let lut = (0..<256).map { UInt8($0) & mask }
        return mapped([lut, lut, lut])
    }

    /// Every channel value ≥ `threshold` inverted (torchvision `F.solarize` → PIL `ImageOps.solarize`).
    public func solarized(threshold: Double) -> RGBImage {
        let lut = (0..<256).map { Double($0) < threshold ? UInt8($0) : UInt8(255 - $0) }
        return mapped([lut, lut, lut])
    }

    /// Each channel stretched so its darkest value becomes 0 and its lightest 255 (torchvision `F.autocontrast` →
    /// PIL `ImageOps.autocontrast` with no cutoff: `int(v · 255 / (hi − lo) − lo · scale)`, clipped).
    public func autocontrasted() -> RGBImage {
        let luts = histograms().map { h -> [UInt8] in
            guard let lo = h.firstIndex(where: { $0 != 0 }), let hi = h.lastIndex(where: { $0 != 0 }), hi > lo else {
                return (0..<256).map { UInt8($0) }
            }
            let scale = 255.0 / Double(hi - lo)
            let offset = -Double(lo) * scale
            return (0..<256).map { UInt8(Swift.min(Swift.max(Int(Double($0) * scale + offset), 0), 255)) }
        }
        return mapped(luts)
    }

    /// Each channel's histogram equalised (torchvision `F.equalize` → PIL `ImageOps.equalize`: the cumulative
    /// count in steps of `(N − count of the last non-empty level) // 255`).
    public func equalized() -> RGBImage {
        let luts = histograms().map { h -> [UInt8] in
            let nonEmpty = h.filter { $0 != 0 }
            let identity = (0..<256).map { UInt8($0) }
            guard nonEmpty.count > 1 else { return identity }
            let step = (nonEmpty.reduce(0, +) - nonEmpty.last!) / 255
            guard step != 0 else { return identity }
            var n = step / 2
            var lut = [UInt8](repeating: 0, count: 256)
            for i in 0..<256 {
                lut[i] = UInt8(Swift.min(n / step, 255))
                n += h[i]
            }
            return lut
        }
        return mapped(luts)
    }

    /// Blurred with a `kernelSize × kernelSize` Gaussian of standard deviation `sigma` (torchvision
    /// `F.gaussian_blur` on a PIL image: the image as a float tensor, torch's float32 kernel
    /// `exp(−½ (x/σ)²)` normalised over `linspace(−(k−1)/2, (k−1)/2, k)`, reflect padding, then rounded half to
    /// even). Computed separably in single precision, so a value can differ from torchvision's by one level where
    /// the sum lands within rounding error of a half. `kernelSize` must be odd and positive.
    public func gaussianBlurred(kernelSize: Int, sigma: Double) -> RGBImage {
        precondition(kernelSize > 0 && kernelSize % 2 == 1, "gaussianBlurred: kernel size \(kernelSize) must be odd and positive")
        precondition(sigma > 0, "gaussianBlurred: sigma \(sigma) must be positive")
        if kernelSize == 1 { return self }
        let kernel = gaussianKernel1D(size: kernelSize, sigma: sigma)
        let r = kernelSize / 2, w = width, h = height
        /// Reflect padding ("reflect": no edge repeat), folded again for images narrower than the kernel.
        func reflect(_ i: Int, _ n: Int) -> Int {
            if n == 1 { return 0 }
            var i = i
            let period = 2 * (n - 1)
            i = ((i % period) + period) % period
            return i < n ? i : period - i
        }
        var tmp = [Float](repeating: 0, count: w * h * 3)
        pixels.withUnsafeBufferPointer { src in
            for y in 0..<h {
                for x in 0..<w {
                    var s0: Float = 0, s1: Float = 0, s2: Float = 0
                    for k in 0..<kernelSize {
                        let sx = reflect(x + k - r, w)
                        let p = (y * w + sx) * 3
                        s0 += kernel[k] * Float(src[p])
                        s1 += kernel[k] * Float(src[p + 1])
                        s2 += kernel[k] * Float(src[p + 2])
                    }
                    let o = (y * w + x) * 3
                    tmp[o] = s0; tmp[o + 1] = s1; tmp[o + 2] = s2
                }
            }
        }
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<h {
            for x in 0..<w {
                var s0: Float = 0, s1: Float = 0, s2: Float = 0
                for k in 0..<kernelSize {
                    let p = (reflect(y + k - r, h) * w + x) * 3
                    s0 += kernel[k] * tmp[p]
                    s1 += kernel[k] * tmp[p + 1]
                    s2 += kernel[k] * tmp[p + 2]
                }
                let o = (y * w + x) * 3
                out[o] = UInt8(Swift.min(Swift.max(s0.rounded(.toNearestOrEven), 0), 255))
                out[o + 1] = UInt8(Swift.min(Swift.max(s1.rounded(.toNearestOrEven), 0), 255))
                out[o + 2] = UInt8(Swift.min(Swift.max(s2.rounded(.toNearestOrEven), 0), 255))
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// The image as a normalised planar float image (`ToTensor()` + `Normalize`, see ``Normalization``).
    public func normalized(_ normalization: Normalization) -> FloatImage {
        FloatImage(channels: 3, width: width, height: height, data: normalization.planar(self))
    }
}

/// torch's `linspace(start, end, steps)` in float32 (`RangeFactoriesKernel.cpp`): the first half counts up from
/// `start`, the second half down from `end`, each value rounded once (torch's CPU kernel contracts the multiply-add;
/// e.g. the 16th of `linspace(0, 32, 31)` is 15.999999, not 16).
func torchLinspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
    if steps == 1 { return [start] }
    let step = (end - start) / Float(steps - 1)
    let half = steps / 2
    return (0..<steps).map { i in
        i < half ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(steps - i - 1))
    }
}

/// torchvision's `_get_gaussian_kernel1d` in float32.
func gaussianKernel1D(size: Int, sigma: Double) -> [Float] {
    let half = Float(size - 1) * 0.5
    let xs = torchLinspace(-half, half, size)
    let s = Float(sigma)
    let pdf = xs.map { x -> Float in
        let t = x / s
        return Foundation.exp(-0.5 * t * t)
    }
    let total = pdf.reduce(0, +)
    return pdf.map { $0 / total }
}

/// PIL's `rgb2hsv_row` (`Convert.c`): hue and saturation scaled to 0…255 and truncated.
@inline(__always)
private func pilRGBToHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
    let maxc = Swift.max(r, g, b), minc = Swift.min(r, g, b)
    if minc == maxc { return (0, 0, maxc) }
    let cr = Float(Int(maxc) - Int(minc))
    let s = cr / Float(maxc)
    let rc = Float(Int(maxc) - Int(r)) / cr
    let gc = Float(Int(maxc) - Int(g)) / cr
    let bc = Float(Int(maxc) - Int(b)) / cr
    var h: Float
    if r == maxc {
        h = bc - gc
    } else if g == maxc {
        h = Float(2.0 + Double(rc) - Double(bc))
    } else {
        h = Float(4.0 + Double(gc) - Double(rc))
    }
    h = Float(fmod(Double(h) / 6.0 + 1.0, 1.0))
    func clip8(_ v: Int) -> UInt8 { v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v)) }
    return (clip8(Int(Double(h) * 255.0)), clip8(Int(Double(s) * 255.0)), maxc)
}

/// PIL's `hsv2rgb` (`Convert.c`).
@inline(__always)
private func pilHSVToRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
    if s == 0 { return (v, v, v) }
    let hd = Double(Float(h)) * 6.0 / 255.0
    let i = Int(Foundation.floor(hd))
    let f = Float(hd - Double(Float(i)))
    let fs = Float(Double(Float(s)) / 255.0)
    func clip8(_ v: Double) -> UInt8 {
        let r = Int(v.rounded(.toNearestOrAwayFromZero))
        return r <= 0 ? 0 : (r >= 255 ? 255 : UInt8(r))
    }
    let vf = Double(Float(v))
    let p = clip8(vf * (1.0 - Double(fs)))
    let q = clip8(vf * (1.0 - Double(fs * f)))
    let t = clip8(vf * (1.0 - Double(fs) * (1.0 - Double(f))))
    switch i % 6 {
    case 0: return (v, t, p)
    case 1: return (q, v, p)
    case 2: return (p, v, t)
    case 3: return (p, q, v)
    case 4: return (t, p, v)
    default: return (v, p, q)
    }
}

extension FloatImage {
    /// The region `box` set to `value` (one value per channel, or one for all) in every channel (torchvision
    /// `F.erase` on a tensor).
    public func erasing(_ box: CropBox, value: [Float]) -> FloatImage {
        precondition(value.count == 1 || value.count == channels, "erasing: \(value.count) values for \(channels) channels")
        var out = data
        let x0 = Swift.max(0, box.x), x1 = Swift.min(width, box.x + box.width)
        let y0 = Swift.max(0, box.y), y1 = Swift.min(height, box.y + box.height)
        guard x0 < x1 && y0 < y1 else { return self }
        for c in 0..<channels {
            let v = value.count == 1 ? value[0] : value[c]
            for y in y0..<y1 {
                let base = (c * height + y) * width
                for x in x0..<x1 { out[base + x] = v }
            }
        }
        return FloatImage(channels: channels, width: width, height: height, data: out)
    }

    /// Flipped left to right (torchvision `F.hflip` on a tensor).
    public func flippedHorizontally() -> FloatImage {
        var out = data
        for c in 0..<channels {
            for y in 0..<height {
                let base = (c * height + y) * width
                for x in 0..<(width / 2) { out.swapAt(base + x, base + width - 1 - x) }
            }
        }
        return FloatImage(channels: channels, width: width, height: height, data: out)
    }
}

extension Normalization {
    /// The 8-bit image whose normalisation is `image` (rounded and clipped): `x = (v · std + mean) · divisor`.
    /// Used to look at what a pipeline produced.
    public func denormalized(_ image: FloatImage) -> RGBImage {
        precondition(image.channels == 3, "denormalized: expected 3 channels, got \(image.channels)")
        let plane = image.width * image.height
        var out = [UInt8](repeating: 0, count: plane * 3)
        for c in 0..<3 {
            for i in 0..<plane {
                let x = (image.data[c * plane + i] * std[c] + mean[c]) * divisor
                out[3 * i + c] = UInt8(Swift.min(Swift.max(x.rounded(), 0), 255))
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: out)
    }
}

// MARK: - Random transforms

/// A step of an image pipeline on 8-bit RGB images. Random steps draw only from the generator passed in.
public protocol ImageTransform: Sendable, CustomStringConvertible {
    /// The transformed image.
    func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage
    /// When this is the first step: the size a JPEG may be decoded at without losing detail this step keeps (see
    /// ``DecodeOptions/target``); nil to decode at full size.
    var decodeTarget: DecodeTarget? { get }
}

extension ImageTransform {
    public var decodeTarget: DecodeTarget? { nil }
}

/// A step of an image pipeline on normalised planar float images (after ``Normalization``).
public protocol FloatImageTransform: Sendable, CustomStringConvertible {
    func apply(_ image: FloatImage, generator: inout SeededGenerator) -> FloatImage
}

/// Resize so the shorter side is `size` (torchvision `Resize(size)` with an int; see
/// ``RGBImage/resizeShorter(to:filter:)``).
public struct ResizeShorter: ImageTransform {
    public var size: Int
    public var filter: ResizeFilter
    public init(_ size: Int, filter: ResizeFilter = .bilinear) {
        precondition(size > 0, "ResizeShorter: size \(size) must be positive")
        self.size = size
        self.filter = filter
    }
    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        image.resizeShorter(to: size, filter: filter)
    }
    public var decodeTarget: DecodeTarget? { .shorterSide(size) }
    public var description: String { "Resize(\(size), \(filter.rawValue))" }
}

/// The central square of side `size` (torchvision `CenterCrop(size)`).
public struct CenterCrop: ImageTransform {
    public var size: Int
    public init(_ size: Int) {
        precondition(size > 0, "CenterCrop: size \(size) must be positive")
        self.size = size
    }
    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage { image.centerCrop(size: size) }
    public var description: String { "CenterCrop(\(size))" }
}

/// torchvision `RandomResizedCrop(size, scale, ratio)`: a box of a random area fraction (uniform in `scale`) and
/// aspect ratio (log-uniform in `ratio`), tried 10 times until it fits, else a centre crop clamped to `ratio`;
/// the box is then resized to `size × size`.
public struct RandomResizedCrop: ImageTransform {
    public var size: Int
    public var scale: ClosedRange<Double>
    public var ratio: ClosedRange<Double>
    public var filter: ResizeFilter

    public init(_ size: Int, scale: ClosedRange<Double> = 0.08...1.0, ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0),
                filter: ResizeFilter = .bilinear) {
        precondition(size > 0, "RandomResizedCrop: size \(size) must be positive")
        precondition(scale.lowerBound > 0 && ratio.lowerBound > 0, "RandomResizedCrop: scale and ratio must be positive")
        self.size = size
        self.scale = scale
        self.ratio = ratio
        self.filter = filter
    }

    /// torchvision's `RandomResizedCrop.get_params` for a `width × height` image: the box is always inside it.
    public func sampleBox(width: Int, height: Int, generator g: inout SeededGenerator) -> CropBox {
        let area = Double(width * height)
        let logLo = Foundation.log(ratio.lowerBound), logHi = Foundation.log(ratio.upperBound)
        for _ in 0..<10 {
            let targetArea = area * g.uniform(scale.lowerBound, scale.upperBound)
            let aspect = Foundation.exp(g.uniform(logLo, logHi))
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = g.nextInt(below: height - h + 1)
                let left = g.nextInt(below: width - w + 1)
                return CropBox(x: left, y: top, width: w, height: h)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = Swift.max(1, Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven)))
        } else if inRatio > ratio.upperBound {
            w = Swift.max(1, Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven)))
        }
        return CropBox(x: (width - w) / 2, y: (height - h) / 2, width: w, height: h)
    }

    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        let box = sampleBox(width: image.width, height: image.height, generator: &generator)
        return image.resizedCrop(box, width: size, height: size, filter: filter)
    }

    /// Large enough that the smallest, most elongated box still spans `size` source pixels: shorter side
    /// `⌈size / √(scale.lower · min(ratio.lower, 1 / ratio.upper))⌉`.
    public var decodeTarget: DecodeTarget? {
        let elongation = Swift.min(ratio.lowerBound, 1 / ratio.upperBound, 1)
        return .shorterSide(Int((Double(size) / (scale.lowerBound * elongation).squareRoot()).rounded(.up)))
    }

    public var description: String {
        String(format: "RandomResizedCrop(%d, scale=(%g, %g), ratio=(%.4g, %.4g))", size, scale.lowerBound,
               scale.upperBound, ratio.lowerBound, ratio.upperBound)
    }
}

/// torchvision `RandomHorizontalFlip(p)`.
public struct RandomHorizontalFlip: ImageTransform {
    public var probability: Double
    public init(probability: Double = 0.5) { self.probability = probability }
    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        generator.bernoulli(probability) ? image.flippedHorizontally() : image
    }
    public var description: String { "RandomHorizontalFlip(p=\(probability))" }
}

/// torchvision `RandomVerticalFlip(p)`.
public struct RandomVerticalFlip: ImageTransform {
    public var probability: Double
    public init(probability: Double = 0.5) { self.probability = probability }
    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        generator.bernoulli(probability) ? image.flippedVertically() : image
    }
    public var description: String { "RandomVerticalFlip(p=\(probability))" }
}

/// torchvision `RandomRotation(degrees, interpolation, fill=0)`: an angle uniform in `degrees`, then
/// ``RGBImage/rotated(degrees:interpolation:fill:)`` (same size; corners filled). torchvision's default
/// interpolation is nearest; bilinear is the default here.
public struct RandomRotation: ImageTransform {
    public var degrees: ClosedRange<Double>
    public var interpolation: InterpolationMode
    public var fill: UInt8
    public init(degrees: ClosedRange<Double>, interpolation: InterpolationMode = .bilinear, fill: UInt8 = 0) {
        self.degrees = degrees
        self.interpolation = interpolation
        self.fill = fill
    }
    /// `RandomRotation(d)`: angles in −d…d.
    public init(_ degrees: Double, interpolation: InterpolationMode = .bilinear, fill: UInt8 = 0) {
        self.init(degrees: -Swift.abs(degrees)...Swift.abs(degrees), interpolation: interpolation, fill: fill)
    }
    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        let angle = generator.uniform(degrees.lowerBound, degrees.upperBound)
        return image.rotated(degrees: angle, interpolation: interpolation, fill: (fill, fill, fill))
    }
    public var description: String { "RandomRotation(\(degrees), \(interpolation.rawValue))" }
}

/// torchvision `RandomAffine(degrees, translate, scale, shear)`: angle uniform in `degrees`; translation
/// `round(uniform(−t·W, t·W))`, `round(uniform(−t·H, t·H))` pixels for `translate = (tx, ty)`; scale uniform in
/// `scale`; shear x (and y) uniform in `shearX` (`shearY`); then ``RGBImage/affine(angle:translate:scale:shear:center:interpolation:fill:)``.
public struct RandomAffine: ImageTransform {
    public var degrees: ClosedRange<Double>
    public var translate: (x: Double, y: Double)?
    public var scale: ClosedRange<Double>?
    public var shearX: ClosedRange<Double>?
    public var shearY: ClosedRange<Double>?
    public var interpolation: InterpolationMode
    public var fill: UInt8

    public init(degrees: ClosedRange<Double> = 0...0, translate: (x: Double, y: Double)? = nil,
                scale: ClosedRange<Double>? = nil, shearX: ClosedRange<Double>? = nil, shearY: ClosedRange<Double>? = nil,
                interpolation: InterpolationMode = .bilinear, fill: UInt8 = 0) {
        if let translate {
            precondition((0...1).contains(translate.x) && (0...1).contains(translate.y),
                         "RandomAffine: translate fractions must be in 0…1")
        }
        if let scale { precondition(scale.lowerBound > 0, "RandomAffine: scale must be positive") }
        self.degrees = degrees
        self.translate = translate
        self.scale = scale
        self.shearX = shearX
        self.shearY = shearY
        self.interpolation = interpolation
        self.fill = fill
    }

    public func apply(_ image: RGBImage, generator g: inout SeededGenerator) -> RGBImage {
        let angle = degrees.lowerBound == degrees.upperBound ? degrees.lowerBound : g.uniform(degrees.lowerBound, degrees.upperBound)
        var t = (x: 0.0, y: 0.0)
        if let translate {
            let mx = translate.x * Double(image.width), my = translate.y * Double(image.height)
            t.x = g.uniform(-mx, mx).rounded(.toNearestOrEven)
            t.y = g.uniform(-my, my).rounded(.toNearestOrEven)
        }
        let s = scale.map { g.uniform($0.lowerBound, $0.upperBound) } ?? 1
        let sx = shearX.map { g.uniform($0.lowerBound, $0.upperBound) } ?? 0
        let sy = shearY.map { g.uniform($0.lowerBound, $0.upperBound) } ?? 0
        return image.affine(angle: angle, translate: t, scale: s, shear: (sx, sy), interpolation: interpolation,
                            fill: (fill, fill, fill))
    }

    public var description: String {
        var parts = ["degrees=\(degrees)"]
        if let translate { parts.append("translate=(\(translate.x), \(translate.y))") }
        if let scale { parts.append("scale=\(scale)") }
        if let shearX { parts.append("shearX=\(shearX)") }
        if let shearY { parts.append("shearY=\(shearY)") }
        return "RandomAffine(" + parts.joined(separator: ", ") + ")"
    }
}

/// torchvision `ColorJitter(brightness, contrast, saturation, hue)`: factors uniform in
/// `[max(0, 1 − b), 1 + b]` (likewise contrast, saturation) and hue uniform in `[−h, h]` (h ≤ 0.5), applied in a
/// random order (`randperm(4)`), each through the PIL-exact adjustment (``RGBImage/adjustingBrightness(_:)``,
/// ``RGBImage/adjustingContrast(_:)``, ``RGBImage/adjustingSaturation(_:)``, ``RGBImage/adjustingHue(_:)``). A
/// component given as 0 is off (no draw), as in torchvision.
public struct ColorJitter: ImageTransform {
    public var brightness: ClosedRange<Double>?
    public var contrast: ClosedRange<Double>?
    public var saturation: ClosedRange<Double>?
    public var hue: ClosedRange<Double>?

    public init(brightness: Double = 0, contrast: Double = 0, saturation: Double = 0, hue: Double = 0) {
        precondition(brightness >= 0 && contrast >= 0 && saturation >= 0, "ColorJitter: strengths must be non-negative")
        precondition(hue >= 0 && hue <= 0.5, "ColorJitter: hue \(hue) must be in 0…0.5")
        func range(_ v: Double) -> ClosedRange<Double>? { v == 0 ? nil : Swift.max(0, 1 - v)...(1 + v) }
        self.brightness = range(brightness)
        self.contrast = range(contrast)
        self.saturation = range(saturation)
        self.hue = hue == 0 ? nil : -hue...hue
    }

    /// The four factors (nil when off) and their order (a permutation of 0 brightness, 1 contrast, 2 saturation,
    /// 3 hue), drawn as torchvision's `ColorJitter.get_params`.
    public func sampleParameters(generator g: inout SeededGenerator)
        -> (order: [Int], brightness: Double?, contrast: Double?, saturation: Double?, hue: Double?) {
        let order = g.permutation(4)
        let b = brightness.map { g.uniform($0.lowerBound, $0.upperBound) }
        let c = contrast.map { g.uniform($0.lowerBound, $0.upperBound) }
        let s = saturation.map { g.uniform($0.lowerBound, $0.upperBound) }
        let h = hue.map { g.uniform($0.lowerBound, $0.upperBound) }
        return (order, b, c, s, h)
    }

    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        let p = sampleParameters(generator: &generator)
        var img = image
        for op in p.order {
            switch op {
            case 0: if let f = p.brightness { img = img.adjustingBrightness(f) }
            case 1: if let f = p.contrast { img = img.adjustingContrast(f) }
            case 2: if let f = p.saturation { img = img.adjustingSaturation(f) }
            default: if let f = p.hue { img = img.adjustingHue(f) }
            }
        }
        return img
    }

    public var description: String {
        func s(_ r: ClosedRange<Double>?) -> String { r.map { "\($0)" } ?? "off" }
        return "ColorJitter(brightness=\(s(brightness)), contrast=\(s(contrast)), saturation=\(s(saturation)), hue=\(s(hue)))"
    }
}

/// torchvision `RandomGrayscale(p)`: with probability `p`, ``RGBImage/grayscale()``.
public struct RandomGrayscale: ImageTransform {
    public var probability: Double
    public init(probability: Double = 0.1) { self.probability = probability }
    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        generator.bernoulli(probability) ? image.grayscale() : image
    }
    public var description: String { "RandomGrayscale(p=\(probability))" }
}

/// torchvision `GaussianBlur(kernel_size, sigma=(0.1, 2.0))`: σ uniform in `sigma`, then
/// ``RGBImage/gaussianBlurred(kernelSize:sigma:)``.
public struct GaussianBlur: ImageTransform {
    public var kernelSize: Int
    public var sigma: ClosedRange<Double>
    public init(kernelSize: Int, sigma: ClosedRange<Double> = 0.1...2.0) {
        precondition(kernelSize > 0 && kernelSize % 2 == 1, "GaussianBlur: kernel size \(kernelSize) must be odd and positive")
        precondition(sigma.lowerBound > 0, "GaussianBlur: sigma must be positive")
        self.kernelSize = kernelSize
        self.sigma = sigma
    }
    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        image.gaussianBlurred(kernelSize: kernelSize, sigma: generator.uniform(sigma.lowerBound, sigma.upperBound))
    }
    public var description: String { "GaussianBlur(\(kernelSize), sigma=\(sigma))" }
}

/// torchvision `TrivialAugmentWide(num_magnitude_bins=31, interpolation=NEAREST, fill=None)`: one operation drawn
/// uniformly from the 14 below, one magnitude bin drawn uniformly, and for signed operations a random sign:
///
/// | op | magnitudes (31 bins) | applied as |
/// |---|---|---|
/// | Identity | — | — |
/// | ShearX, ShearY | linspace(0, 0.99) ± | `F.affine(shear = degrees(atan(m)))` about (0, 0) |
/// | TranslateX, TranslateY | linspace(0, 32) ± | `F.affine(translate = int(m))` pixels |
/// | Rotate | linspace(0, 135) ± | `F.rotate(m)` degrees |
/// | Brightness, Color, Contrast, Sharpness | linspace(0, 0.99) ± | enhance factor 1 + m |
/// | Posterize | 8 − round(i / 5) | bits |
/// | Solarize | linspace(255, 0) | threshold |
/// | AutoContrast, Equalize | — | — |
///
/// Geometric operations fill with black; they use nearest sampling unless `interpolation` says otherwise.
public struct TrivialAugmentWide: ImageTransform {
    /// The operations in torchvision's `_augmentation_space` order.
    public enum Operation: String, Sendable, CaseIterable {
        case identity = "Identity", shearX = "ShearX", shearY = "ShearY", translateX = "TranslateX",
             translateY = "TranslateY", rotate = "Rotate", brightness = "Brightness", color = "Color",
             contrast = "Contrast", sharpness = "Sharpness", posterize = "Posterize", solarize = "Solarize",
             autoContrast = "AutoContrast", equalize = "Equalize"

        var signed: Bool {
            switch self {
            case .shearX, .shearY, .translateX, .translateY, .rotate, .brightness, .color, .contrast, .sharpness: return true
            default: return false
            }
        }
    }

    public var bins: Int
    public var interpolation: InterpolationMode
    public init(bins: Int = 31, interpolation: InterpolationMode = .nearest) {
        precondition(bins >= 2, "TrivialAugmentWide: at least 2 magnitude bins")
        self.bins = bins
        self.interpolation = interpolation
    }

    /// The magnitudes of `op` (empty for operations without one), as torchvision computes them (float32).
    public func magnitudes(_ op: Operation) -> [Double] {
        switch op {
        case .identity, .autoContrast, .equalize: return []
        case .shearX, .shearY, .brightness, .color, .contrast, .sharpness: return torchLinspace(0, 0.99, bins).map(Double.init)
        case .translateX, .translateY: return torchLinspace(0, 32, bins).map(Double.init)
        case .rotate: return torchLinspace(0, 135, bins).map(Double.init)
        case .posterize:
            let d = Float(bins - 1) / 6
            return (0..<bins).map { Double(8 - Int((Float($0) / d).rounded(.toNearestOrEven))) }
        case .solarize: return torchLinspace(255, 0, bins).map(Double.init)
        }
    }

    /// The operation and signed magnitude drawn as torchvision's `forward` does.
    public func sample(generator g: inout SeededGenerator) -> (operation: Operation, magnitude: Double) {
        let op = Operation.allCases[g.nextInt(below: Operation.allCases.count)]
        let mags = magnitudes(op)
        var m = mags.isEmpty ? 0 : mags[g.nextInt(below: mags.count)]
        if op.signed && g.nextInt(below: 2) == 1 { m = -m }
        return (op, m)
    }

    /// torchvision's `_apply_op` on a PIL image.
    public func apply(_ op: Operation, magnitude m: Double, to image: RGBImage) -> RGBImage {
        switch op {
        case .identity: return image
        case .shearX:
            return image.affine(shear: (Foundation.atan(m) * 180 / Double.pi, 0), center: (0, 0), interpolation: interpolation)
        case .shearY:
            return image.affine(shear: (0, Foundation.atan(m) * 180 / Double.pi), center: (0, 0), interpolation: interpolation)
        case .translateX: return image.affine(translate: (Double(Int(m)), 0), interpolation: interpolation)
        case .translateY: return image.affine(translate: (0, Double(Int(m))), interpolation: interpolation)
        case .rotate: return image.rotated(degrees: m, interpolation: interpolation)
        case .brightness: return image.adjustingBrightness(1 + m)
        case .color: return image.adjustingSaturation(1 + m)
        case .contrast: return image.adjustingContrast(1 + m)
        case .sharpness: return image.adjustingSharpness(1 + m)
        case .posterize: return image.posterized(bits: Int(m))
        case .solarize: return image.solarized(threshold: m)
        case .autoContrast: return image.autocontrasted()
        case .equalize: return image.equalized()
        }
    }

    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        let (op, m) = sample(generator: &generator)
        return apply(op, magnitude: m, to: image)
    }

    public var description: String { "TrivialAugmentWide(bins=\(bins), \(interpolation.rawValue))" }
}

/// torchvision `RandomErasing(p, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0)` on a normalised float image:
/// with probability `p`, a box of area fraction uniform in `scale` and log-uniform aspect ratio in `ratio` (10
/// tries to fit, else nothing) is set to `value` (per channel, in normalised units), or to standard normal noise
/// when `value` is nil (torchvision's `value="random"`).
public struct RandomErasing: FloatImageTransform {
    public var probability: Double
    public var scale: ClosedRange<Double>
    public var ratio: ClosedRange<Double>
    public var value: [Float]?

    public init(probability: Double = 0.5, scale: ClosedRange<Double> = 0.02...0.33, ratio: ClosedRange<Double> = 0.3...3.3,
                value: [Float]? = [0]) {
        precondition(scale.lowerBound >= 0 && scale.upperBound <= 1, "RandomErasing: scale must be within 0…1")
        precondition(ratio.lowerBound > 0, "RandomErasing: ratio must be positive")
        self.probability = probability
        self.scale = scale
        self.ratio = ratio
        self.value = value
    }

    /// torchvision's `RandomErasing.get_params` (after the probability test): the box, or nil when no try fits.
    public func sampleBox(width: Int, height: Int, generator g: inout SeededGenerator) -> CropBox? {
        let area = Double(width * height)
        let logLo = Foundation.log(ratio.lowerBound), logHi = Foundation.log(ratio.upperBound)
        for _ in 0..<10 {
            let eraseArea = area * g.uniform(scale.lowerBound, scale.upperBound)
            let aspect = Foundation.exp(g.uniform(logLo, logHi))
            let h = Int((eraseArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((eraseArea / aspect).squareRoot().rounded(.toNearestOrEven))
            guard h < height && w < width else { continue }
            let top = g.nextInt(below: height - h + 1)
            let left = g.nextInt(below: width - w + 1)
            return CropBox(x: left, y: top, width: w, height: h)
        }
        return nil
    }

    public func apply(_ image: FloatImage, generator g: inout SeededGenerator) -> FloatImage {
        guard g.bernoulli(probability) else { return image }
        guard let box = sampleBox(width: image.width, height: image.height, generator: &g), box.width > 0, box.height > 0 else {
            return image
        }
        if let value { return image.erasing(box, value: value) }
        var out = image.data
        for c in 0..<image.channels {
            for y in box.y..<(box.y + box.height) {
                for x in box.x..<(box.x + box.width) {
                    out[(c * image.height + y) * image.width + x] = Float(g.nextGaussian())
                }
            }
        }
        return FloatImage(channels: image.channels, width: image.width, height: image.height, data: out)
    }

    public var description: String {
        "RandomErasing(p=\(probability), scale=\(scale), ratio=\(ratio), value=\(value.map { "\($0)" } ?? "random"))"
    }
}

// MARK: - Pipelines

/// How strongly training images are augmented.
public enum AugmentationPolicy: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// No augmentation: the evaluation transform (resize the shorter side to `size · 256 / 224`, centre crop).
    case none
    /// `RandomResizedCrop(size, scale=(0.35, 1))` + `RandomHorizontalFlip()`: mild, safe for small data sets.
    case light
    /// `light` + `TrivialAugmentWide()` + `RandomErasing(p=0.25)` (after normalisation), close to torchvision's
    /// classification reference recipe.
    case strong

    public var description: String { rawValue }
}

/// decode → 8-bit transforms → normalise → float transforms: the per-sample preprocessing of a data loader.
///
/// All randomness comes from the generator handed to ``apply(_:generator:)``; a loader passes
/// ``SeededGenerator/forSample(seed:epoch:index:)``.
public struct ImagePipeline: Sendable, CustomStringConvertible {
    /// The steps on 8-bit images, in order.
    public var transforms: [any ImageTransform]
    /// `ToTensor()` + `Normalize` between the two stages.
    public var normalization: Normalization
    /// The steps on normalised float images, in order.
    public var floatTransforms: [any FloatImageTransform]
    /// How JPEGs are decoded: at reduced size when the first step allows it (``ImageTransform/decodeTarget``), or
    /// as set. A decoded image is never smaller than this target, so the result differs from a full-size decode only
    /// by resampling detail.
    public var decodeTarget: DecodeTarget?

    public init(transforms: [any ImageTransform], normalization: Normalization = .imagenet,
                floatTransforms: [any FloatImageTransform] = []) {
        self.transforms = transforms
        self.normalization = normalization
        self.floatTransforms = floatTransforms
        self.decodeTarget = transforms.first?.decodeTarget
    }

    /// The evaluation transform: resize the shorter side to `resize` (default `round(size · 256 / 224)`), centre
    /// crop `size` (torchvision's `Resize(256)`, `CenterCrop(224)` for size 224).
    public static func evaluation(size: Int, resize: Int? = nil, normalization: Normalization = .imagenet) -> ImagePipeline {
        let r = resize ?? Int((Double(size) * 256 / 224).rounded())
        return ImagePipeline(transforms: [ResizeShorter(r), CenterCrop(size)], normalization: normalization)
    }

    /// The training pipeline of `policy` with `size × size` outputs (see ``AugmentationPolicy``).
    public static func training(_ policy: AugmentationPolicy, size: Int, normalization: Normalization = .imagenet) -> ImagePipeline {
        switch policy {
        case .none:
            return evaluation(size: size, normalization: normalization)
        case .light:
            return ImagePipeline(transforms: [RandomResizedCrop(size, scale: 0.35...1), RandomHorizontalFlip()],
                                 normalization: normalization)
        case .strong:
            return ImagePipeline(transforms: [RandomResizedCrop(size, scale: 0.35...1), RandomHorizontalFlip(), TrivialAugmentWide()],
                                 normalization: normalization, floatTransforms: [RandomErasing(probability: 0.25)])
        }
    }

    /// The 8-bit stage only.
    public func applyImageTransforms(_ image: RGBImage, generator: inout SeededGenerator) -> RGBImage {
        var img = image
        for t in transforms { img = t.apply(img, generator: &generator) }
        return img
    }

    /// The whole pipeline.
    public func apply(_ image: RGBImage, generator: inout SeededGenerator) -> FloatImage {
        var out = applyImageTransforms(image, generator: &generator).normalized(normalization)
        for t in floatTransforms { out = t.apply(out, generator: &generator) }
        return out
    }

    /// The whole pipeline with the generator of sample `index` in `epoch` of a run seeded `seed`.
    public func apply(_ image: RGBImage, seed: UInt64, epoch: Int, index: Int) -> FloatImage {
        var g = SeededGenerator.forSample(seed: seed, epoch: epoch, index: index)
        return apply(image, generator: &g)
    }

    public var description: String {
        let steps = transforms.map(\.description) + ["Normalize(mean=\(normalization.mean), std=\(normalization.std))"]
            + floatTransforms.map(\.description)
        return steps.joined(separator: " → ")
    }
}

// MARK: - Batch mixing

/// A batch after mixup or cutmix.
public struct MixedBatch {
    /// `[N, C, H, W]`.
    public var images: Tensor
    /// `[N, K]` soft targets; each row sums to 1 when the input rows did.
    public var targets: Tensor
    /// The weight of each sample's own image and target (`lam` in torchvision; for cutmix the area-corrected one).
    public var lambda: Double
    /// The pasted box (cutmix), or nil (mixup).
    public var box: CropBox?
}

/// Batch-level mixing of images and targets (torchvision.transforms.v2 `MixUp` and `CutMix`): each sample is
/// combined with the one before it in the batch (`roll(1, 0)`), and targets are mixed in the same proportion.
public enum BatchMixing: Sendable, Equatable, CustomStringConvertible {
    /// `MixUp(alpha)`: λ ~ Beta(α, α); images and targets are `λ · x + (1 − λ) · roll(x)`.
    case mixup(alpha: Double)
    /// `CutMix(alpha)`: λ ~ Beta(α, α); a box of side fraction √(1 − λ) around a uniform centre (clipped to the
    /// image) is pasted from the rolled batch, and λ becomes `1 − box area / image area`.
    case cutmix(alpha: Double)
    /// One of the two, each with probability ½ per batch (torchvision's reference `RandomChoice([MixUp, CutMix])`).
    case mixupOrCutmix(mixupAlpha: Double, cutmixAlpha: Double)

    public var description: String {
        switch self {
        case .mixup(let a): return "MixUp(alpha=\(a))"
        case .cutmix(let a): return "CutMix(alpha=\(a))"
        case .mixupOrCutmix(let m, let c): return "RandomChoice(MixUp(alpha=\(m)), CutMix(alpha=\(c)))"
        }
    }

    /// `[N, K]` one-hot rows for class indices `labels` (each in `0 ..< classCount`).
    public static func oneHot(_ labels: [Int], classCount: Int) -> Tensor {
        var data = [Float](repeating: 0, count: labels.count * classCount)
        for (i, l) in labels.enumerated() {
            precondition(l >= 0 && l < classCount, "oneHot: label \(l) outside 0..<\(classCount)")
            data[i * classCount + l] = 1
        }
        return Tensor(shape: [labels.count, classCount], data: data)
    }

    /// Mixes `images` (`[N, C, H, W]`) and `targets` (`[N, K]`, one-hot or soft) with draws from `generator`.
    public func apply(images: Tensor, targets: Tensor, generator g: inout SeededGenerator) -> MixedBatch {
        switch self {
        case .mixup(let alpha):
            return BatchMixing.mixup(images: images, targets: targets, lambda: g.nextBeta(alpha, alpha))
        case .cutmix(let alpha):
            precondition(images.rank == 4, "cutmix: images must be [N, C, H, W], got \(images.shape)")
            let lam = g.nextBeta(alpha, alpha)
            let h = images.shape[2], w = images.shape[3]
            let rx = g.nextInt(below: w), ry = g.nextInt(below: h)
            let r = 0.5 * (1 - lam).squareRoot()
            let rw = Int(r * Double(w)), rh = Int(r * Double(h))
            let x1 = Swift.max(rx - rw, 0), y1 = Swift.max(ry - rh, 0)
            let x2 = Swift.min(rx + rw, w), y2 = Swift.min(ry + rh, h)
            return BatchMixing.cutmix(images: images, targets: targets,
                                      box: CropBox(x: x1, y: y1, width: x2 - x1, height: y2 - y1))
        case .mixupOrCutmix(let m, let c):
            let choice: BatchMixing = g.nextInt(below: 2) == 0 ? .mixup(alpha: m) : .cutmix(alpha: c)
            return choice.apply(images: images, targets: targets, generator: &g)
        }
    }

    /// `lambda · x + (1 − lambda) · roll(x, 1)` for images and targets.
    public static func mixup(images: Tensor, targets: Tensor, lambda: Double) -> MixedBatch {
        _ = checkBatch(images, targets)
        return MixedBatch(images: mixRows(images, lambda: lambda), targets: mixRows(targets, lambda: lambda),
                          lambda: lambda, box: nil)
    }

    /// `lambda · t[i] + (1 − lambda) · t[i − 1]` along the first axis (torch's `roll(1, 0)`: sample 0 pairs with
    /// the last one).
    static func mixRows(_ t: Tensor, lambda: Double) -> Tensor {
        let n = t.shape[0]
        let lam = Float(lambda)
        let x = t.toArray()
        let row = n == 0 ? 0 : x.count / n
        var out = [Float](repeating: 0, count: x.count)
        for i in 0..<n {
            let j = (i + n - 1) % n
            for k in 0..<row { out[i * row + k] = lam * x[i * row + k] + (1 - lam) * x[j * row + k] }
        }
        return Tensor(shape: t.shape, data: out)
    }

    /// Pastes `box` of the rolled batch into every image; targets are mixed with `λ = 1 − box area / image area`.
    public static func cutmix(images: Tensor, targets: Tensor, box: CropBox) -> MixedBatch {
        let n = checkBatch(images, targets)
        precondition(images.rank == 4, "cutmix: images must be [N, C, H, W], got \(images.shape)")
        let c = images.shape[1], h = images.shape[2], w = images.shape[3]
        let x = images.toArray()
        var out = x
        let x0 = Swift.max(0, box.x), x1 = Swift.min(w, box.x + box.width)
        let y0 = Swift.max(0, box.y), y1 = Swift.min(h, box.y + box.height)
        if x0 < x1 && y0 < y1 {
            for i in 0..<n {
                let j = (i + n - 1) % n
                for ch in 0..<c {
                    for y in y0..<y1 {
                        let di = ((i * c + ch) * h + y) * w, si = ((j * c + ch) * h + y) * w
                        for xx in x0..<x1 { out[di + xx] = x[si + xx] }
                    }
                }
            }
        }
        let pasted = Swift.max(0, x1 - x0) * Swift.max(0, y1 - y0)
        let lam = 1 - Double(pasted) / Double(w * h)
        return MixedBatch(images: Tensor(shape: images.shape, data: out), targets: mixRows(targets, lambda: lam), lambda: lam,
                          box: CropBox(x: x0, y: y0, width: Swift.max(0, x1 - x0), height: Swift.max(0, y1 - y0)))
    }

    private static func checkBatch(_ images: Tensor, _ targets: Tensor) -> Int {
        precondition(images.rank >= 1 && targets.rank == 2, "batch mixing: images [N, …] and targets [N, K] expected")
        precondition(images.shape[0] == targets.shape[0],
                     "batch mixing: \(images.shape[0]) images for \(targets.shape[0]) targets")
        return images.shape[0]
    }
}
