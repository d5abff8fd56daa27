import Foundation
import Tensors

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if _endian(big)
#error("The safetensors reader and writer assume a little-endian host")
#endif

// The safetensors format (https://github.com/huggingface/safetensors): an unsigned 64-bit little-endian header
// length N, N bytes of a UTF-8 JSON object (possibly padded with trailing spaces), then the data section. Each
// header key names a tensor: {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, offsets relative to
// the start of the data section; the optional key "__metadata__" maps strings to strings.

/// The element types of the safetensors format that TransferKit reads, and their names in the header.
enum SafeTensorsDType {
    /// Header name → ``DType``.
    static let byName: [String: DType] = [
        "F32": .float32, "F16": .float16, "BF16": .bfloat16, "I64": .int64, "I32": .int32, "U8": .uint8, "BOOL": .bool,
    ]

    /// ``DType`` → header name.
    static func name(_ d: DType) -> String {
        switch d {
        case .float32: "F32"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .int64: "I64"
        case .int32: "I32"
        case .uint8: "U8"
        case .bool: "BOOL"
        }
    }
}

/// `write(2)`, reachable from types that have their own `write` members.
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

/// The text of the current `errno`.
private func errnoMessage() -> String { String(cString: strerror(errno)) }

/// The kind of file `mode` describes, for messages ("FIFO", "socket", "character device", …); the checkpoint readers
/// and the dataset readers share it.
public func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFIFO: return "FIFO"
    case S_IFSOCK: return "socket"
    case S_IFCHR: return "character device"
    case S_IFBLK: return "block device"
    case S_IFDIR: return "directory"
    case S_IFLNK: return "symbolic link"
    case S_IFREG: return "regular file"
    default: return "special file"
    }
}

/// A read-only memory mapping of a whole file, unmapped when the last reader lets go of it.
///
/// Only a regular file is mapped. The file is opened with `O_NONBLOCK`, so a FIFO without a writer does not block the
/// open, and its type is checked with `fstat` on the open descriptor; a FIFO, socket, device or directory throws
/// ``CheckpointError/notARegularFile(file:kind:)`` before anything is read.
final class MappedFile: @unchecked Sendable {
    /// Start of the mapping; nil for an empty file (which cannot be mapped).
    let base: UnsafeRawPointer?
    /// File size in bytes.
    let size: Int

    init(path: String) throws(CheckpointError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            // A Unix socket cannot be opened (ENXIO): name its kind rather than "No such device or address".
            var st = stat()
            if code == ENXIO, stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
                throw .notARegularFile(file: path, kind: fileKind(st.st_mode))
            }
            throw .io(file: path, message: "cannot open: \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(file: path, message: "cannot stat: \(errnoMessage())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(file: path, kind: fileKind(st.st_mode)) }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw .io(file: path, message: "cannot map \(size) bytes: \(errnoMessage())")
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }
}

/// A coding key for the arbitrary tensor names of a safetensors header.
private struct HeaderKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// One tensor entry of the header as written in the JSON.
private struct RawEntry: Decodable {
    let dtype: String
    let shape: [Int]
    let data_offsets: [Int]
}

/// The whole header as written in the JSON.
private struct RawHeader: Decodable {
    var metadata: [String: String] = [:]
    var entries: [(key: String, entry: RawEntry)] = []

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: HeaderKey.self)
        for k in c.allKeys {
            if k.stringValue == "__metadata__" {
                metadata = try c.decode([String: String].self, forKey: k)
            } else {
                entries.append((k.stringValue, try c.decode(RawEntry.self, forKey: k)))
            }
        }
    }
}

/// A safetensors file opened for reading.
///
/// The file is memory-mapped and its header validated once, when it is opened: the header length lies within the
/// file and under 100 MB, the header is a JSON object whose entries each have a supported `dtype`, a `shape` of
/// non-negative sizes and `data_offsets` `[begin, end]` with `begin ≤ end` inside the data section, and each
/// tensor's byte count equals `product(shape) × element size`. As the format requires
/// (https://github.com/huggingface/safetensors, "the byte buffer needs to be entirely indexed, and cannot contain
/// holes"), the tensors' byte ranges must tile the data section exactly: overlapping tensors throw
/// ``CheckpointError/overlappingTensors(file:key:begin:end:other:otherBegin:otherEnd:)``, a hole or bytes after the
/// last tensor ``CheckpointError/unindexedBytes(file:begin:end:)``. A key that appears twice in any object of the
/// header throws ``CheckpointError/duplicateKey(file:key:)`` (JSON parsers silently keep one of the two). Any
/// failure throws a ``CheckpointError`` naming the file and, where it applies, the tensor. Tensors are decoded only
/// when asked for.
///
/// Supported dtypes: F32, F16, BF16, I64, I32, U8 and BOOL; a file with any other dtype is rejected with
/// ``CheckpointError/unsupportedDType(file:key:dtype:)``.
///
/// The mapping stays valid while any copy of the value lives. As with every memory-mapped reader, another process
/// shrinking the file while it is open makes later reads fault.
public struct SafeTensorsFile: Sendable {
    /// One validated tensor entry.
    struct Entry: Sendable {
        let dtype: DType
        let shape: [Int]
        /// Element count (product of `shape`).
        let count: Int
        /// Byte range within the data section.
        let begin: Int
        let end: Int
    }

    /// The path the file was opened from.
    public let path: String
    /// The `__metadata__` string map of the header (empty when the file has none).
    public let metadata: [String: String]
    /// Tensor names, sorted.
    public let keys: [String]

    private let mapping: MappedFile
    private let entries: [String: Entry]
    /// Byte offset of the data section within the file (8 + header length).
    private let dataStart: Int

    /// The largest header the reader accepts, as the reference implementation does.
    public static let maxHeaderBytes = 100_000_000

    /// Opens and validates the safetensors file at `path`.
    public init(path: String) throws(CheckpointError) {
        self.path = path
        let mapping = try MappedFile(path: path)
        self.mapping = mapping
        let fileSize = mapping.size
        guard fileSize >= 8, let base = mapping.base else {
            throw .truncated(file: path, expected: 8, actual: fileSize)
        }
        let declared = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(Self.maxHeaderBytes) else {
            throw .badHeader(file: path,
                             reason: "header length \(declared) exceeds the limit of \(Self.maxHeaderBytes) bytes (file size \(fileSize))")
        }
        let headerBytes = Int(declared)
        guard headerBytes > 0 else { throw .badHeader(file: path, reason: "header length is 0") }
        guard 8 + headerBytes <= fileSize else {
            throw .truncated(file: path, expected: 8 + headerBytes, actual: fileSize)
        }
        dataStart = 8 + headerBytes
        let dataSize = fileSize - dataStart

        let headerData = Data(bytes: base + 8, count: headerBytes)
        if let duplicate = headerData.withUnsafeBytes({ JSONKeyScanner.firstDuplicateKey($0) }) {
            throw .duplicateKey(file: path, key: duplicate)
        }
        let raw: RawHeader
        do {
            raw = try JSONDecoder().decode(RawHeader.self, from: headerData)
        } catch let error as DecodingError {
            throw Self.describe(error, file: path)
        } catch {
            throw .badHeader(file: path, reason: "\(error)")
        }
        metadata = raw.metadata

        var entries: [String: Entry] = [:]
        for (key, e) in raw.entries.sorted(by: { $0.key < $1.key }) {
            guard let dtype = SafeTensorsDType.byName[e.dtype] else {
                throw .unsupportedDType(file: path, key: key, dtype: e.dtype)
            }
            if let bad = e.shape.first(where: { $0 < 0 }) {
                throw .badEntry(file: path, key: key, reason: "negative dimension \(bad) in shape \(e.shape)")
            }
            guard e.data_offsets.count == 2 else {
                throw .badEntry(file: path, key: key,
                                reason: "data_offsets must hold [begin, end], found \(e.data_offsets.count) values")
            }
            let begin = e.data_offsets[0], end = e.data_offsets[1]
            guard begin >= 0, begin <= end else {
                throw .offsetsOutOfBounds(file: path, key: key, begin: begin, end: end, dataSize: dataSize)
            }
            var count = 1
            var overflow = false
            for d in e.shape {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                count = p
                overflow = overflow || o
            }
            let (bytes, o2) = count.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, !o2, bytes == end - begin else {
                throw .shapeMismatch(file: path, key: key, shape: e.shape, byteCount: end - begin)
            }
            entries[key] = Entry(dtype: dtype, shape: e.shape, count: count, begin: begin, end: end)
        }

        // Entries past the end of the data: a file cut short when the entries tile the data section the way every
        // writer lays them out, otherwise a corrupt entry.
        let outside = entries.filter { $0.value.end > dataSize }
        if !outside.isEmpty {
            let ranges = entries.values.map { ($0.begin, $0.end) }.sorted { $0 < $1 }
            var cursor = 0
            var tiled = true
            for (b, e) in ranges {
                if b != cursor { tiled = false; break }
                cursor = e
            }
            if tiled {
                throw .truncated(file: path, expected: dataStart + cursor, actual: fileSize)
            }
            let key = outside.keys.min()!
            let e = outside[key]!
            throw .offsetsOutOfBounds(file: path, key: key, begin: e.begin, end: e.end, dataSize: dataSize)
        }
        try Self.checkTiling(entries, dataSize: dataSize, file: path)
        self.entries = entries
        keys = entries.keys.sorted()
    }

    /// Requires the entries' byte ranges to cover `0..<dataSize` exactly, in order of `begin` (ties: shorter first, then
    /// by key): each range must start where the previous one ended. Empty tensors (`begin == end`) take no bytes.
    private static func checkTiling(_ entries: [String: Entry], dataSize: Int, file: String) throws(CheckpointError) {
        let ordered = entries.sorted { a, b in
            (a.value.begin, a.value.end, a.key) < (b.value.begin, b.value.end, b.key)
        }
        var cursor = 0
        var last: (key: String, entry: Entry)?
        for (key, e) in ordered {
            if e.begin < cursor, let last {
                throw .overlappingTensors(file: file, key: key, begin: e.begin, end: e.end,
                                          other: last.key, otherBegin: last.entry.begin, otherEnd: last.entry.end)
            }
            if e.begin > cursor { throw .unindexedBytes(file: file, begin: cursor, end: e.begin) }
            if e.end > e.begin {
                cursor = e.end
                last = (key, e)
            }
        }
        if cursor < dataSize { throw .unindexedBytes(file: file, begin: cursor, end: dataSize) }
    }

    /// Turns a JSON decoding failure into a message naming the header key it concerns.
    private static func describe(_ error: DecodingError, file: String) -> CheckpointError {
        let context: DecodingError.Context
        var missing: String?
        switch error {
        case .dataCorrupted(let c): context = c
        case .typeMismatch(_, let c): context = c
        case .valueNotFound(_, let c): context = c
        case .keyNotFound(let k, let c):
            context = c
            missing = k.stringValue
        @unknown default:
            return .badHeader(file: file, reason: "\(error)")
        }
        let path = context.codingPath
        guard let first = path.first else {
            if case .typeMismatch = error { return .badHeader(file: file, reason: "the header is not a JSON object") }
            let underlying = context.underlyingError.map { ": \($0)" } ?? ""
            return .badHeader(file: file, reason: "invalid JSON: \(context.debugDescription)\(underlying)")
        }
        if first.stringValue == "__metadata__" {
            return .badHeader(file: file, reason: "__metadata__ must be an object whose values are strings")
        }
        if let missing { return .badEntry(file: file, key: first.stringValue, reason: "missing field '\(missing)'") }
        let field = path.dropFirst().map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return .badEntry(file: file, key: first.stringValue, reason: "field '\(field)': \(context.debugDescription)")
    }

    /// The element type and shape of tensor `key`, or nil when the file has no such tensor.
    public func info(_ key: String) -> (dtype: DType, shape: [Int])? {
        entries[key].map { ($0.dtype, $0.shape) }
    }

    /// Whether the file holds a tensor named `key`.
    public func contains(_ key: String) -> Bool { entries[key] != nil }

    private func entry(_ key: String) throws(CheckpointError) -> Entry {
        guard let e = entries[key] else { throw .missingKey(file: path, key: key) }
        return e
    }

    /// Calls `body` with the stored little-endian bytes of tensor `key`. The buffer is only valid inside `body`.
    public func withRawBytes<R>(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let e = try entry(key)
        return try withExtendedLifetime(mapping) {
            try body(UnsafeRawBufferPointer(start: mapping.base! + dataStart + e.begin, count: e.end - e.begin))
        }
    }

    /// Tensor `key` converted to Float32 (F16 and BF16 widened exactly, integers and booleans converted).
    public func tensor(_ key: String) throws(CheckpointError) -> Tensor {
        let e = try entry(key)
        let shape = Shape(e.shape)
        if e.count == 0 { return Tensor(shape: shape, data: []) }
        let values: [Float] = withExtendedLifetime(mapping) {
            let raw = mapping.base! + dataStart + e.begin
            // The half-precision decoders read UInt16s; give them an aligned copy when the data is not aligned.
            if e.dtype.byteSize == 2 && Int(bitPattern: raw) % 2 != 0 {
                let aligned = [UInt16](unsafeUninitializedCapacity: e.count) { buf, n in
                    UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: raw, byteCount: e.count * 2)
                    n = e.count
                }
                return aligned.withUnsafeBytes { e.dtype.decodeToFloat($0.baseAddress!, count: e.count) }
            }
            return e.dtype.decodeToFloat(raw, count: e.count)
        }
        return Tensor(shape: shape, data: values)
    }

    /// Every tensor of the file, converted to Float32, by name.
    public func tensors() throws(CheckpointError) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for k in keys { out[k] = try tensor(k) }
        return out
    }

    /// The values of integer or boolean tensor `key` (I64, I32, U8, BOOL) as Int64s, row-major, e.g. class
    /// indices or token ids. Floating-point tensors throw ``CheckpointError/dtypeMismatch(file:key:expected:actual:)``.
    public func int64s(_ key: String) throws(CheckpointError) -> [Int64] {
        let e = try entry(key)
        if e.dtype.isFloatingPoint {
            throw .dtypeMismatch(file: path, key: key, expected: "integer (I64, I32, U8 or BOOL)",
                                 actual: SafeTensorsDType.name(e.dtype))
        }
        return withExtendedLifetime(mapping) {
            let raw = UnsafeRawPointer(mapping.base! + dataStart + e.begin)
            switch e.dtype {
            case .int64: return (0..<e.count).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) }
            case .int32: return (0..<e.count).map { Int64(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
            default: return (0..<e.count).map { Int64(raw.load(fromByteOffset: $0, as: UInt8.self)) }
            }
        }
    }
}

/// Writes safetensors files.
public enum SafeTensorsWriter {
    /// Writes `tensors` as F32 safetensors to `path`, replacing any file there.
    ///
    /// Keys are sorted and the data is laid out in key order; the JSON header is padded with spaces to a multiple of
    /// 8 bytes, as the reference implementation does, so the data section is aligned. `metadata` becomes the
    /// header's `__metadata__` entry (omitted when empty). The file is written to a temporary file in the same
    /// directory, flushed to disk and renamed over `path`, so readers never see a partial file.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws(CheckpointError) {
        if tensors["__metadata__"] != nil {
            throw .badEntry(file: path, key: "__metadata__", reason: "the name is reserved for the metadata map")
        }
        let keys = tensors.keys.sorted()
        var parts: [String] = []
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(items.joined(separator: ","))}")
        }
        var offset = 0
        for k in keys {
            let t = tensors[k]!
            let end = offset + t.count * 4
            let shape = t.shape.dims.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(k)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(parts.joined(separator: ","))}".utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        var prefix = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
        prefix.append(contentsOf: header)

        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let tmp = "\(dir).\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(file: path, message: "cannot create \(tmp): \(errnoMessage())") }
        var failure: String?
        failure = prefix.withUnsafeBytes { writeAll(fd, $0) }
        for k in keys where failure == nil {
            failure = tensors[k]!.withUnsafeBufferPointer { writeAll(fd, UnsafeRawBufferPointer($0)) }
        }
        if failure == nil, fsync(fd) != 0 { failure = "fsync: \(errnoMessage())" }
        if close(fd) != 0, failure == nil { failure = "close: \(errnoMessage())" }
        if failure == nil, rename(tmp, path) != 0 { failure = "cannot rename \(tmp) to \(path): \(errnoMessage())" }
        if let failure {
            unlink(tmp)
            throw .io(file: path, message: failure)
        }
        // Make the rename itself durable (best effort: not every file system lets a directory be synced).
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Writes all of `bytes` to `fd`; returns an error message on failure.
    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> String? {
        guard var p = bytes.baseAddress else { return nil }
        var left = bytes.count
        while left > 0 {
            let n = systemWrite(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                return "write: \(errnoMessage())"
            }
            p += n
            left -= n
        }
        return nil
    }

    /// `s` as a JSON string literal.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
