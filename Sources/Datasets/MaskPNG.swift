import CImageCodec

/// A segmentation mask: one class index per pixel, rows top to bottom.
public struct LabelMask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width × height` class indices (255 conventionally marks pixels to ignore, as in PASCAL VOC).
    public var labels: [UInt8]

    public init(width: Int, height: Int, labels: [UInt8]) {
        precondition(width > 0 && height > 0 && labels.count == width * height,
                     "LabelMask: \(labels.count) labels for \(width)×\(height)")
        self.width = width
        self.height = height
        self.labels = labels
    }

    /// Reads a mask PNG: a palette PNG gives its palette indices (PASCAL VOC's `SegmentationClass` files), an 8-bit
    /// greyscale PNG its grey values. Colour or alpha PNGs throw ``DatasetError/corruptImage(path:reason:)`` saying so.
    public static func read(contentsOf path: String, maxPixels: Int = DecodeOptions.defaultMaxPixels) throws(DatasetError) -> LabelMask {
        let bytes = try FileIO.readFile(path, limit: DecodeOptions.defaultMaxFileBytes)
        guard bytes.count >= 8, bytes[0] == 0x89, bytes[1] == 0x50, bytes[2] == 0x4E, bytes[3] == 0x47 else {
            throw .corruptImage(path: path, reason: "a mask must be a PNG file (palette or 8-bit greyscale)")
        }
        var opts = tkic_decode_options()
        opts.max_pixels = Int64(maxPixels)
        var image = tkic_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer { raw in
            message.withUnsafeMutableBufferPointer { msg in
                tkic_decode_png_indices(raw.baseAddress, raw.count, &opts, &image, msg.baseAddress, msg.count)
            }
        }
        defer { tkic_image_release(&image) }
        let reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        switch Int(status) {
        case Int(TKIC_OK): break
        case Int(TKIC_TOO_LARGE):
            throw .imageTooLarge(path: path, width: Int(image.header_width), height: Int(image.header_height), limit: maxPixels)
        default:
            throw .corruptImage(path: path, reason: reason.isEmpty ? "PNG decoder error" : reason)
        }
        let w = Int(image.width), h = Int(image.height)
        let labels = [UInt8](UnsafeBufferPointer(start: image.pixels, count: w * h))
        return LabelMask(width: w, height: h, labels: labels)
    }

    /// The PNG bytes of this mask as a palette PNG (colour type 3) with `palette` (RGB triples; PASCAL VOC's
    /// colour map when nil), so viewers show classes in colour and ``read(contentsOf:maxPixels:)`` reads the indices.
    public func pngData(palette: [UInt8]? = nil) -> [UInt8] {
        PNGEncoder.encodeIndexed(width: width, height: height, indices: labels, palette: palette ?? Self.vocPalette)
    }

    /// PASCAL VOC's colour map (`labelcolormap` of the VOC devkit): 256 RGB triples, index 0 black, 255 near white.
    public static let vocPalette: [UInt8] = (0..<256).flatMap { i -> [UInt8] in
        var r = 0, g = 0, b = 0, c = i
        for j in 0..<8 {
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        }
        return [UInt8(r), UInt8(g), UInt8(b)]
    }
}
