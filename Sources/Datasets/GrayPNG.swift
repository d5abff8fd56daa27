import CZlib

extension PNGEncoder {
    /// The PNG file bytes of an 8-bit greyscale image (PNG colour type 0): `pixels` holds `width × height` bytes,
    /// row-major, 0 = black.
    ///
    /// Written directly (signature, `IHDR`, one `IDAT` of zlib level 9 over unfiltered rows, `IEND`) rather than
    /// through libpng, so the bytes depend only on the pixels and zlib's output for them: the same image gives the
    /// same file on every run. Decoding the file (``ImageDecoder``) gives the grey value replicated in R, G and B.
    public static func encodeGray(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
        encodeOneChannel(width: width, height: height, pixels: pixels, palette: nil)
    }

    /// The PNG file bytes of an 8-bit palette image (PNG colour type 3): `indices` holds `width × height` palette
    /// indices, `palette` up to 256 RGB triples (written as the PLTE chunk). Deterministic like ``encodeGray(width:height:pixels:)``.
    public static func encodeIndexed(width: Int, height: Int, indices: [UInt8], palette: [UInt8]) -> [UInt8] {
        precondition(palette.count % 3 == 0 && (3...768).contains(palette.count),
                     "PNGEncoder.encodeIndexed: a palette holds 1…256 RGB triples, got \(palette.count) bytes")
        return encodeOneChannel(width: width, height: height, pixels: indices, palette: palette)
    }

    private static func encodeOneChannel(width: Int, height: Int, pixels: [UInt8], palette: [UInt8]?) -> [UInt8] {
        precondition(width > 0 && height > 0 && width <= 0x7FFF_FFFF && height <= 0x7FFF_FFFF,
                     "PNGEncoder.encodeGray: size \(width)×\(height) is not a PNG size")
        precondition(pixels.count == width * height,
                     "PNGEncoder.encodeGray: \(pixels.count) bytes for a \(width)×\(height) image")
        // Each scanline is preceded by its filter type, 0 (None).
        var raw = [UInt8](repeating: 0, count: (width + 1) * height)
        for y in 0..<height {
            raw.replaceSubrange((y * (width + 1) + 1)..<((y + 1) * (width + 1)), with: pixels[(y * width)..<((y + 1) * width)])
        }
        var compressedSize = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        let status = compressed.withUnsafeMutableBufferPointer { out in
            raw.withUnsafeBufferPointer { input in
                compress2(out.baseAddress, &compressedSize, input.baseAddress, uLong(input.count), 9)
            }
        }
        // compress2 into a compressBound-sized buffer can only fail by running out of memory.
        precondition(status == Z_OK, "PNGEncoder.encodeGray: zlib compress2 failed with status \(status)")
        compressed.removeSubrange(Int(compressedSize)...)

        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        // Bit depth 8, colour type 0 (grey) or 3 (palette), deflate, adaptive filtering, no interlace.
        header += [8, palette == nil ? 0 : 3, 0, 0, 0]
        appendChunk("IHDR", header, to: &png)
        if let palette { appendChunk("PLTE", palette, to: &png) }
        appendChunk("IDAT", compressed, to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    private static func appendChunk(_ type: String, _ data: [UInt8], to png: inout [UInt8]) {
        appendBigEndian(UInt32(data.count), to: &png)
        let typeAndData = Array(type.utf8) + data
        png += typeAndData
        let crc = typeAndData.withUnsafeBufferPointer { b in UInt32(crc32(0, b.baseAddress, uInt(b.count))) }
        appendBigEndian(crc, to: &png)
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
