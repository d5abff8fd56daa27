import CImageCodec
import Foundation
import Tensors

/// An 8-bit RGB image: `pixels` holds `width × height × 3` bytes, rows top to bottom, each pixel R, G, B
/// (the layout of a PIL image in mode "RGB" and of `numpy.asarray(img)` of shape [H, W, 3]).
public struct RGBImage: Sendable, Equatable {
    /// Columns (≥ 1).
    public let width: Int
    /// Rows (≥ 1).
    public let height: Int
    /// `width × height × 3` bytes: R, G, B per pixel, row-major.
    public var pixels: [UInt8]

    /// An image over `pixels`, which must hold `width × height × 3` bytes; both sides must be positive.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "RGBImage: size \(width)×\(height) must be positive")
        precondition(pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width)×\(height)×3 = \(width * height * 3)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A `width × height` image filled with one colour.
    public init(width: Int, height: Int, fill: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) {
        var p = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            p[3 * i] = fill.r
            p[3 * i + 1] = fill.g
            p[3 * i + 2] = fill.b
        }
        self.init(width: width, height: height, pixels: p)
    }

    /// The (R, G, B) values at column `x`, row `y`.
    public subscript(x x: Int, y y: Int) -> SIMD3<UInt8> {
        get {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "RGBImage: pixel (\(x), \(y)) outside \(width)×\(height)")
            let i = (y * width + x) * 3
            return SIMD3(pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "RGBImage: pixel (\(x), \(y)) outside \(width)×\(height)")
            let i = (y * width + x) * 3
            pixels[i] = newValue.x
            pixels[i + 1] = newValue.y
            pixels[i + 2] = newValue.z
        }
    }

    /// The image as planar floats (channel, row, column), each value `normalization` applied to the 0…255 byte.
    public func chwFloats(normalization: Normalization = .unit) -> [Float] {
        normalization.planar(self)
    }

    /// The image as a `[3, height, width]` tensor, normalised like torchvision's `ToTensor()` followed by
    /// `Normalize(mean, std)` (see ``Normalization``).
    public func tensor(normalization: Normalization = .unit) -> Tensor {
        Tensor(shape: [3, height, width], data: normalization.planar(self))
    }

    /// The image as a planar float image with values 0…255 (no normalisation), for float resampling.
    public func floatImage() -> FloatImage {
        FloatImage(channels: 3, width: width, height: height, data: Normalization.identity.planar(self))
    }

    /// The image transformed for EXIF orientation `orientation` (1…8), so that it displays upright: the same
    /// transposition PIL's `ImageOps.exif_transpose` applies (2 mirror, 3 rotate 180°, 4 flip, 5 transpose,
    /// 6 rotate 90° clockwise, 7 transverse, 8 rotate 90° counter-clockwise). Other values return the image as is.
    public func applyingExifOrientation(_ orientation: Int) -> RGBImage {
        guard (2...8).contains(orientation) else { return self }
        let w = width, h = height
        let swaps = orientation >= 5
        let ow = swaps ? h : w, oh = swaps ? w : h
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    for x in 0..<ow {
                        let sx: Int, sy: Int
                        switch orientation {
                        case 2: (sx, sy) = (w - 1 - x, y)
                        case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
                        case 4: (sx, sy) = (x, h - 1 - y)
                        case 5: (sx, sy) = (y, x)
                        case 6: (sx, sy) = (y, h - 1 - x)
                        case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
                        default: (sx, sy) = (w - 1 - y, x)  // 8
                        }
                        let s = (sy * w + sx) * 3, d = (y * ow + x) * 3
                        dst[d] = src[s]
                        dst[d + 1] = src[s + 1]
                        dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}

/// The container formats ``ImageDecoder`` reads, recognised by their leading bytes.
public enum ImageFormat: String, Sendable, Equatable {
    case jpeg
    case png

    /// The format whose signature starts `bytes` (JPEG: `FF D8 FF`; PNG: `89 50 4E 47 0D 0A 1A 0A`), or nil.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF { return .jpeg }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= 8 && (0..<8).allSatisfy({ bytes[$0] == png[$0] }) { return .png }
        return nil
    }
}

/// The size a caller will resample a decoded image to, so that a JPEG can be decoded at a reduced size.
public enum DecodeTarget: Sendable, Equatable {
    /// The shorter side will be resized to this length (torchvision's `Resize(n)` with an int).
    case shorterSide(Int)
    /// The upright (EXIF-oriented) image will be resized to this size.
    case size(width: Int, height: Int)
}

/// How ``ImageDecoder`` decodes.
public struct DecodeOptions: Sendable, Equatable {
    /// The default pixel limit: 100 million pixels (PIL's `Image.MAX_IMAGE_PIXELS` is ≈ 89.5 million).
    public static let defaultMaxPixels = 100_000_000

    /// The default file-size limit for ``ImageDecoder/decode(contentsOf:options:)``: 256 MiB. A JPEG or PNG of
    /// 100 megapixels (``defaultMaxPixels``) rarely exceeds a few tens of MiB; a larger file is refused before it is
    /// read, so a huge or endless input fails fast instead of growing memory.
    public static let defaultMaxFileBytes = 256 << 20

    /// Largest `width × height` a header may declare; checked before any pixel buffer is allocated.
    public var maxPixels: Int
    /// Largest file, in bytes, that ``ImageDecoder/decode(contentsOf:options:)`` reads; a larger one throws
    /// ``DatasetError/fileTooLarge(path:size:limit:)`` without being read.
    public var maxFileBytes: Int
    /// When set, a JPEG is decoded with libjpeg's DCT scaling (`scale_num / 8`, the smallest of 1/8…8/8) at the
    /// smallest size that is still at least the target in both directions; the caller's resize then finishes the
    /// job. This is much faster for large photos, and the result differs slightly from a full decode followed by the
    /// same resize (PIL does the same when asked through `Image.draft`). PNG always decodes at full size.
    public var target: DecodeTarget?
    /// Whether a JPEG's EXIF orientation (APP1 "Exif" tag 0x0112) is applied, like PIL's
    /// `ImageOps.exif_transpose`. torchvision's default `ImageFolder` loader does not apply it.
    public var appliesExifOrientation: Bool

    /// Options with the default limit, full-size decoding and EXIF orientation applied unless overridden.
    public init(maxPixels: Int = DecodeOptions.defaultMaxPixels, target: DecodeTarget? = nil,
                appliesExifOrientation: Bool = true, maxFileBytes: Int = DecodeOptions.defaultMaxFileBytes) {
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
        self.target = target
        self.appliesExifOrientation = appliesExifOrientation
    }
}

/// Decodes JPEG and PNG files to ``RGBImage``.
///
/// Colour conversion follows PIL's `Image.open(f).convert("RGB")` (torchvision's image loader): greyscale is
/// replicated; CMYK/YCCK JPEGs are taken as Adobe-inverted CMYK (as libjpeg delivers them and PIL reads them,
/// rawmode "CMYK;I") and converted with PIL's `cmyk2rgb`; PNG palettes are expanded; alpha and tRNS transparency are
/// **dropped**, not composited (PIL's `convert("RGB")` drops them). 16-bit PNG samples keep their high byte
/// (libpng's `png_set_strip_16`, and PIL's 16-bit RGB path); for 16-bit greyscale PIL's `I;16 → RGB` conversion
/// clips every value above 255 to white instead, which is not reproduced. EXIF orientation is read from JPEG APP1
/// segments only (a PNG `eXIf` chunk is ignored).
public enum ImageDecoder {
    /// Decodes the bytes of a JPEG or PNG file; `path` is only used in error messages.
    public static func decode(data: some ContiguousBytes, path: String,
                              options: DecodeOptions = DecodeOptions()) throws(DatasetError) -> RGBImage {
        let result: Result<RGBImage, DatasetError> = data.withUnsafeBytes { raw in
            do throws(DatasetError) {
                return .success(try decode(raw: raw, path: path, options: options))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Reads and decodes the image file at `path`.
    ///
    /// Only a regular file is read (a FIFO, socket or device such as `/dev/zero` throws
    /// ``DatasetError/notARegularFile(path:kind:)`` at once), and only up to ``DecodeOptions/maxFileBytes``
    /// (``DatasetError/fileTooLarge(path:size:limit:)``); the decoded size is capped by ``DecodeOptions/maxPixels``.
    public static func decode(contentsOf path: String,
                              options: DecodeOptions = DecodeOptions()) throws(DatasetError) -> RGBImage {
        let bytes = try FileIO.readFile(path, limit: options.maxFileBytes)
        return try decode(data: bytes, path: path, options: options)
    }

    static func decode(raw: UnsafeRawBufferPointer, path: String, options: DecodeOptions) throws(DatasetError) -> RGBImage {
        guard let format = ImageFormat.sniff(raw) else { throw .unsupportedImageFormat(path: path) }
        var opts = tkic_decode_options()
        opts.max_pixels = Int64(options.maxPixels)
        var orientation = 1
        if format == .jpeg {
            if options.appliesExifOrientation { orientation = JPEGMarkers.exifOrientation(raw) }
            switch options.target {
            case .none:
                break
            case .shorterSide(let s):
                // Either side may be the shorter one; asking both to reach `s` keeps the shorter one ≥ s.
                opts.min_width = Int32(clamping: s)
                opts.min_height = Int32(clamping: s)
            case .size(let w, let h):
                let swapped = orientation >= 5
                opts.min_width = Int32(clamping: swapped ? h : w)
                opts.min_height = Int32(clamping: swapped ? w : h)
            }
        }
        var image = tkic_image()
        var message = [CChar](repeating: 0, count: 256)
        let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let status = message.withUnsafeMutableBufferPointer { msg -> Int32 in
            switch format {
            case .jpeg: return tkic_decode_jpeg(base, raw.count, &opts, &image, msg.baseAddress, msg.count)
            case .png: return tkic_decode_png(base, raw.count, &opts, &image, msg.baseAddress, msg.count)
            }
        }
        defer { tkic_image_release(&image) }
        let reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        switch Int(status) {
        case Int(TKIC_OK):
            break
        case Int(TKIC_TOO_LARGE):
            throw .imageTooLarge(path: path, width: Int(image.header_width), height: Int(image.header_height),
                                 limit: options.maxPixels)
        case Int(TKIC_UNSUPPORTED):
            throw .unsupportedImageFormat(path: path)
        case Int(TKIC_NO_MEMORY):
            throw .corruptImage(path: path, reason: "out of memory while decoding: \(reason)")
        default:
            throw .corruptImage(path: path, reason: reason.isEmpty ? "decoder error" : reason)
        }
        let w = Int(image.width), h = Int(image.height)
        let count = w * h * 3
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buf, n in
            buf.baseAddress!.update(from: image.pixels, count: count)
            n = count
        }
        let decoded = RGBImage(width: w, height: h, pixels: pixels)
        return orientation == 1 ? decoded : decoded.applyingExifOrientation(orientation)
    }
}

/// Reads JPEG marker segments ahead of libjpeg.
enum JPEGMarkers {
    /// The EXIF orientation (1…8) from the first APP1 "Exif\0\0" segment before the first scan, or 1 when there is
    /// none or it is malformed (PIL also treats a missing or invalid tag as "upright").
    static func exifOrientation(_ b: UnsafeRawBufferPointer) -> Int {
        let n = b.count
        guard n >= 4, b[0] == 0xFF, b[1] == 0xD8 else { return 1 }
        var i = 2
        while i < n {
            guard b[i] == 0xFF else { return 1 }
            while i < n && b[i] == 0xFF { i += 1 }  // fill bytes
            guard i < n else { return 1 }
            let marker = b[i]
            i += 1
            if marker == 0xD9 || marker == 0xDA { return 1 }  // EOI, SOS: no more header segments
            if (0xD0...0xD7).contains(marker) || marker == 0x01 { continue }  // no length field
            guard i + 2 <= n else { return 1 }
            let length = Int(b[i]) << 8 | Int(b[i + 1])
            guard length >= 2, i + length <= n else { return 1 }
            let start = i + 2, end = i + length
            if marker == 0xE1, end - start >= 6,
               b[start] == 0x45, b[start + 1] == 0x78, b[start + 2] == 0x69, b[start + 3] == 0x66,
               b[start + 4] == 0, b[start + 5] == 0 {
                return tiffOrientation(UnsafeRawBufferPointer(rebasing: b[(start + 6)..<end]))
            }
            i = end
        }
        return 1
    }

    /// Tag 0x0112 of IFD0 of a TIFF structure (either byte order), or 1.
    static func tiffOrientation(_ t: UnsafeRawBufferPointer) -> Int {
        let n = t.count
        guard n >= 8 else { return 1 }
        let little: Bool
        if t[0] == 0x49 && t[1] == 0x49 { little = true } else if t[0] == 0x4D && t[1] == 0x4D { little = false } else { return 1 }
        func u16(_ o: Int) -> Int {
            little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int {
            little ? u16(o) | u16(o + 2) << 16 : u16(o) << 16 | u16(o + 2)
        }
        guard u16(2) == 42 else { return 1 }
        let ifd = u32(4)
        guard ifd >= 8, ifd + 2 <= n else { return 1 }
        let entries = u16(ifd)
        for k in 0..<entries {
            let e = ifd + 2 + 12 * k
            guard e + 12 <= n else { return 1 }
            guard u16(e) == 0x0112 else { continue }
            let type = u16(e + 2)
            let value: Int
            switch type {
            case 3: value = u16(e + 8)  // SHORT, left-justified in the value field
            case 4: value = u32(e + 8)  // LONG (non-standard, seen in the wild)
            default: return 1
            }
            return (1...8).contains(value) ? value : 1
        }
        return 1
    }
}

/// Writes ``RGBImage`` as PNG through libpng (8-bit RGB, zlib's default level, libpng's adaptive filtering).
public enum PNGEncoder {
    /// The PNG file bytes of `image`.
    public static func encode(_ image: RGBImage) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = image.pixels.withUnsafeBufferPointer { px in
            message.withUnsafeMutableBufferPointer { msg in
                tkic_encode_png_rgb(px.baseAddress, Int32(image.width), Int32(image.height), &out, &size,
                                    msg.baseAddress, msg.count)
            }
        }
        // With a valid RGBImage libpng can only fail by running out of memory.
        precondition(status == TKIC_OK,
                     "PNGEncoder: libpng failed: \(message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })")
        defer { tkic_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// Writes `image` as a PNG file at `path` (atomically: a temporary file renamed into place).
    public static func write(_ image: RGBImage, to path: String) throws(DatasetError) {
        try FileIO.write(encode(image), to: path)
    }
}
