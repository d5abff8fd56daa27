import Tensors

// PyTorch checkpoints (`torch.save`) in both of their container formats, read without running any Python:
//
// * Zip (PyTorch ≥ 1.6, the default): an uncompressed zip archive whose single top folder (named after the file,
//   or `archive`; it varies) holds `data.pkl`, the pickled object, whose tensors refer by persistent id
//   `('storage', storage_type, key, location, numel)` to records `data/KEY` holding each storage's raw
//   little-endian bytes. `byteorder` says `little` when present.
// * Legacy (before 1.6, or `_use_new_zipfile_serialization=False`): five things back to back — a pickled magic
//   number 0x1950a86a20f9469cfc6c, a pickled protocol version 1001, a pickled sys-info dict, the pickled object
//   (persistent ids `('storage', storage_type, root_key, location, numel, view_metadata)`), a pickled list of
//   storage keys, then for each key in that order a little-endian int64 element count followed by the data.
//
// The pickles are decoded by the restricted ``Unpickler`` (Pickle.swift).

/// Something that owns the bytes of a checkpoint and keeps them valid while it lives.
private protocol ByteSource: AnyObject, Sendable {
    var bytes: UnsafeRawBufferPointer { get }
}

extension MappedFile: ByteSource {
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }
}

/// A private, 64-byte aligned copy of some bytes.
private final class OwnedBytes: ByteSource, @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer

    init(_ source: [UInt8]) {
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(source.count, 1), alignment: 64)
        source.withUnsafeBytes { if let b = $0.baseAddress { p.baseAddress!.copyMemory(from: b, byteCount: source.count) } }
        bytes = UnsafeRawBufferPointer(start: p.baseAddress, count: source.count)
    }

    deinit { UnsafeMutableRawPointer(mutating: bytes.baseAddress)?.deallocate() }
}

/// A PyTorch checkpoint (`.pt` / `.pth`, as written by `torch.save`) opened for reading, safely.
///
/// Both container formats are read: the zip format (``zipFormat``) and the legacy pre-1.6 format
/// (``legacyFormat``). The pickles inside are decoded by a restricted unpickler that never imports or calls
/// anything: it accepts only `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
/// `torch._utils._rebuild_parameter`, `torch._utils._rebuild_parameter_with_state` and the storage classes
/// `torch.{Float,Half,BFloat16,Double,Long,Int,Byte,Bool}Storage`; any other global (e.g. `os.system`, or the
/// classes of a whole pickled `nn.Module`) throws ``CheckpointError/disallowedGlobal(file:module:name:)``.
///
/// **Which tensors.** The pickled object must be a dict. If none of its values is a tensor and it has a dict under
/// `state_dict` (looked for first) or `model`, that nested dict is the state dict — the usual
/// `{"state_dict": …, "epoch": …, "optimizer": …}` training checkpoint; otherwise the top-level dict is. In the
/// state dict, tensor values become entries; dict values are flattened into entries named `outer.inner`, as
/// PyTorch names nested modules; every other value (numbers, strings, None, lists, …) is skipped and its key
/// listed in ``skippedKeys``. Integer keys are written in decimal; keys of other types are skipped.
///
/// **Validation.** Opening parses every pickle and checks every tensor against its storage: the zip central
/// directory and local headers, stored (uncompressed) records only, the CRC-32 of `data.pkl`, each storage's byte
/// count against its declared element count, and each tensor view (offset, sizes, strides) inside its storage. A
/// view may address more elements than its storage holds (an expanded view with stride 0) only up to
/// ``maxExpandedElements``. Storages' CRC-32s are checked when their tensors are decoded. Every failure throws a
/// ``CheckpointError`` naming the file and, where one is involved, the global, storage or tensor.
///
/// **Values.** Tensors are decoded to Float32 when asked for: float16 and bfloat16 are widened exactly, float64 is
/// rounded, integers and booleans are converted (exact up to 2^24 in magnitude, e.g. `num_batches_tracked`).
/// Non-contiguous views are copied to row-major order; tensors that share a storage each get their own copy.
public struct TorchCheckpoint: Sendable {
    /// A tensor's name, element type and shape, as stored.
    public struct TensorInfo: Sendable, Equatable, CustomStringConvertible {
        /// The state-dict key.
        public let key: String
        /// The stored element type. float64, which ``DType`` cannot name, reports ``DType/float32`` (the type it
        /// is loaded as); ``torchDType`` names it exactly.
        public let dtype: DType
        /// PyTorch's name of the stored element type, e.g. `torch.float32`, `torch.float64`, `torch.int64`.
        public let torchDType: String
        /// The dimensions, outermost first.
        public let shape: [Int]

        /// The number of elements (1 for a scalar).
        public var count: Int { shape.reduce(1, *) }

        public var description: String { "\(key): \(torchDType) \(shape)" }
    }

    /// ``format`` of a zip-format checkpoint.
    public static let zipFormat = "pytorch-zip"
    /// ``format`` of a legacy (pre-zip) checkpoint.
    public static let legacyFormat = "pytorch-legacy"
    /// The most elements a tensor may have beyond those of its storage (views with zero strides); larger declared
    /// shapes are rejected rather than allocated.
    public static let maxExpandedElements = 1 << 24

    /// The path the checkpoint was read from (or the name given to ``init(bytes:name:)``).
    public let path: String
    /// The container format: ``zipFormat`` (`"pytorch-zip"`) or ``legacyFormat`` (`"pytorch-legacy"`).
    public let format: String
    /// The tensors in the order the file lists them.
    public let entries: [TensorInfo]
    /// Keys of the state dict whose values are not tensors or dicts, and were skipped, in file order.
    public let skippedKeys: [String]

    /// Where a root storage's bytes are in the file.
    struct StorageData: Sendable {
        let offset: Int
        let byteCount: Int
        /// The zip record's CRC-32, checked before the data is decoded; nil in the legacy format.
        let crc: UInt32?
    }

    private let source: any ByteSource
    private let views: [TensorRef]
    private let index: [String: Int]
    private let storageData: [String: StorageData]
    private let verifiesChecksums: Bool

    /// Opens, parses and validates the checkpoint at `path` (memory-mapped; tensors are decoded on demand).
    public init(path: String) throws(CheckpointError) {
        try self.init(source: try MappedFile(path: path), name: path, verifyChecksums: true)
    }

    /// Parses and validates a checkpoint held in memory (e.g. downloaded); `name` stands for the path in errors.
    public init(bytes: [UInt8], name: String = "<memory>") throws(CheckpointError) {
        try self.init(source: OwnedBytes(bytes), name: name, verifyChecksums: true)
    }

    /// ``init(bytes:name:)`` that can skip the zip CRC-32 checks, so that tests can feed corrupted pickles to the
    /// unpickler.
    init(bytes: [UInt8], name: String, verifyChecksums: Bool) throws(CheckpointError) {
        try self.init(source: OwnedBytes(bytes), name: name, verifyChecksums: verifyChecksums)
    }

    private init(source: any ByteSource, name: String, verifyChecksums: Bool) throws(CheckpointError) {
        self.source = source
        self.path = name
        self.verifiesChecksums = verifyChecksums
        let parsed = try withExtendedLifetime(source) { () throws(CheckpointError) -> Parsed in
            try Self.parse(source.bytes, file: name, verifyCRC: verifyChecksums)
        }
        format = parsed.format
        skippedKeys = parsed.skipped
        storageData = parsed.storageData
        var entries: [TensorInfo] = []
        var views: [TensorRef] = []
        var index: [String: Int] = [:]
        for (key, t) in parsed.tensors {
            index[key] = entries.count
            entries.append(TensorInfo(key: key, dtype: t.storage.type.dtype, torchDType: t.storage.type.torchDType,
                                      shape: t.shape))
            views.append(t)
        }
        self.entries = entries
        self.views = views
        self.index = index
    }

    /// The tensor names in file order.
    public var keys: [String] { entries.map(\.key) }

    /// The name, type and shape of tensor `key`, or nil when the checkpoint has no such tensor.
    public func info(_ key: String) -> TensorInfo? { index[key].map { entries[$0] } }

    /// Tensor `key` converted to Float32 (see the type's documentation).
    public func tensor(_ key: String) throws(CheckpointError) -> Tensor {
        guard let i = index[key] else { throw .missingKey(file: path, key: key) }
        try verify(views[i].storage.key)
        return decode(views[i])
    }

    /// Every tensor of the checkpoint, converted to Float32, by key.
    public func tensors() throws(CheckpointError) -> [String: Tensor] {
        var verified = Set<String>()
        var out: [String: Tensor] = [:]
        for (info, view) in zip(entries, views) {
            if verified.insert(view.storage.key).inserted { try verify(view.storage.key) }
            out[info.key] = decode(view)
        }
        return out
    }

    /// Reads every tensor of the PyTorch checkpoint at `path` as Float32 (see ``TorchCheckpoint``).
    public static func load(path: String) throws(CheckpointError) -> [String: Tensor] {
        try TorchCheckpoint(path: path).tensors()
    }

    /// The tensors of the PyTorch checkpoint at `path` — key, stored type and shape — in file order, without
    /// decoding any data.
    public static func inspect(path: String) throws(CheckpointError) -> [TensorInfo] {
        try TorchCheckpoint(path: path).entries
    }

    // MARK: Decoding

    /// Checks the CRC-32 of a zip record before its data is used.
    private func verify(_ storageKey: String) throws(CheckpointError) {
        guard verifiesChecksums, let d = storageData[storageKey], let expected = d.crc else { return }
        let actual = withExtendedLifetime(source) {
            ZipCRC32.checksum(UnsafeRawBufferPointer(rebasing: source.bytes[d.offset..<(d.offset + d.byteCount)]))
        }
        guard actual == expected else {
            throw .badStorage(file: path, key: storageKey,
                              reason: "CRC-32 mismatch (record says \(hex(expected)), data gives \(hex(actual))): the file is corrupt")
        }
    }

    /// The Float32 tensor of validated view `t`.
    private func decode(_ t: TensorRef) -> Tensor {
        let count = t.shape.reduce(1, *)
        let shape = Shape(t.shape)
        if count == 0 { return Tensor(shape: shape, data: []) }
        let type = t.storage.type
        let data = storageData[t.storage.key]!
        let start = data.offset + (t.storage.elementOffset + t.offset) * type.elementSize
        let values: [Float] = withExtendedLifetime(source) {
            let raw = source.bytes.baseAddress! + start
            var contiguous = true
            var expected = 1
            var span = 1
            for d in stride(from: t.shape.count - 1, through: 0, by: -1) where t.shape[d] != 1 {
                if t.strides[d] != expected { contiguous = false }
                expected *= t.shape[d]
                span += (t.shape[d] - 1) * t.strides[d]
            }
            if contiguous { return Self.decode(raw, count: count, type: type) }
            return Self.gather(Self.decode(raw, count: span, type: type), shape: t.shape, strides: t.strides,
                               count: count)
        }
        return Tensor(shape: shape, data: values)
    }

    /// `count` stored elements at `raw` converted to Float32.
    private static func decode(_ raw: UnsafeRawPointer, count: Int, type: TorchStorageType) -> [Float] {
        switch type {
        case .double:
            return [Float](unsafeUninitializedCapacity: count) { out, n in
                for i in 0..<count { out[i] = Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
                n = count
            }
        case .half, .bfloat16:
            guard Int(bitPattern: raw) % 2 != 0 else { return type.dtype.decodeToFloat(raw, count: count) }
            // The half-precision decoders read UInt16s; give them an aligned copy.
            let aligned = [UInt16](unsafeUninitializedCapacity: count) { buf, n in
                UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: raw, byteCount: count * 2)
                n = count
            }
            return aligned.withUnsafeBytes { type.dtype.decodeToFloat($0.baseAddress!, count: count) }
        default:
            return type.dtype.decodeToFloat(raw, count: count)
        }
    }

    /// The elements of the strided view (`shape`, `strides`, starting at `src[0]`) in row-major order.
    private static func gather(_ src: [Float], shape: [Int], strides: [Int], count: Int) -> [Float] {
        let rank = shape.count
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        return [Float](unsafeUninitializedCapacity: count) { out, n in
            src.withUnsafeBufferPointer { s in
                var counters = [Int](repeating: 0, count: rank)
                var base = 0
                var o = 0
                while o < count {
                    var p = base
                    for _ in 0..<inner {
                        out[o] = s[p]
                        o += 1
                        p += innerStride
                    }
                    var d = rank - 2
                    while d >= 0 {
                        counters[d] += 1
                        base += strides[d]
                        if counters[d] < shape[d] { break }
                        base -= strides[d] * shape[d]
                        counters[d] = 0
                        d -= 1
                    }
                }
            }
            n = count
        }
    }

    // MARK: Parsing

    /// What parsing a checkpoint yields.
    private struct Parsed {
        var format: String
        var tensors: [(String, TensorRef)]
        var skipped: [String]
        var storageData: [String: StorageData]
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, file: String,
                              verifyCRC: Bool) throws(CheckpointError) -> Parsed {
        guard bytes.count >= 4 else {
            throw .badArchive(file: file, reason: "the file has \(bytes.count) bytes, too few for a checkpoint")
        }
        if bytes[0] == 0x50 && bytes[1] == 0x4b && (bytes[2] == 3 || bytes[2] == 5) {
            return try parseZip(bytes, file: file, verifyCRC: verifyCRC)
        }
        if bytes[0] == 0x80 { return try parseLegacy(bytes, file: file) }
        throw .badArchive(file: file,
                          reason: "not a PyTorch checkpoint: it starts with neither a zip signature nor a pickle")
    }

    private static func parseZip(_ bytes: UnsafeRawBufferPointer, file: String,
                                 verifyCRC: Bool) throws(CheckpointError) -> Parsed {
        let zip = try StoredZip(file: file, bytes: bytes)
        // data.pkl sits in the archive's single top folder, whose name varies.
        let candidates = zip.entries.filter { e in
            guard e.name.hasSuffix("/data.pkl") else { return false }
            return e.name.dropLast("/data.pkl".count).allSatisfy { $0 != "/" }
        }
        guard let pkl = candidates.first else {
            throw .badArchive(file: file, reason: "the zip archive has no <folder>/data.pkl record (not a torch.save checkpoint)")
        }
        guard candidates.count == 1 else {
            throw .badArchive(file: file, reason: "the zip archive has several data.pkl records: \(candidates.map(\.name))")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        if let order = zip.entry(named: prefix + "byteorder") {
            let r = try zip.data(of: order, verifyCRC: verifyCRC)
            let text = String(decoding: bytes[r], as: UTF8.self)
            guard text == "little" else {
                throw .badArchive(file: file, reason: "byte order '\(text)' is not supported (only little-endian)")
            }
        }
        let pklRange = try zip.data(of: pkl, verifyCRC: verifyCRC)
        var u = Unpickler(file: file, bytes: bytes, start: pklRange.lowerBound, end: pklRange.upperBound,
                          persistentIDs: .zip)
        let root = try u.load()
        var storageData: [String: StorageData] = [:]
        for key in u.storageOrder {
            let decl = u.storages[key]!
            let name = prefix + "data/" + key
            guard let entry = zip.entry(named: name) else {
                throw .badStorage(file: file, key: key, reason: "the archive has no record '\(name)'")
            }
            let r = try zip.data(of: entry, verifyCRC: false)
            let needed = decl.count * decl.type.elementSize
            guard r.count >= needed else {
                throw .badStorage(file: file, key: key,
                                  reason: "declares \(decl.count) × \(decl.type.rawValue) (\(needed) bytes) but record '\(name)' holds \(r.count) bytes")
            }
            storageData[key] = StorageData(offset: r.lowerBound, byteCount: r.count, crc: entry.crc)
        }
        let (tensors, skipped) = try flatten(root, u, pickleBytes: pklRange.count, file: file)
        return Parsed(format: zipFormat, tensors: tensors, skipped: skipped, storageData: storageData)
    }

    private static func parseLegacy(_ bytes: UnsafeRawBufferPointer, file: String) throws(CheckpointError) -> Parsed {
        var pos = 0
        func next(_ ids: PersistentIDFormat) throws(CheckpointError) -> (PickleValue, Unpickler) {
            var u = Unpickler(file: file, bytes: bytes, start: pos, end: bytes.count, persistentIDs: ids)
            let v = try u.load()
            pos = u.pos
            return (v, u)
        }
        // The magic number 0x1950a86a20f9469cfc6c, as LONG1 stores it: ten little-endian bytes.
        let magic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
        guard case .bigInt(let m) = try next(.none).0, m == magic else {
            throw .badArchive(file: file, reason: "the first pickle is not PyTorch's magic number (not a torch.save checkpoint)")
        }
        let version = try next(.none).0
        guard version.intValue == 1001 else {
            throw .badArchive(file: file, reason: "legacy protocol version is \(version.intValue.map(String.init) ?? version.kind), not 1001")
        }
        let (sysInfo, infoPickle) = try next(.none)
        guard case .dict(let infoID) = sysInfo else {
            throw .badArchive(file: file, reason: "the sys-info record is a \(sysInfo.kind), not a dict")
        }
        if let little = infoPickle.dicts[infoID].value(forKey: "little_endian"), little.intValue != 1 {
            throw .badArchive(file: file, reason: "the checkpoint was written big-endian, which is not supported")
        }
        let stateStart = pos
        let (root, u) = try next(.legacy)
        let stateBytes = pos - stateStart
        let (keyList, keyPickle) = try next(.none)
        guard case .list(let listID) = keyList else {
            throw .badArchive(file: file, reason: "the storage key list is a \(keyList.kind), not a list")
        }
        var storageData: [String: StorageData] = [:]
        for k in keyPickle.lists[listID] {
            guard let key = k.text else {
                throw .badArchive(file: file, reason: "the storage key list holds a \(k.kind), not a str")
            }
            guard let decl = u.storages[key] else {
                throw .badArchive(file: file, reason: "the storage key list names '\(key)', which no tensor uses")
            }
            guard storageData[key] == nil else {
                throw .badArchive(file: file, reason: "the storage key list names '\(key)' twice")
            }
            guard bytes.count - pos >= 8 else { throw .truncated(file: file, expected: pos + 8, actual: bytes.count) }
            let count = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: pos, as: Int64.self))
            pos += 8
            let remaining = bytes.count - pos
            let (size, overflow) = Int(count).multipliedReportingOverflow(by: decl.type.elementSize)
            if count != Int64(decl.count) {
                let detail = overflow || count < 0 ? "\(count) elements" : "\(count) elements (\(size) bytes)"
                if overflow || count < 0 || size > remaining {
                    throw .badStorage(file: file, key: key,
                                      reason: "its data record declares \(detail) but only \(remaining) bytes remain in the file")
                }
                throw .badStorage(file: file, key: key,
                                  reason: "its data record holds \(detail) but the pickle declares \(decl.count)")
            }
            guard size <= remaining else { throw .truncated(file: file, expected: pos + size, actual: bytes.count) }
            storageData[key] = StorageData(offset: pos, byteCount: size, crc: nil)
            pos += size
        }
        if let missing = u.storageOrder.first(where: { storageData[$0] == nil }) {
            throw .badStorage(file: file, key: missing, reason: "the checkpoint has no data for it (not in the storage key list)")
        }
        let (tensors, skipped) = try flatten(root, u, pickleBytes: stateBytes, file: file)
        return Parsed(format: legacyFormat, tensors: tensors, skipped: skipped, storageData: storageData)
    }

    /// Deepest nesting of dicts within the state dict.
    private static let maxDictDepth = 64
    /// How many times the elements stored may be viewed in total (tensors sharing storages, e.g. tied weights),
    /// beyond ``maxExpandedElements``. Past that, a file of a few bytes could make the reader allocate without
    /// bound by naming one tensor under many keys.
    private static let maxAliasing = 8
    /// The flattened key names may take at most this many bytes per byte of the state-dict pickle (plus 1 MiB):
    /// one memoized key or prefix reused many times cannot make them grow without bound.
    private static let maxNameBytesPerPickleByte = 32

    /// The state dict's tensors (flattened, in order) and skipped keys; see the type's documentation.
    private static func flatten(_ root: PickleValue, _ u: Unpickler, pickleBytes: Int,
                                file: String) throws(CheckpointError) -> ([(String, TensorRef)], [String]) {
        guard case .dict(var sd) = root else {
            throw .badArchive(file: file, reason: "the checkpoint holds a \(root.kind), not a dict of tensors (a state dict)")
        }
        let top = u.dicts[sd]
        if !top.values.contains(where: { if case .tensor = $0 { true } else { false } }) {
            for name in ["state_dict", "model"] {
                if case .dict(let nested)? = top.value(forKey: name) {
                    sd = nested
                    break
                }
            }
        }
        var tensors: [(String, TensorRef)] = []
        var seen = Set<String>()
        var skipped: [String] = []
        var path: [Int] = []
        var nameBudget = maxNameBytesPerPickleByte * pickleBytes + (1 << 20)
        // Every storage's data has been checked to be present, so `stored` is at most the file size.
        let stored = u.storages.values.reduce(0) { $0 + $1.count }
        let elementBudget = maxAliasing * stored + maxExpandedElements
        var elements = 0

        func walk(_ id: Int, prefix: String) throws(CheckpointError) {
            guard path.count < maxDictDepth else {
                throw .badArchive(file: file, reason: "dicts nest deeper than \(maxDictDepth) levels under '\(prefix)'")
            }
            guard !path.contains(id) else {
                throw .badArchive(file: file, reason: "the dict under '\(prefix)' contains itself")
            }
            path.append(id)
            defer { path.removeLast() }
            let d = u.dicts[id]
            for (k, v) in zip(d.keys, d.values) {
                let name: String
                switch k {
                case .string(let s): name = s
                case .int(let i): name = String(i)
                default:
                    skipped.append(prefix + "<\(k.kind) key>")
                    continue
                }
                nameBudget -= prefix.utf8.count + name.utf8.count
                guard nameBudget >= 0 else {
                    throw .badArchive(file: file, reason: "the flattened key names take more bytes than a pickle of \(pickleBytes) bytes can legitimately describe")
                }
                let full = prefix + name
                switch v {
                case .tensor(let t):
                    guard seen.insert(full).inserted else {
                        throw .badTensor(file: file, key: full, reason: "the key occurs twice after flattening")
                    }
                    elements += try validate(t, key: full, file: file)
                    guard elements <= elementBudget else {
                        throw .badArchive(file: file, reason: "the tensors view more than \(elementBudget) elements in total over \(stored) stored ones (more than \(maxAliasing) times)")
                    }
                    tensors.append((full, t))
                case .dict(let nested):
                    try walk(nested, prefix: full + ".")
                default:
                    skipped.append(full)
                }
            }
        }
        try walk(sd, prefix: "")
        return (tensors, skipped)
    }

    /// Checks that view `t` lies inside its storage and is not absurdly large; returns its element count.
    private static func validate(_ t: TensorRef, key: String, file: String) throws(CheckpointError) -> Int {
        var count = 1
        for d in t.shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw .badTensor(file: file, key: key, reason: "size \(t.shape) has too many elements to count") }
            count = p
        }
        guard count > 0 else { return 0 }
        var last = t.offset
        for (d, s) in zip(t.shape, t.strides) {
            let (step, o1) = (d - 1).multipliedReportingOverflow(by: s)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else {
                throw .badTensor(file: file, key: key, reason: "size \(t.shape) with stride \(t.strides) overflows")
            }
            last = sum
        }
        let available = t.storage.count
        guard last < available else {
            throw .badTensor(file: file, key: key,
                             reason: "offset \(t.offset), size \(t.shape) and stride \(t.strides) reach element \(last) of storage '\(t.storage.key)', which has \(available)")
        }
        guard count <= available || count <= maxExpandedElements else {
            throw .badTensor(file: file, key: key,
                             reason: "size \(t.shape) declares \(count) elements over a storage of \(available); more than the \(maxExpandedElements) allowed for expanded views")
        }
        return count
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}

// MARK: - Zip

/// A minimal reader of a zip archive's central directory (including zip64), for the stored (uncompressed)
/// records `torch.save` writes. Every offset and length is checked against the file before use.
private struct StoredZip {
    struct Entry {
        let name: String
        let flags: UInt16
        let method: UInt16
        let crc: UInt32
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let file: String
    let bytes: UnsafeRawBufferPointer
    private(set) var entries: [Entry]
    private var byName: [String: Int]

    private static let eocdSignature: UInt32 = 0x0605_4b50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    private static let zip64EOCDSignature: UInt32 = 0x0606_4b50
    private static let centralSignature: UInt32 = 0x0201_4b50
    private static let localSignature: UInt32 = 0x0403_4b50

    private func bad(_ reason: String) -> CheckpointError { .badArchive(file: file, reason: reason) }

    private func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    private func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    private func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }

    /// Whether `n` bytes at `at` lie inside the file.
    private func inside(_ at: Int, _ n: Int) -> Bool { at >= 0 && n >= 0 && at <= bytes.count && n <= bytes.count - at }

    init(file: String, bytes: UnsafeRawBufferPointer) throws(CheckpointError) {
        self.file = file
        self.bytes = bytes
        self.entries = []
        self.byName = [:]
        let size = bytes.count

        // The end-of-central-directory record: the last one whose comment ends exactly at the end of the file.
        var eocd = -1
        var p = size - 22
        let lowest = Swift.max(0, size - 22 - 0xFFFF)
        while p >= lowest {
            if u32(p) == Self.eocdSignature && p + 22 + Int(u16(p + 20)) == size {
                eocd = p
                break
            }
            p -= 1
        }
        guard eocd >= 0 else {
            throw bad("no zip end-of-central-directory record: the file is truncated or not a zip archive")
        }
        var entryCount = Int(u16(eocd + 10))
        var cdSize = Int(u32(eocd + 12))
        var cdOffset = Int(u32(eocd + 16))
        var cdLimit = eocd
        guard u16(eocd + 4) == 0, u16(eocd + 6) == 0, u16(eocd + 8) == u16(eocd + 10) else {
            throw bad("multi-disk zip archives are not supported")
        }
        if eocd >= 20 && u32(eocd - 20) == Self.zip64LocatorSignature {
            let at64 = u64(eocd - 12)
            guard at64 <= UInt64(eocd - 20), inside(Int(at64), 56), u32(Int(at64)) == Self.zip64EOCDSignature else {
                throw bad("the zip64 end-of-central-directory locator points to no zip64 record")
            }
            let r = Int(at64)
            let (n, s, o) = (u64(r + 32), u64(r + 40), u64(r + 48))
            guard n <= UInt64(size), s <= UInt64(size), o <= UInt64(size) else {
                throw bad("zip64 central directory fields are out of range")
            }
            entryCount = Int(n)
            cdSize = Int(s)
            cdOffset = Int(o)
            cdLimit = r
        }
        guard cdOffset <= cdLimit, cdSize <= cdLimit - cdOffset else {
            throw bad("the central directory (offset \(cdOffset), \(cdSize) bytes) lies outside the archive")
        }
        guard entryCount <= cdSize / 46 else {
            throw bad("the central directory cannot hold \(entryCount) entries in \(cdSize) bytes")
        }

        var entries: [Entry] = []
        var byName: [String: Int] = [:]
        var at = cdOffset
        let cdEnd = cdOffset + cdSize
        for _ in 0..<entryCount {
            guard at <= cdEnd - 46, u32(at) == Self.centralSignature else {
                throw bad("central directory entry \(entries.count) at byte \(at) is malformed")
            }
            let nameLength = Int(u16(at + 28)), extraLength = Int(u16(at + 30)), commentLength = Int(u16(at + 32))
            let total = 46 + nameLength + extraLength + commentLength
            guard total <= cdEnd - at else { throw bad("central directory entry \(entries.count) overruns the directory") }
            let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            var compressed = UInt64(u32(at + 20))
            var uncompressed = UInt64(u32(at + 24))
            var local = UInt64(u32(at + 42))
            // Zip64 extended information: the 64-bit values of the fields saturated at 0xFFFFFFFF, in this order.
            var e = at + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = u16(e), length = Int(u16(e + 2))
                guard length <= extraEnd - e - 4 else { throw bad("entry '\(name)': malformed extra field") }
                if id == 0x0001 {
                    var f = e + 4
                    for field in [0, 1, 2] {
                        let value = field == 0 ? uncompressed : field == 1 ? compressed : local
                        guard value == 0xFFFF_FFFF else { continue }
                        guard f + 8 <= e + 4 + length else { throw bad("entry '\(name)': short zip64 extra field") }
                        switch field {
                        case 0: uncompressed = u64(f)
                        case 1: compressed = u64(f)
                        default: local = u64(f)
                        }
                        f += 8
                    }
                }
                e += 4 + length
            }
            guard compressed <= UInt64(size), uncompressed <= UInt64(Int.max), local <= UInt64(size) else {
                throw bad("entry '\(name)': sizes or offset lie outside the archive")
            }
            guard byName[name] == nil else { throw bad("the archive has two records named '\(name)'") }
            byName[name] = entries.count
            entries.append(Entry(name: name, flags: u16(at + 8), method: u16(at + 10), crc: u32(at + 16),
                                 compressedSize: Int(compressed), size: Int(uncompressed),
                                 localHeaderOffset: Int(local)))
            at += total
        }
        self.entries = entries
        self.byName = byName
    }

    /// The entry named `name`, if any.
    func entry(named name: String) -> Entry? { byName[name].map { entries[$0] } }

    /// The byte range of a stored entry's data in the file, after checking its local header (and its CRC-32 when
    /// `verifyCRC`).
    func data(of e: Entry, verifyCRC: Bool) throws(CheckpointError) -> Range<Int> {
        guard e.flags & 1 == 0 else { throw bad("record '\(e.name)' is encrypted") }
        guard e.method == 0 else {
            let how = e.method == 8 ? "deflate-compressed" : "compressed (method \(e.method))"
            throw bad("record '\(e.name)' is \(how); only stored (uncompressed) records are read, as torch.save writes them")
        }
        guard e.compressedSize == e.size else {
            throw bad("stored record '\(e.name)' has compressed size \(e.compressedSize) ≠ size \(e.size)")
        }
        let h = e.localHeaderOffset
        guard inside(h, 30), u32(h) == Self.localSignature else {
            throw bad("record '\(e.name)': no local header at byte \(h)")
        }
        let nameLength = Int(u16(h + 26)), extraLength = Int(u16(h + 28))
        let start = h + 30 + nameLength + extraLength
        guard inside(h + 30, nameLength), bytes[(h + 30)..<(h + 30 + nameLength)].elementsEqual(e.name.utf8) else {
            throw bad("record '\(e.name)': the local header names another file")
        }
        guard inside(start, e.size) else {
            throw bad("record '\(e.name)': its \(e.size) bytes at byte \(start) run past the end of the file (\(bytes.count) bytes)")
        }
        let range = start..<(start + e.size)
        if verifyCRC {
            let actual = ZipCRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[range]))
            guard actual == e.crc else {
                throw bad("record '\(e.name)': CRC-32 mismatch (directory says \(hex(e.crc)), data gives \(hex(actual)))")
            }
        }
        return range
    }
}

// MARK: - CRC-32

/// CRC-32 (IEEE 802.3, as zip uses it), slicing by 8.
private enum ZipCRC32 {
    private static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xFF)] }
        }
        return t
    }()

    static func checksum(_ data: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = data.baseAddress else { return 0 }
        var crc: UInt32 = 0xFFFF_FFFF
        var i = 0
        let n = data.count
        tables.withUnsafeBufferPointer { t in
            while i + 8 <= n {
                let lo = crc ^ UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self))
                let hi = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                crc = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                crc = t[Int((crc ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                i += 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
