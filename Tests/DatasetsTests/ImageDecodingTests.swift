import Datasets
import Foundation
import Testing

/// CRC-32 (PNG chunk checksums), for hand-patched PNG headers.
private func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
    }
    return ~crc
}

/// A copy of a JPEG whose SOF header declares `width × height`.
private func jpegDeclaring(width: Int, height: Int, from jpeg: [UInt8]) throws -> [UInt8] {
    var b = jpeg
    var i = 2
    while i + 9 < b.count {
        #expect(b[i] == 0xFF)
        let marker = b[i + 1]
        let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
        if marker == 0xC0 || marker == 0xC2 {
            b[i + 5] = UInt8(height >> 8); b[i + 6] = UInt8(height & 0xFF)
            b[i + 7] = UInt8(width >> 8); b[i + 8] = UInt8(width & 0xFF)
            return b
        }
        i += 2 + length
    }
    Issue.record("no SOF marker found")
    return b
}

/// A copy of a PNG whose IHDR declares `width × height` (CRC recomputed, so only the size is wrong).
private func pngDeclaring(width: Int, height: Int, from png: [UInt8]) -> [UInt8] {
    var b = png
    // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), …, CRC after 13 data bytes.
    for (k, v) in [(16, width), (20, height)] {
        b[k] = UInt8(v >> 24 & 0xFF); b[k + 1] = UInt8(v >> 16 & 0xFF); b[k + 2] = UInt8(v >> 8 & 0xFF); b[k + 3] = UInt8(v & 0xFF)
    }
    let crc = crc32(b[12..<29])
    b[29] = UInt8(crc >> 24); b[30] = UInt8(crc >> 16 & 0xFF); b[31] = UInt8(crc >> 8 & 0xFF); b[32] = UInt8(crc & 0xFF)
    return b
}

@Suite("Image decoding (libjpeg-turbo, libpng) against PIL")
struct ImageDecodingTests {
    @Test("each JPEG and PNG flavour decodes to the pixels PIL's convert('RGB') gives", arguments: fixtureCases("decode"))
    func decodesLikePIL(_ c: FixtureCase) throws {
        let image = try ImageDecoder.decode(data: try fixtureBytes(c.file), path: c.file)
        #expect(image.width == c.width && image.height == c.height)
        let expected = try fixtureBytes(c.expected)
        let diff = byteDifference(image.pixels, expected)
        // PNG is lossless; JPEG goes through the same libjpeg-turbo ISLOW IDCT, fancy upsampling and PIL's
        // cmyk2rgb arithmetic as PIL (Debian's libjpeg-turbo 2.1.5 against the one bundled in Pillow 13): both are
        // byte-identical to PIL on every fixture.
        #expect(diff.max == 0, "\(c.file): mean \(diff.mean), max \(diff.max)")
    }

    @Test("the fixture manifest loads and lists every case (a parameterised test over an empty list would pass)")
    func manifestIsComplete() {
        #expect(fixtureCases("decode").count == 21)
        #expect(fixtureCases("draft").count == 1)
        #expect(fixtureCases("resize").count == 12)
        #expect(fixtureCases("resize_float").count == 4)
    }

    @Test("the fixture set covers all eight EXIF orientations, and 5–8 swap width and height")
    func exifOrientationsCovered() throws {
        let orient = fixtureCases("decode").filter { $0.file.hasPrefix("orient") }
        #expect(orient.count == 8)
        for c in orient {
            let k = Int(c.file.dropFirst(6).prefix(1))!
            let image = try ImageDecoder.decode(data: try fixtureBytes(c.file), path: c.file)
            #expect(k >= 5 ? (image.width == 8 && image.height == 12) : (image.width == 12 && image.height == 8))
        }
    }

    @Test("EXIF orientation is ignored when the options say so")
    func exifOrientationCanBeIgnored() throws {
        let rotated = try ImageDecoder.decode(data: try fixtureBytes("orient6.jpg"), path: "orient6.jpg",
                                              options: DecodeOptions(appliesExifOrientation: false))
        let upright = try ImageDecoder.decode(data: try fixtureBytes("orient1.jpg"), path: "orient1.jpg")
        #expect(rotated == upright)
    }

    @Test("a JPEG decodes at reduced size through DCT scaling, like PIL's draft()", arguments: fixtureCases("draft"))
    func reducedSizeDecodeMatchesPILDraft(_ c: FixtureCase) throws {
        let bytes = try fixtureBytes(c.file)
        let image = try ImageDecoder.decode(data: bytes, path: c.file,
                                            options: DecodeOptions(target: .shorterSide(c.height)))
        #expect(image.width == c.width && image.height == c.height)
        let diff = byteDifference(image.pixels, try fixtureBytes(c.expected))
        #expect(diff.max == 0, "identical to PIL's draft decode: mean \(diff.mean), max \(diff.max)")
        // A target between scales picks the next larger one: 13 px needs 3/8 of 48 = 18 rows.
        let between = try ImageDecoder.decode(data: bytes, path: c.file, options: DecodeOptions(target: .shorterSide(13)))
        #expect(between.width == 24 && between.height == 18)
        let full = try ImageDecoder.decode(data: bytes, path: c.file, options: DecodeOptions(target: .size(width: 64, height: 1)))
        #expect(full.width == 64 && full.height == 48)
    }

    @Test("the format is sniffed from the bytes, not the file name")
    func formatComesFromMagicBytes() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let png = try fixtureBytes("rgb.png")
        let p = try s.write("actually_png.jpg", png)
        let image = try ImageDecoder.decode(contentsOf: p)
        #expect(image.pixels == (try fixtureBytes("rgb.png.rgb")))
        let text = try s.write("notes.png", text: "hello, this is not an image\n")
        #expect(datasetError { try ImageDecoder.decode(contentsOf: text) } == .unsupportedImageFormat(path: text))
        let empty = try s.write("empty.jpg", [])
        #expect(datasetError { try ImageDecoder.decode(contentsOf: empty) } == .unsupportedImageFormat(path: empty))
    }

    @Test("a truncated JPEG is a corrupt image, not grey-filled rows")
    func truncatedJPEGIsCorrupt() throws {
        let bytes = try fixtureBytes("ycc.jpg")
        for cut in [bytes.count / 2, bytes.count - 40, 400, 20, 3] {
            let error = datasetError { try ImageDecoder.decode(data: Array(bytes.prefix(cut)), path: "cut.jpg") }
            guard case .corruptImage(let path, let reason) = error else {
                Issue.record("cut at \(cut): expected corruptImage, got \(String(describing: error))")
                continue
            }
            #expect(path == "cut.jpg")
            #expect(!reason.isEmpty)
        }
        let cut = datasetError { try ImageDecoder.decode(data: Array(bytes.prefix(bytes.count / 2)), path: "half.jpg") }
        #expect(cut?.description.contains("Premature end of JPEG file") == true, "\(String(describing: cut))")
        let progressive = try fixtureBytes("progressive.jpg")
        if case .corruptImage = datasetError({ try ImageDecoder.decode(data: Array(progressive.prefix(progressive.count * 2 / 3)), path: "p.jpg") }) {
        } else {
            Issue.record("a truncated progressive JPEG must be a corrupt image")
        }
    }

    @Test("a JPEG signature followed by garbage is a corrupt image")
    func garbageAfterJPEGSignatureIsCorrupt() {
        var bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]
        var g = UInt32(12345)
        for _ in 0..<500 {
            g = g &* 1_103_515_245 &+ 12345
            bytes.append(UInt8(truncatingIfNeeded: g >> 16))
        }
        guard case .corruptImage(let path, _) = datasetError({ try ImageDecoder.decode(data: bytes, path: "g.jpg") }) else {
            Issue.record("expected corruptImage")
            return
        }
        #expect(path == "g.jpg")
    }

    @Test("truncated PNGs and PNGs with a bad checksum are corrupt images")
    func brokenPNGIsCorrupt() throws {
        let bytes = try fixtureBytes("rgb.png")
        for cut in [bytes.count - 13, bytes.count / 2, 40, 10] {
            guard case .corruptImage = datasetError({ try ImageDecoder.decode(data: Array(bytes.prefix(cut)), path: "cut.png") }) else {
                Issue.record("cut at \(cut): expected corruptImage")
                continue
            }
        }
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x55  // inside IDAT: the chunk CRC no longer matches
        let error = datasetError { try ImageDecoder.decode(data: flipped, path: "crc.png") }
        guard case .corruptImage(_, let reason) = error else {
            Issue.record("expected corruptImage, got \(String(describing: error))")
            return
        }
        #expect(reason.lowercased().contains("crc") || reason.lowercased().contains("data"), "\(reason)")
    }

    @Test("a header declaring 20000×20000 pixels is refused before any allocation")
    func hugeHeadersAreRefused() throws {
        let jpeg = try jpegDeclaring(width: 20000, height: 20000, from: try fixtureBytes("ycc.jpg"))
        #expect(datasetError { try ImageDecoder.decode(data: jpeg, path: "huge.jpg") }
                == .imageTooLarge(path: "huge.jpg", width: 20000, height: 20000, limit: 100_000_000))
        let png = pngDeclaring(width: 20000, height: 20000, from: try fixtureBytes("rgb.png"))
        #expect(datasetError { try ImageDecoder.decode(data: png, path: "huge.png") }
                == .imageTooLarge(path: "huge.png", width: 20000, height: 20000, limit: 100_000_000))
        // A lower limit is honoured too.
        #expect(datasetError { try ImageDecoder.decode(data: try fixtureBytes("ycc.jpg"), path: "x.jpg",
                                                        options: DecodeOptions(maxPixels: 500)) }
                == .imageTooLarge(path: "x.jpg", width: 32, height: 24, limit: 500))
        // With the limit raised and a target size, the JPEG decodes at 1/8 scale (2500×2500, 19 MB instead of
        // 1.2 GB); its scan data ends early at an EOI marker, which libjpeg (and PIL) fill with grey after a warning.
        let scaled = try ImageDecoder.decode(data: jpeg, path: "huge.jpg",
                                             options: DecodeOptions(maxPixels: 500_000_000, target: .shorterSide(224)))
        #expect(scaled.width == 2500 && scaled.height == 2500)
    }

    @Test("a 12-bit JPEG (which an 8-bit libjpeg cannot decode) is an unsupported format, not a crash")
    func twelveBitJPEGIsUnsupported() throws {
        var bytes = try fixtureBytes("ycc.jpg")
        var i = 2
        while i + 4 < bytes.count {
            let marker = bytes[i + 1]
            if marker == 0xC0 {
                bytes[i + 4] = 12  // sample precision
                break
            }
            i += 2 + (Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]))
        }
        #expect(datasetError { try ImageDecoder.decode(data: bytes, path: "12bit.jpg") } == .unsupportedImageFormat(path: "12bit.jpg"))
    }

    @Test("an unreadable path is reported with the path")
    func missingFileIsUnreadable() {
        let error = datasetError { try ImageDecoder.decode(contentsOf: "/nonexistent/dir/x.jpg") }
        guard case .unreadable(let path, let reason) = error else {
            Issue.record("expected unreadable, got \(String(describing: error))")
            return
        }
        #expect(path == "/nonexistent/dir/x.jpg")
        #expect(reason.contains("No such file"))
    }

    @Test("PNGEncoder output decodes back to the same pixels")
    func pngRoundTrip() throws {
        let image = try ImageDecoder.decode(data: try fixtureBytes("ycc.jpg"), path: "ycc.jpg")
        let png = PNGEncoder.encode(image)
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(try ImageDecoder.decode(data: png, path: "roundtrip.png") == image)
        let s = try Scratch()
        defer { s.cleanup() }
        try PNGEncoder.write(image, to: s.path("out.png"))
        #expect(try ImageDecoder.decode(contentsOf: s.path("out.png")) == image)
        #expect(datasetError { try PNGEncoder.write(image, to: "/nonexistent/dir/out.png") } != nil)
    }

    @Test("EXIF orientation transposes pixels as PIL's exif_transpose does")
    func orientationMapping() {
        // 3×2 image with distinct pixels 0…5 (value in R).
        let src = RGBImage(width: 3, height: 2, pixels: (0..<6).flatMap { [UInt8($0), 0, 0] })
        func reds(_ i: RGBImage) -> [UInt8] { stride(from: 0, to: i.pixels.count, by: 3).map { i.pixels[$0] } }
        #expect(reds(src.applyingExifOrientation(2)) == [2, 1, 0, 5, 4, 3])
        #expect(reds(src.applyingExifOrientation(3)) == [5, 4, 3, 2, 1, 0])
        #expect(reds(src.applyingExifOrientation(4)) == [3, 4, 5, 0, 1, 2])
        #expect(reds(src.applyingExifOrientation(5)) == [0, 3, 1, 4, 2, 5])
        #expect(reds(src.applyingExifOrientation(6)) == [3, 0, 4, 1, 5, 2])
        #expect(reds(src.applyingExifOrientation(7)) == [5, 2, 4, 1, 3, 0])
        #expect(reds(src.applyingExifOrientation(8)) == [2, 5, 1, 4, 0, 3])
        #expect(src.applyingExifOrientation(9) == src)
    }
}
