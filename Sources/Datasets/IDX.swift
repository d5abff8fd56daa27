import CZlib
import Foundation

/// The element type byte of an IDX file's magic number (the third byte; the first two are zero).
public enum IDXElementType: UInt8, Sendable, Equatable {
    case uint8 = 0x08
    case int8 = 0x09
    case int16 = 0x0B
    case int32 = 0x0C
    case float32 = 0x0D
    case float64 = 0x0E

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .uint8, .int8: return 1
        case .int16: return 2
        case .int32, .float32: return 4
        case .float64: return 8
        }
    }
}

/// The contents of one IDX file (the format of MNIST and Fashion-MNIST, as described on Yann LeCun's MNIST page):
/// magic `00 00 TT NN` (TT the element type, NN the number of dimensions), NN big-endian UInt32 sizes, then the
/// elements, big-endian, row-major.
public struct IDXArray: Sendable, Equatable {
    public let elementType: IDXElementType
    /// Sizes, outermost first (e.g. [10000, 28, 28] for the Fashion-MNIST test images).
    public let dimensions: [Int]
    /// The element bytes exactly as stored (big-endian for multi-byte types).
    public let data: [UInt8]

    /// The number of elements (the product of the dimensions).
    public var count: Int { dimensions.reduce(1, *) }

    /// The elements as Double, whatever their stored type.
    public func doubles() -> [Double] {
        let n = count
        return data.withUnsafeBufferPointer { b -> [Double] in
            func be(_ o: Int, _ k: Int) -> UInt64 {
                var v: UInt64 = 0
                for j in 0..<k { v = v << 8 | UInt64(b[o + j]) }
                return v
            }
            switch elementType {
            case .uint8: return (0..<n).map { Double(b[$0]) }
            case .int8: return (0..<n).map { Double(Int8(bitPattern: b[$0])) }
            case .int16: return (0..<n).map { Double(Int16(bitPattern: UInt16(be(2 * $0, 2)))) }
            case .int32: return (0..<n).map { Double(Int32(bitPattern: UInt32(be(4 * $0, 4)))) }
            case .float32: return (0..<n).map { Double(Float(bitPattern: UInt32(be(4 * $0, 4)))) }
            case .float64: return (0..<n).map { Double(bitPattern: be(8 * $0, 8)) }
            }
        }
    }
}

/// Reads IDX files, plain or gzip-compressed (detected by the gzip magic `1F 8B`, not the extension; inflated
/// with zlib, concatenated gzip members included).
public enum IDX {
    /// Reads and validates the IDX file at `path`: magic, element type, dimensions (each ≥ 1) and that the data is
    /// exactly `product(dimensions) × element size` bytes.
    public static func read(path: String) throws(DatasetError) -> IDXArray {
        try parse(FileIO.readFile(path), path: path)
    }

    /// Parses the bytes of an IDX file (gzip-compressed or not); `path` is only used in error messages.
    public static func parse(_ bytes: [UInt8], path: String) throws(DatasetError) -> IDXArray {
        if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B {
            let result: Result<IDXArray, DatasetError> = bytes.withUnsafeBytes { raw in
                do throws(DatasetError) {
                    var inflater = try Inflater(raw, path: path)
                    defer { inflater.end() }
                    return .success(try parse(from: &inflater, path: path))
                } catch {
                    return .failure(error)
                }
            }
            return try result.get()
        }
        var source = PlainSource(bytes: bytes)
        return try parse(from: &source, path: path)
    }

    private static func parse<S: ByteSource>(from source: inout S, path: String) throws(DatasetError) -> IDXArray {
        var magic = [UInt8](repeating: 0, count: 4)
        let got = try source.read(into: &magic, path: path)
        guard got == 4 else { throw .malformedIDX(path: path, reason: "\(got) bytes: too short for the 4-byte magic number") }
        guard magic[0] == 0 && magic[1] == 0 else {
            throw .malformedIDX(path: path, reason: String(format: "magic number 0x%02X%02X%02X%02X: the first two bytes must be zero", magic[0], magic[1], magic[2], magic[3]))
        }
        guard let type = IDXElementType(rawValue: magic[2]) else {
            throw .malformedIDX(path: path, reason: String(format: "unknown element type 0x%02X (expected 08, 09, 0B, 0C, 0D or 0E)", magic[2]))
        }
        let rank = Int(magic[3])
        guard rank >= 1 else { throw .malformedIDX(path: path, reason: "zero dimensions") }
        var header = [UInt8](repeating: 0, count: 4 * rank)
        let gotHeader = try source.read(into: &header, path: path)
        guard gotHeader == header.count else {
            throw .malformedIDX(path: path, reason: "the magic number announces \(rank) dimensions but the file ends after \(4 + gotHeader) bytes")
        }
        var dims: [Int] = []
        var total = type.size
        for d in 0..<rank {
            let v = Int(header[4 * d]) << 24 | Int(header[4 * d + 1]) << 16 | Int(header[4 * d + 2]) << 8 | Int(header[4 * d + 3])
            guard v >= 1 else { throw .malformedIDX(path: path, reason: "dimension \(d) is zero") }
            let (t, overflow) = total.multipliedReportingOverflow(by: v)
            guard !overflow && t <= (1 << 40) else { throw .malformedIDX(path: path, reason: "dimensions \(dims + [v]) overflow") }
            total = t
            dims.append(v)
        }
        var data = [UInt8](repeating: 0, count: total)
        let gotData = try source.read(into: &data, path: path)
        let extra = try source.countRemaining(path: path, cap: 1 << 24)
        if gotData != total || extra > 0 {
            let actual = gotData + extra
            throw .malformedIDX(path: path, reason: "dimensions \(dims) of \(type) need \(total) data bytes but the file has \(actual)\(extra >= (1 << 24) ? " or more" : "")")
        }
        return IDXArray(elementType: type, dimensions: dims, data: data)
    }
}

private protocol ByteSource {
    /// Fills `buffer` as far as the data goes; returns how many bytes were written.
    mutating func read(into buffer: inout [UInt8], path: String) throws(DatasetError) -> Int
    /// How many bytes are left (counting stops once `cap` is reached).
    mutating func countRemaining(path: String, cap: Int) throws(DatasetError) -> Int
}

private struct PlainSource: ByteSource {
    let bytes: [UInt8]
    var position = 0

    mutating func read(into buffer: inout [UInt8], path: String) throws(DatasetError) -> Int {
        let n = Swift.min(buffer.count, bytes.count - position)
        buffer.withUnsafeMutableBufferPointer { dst in
            bytes.withUnsafeBufferPointer { src in
                if n > 0 { dst.baseAddress!.update(from: src.baseAddress! + position, count: n) }
            }
        }
        position += n
        return n
    }

    mutating func countRemaining(path: String, cap: Int) throws(DatasetError) -> Int { bytes.count - position }
}

/// Streaming gzip inflation over an input buffer that outlives it. The `z_stream` lives on the heap: zlib keeps a
/// pointer back to it and refuses (Z_STREAM_ERROR) a stream that has moved.
private struct Inflater: ByteSource {
    private let stream: UnsafeMutablePointer<z_stream>
    private var finished = false

    init(_ input: UnsafeRawBufferPointer, path: String) throws(DatasetError) {
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        // windowBits 15 + 32: zlib detects the gzip header itself.
        let rc = inflateInit2_(stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            stream.deallocate()
            throw .malformedIDX(path: path, reason: "zlib inflateInit2 failed (\(rc))")
        }
    }

    /// Releases zlib's state; call exactly once.
    func end() {
        inflateEnd(stream)
        stream.deallocate()
    }

    private mutating func inflate(into base: UnsafeMutablePointer<UInt8>, count: Int, path: String) throws(DatasetError) -> Int {
        var produced = 0
        while produced < count && !finished {
            stream.pointee.next_out = base + produced
            stream.pointee.avail_out = uInt(count - produced)
            let before = Int(stream.pointee.avail_out)
            let rc = CZlib.inflate(stream, Z_NO_FLUSH)
            produced += before - Int(stream.pointee.avail_out)
            switch rc {
            case Z_OK:
                continue
            case Z_STREAM_END:
                // Another gzip member may follow (`cat a.gz b.gz` is valid gzip).
                let rest = Int(stream.pointee.avail_in)
                if rest >= 2 && stream.pointee.next_in[0] == 0x1F && stream.pointee.next_in[1] == 0x8B {
                    inflateReset(stream)
                } else {
                    finished = true
                }
            case Z_BUF_ERROR:
                if stream.pointee.avail_in == 0 {
                    throw .malformedIDX(path: path, reason: "gzip data ends early (truncated file)")
                }
                continue
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw .malformedIDX(path: path, reason: "gzip: \(message)")
            }
        }
        return produced
    }

    mutating func read(into buffer: inout [UInt8], path: String) throws(DatasetError) -> Int {
        let count = buffer.count
        var result: Result<Int, DatasetError> = .success(0)
        buffer.withUnsafeMutableBufferPointer { b in
            do throws(DatasetError) {
                result = .success(try inflate(into: b.baseAddress!, count: count, path: path))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    mutating func countRemaining(path: String, cap: Int) throws(DatasetError) -> Int {
        var total = 0
        var scratch = [UInt8](repeating: 0, count: 65_536)
        while !finished && total < cap {
            let n = try read(into: &scratch, path: path)
            total += n
            if n == 0 { break }
        }
        return total
    }
}
