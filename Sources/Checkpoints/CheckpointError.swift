/// Why a checkpoint file could not be read or written.
///
/// Every case carries the file path and, where one is involved, the tensor key, so a message points at the exact
/// place to look. Readers never stop the process on a malformed file; they throw one of these.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file is shorter than its own header says it must be (`expected` bytes at least, `actual` present).
    case truncated(file: String, expected: Int, actual: Int)
    /// The header is not a JSON object of tensor entries (bad length, invalid JSON, wrong `__metadata__`, …).
    case badHeader(file: String, reason: String)
    /// One tensor entry of the header is malformed (missing or ill-typed `dtype`, `shape` or `data_offsets`).
    case badEntry(file: String, key: String, reason: String)
    /// A tensor's `data_offsets` do not lie within the data section (`dataSize` bytes after the header).
    case offsetsOutOfBounds(file: String, key: String, begin: Int, end: Int, dataSize: Int)
    /// A tensor uses an element type TransferKit does not read.
    case unsupportedDType(file: String, key: String, dtype: String)
    /// A tensor's byte range does not hold exactly `product(shape) × element size` bytes.
    case shapeMismatch(file: String, key: String, shape: [Int], byteCount: Int)
    /// A tensor was read with an accessor for another kind of element (e.g. integers from a float tensor).
    case dtypeMismatch(file: String, key: String, expected: String, actual: String)
    /// The file has no tensor named `key`.
    case missingKey(file: String, key: String)
    /// The operating system refused to open, map, write or rename the file.
    case io(file: String, message: String)
    /// A pickle names a global (class or function) that the restricted unpickler does not allow, such as
    /// `os.system` or `builtins.eval`. Nothing named in a pickle is ever imported or called.
    case disallowedGlobal(file: String, module: String, name: String)
    /// A pickle stream is malformed, uses an unsupported opcode, exceeds a reader limit, or builds values of the
    /// wrong kind; `offset` is the byte offset in the file where the reader stopped.
    case badPickle(file: String, offset: Int, reason: String)
    /// The container around the pickles is malformed: a zip archive's records or entries, or the records of the
    /// legacy (pre-zip) PyTorch format.
    case badArchive(file: String, reason: String)
    /// A storage (named by its key in the checkpoint) has missing, short or corrupt data.
    case badStorage(file: String, key: String, reason: String)
    /// A tensor's description (shape, strides, offset, storage) is invalid or does not fit its storage.
    case badTensor(file: String, key: String, reason: String)
    /// The path is a FIFO, socket, device or directory (`kind` says which), not a regular file; nothing was read.
    case notARegularFile(file: String, kind: String)
    /// A JSON object of a safetensors header names `key` twice (`key` is the path to it, e.g. `w` or `w.dtype`);
    /// JSON parsers disagree on which of the two wins, so the file is refused.
    case duplicateKey(file: String, key: String)
    /// The data of tensor `key` (`begin..<end`) overlaps that of tensor `other` (`otherBegin..<otherEnd`).
    case overlappingTensors(file: String, key: String, begin: Int, end: Int, other: String, otherBegin: Int, otherEnd: Int)
    /// Bytes `begin..<end` of the data section belong to no tensor: the safetensors format requires the tensors to
    /// cover the data section exactly, with no holes and nothing after the last one.
    case unindexedBytes(file: String, begin: Int, end: Int)

    /// The file the error is about.
    public var file: String {
        switch self {
        case .truncated(let file, _, _), .badHeader(let file, _), .badEntry(let file, _, _),
             .offsetsOutOfBounds(let file, _, _, _, _), .unsupportedDType(let file, _, _),
             .shapeMismatch(let file, _, _, _), .dtypeMismatch(let file, _, _, _), .missingKey(let file, _),
             .io(let file, _), .disallowedGlobal(let file, _, _), .badPickle(let file, _, _),
             .badArchive(let file, _), .badStorage(let file, _, _), .badTensor(let file, _, _),
             .notARegularFile(let file, _), .duplicateKey(let file, _), .overlappingTensors(let file, _, _, _, _, _, _),
             .unindexedBytes(let file, _, _):
            return file
        }
    }

    /// The tensor key the error is about, if it concerns one tensor.
    public var key: String? {
        switch self {
        case .badEntry(_, let key, _), .offsetsOutOfBounds(_, let key, _, _, _), .unsupportedDType(_, let key, _),
             .shapeMismatch(_, let key, _, _), .dtypeMismatch(_, let key, _, _), .missingKey(_, let key),
             .badStorage(_, let key, _), .badTensor(_, let key, _), .duplicateKey(_, let key),
             .overlappingTensors(_, let key, _, _, _, _, _):
            return key
        case .truncated, .badHeader, .io, .disallowedGlobal, .badPickle, .badArchive, .notARegularFile, .unindexedBytes:
            return nil
        }
    }

    /// A one-line message naming the file, the tensor where one is involved, and what is wrong.
    public var description: String {
        switch self {
        case .truncated(let file, let expected, let actual):
            return "\(file): truncated: the header requires at least \(expected) bytes but the file has \(actual)"
        case .badHeader(let file, let reason):
            return "\(file): bad safetensors header: \(reason)"
        case .badEntry(let file, let key, let reason):
            return "\(file): tensor '\(key)': bad header entry: \(reason)"
        case .offsetsOutOfBounds(let file, let key, let begin, let end, let dataSize):
            return "\(file): tensor '\(key)': data_offsets [\(begin), \(end)] are outside the data section of \(dataSize) bytes"
        case .unsupportedDType(let file, let key, let dtype):
            return "\(file): tensor '\(key)': unsupported dtype '\(dtype)' (supported: F32, F16, BF16, I64, I32, U8, BOOL)"
        case .shapeMismatch(let file, let key, let shape, let byteCount):
            return "\(file): tensor '\(key)': shape \(shape) does not match its \(byteCount) bytes of data"
        case .dtypeMismatch(let file, let key, let expected, let actual):
            return "\(file): tensor '\(key)': expected \(expected) data but the tensor is \(actual)"
        case .missingKey(let file, let key):
            return "\(file): no tensor named '\(key)'"
        case .io(let file, let message):
            return "\(file): \(message)"
        case .disallowedGlobal(let file, let module, let name):
            return "\(file): the pickle refers to '\(module).\(name)', which is not on the allow-list of the safe loader (only tensors, storages and OrderedDict are read; nothing is executed)"
        case .badPickle(let file, let offset, let reason):
            return "\(file): bad pickle at byte \(offset): \(reason)"
        case .badArchive(let file, let reason):
            return "\(file): bad checkpoint container: \(reason)"
        case .badStorage(let file, let key, let reason):
            return "\(file): storage '\(key)': \(reason)"
        case .badTensor(let file, let key, let reason):
            return "\(file): tensor '\(key)': \(reason)"
        case .notARegularFile(let file, let kind):
            return "\(file): is a \(kind), not a regular file; only regular files are read"
        case .duplicateKey(let file, let key):
            return "\(file): bad safetensors header: key '\(key)' appears more than once"
        case .overlappingTensors(let file, let key, let begin, let end, let other, let otherBegin, let otherEnd):
            return "\(file): tensor '\(key)': data_offsets [\(begin), \(end)] overlap those of tensor '\(other)' [\(otherBegin), \(otherEnd)]"
        case .unindexedBytes(let file, let begin, let end):
            return "\(file): bytes [\(begin), \(end)) of the data section belong to no tensor (safetensors requires the tensors to cover it exactly)"
        }
    }
}
