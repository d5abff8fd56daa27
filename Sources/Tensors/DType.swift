import CKernels

/// Element types TransferKit can store and load. Compute is always ``DType/float32``; the other types exist so
/// checkpoints and datasets can be read faithfully and converted (see ``DType/decodeToFloat(_:count:)``).
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float16, bfloat16, int64, int32, uint8, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .int64: return 8
        case .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float16 || self == .bfloat16 }
    public var description: String { rawValue }

    /// Converts `count` little-endian elements of this type at `raw` to Float32.
    public func decodeToFloat(_ raw: UnsafeRawPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { out, initialized in
            let dst = out.baseAddress!
            switch self {
            case .float32:
                UnsafeMutableRawPointer(dst).copyMemory(from: raw, byteCount: count * 4)
            case .float16:
                tk_f16_to_f32(raw.assumingMemoryBound(to: UInt16.self), dst, count)
            case .bfloat16:
                tk_bf16_to_f32(raw.assumingMemoryBound(to: UInt16.self), dst, count)
            case .int64:
                for i in 0..<count { dst[i] = Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)) }
            case .int32:
                for i in 0..<count { dst[i] = Float(raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)) }
            case .uint8, .bool:
                let p = raw.assumingMemoryBound(to: UInt8.self)
                for i in 0..<count { dst[i] = Float(p[i]) }
            }
            initialized = count
        }
    }
}
