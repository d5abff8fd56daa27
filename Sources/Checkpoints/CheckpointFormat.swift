import Foundation
import Tensors

/// The container format of a checkpoint file, recognised by its structure (never by its extension or one byte).
///
/// The three formats are told apart by checks that no file can pass twice:
///
/// * **safetensors**: an 8-byte little-endian header length N with 2 ≤ N ≤ min(file size − 8,
///   ``SafeTensorsFile/maxHeaderBytes``), byte 8 is `{`, and the N header bytes parse as a JSON object. The length's
///   low byte may be anything, including 0x80 (a pickle's first byte) or `P` (a zip's).
/// * **PyTorch zip**: `PK\x03\x04` (a local file header) or `PK\x05\x06` (an empty archive's end record). A zip
///   is not mistaken for safetensors: the version and flag fields in bytes 4–7 of a local header (torch writes
///   flags 0x0808) put N at 2^32 or more, and were they all zero, byte 8 (the compression method) would still have
///   to be `{` and the next 67 MB a JSON object; `PK\x05\x06` with the zero disk numbers of a single-disk archive
///   gives N = 101 010 256, above the 100 MB header limit.
/// * **PyTorch legacy**: pickle opcode PROTO (0x80) with protocol 2…5, an optional FRAME (0x95 + 8 bytes), then
///   LONG1 (0x8A) of 10 bytes holding torch's magic number 0x1950a86a20f9469cfc6c. Its byte 8 is a byte of the magic
///   number (0xF9) or of a frame length, never the `{` safetensors needs there, and the magic makes N far beyond any
///   file's size.
///
/// Detection tries safetensors first, then zip, then legacy. A file that passes none of them is reported as
/// ``safetensors`` when its first byte is not a zip's or a pickle's, and as the format its first bytes suggest
/// otherwise, so that the matching reader explains what is wrong (a bad header, a bad archive, a bad pickle).
public enum CheckpointFormat: String, Sendable, Equatable, CaseIterable {
    /// A safetensors file (``SafeTensorsFile``).
    case safetensors
    /// A `torch.save` zip archive (``TorchCheckpoint``, format ``TorchCheckpoint/zipFormat``).
    case pytorchZip = "pytorch-zip"
    /// A pre-1.6 `torch.save` file (``TorchCheckpoint``, format ``TorchCheckpoint/legacyFormat``).
    case pytorchLegacy = "pytorch-legacy"

    /// The format of the regular file at `path` (memory-mapped; only what the checks need is read).
    ///
    /// Throws ``CheckpointError/notARegularFile(file:kind:)`` for a FIFO, socket, device or directory (a FIFO never
    /// blocks: it is opened non-blocking) and ``CheckpointError/io(file:message:)`` when the file cannot be opened.
    public static func detect(path: String) throws(CheckpointError) -> CheckpointFormat {
        let file = try MappedFile(path: path)
        return withExtendedLifetime(file) { detect(UnsafeRawBufferPointer(start: file.base, count: file.size)) }
    }

    /// The format of the checkpoint bytes `bytes` (see the type's documentation for the rules).
    public static func detect(_ bytes: UnsafeRawBufferPointer) -> CheckpointFormat {
        if isSafeTensors(bytes) { return .safetensors }
        if isZip(bytes) { return .pytorchZip }
        if isLegacyPickle(bytes) { return .pytorchLegacy }
        // Nothing matched in full: let the reader the first bytes point to say what is wrong.
        if bytes.count >= 2 && bytes[0] == 0x50 && bytes[1] == 0x4B { return .pytorchZip }
        if bytes.count >= 2 && bytes[0] == 0x80 && (2...5).contains(bytes[1]) { return .pytorchLegacy }
        return .safetensors
    }

    /// The safetensors structure: plausible header length, `{` at byte 8, header a JSON object.
    static func isSafeTensors(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count >= 10, let base = b.baseAddress else { return false }
        let declared = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard declared >= 2, declared <= UInt64(SafeTensorsFile.maxHeaderBytes),
              declared <= UInt64(b.count - 8), b[8] == UInt8(ascii: "{") else { return false }
        let header = Data(bytes: base + 8, count: Int(declared))
        return (try? JSONSerialization.jsonObject(with: header)) is [String: Any]
    }

    /// A zip local file header or an empty archive's end-of-central-directory record.
    static func isZip(_ b: UnsafeRawBufferPointer) -> Bool {
        b.count >= 4 && b[0] == 0x50 && b[1] == 0x4B && ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6))
    }

    /// PROTO 2…5, an optional FRAME, then LONG1 holding torch's 10-byte legacy magic number.
    static func isLegacyPickle(_ b: UnsafeRawBufferPointer) -> Bool {
        let magic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
        guard b.count >= 2, b[0] == 0x80, (2...5).contains(b[1]) else { return false }
        var i = 2
        if b.count > i && b[i] == 0x95 { i += 9 }  // FRAME + 8-byte length (protocol 4+)
        guard b.count >= i + 2 + magic.count, b[i] == 0x8A, b[i + 1] == UInt8(magic.count) else { return false }
        return (0..<magic.count).allSatisfy { b[i + 2 + $0] == magic[$0] }
    }
}

/// Reads a checkpoint of any supported format, chosen by ``CheckpointFormat/detect(path:)``.
public enum CheckpointReader {
    /// Every tensor of the checkpoint at `path`, converted to Float32, by name.
    public static func tensors(path: String) throws(CheckpointError) -> [String: Tensor] {
        switch try CheckpointFormat.detect(path: path) {
        case .safetensors: return try SafeTensorsFile(path: path).tensors()
        case .pytorchZip, .pytorchLegacy: return try TorchCheckpoint.load(path: path)
        }
    }
}
