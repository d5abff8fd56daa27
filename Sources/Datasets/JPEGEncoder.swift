import CImageCodec

/// Writes ``RGBImage`` as baseline JPEG through libjpeg-turbo (4:2:0 chroma subsampling, standard quantisation
/// tables scaled to a quality, as PIL's `Image.save(f, "JPEG", quality=q)` with its default subsampling). Used to
/// make test data and benchmark inputs.
public enum JPEGEncoder {
    /// The JPEG file bytes of `image` at `quality` (1…100; PIL's default is 75). Throws `.writeFailed` (with
    /// `path` "JPEG stream") when libjpeg fails: a side over 65,500 pixels (JPEG's limit) or no memory.
    public static func encode(_ image: RGBImage, quality: Int = 90) throws(DatasetError) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = image.pixels.withUnsafeBufferPointer { px in
            message.withUnsafeMutableBufferPointer { msg in
                tkic_encode_jpeg_rgb(px.baseAddress, Int32(clamping: image.width), Int32(clamping: image.height), Int32(clamping: quality),
                                     &out, &size, msg.baseAddress, msg.count)
            }
        }
        defer { tkic_free(out) }
        guard status == TKIC_OK else {
            let reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw .writeFailed(path: "JPEG stream", reason: "\(image.width)×\(image.height) image: \(reason)")
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// Writes `image` as a JPEG file at `path` (atomically).
    public static func write(_ image: RGBImage, to path: String, quality: Int = 90) throws(DatasetError) {
        let bytes: [UInt8]
        do {
            bytes = try encode(image, quality: quality)
        } catch {
            throw .writeFailed(path: path, reason: error.description)
        }
        try FileIO.write(bytes, to: path)
    }
}
