import Tensors

// A restricted unpickler for the pickles inside PyTorch checkpoints (`torch.save`).
//
// It decodes the opcodes of pickle protocols 2 to 5 that `torch.save` writes (plus a few neighbours such as
// DUP, POP, DICT, LIST and the set opcodes) into plain Swift values. It never imports or calls anything: GLOBAL
// and STACK_GLOBAL resolve only the names on ``PickleGlobal``'s allow-list (anything else throws
// ``CheckpointError/disallowedGlobal(file:module:name:)`` naming the global), and REDUCE / NEWOBJ / BUILD on an
// allowed global build a Swift description of the result (an ordered dict, a tensor view over a storage) instead
// of running code. Every read is bounds-checked; the stack, memo, mark nesting and tuple nesting are limited,
// and each opcode consumes at least one byte, so malformed input ends in a typed error after bounded work.

/// The element type of a PyTorch typed storage, named by its storage class (`torch.FloatStorage`, …).
enum TorchStorageType: String, Sendable, CaseIterable {
    case float = "FloatStorage"
    case half = "HalfStorage"
    case bfloat16 = "BFloat16Storage"
    case double = "DoubleStorage"
    case long = "LongStorage"
    case int = "IntStorage"
    case byte = "ByteStorage"
    case bool = "BoolStorage"

    /// Bytes per element.
    var elementSize: Int {
        switch self {
        case .double, .long: 8
        case .float, .int: 4
        case .half, .bfloat16: 2
        case .byte, .bool: 1
        }
    }

    /// The ``DType`` of the stored elements; float64, which ``DType`` cannot name, reports `.float32`, the type it
    /// is loaded as.
    var dtype: DType {
        switch self {
        case .float, .double: .float32
        case .half: .float16
        case .bfloat16: .bfloat16
        case .long: .int64
        case .int: .int32
        case .byte: .uint8
        case .bool: .bool
        }
    }

    /// The PyTorch name of the element type, e.g. `torch.float64`.
    var torchDType: String {
        switch self {
        case .float: "torch.float32"
        case .double: "torch.float64"
        case .half: "torch.float16"
        case .bfloat16: "torch.bfloat16"
        case .long: "torch.int64"
        case .int: "torch.int32"
        case .byte: "torch.uint8"
        case .bool: "torch.bool"
        }
    }
}

/// The only globals a checkpoint pickle may name.
enum PickleGlobal: Sendable, Equatable {
    /// `collections.OrderedDict`: called with no arguments (or a list of pairs) it makes an ordered dict.
    case orderedDict
    /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`.
    case rebuildTensorV2
    /// `torch._utils._rebuild_parameter(data, requires_grad, hooks)`.
    case rebuildParameter
    /// `torch._utils._rebuild_parameter_with_state(data, requires_grad, hooks, state)`.
    case rebuildParameterWithState
    /// `torch.<Type>Storage`, named in persistent ids; never called.
    case storageType(TorchStorageType)

    /// The allowed global named `module.name`, or nil when it is not on the allow-list.
    static func resolve(module: String, name: String) -> PickleGlobal? {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): return .rebuildParameterWithState
        case ("torch", _): return TorchStorageType(rawValue: name).map { .storageType($0) }
        default: return nil
        }
    }

    /// The dotted name as written in the pickle.
    var qualifiedName: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .rebuildTensorV2: "torch._utils._rebuild_tensor_v2"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: "torch._utils._rebuild_parameter_with_state"
        case .storageType(let t): "torch.\(t.rawValue)"
        }
    }
}

/// A storage as a persistent id describes it: `count` elements starting `elementOffset` elements into the data of
/// root storage `key` (the offset is non-zero only for the view storages of old legacy checkpoints).
struct StorageRef: Sendable, Equatable {
    let key: String
    let type: TorchStorageType
    let elementOffset: Int
    let count: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view (element offset, sizes, element strides) of a
/// storage. Several tensors may view one storage.
struct TensorRef: Sendable, Equatable {
    let storage: StorageRef
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// An immutable tuple; a class so that nesting is by reference (its depth is limited, see ``Unpickler``).
final class PickleTuple: Sendable {
    let items: [PickleValue]
    /// 1 + the largest depth of a tuple among `items`.
    let depth: Int

    init(_ items: [PickleValue], depth: Int) {
        self.items = items
        self.depth = depth
    }
}

/// A value built by the unpickler. Lists and dicts are mutable and shared, as in Python, so they live in the
/// unpickler's arenas and values refer to them by index (which also keeps cyclic structures free of reference
/// cycles).
enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too large for `Int`: its little-endian two's-complement bytes, as LONG1/LONG4 store them.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleTuple)
    /// Index into ``Unpickler/lists`` (sets and frozensets are read as lists too).
    case list(Int)
    /// Index into ``Unpickler/dicts`` (plain dicts and OrderedDicts alike).
    case dict(Int)
    case global(PickleGlobal)
    case storage(StorageRef)
    case tensor(TensorRef)

    /// A short description of the kind of value, for error messages.
    var kind: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict: "dict"
        case .global(let g): "global \(g.qualifiedName)"
        case .storage: "storage"
        case .tensor: "tensor"
        }
    }

    /// The text of a `str` (or of ASCII/UTF-8 `bytes`, which Python 2 pickles use for the same strings).
    var text: String? { text(maxLength: .max) }

    /// ``text`` when it has at most `maxLength` UTF-8 bytes (checked before any conversion).
    func text(maxLength: Int) -> String? {
        switch self {
        case .string(let s) where s.utf8.count <= maxLength: return s
        case .bytes(let b) where b.count <= maxLength: return String(validating: b, as: UTF8.self)
        default: return nil
        }
    }

    /// The value of an `int` that fits `Int` (bools count, as in Python).
    var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// Nesting depth of tuples.
    var tupleDepth: Int {
        if case .tuple(let t) = self { return t.depth }
        return 0
    }
}

/// A hashable form of the dict keys whose equality the unpickler can decide (as Python does, `True == 1`).
/// Strings and bytes longer than ``maxLength`` are not indexed: Swift does not cache string hashes, and a pickle
/// could otherwise make every SETITEM hash one huge memoized key again.
enum PickleKey: Hashable {
    case string(String)
    case int(Int)
    case bytes([UInt8])
    case none

    static let maxLength = 4096

    init?(_ v: PickleValue) {
        switch v {
        case .string(let s) where s.utf8.count <= Self.maxLength: self = .string(s)
        case .int(let i): self = .int(i)
        case .bool(let b): self = .int(b ? 1 : 0)
        case .bytes(let b) where b.count <= Self.maxLength: self = .bytes(b)
        case .none: self = .none
        default: return nil
        }
    }
}

/// An insertion-ordered dict. Setting an existing key (one ``PickleKey`` can represent) replaces its value in
/// place, as Python does; other keys are appended.
struct PickleDict {
    var keys: [PickleValue] = []
    var values: [PickleValue] = []
    private var index: [PickleKey: Int] = [:]

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        if let k = PickleKey(key) {
            if let i = index[k] {
                values[i] = value
                return
            }
            index[k] = keys.count
        }
        keys.append(key)
        values.append(value)
    }

    /// The value for a string key.
    func value(forKey key: String) -> PickleValue? { index[.string(key)].map { values[$0] } }

    var count: Int { keys.count }
}

/// How BINPERSID persistent ids are interpreted.
enum PersistentIDFormat {
    /// No persistent ids are expected (the legacy format's header pickles and storage key list).
    case none
    /// `('storage', storage_type, key, location, numel)`, the zip format.
    case zip
    /// `('storage', storage_type, root_key, location, numel, view_metadata)`, the legacy format, where
    /// `view_metadata` is None or `(view_key, offset, view_size)`.
    case legacy
}

/// The storage a checkpoint declares under one key: its element type and element count.
struct StorageDeclaration: Sendable, Equatable {
    let type: TorchStorageType
    let count: Int
}

/// Decodes one pickle from a byte range of a file. See the comment at the top of this file.
struct Unpickler {
    /// Largest number of values on the stack (all mark levels together).
    static let maxStack = 1 << 22
    /// Largest number of memo entries.
    static let maxMemo = 1 << 22
    /// Deepest nesting of MARKs.
    static let maxMarks = 1 << 16
    /// Deepest nesting of tuples.
    static let maxTupleDepth = 100
    /// Longest module or name of a GLOBAL or STACK_GLOBAL opcode.
    static let maxGlobalLine = 1024
    /// Longest storage key or location in a persistent id.
    static let maxStorageKey = 256
    /// Highest tensor rank `_rebuild_tensor_v2` may describe.
    static let maxRank = 64

    /// The file path, for errors.
    let file: String
    /// The whole file.
    let bytes: UnsafeRawBufferPointer
    /// End (exclusive) of the range holding this pickle.
    let end: Int
    /// Whether `end` is the end of the file (a short read then means the file is truncated).
    let endIsEndOfFile: Bool
    let persistentIDs: PersistentIDFormat

    /// Read position (a byte offset in the file); after ``load()`` it is just past the STOP opcode.
    private(set) var pos: Int
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    /// The lists and dicts built, which ``PickleValue/list(_:)`` and ``PickleValue/dict(_:)`` index.
    private(set) var lists: [[PickleValue]] = []
    private(set) var dicts: [PickleDict] = []
    /// Storages named by persistent ids, by root key, and the keys in order of first use.
    private(set) var storages: [String: StorageDeclaration] = [:]
    private(set) var storageOrder: [String] = []

    /// An unpickler for the pickle at `start..<end` of `bytes`.
    init(file: String, bytes: UnsafeRawBufferPointer, start: Int, end: Int, persistentIDs: PersistentIDFormat) {
        self.file = file
        self.bytes = bytes
        self.pos = start
        self.end = end
        self.endIsEndOfFile = end == bytes.count
        self.persistentIDs = persistentIDs
    }

    // MARK: Errors and reads

    private func bad(_ reason: String, at offset: Int) -> CheckpointError {
        .badPickle(file: file, offset: offset, reason: reason)
    }

    /// Advances past `n` bytes and returns their start; throws when fewer remain.
    private mutating func take(_ n: Int) throws(CheckpointError) -> Int {
        guard n >= 0, n <= end - pos else {
            if endIsEndOfFile {
                let (expected, overflow) = pos.addingReportingOverflow(n)
                throw .truncated(file: file, expected: overflow || n < 0 ? Int.max : expected, actual: bytes.count)
            }
            throw bad("the pickle ends early: \(n) more bytes needed, \(end - pos) left", at: pos)
        }
        let p = pos
        pos += n
        return p
    }

    /// `take` for a length read from the stream as an unsigned 64-bit value.
    private mutating func take(length: UInt64, at opPos: Int) throws(CheckpointError) -> Int {
        guard length <= UInt64(Int.max) else { throw bad("length \(length) is out of range", at: opPos) }
        return try take(Int(length))
    }

    private mutating func u8() throws(CheckpointError) -> UInt8 { bytes[try take(1)] }

    private mutating func u16() throws(CheckpointError) -> UInt16 {
        UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(2), as: UInt16.self))
    }

    private mutating func u32() throws(CheckpointError) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(4), as: UInt32.self))
    }

    private mutating func u64() throws(CheckpointError) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: try take(8), as: UInt64.self))
    }

    private func byteArray(_ start: Int, _ n: Int) -> [UInt8] { Array(bytes[start..<(start + n)]) }

    private func utf8(_ start: Int, _ n: Int, at opPos: Int) throws(CheckpointError) -> String {
        guard let s = String(validating: bytes[start..<(start + n)], as: UTF8.self) else {
            throw bad("string is not valid UTF-8", at: opPos)
        }
        return s
    }

    /// A newline-terminated line (GLOBAL's operands), without the newline.
    private mutating func line(at opPos: Int) throws(CheckpointError) -> String {
        let start = pos
        let limit = min(end, start + Self.maxGlobalLine)
        var i = start
        while i < limit && bytes[i] != 0x0a { i += 1 }
        guard i < limit else {
            if i == end {
                pos = end
                _ = try take(1)  // throws the end-of-data error
            }
            throw bad("GLOBAL operand longer than \(Self.maxGlobalLine) bytes", at: opPos)
        }
        pos = i + 1
        return try utf8(start, i - start, at: opPos)
    }

    // MARK: Stack

    private mutating func push(_ v: PickleValue, at opPos: Int) throws(CheckpointError) {
        guard stack.count < Self.maxStack else { throw bad("stack exceeds \(Self.maxStack) values", at: opPos) }
        stack.append(v)
    }

    private mutating func pop(at opPos: Int) throws(CheckpointError) -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw bad("stack underflow", at: opPos) }
        return stack.removeLast()
    }

    private func top(at opPos: Int) throws(CheckpointError) -> PickleValue {
        guard stack.count > (marks.last ?? 0) else { throw bad("stack underflow", at: opPos) }
        return stack[stack.count - 1]
    }

    /// The values pushed since the last MARK, which is removed.
    private mutating func popMark(at opPos: Int) throws(CheckpointError) -> [PickleValue] {
        guard let m = marks.popLast() else { throw bad("no MARK on the stack", at: opPos) }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func makeTuple(_ items: [PickleValue], at opPos: Int) throws(CheckpointError) -> PickleValue {
        let depth = 1 + (items.lazy.map(\.tupleDepth).max() ?? 0)
        guard depth <= Self.maxTupleDepth else {
            throw bad("tuples nest deeper than \(Self.maxTupleDepth) levels", at: opPos)
        }
        return .tuple(PickleTuple(items, depth: depth))
    }

    private mutating func newList(_ items: [PickleValue]) -> PickleValue {
        lists.append(items)
        return .list(lists.count - 1)
    }

    private mutating func newDict() -> Int {
        dicts.append(PickleDict())
        return dicts.count - 1
    }

    private mutating func setItems(_ items: ArraySlice<PickleValue>, into target: PickleValue,
                                   at opPos: Int) throws(CheckpointError) {
        guard case .dict(let id) = target else { throw bad("SETITEM(S) on a \(target.kind)", at: opPos) }
        guard items.count % 2 == 0 else { throw bad("SETITEMS with an odd number of values", at: opPos) }
        var i = items.startIndex
        while i < items.endIndex {
            dicts[id].set(items[i], items[i + 1])
            i += 2
        }
    }

    private mutating func appendItems(_ items: [PickleValue], to target: PickleValue,
                                      at opPos: Int) throws(CheckpointError) {
        guard case .list(let id) = target else { throw bad("APPEND(S) on a \(target.kind)", at: opPos) }
        lists[id].append(contentsOf: items)
    }

    private mutating func memoize(_ index: Int, at opPos: Int) throws(CheckpointError) {
        let v = try top(at: opPos)
        if memo[index] == nil && memo.count >= Self.maxMemo {
            throw bad("memo exceeds \(Self.maxMemo) entries", at: opPos)
        }
        memo[index] = v
    }

    private mutating func memoGet(_ index: Int, at opPos: Int) throws(CheckpointError) {
        guard let v = memo[index] else { throw bad("memo key \(index) is not defined", at: opPos) }
        try push(v, at: opPos)
    }

    private func global(module: String, name: String) throws(CheckpointError) -> PickleValue {
        guard let g = PickleGlobal.resolve(module: module, name: name) else {
            throw .disallowedGlobal(file: file, module: module, name: name)
        }
        return .global(g)
    }

    // MARK: Calls

    /// The value of calling allowed global `callable` with `args` (REDUCE), built without running anything.
    private mutating func reduce(_ callable: PickleValue, _ args: PickleValue,
                                 at opPos: Int) throws(CheckpointError) -> PickleValue {
        guard case .global(let g) = callable else { throw bad("REDUCE calls a \(callable.kind)", at: opPos) }
        guard case .tuple(let t) = args else {
            throw bad("REDUCE arguments of \(g.qualifiedName) are a \(args.kind), not a tuple", at: opPos)
        }
        let a = t.items
        switch g {
        case .orderedDict:
            let id = newDict()
            let d = PickleValue.dict(id)
            if a.isEmpty { return d }
            guard a.count == 1 else { throw bad("OrderedDict called with \(a.count) arguments", at: opPos) }
            let pairs: [PickleValue]
            switch a[0] {
            case .list(let l): pairs = lists[l]
            case .tuple(let p): pairs = p.items
            default: throw bad("OrderedDict called with a \(a[0].kind)", at: opPos)
            }
            for p in pairs {
                let kv: [PickleValue]
                switch p {
                case .tuple(let x): kv = x.items
                case .list(let l): kv = lists[l]
                default: throw bad("OrderedDict item is a \(p.kind), not a pair", at: opPos)
                }
                guard kv.count == 2 else { throw bad("OrderedDict item has \(kv.count) values, not 2", at: opPos) }
                dicts[id].set(kv[0], kv[1])
            }
            return d
        case .rebuildTensorV2:
            guard a.count == 6 || a.count == 7 else {
                throw bad("_rebuild_tensor_v2 called with \(a.count) arguments (expected 6 or 7)", at: opPos)
            }
            guard case .storage(let storage) = a[0] else {
                throw bad("_rebuild_tensor_v2: the storage argument is a \(a[0].kind)", at: opPos)
            }
            guard let offset = a[1].intValue, offset >= 0 else {
                throw bad("_rebuild_tensor_v2: storage offset is not a non-negative int", at: opPos)
            }
            let shape = try intTuple(a[2], what: "size", at: opPos)
            let strides = try intTuple(a[3], what: "stride", at: opPos)
            guard shape.count == strides.count else {
                throw bad("_rebuild_tensor_v2: size has \(shape.count) dimensions but stride has \(strides.count)",
                          at: opPos)
            }
            guard case .bool = a[4] else {
                throw bad("_rebuild_tensor_v2: requires_grad is a \(a[4].kind), not a bool", at: opPos)
            }
            return .tensor(TensorRef(storage: storage, offset: offset, shape: shape, strides: strides))
        case .rebuildParameter, .rebuildParameterWithState:
            let n = g == .rebuildParameter ? 3 : 4
            guard a.count == n else {
                throw bad("\(g.qualifiedName) called with \(a.count) arguments (expected \(n))", at: opPos)
            }
            guard case .tensor = a[0] else { throw bad("\(g.qualifiedName): the data is a \(a[0].kind)", at: opPos) }
            return a[0]
        case .storageType:
            throw bad("\(g.qualifiedName) cannot be called", at: opPos)
        }
    }

    /// A tuple (or list) of non-negative ints, such as a tensor's size or stride.
    private func intTuple(_ v: PickleValue, what: String, at opPos: Int) throws(CheckpointError) -> [Int] {
        let items: [PickleValue]
        switch v {
        case .tuple(let t): items = t.items
        case .list(let l): items = lists[l]
        default: throw bad("_rebuild_tensor_v2: \(what) is a \(v.kind), not a tuple", at: opPos)
        }
        guard items.count <= Self.maxRank else {
            throw bad("_rebuild_tensor_v2: \(what) has \(items.count) dimensions (the limit is \(Self.maxRank))",
                      at: opPos)
        }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for x in items {
            guard let i = x.intValue, i >= 0 else {
                throw bad("_rebuild_tensor_v2: \(what) holds a \(x.kind == "int" ? "negative or huge int" : x.kind)",
                          at: opPos)
            }
            out.append(i)
        }
        return out
    }

    /// The value NEWOBJ / NEWOBJ_EX makes from class `cls` (only OrderedDict may be instantiated).
    private mutating func newObject(_ cls: PickleValue, at opPos: Int) throws(CheckpointError) -> PickleValue {
        guard case .global(.orderedDict) = cls else { throw bad("NEWOBJ on a \(cls.kind)", at: opPos) }
        return .dict(newDict())
    }

    /// The storage a persistent id names (BINPERSID).
    private mutating func persistentLoad(_ pid: PickleValue, at opPos: Int) throws(CheckpointError) -> PickleValue {
        let expected: Int
        switch persistentIDs {
        case .none: throw bad("unexpected persistent id", at: opPos)
        case .zip: expected = 5
        case .legacy: expected = 6
        }
        guard case .tuple(let t) = pid else { throw bad("persistent id is a \(pid.kind), not a tuple", at: opPos) }
        let a = t.items
        guard let kind = a.first?.text(maxLength: 16) else {
            throw bad("persistent id does not start with a type name", at: opPos)
        }
        guard kind == "storage" else {
            throw bad("persistent id of type '\(kind)' is not supported (only 'storage'; pickled modules are not read)",
                      at: opPos)
        }
        guard a.count == expected else {
            throw bad("storage persistent id has \(a.count) fields (expected \(expected))", at: opPos)
        }
        guard case .global(.storageType(let type)) = a[1] else {
            throw bad("storage persistent id names a \(a[1].kind), not a storage type", at: opPos)
        }
        guard let key = a[2].text(maxLength: Self.maxStorageKey) else {
            throw bad("storage key is not a str of at most \(Self.maxStorageKey) bytes", at: opPos)
        }
        guard a[3].text(maxLength: Self.maxStorageKey) != nil else {
            throw bad("storage location is not a str of at most \(Self.maxStorageKey) bytes", at: opPos)
        }
        guard let count = a[4].intValue, count >= 0 else {
            throw bad("storage '\(key)': element count is not a non-negative int", at: opPos)
        }
        guard !count.multipliedReportingOverflow(by: type.elementSize).overflow else {
            throw .badStorage(file: file, key: key, reason: "element count \(count) is out of range")
        }
        let declaration = StorageDeclaration(type: type, count: count)
        if let previous = storages[key] {
            guard previous == declaration else {
                throw .badStorage(file: file, key: key,
                                  reason: "declared as \(previous.count) × \(previous.type.rawValue) and as \(count) × \(type.rawValue)")
            }
        } else {
            storages[key] = declaration
            storageOrder.append(key)
        }
        guard persistentIDs == .legacy else {
            return .storage(StorageRef(key: key, type: type, elementOffset: 0, count: count))
        }
        switch a[5] {
        case .none:
            return .storage(StorageRef(key: key, type: type, elementOffset: 0, count: count))
        case .tuple(let view):
            guard view.items.count == 3, view.items[0].text(maxLength: Self.maxStorageKey) != nil, let offset = view.items[1].intValue,
                  let size = view.items[2].intValue, offset >= 0, size >= 0, offset <= count, size <= count - offset
            else {
                throw .badStorage(file: file, key: key, reason: "invalid view metadata (view key, offset, size)")
            }
            return .storage(StorageRef(key: key, type: type, elementOffset: offset, count: size))
        default:
            throw .badStorage(file: file, key: key, reason: "view metadata is a \(a[5].kind), not None or a tuple")
        }
    }

    // MARK: The opcode loop

    /// Reads opcodes until STOP and returns the pickled value.
    mutating func load() throws(CheckpointError) -> PickleValue {
        while true {
            let at = pos
            let op = try u8()
            switch op {
            case 0x80:  // PROTO
                let v = try u8()
                guard v <= 5 else { throw bad("unsupported pickle protocol \(v)", at: at) }
            case 0x95:  // FRAME: a length hint; the frame's opcodes follow inline.
                let n = try u64()
                if n > UInt64(end - pos) { _ = try take(length: n, at: at) }  // throws the end-of-data error
            case 0x2e:  // STOP
                return try pop(at: at)
            case 0x28:  // MARK
                guard marks.count < Self.maxMarks else { throw bad("MARKs nest deeper than \(Self.maxMarks)", at: at) }
                marks.append(stack.count)
            case 0x30:  // POP
                if stack.count > (marks.last ?? 0) { stack.removeLast() } else { _ = try popMark(at: at) }
            case 0x31:  // POP_MARK
                _ = try popMark(at: at)
            case 0x32:  // DUP
                try push(try top(at: at), at: at)

            // Constants and numbers.
            case 0x4e: try push(.none, at: at)  // NONE
            case 0x88: try push(.bool(true), at: at)  // NEWTRUE
            case 0x89: try push(.bool(false), at: at)  // NEWFALSE
            case 0x4b: try push(.int(Int(try u8())), at: at)  // BININT1
            case 0x4d: try push(.int(Int(try u16())), at: at)  // BININT2
            case 0x4a: try push(.int(Int(Int32(bitPattern: try u32()))), at: at)  // BININT
            case 0x8a:  // LONG1
                let n = Int(try u8())
                try push(long(try take(n), n), at: at)
            case 0x8b:  // LONG4
                let n = Int32(bitPattern: try u32())
                guard n >= 0 else { throw bad("negative LONG4 length", at: at) }
                try push(long(try take(Int(n)), Int(n)), at: at)
            case 0x47:  // BINFLOAT (big-endian)
                let bits = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: try take(8), as: UInt64.self))
                try push(.float(Double(bitPattern: bits)), at: at)

            // Strings and bytes.
            case 0x8c:  // SHORT_BINUNICODE
                let n = Int(try u8())
                try push(.string(try utf8(try take(n), n, at: at)), at: at)
            case 0x58:  // BINUNICODE
                let n = Int(try u32())
                try push(.string(try utf8(try take(n), n, at: at)), at: at)
            case 0x8d:  // BINUNICODE8
                let n = try u64()
                let s = try take(length: n, at: at)
                try push(.string(try utf8(s, Int(n), at: at)), at: at)
            case 0x55:  // SHORT_BINSTRING (Python 2 str, decoded as UTF-8 like torch.load does)
                let n = Int(try u8())
                try push(.string(try utf8(try take(n), n, at: at)), at: at)
            case 0x54:  // BINSTRING
                let n = Int32(bitPattern: try u32())
                guard n >= 0 else { throw bad("negative BINSTRING length", at: at) }
                try push(.string(try utf8(try take(Int(n)), Int(n), at: at)), at: at)
            case 0x43:  // SHORT_BINBYTES
                let n = Int(try u8())
                try push(.bytes(byteArray(try take(n), n)), at: at)
            case 0x42:  // BINBYTES
                let n = Int(try u32())
                try push(.bytes(byteArray(try take(n), n)), at: at)
            case 0x8e, 0x96:  // BINBYTES8, BYTEARRAY8
                let n = try u64()
                let s = try take(length: n, at: at)
                try push(.bytes(byteArray(s, Int(n))), at: at)

            // Containers.
            case 0x29: try push(try makeTuple([], at: at), at: at)  // EMPTY_TUPLE
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let n = Int(op - 0x84)
                guard stack.count - (marks.last ?? 0) >= n else { throw bad("stack underflow", at: at) }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                try push(try makeTuple(items, at: at), at: at)
            case 0x74:  // TUPLE
                try push(try makeTuple(try popMark(at: at), at: at), at: at)
            case 0x5d: try push(newList([]), at: at)  // EMPTY_LIST
            case 0x6c: try push(newList(try popMark(at: at)), at: at)  // LIST
            case 0x8f: try push(newList([]), at: at)  // EMPTY_SET
            case 0x91: try push(newList(try popMark(at: at)), at: at)  // FROZENSET
            case 0x7d: try push(.dict(newDict()), at: at)  // EMPTY_DICT
            case 0x64:  // DICT
                let items = try popMark(at: at)
                let d = PickleValue.dict(newDict())
                try setItems(items[...], into: d, at: at)
                try push(d, at: at)
            case 0x61:  // APPEND
                let v = try pop(at: at)
                try appendItems([v], to: try top(at: at), at: at)
            case 0x65, 0x90:  // APPENDS, ADDITEMS
                let items = try popMark(at: at)
                try appendItems(items, to: try top(at: at), at: at)
            case 0x73:  // SETITEM
                let v = try pop(at: at)
                let k = try pop(at: at)
                try setItems([k, v][...], into: try top(at: at), at: at)
            case 0x75:  // SETITEMS
                let items = try popMark(at: at)
                try setItems(items[...], into: try top(at: at), at: at)

            // Memo.
            case 0x71: try memoize(Int(try u8()), at: at)  // BINPUT
            case 0x72: try memoize(Int(try u32()), at: at)  // LONG_BINPUT
            case 0x94: try memoize(memo.count, at: at)  // MEMOIZE
            case 0x68: try memoGet(Int(try u8()), at: at)  // BINGET
            case 0x6a: try memoGet(Int(try u32()), at: at)  // LONG_BINGET

            // Globals and calls: resolved against the allow-list, never executed.
            case 0x63:  // GLOBAL
                let module = try line(at: at)
                let name = try line(at: at)
                try push(try global(module: module, name: name), at: at)
            case 0x93:  // STACK_GLOBAL
                let name = try pop(at: at)
                let module = try pop(at: at)
                guard case .string(let m) = module, case .string(let n) = name else {
                    throw bad("STACK_GLOBAL operands are not strings", at: at)
                }
                guard m.utf8.count <= Self.maxGlobalLine, n.utf8.count <= Self.maxGlobalLine else {
                    throw bad("STACK_GLOBAL operand longer than \(Self.maxGlobalLine) bytes", at: at)
                }
                try push(try global(module: m, name: n), at: at)
            case 0x69:  // INST: names a class to instantiate.
                let module = try line(at: at)
                let name = try line(at: at)
                _ = try global(module: module, name: name)
                throw bad("opcode INST is not supported", at: at)
            case 0x52:  // REDUCE
                let args = try pop(at: at)
                let callable = try pop(at: at)
                try push(try reduce(callable, args, at: at), at: at)
            case 0x81:  // NEWOBJ
                _ = try pop(at: at)
                let cls = try pop(at: at)
                try push(try newObject(cls, at: at), at: at)
            case 0x92:  // NEWOBJ_EX
                _ = try pop(at: at)
                _ = try pop(at: at)
                let cls = try pop(at: at)
                try push(try newObject(cls, at: at), at: at)
            case 0x62:  // BUILD: the state of an OrderedDict (its `_metadata` attribute) is dropped.
                let state = try pop(at: at)
                let target = try top(at: at)
                guard case .dict = target else {
                    throw bad("BUILD on a \(target.kind) (state: \(state.kind)) is not supported", at: at)
                }
            case 0x51:  // BINPERSID
                let pid = try pop(at: at)
                try push(try persistentLoad(pid, at: at), at: at)

            case 0x82, 0x83, 0x84:
                throw bad("extension-registry opcodes (EXT1/EXT2/EXT4) are not supported", at: at)
            case 0x97, 0x98:
                throw bad("out-of-band buffers (NEXT_BUFFER/READONLY_BUFFER) are not supported", at: at)
            default:
                let name: String? = switch op {
                case 0x46: "FLOAT"
                case 0x49: "INT"
                case 0x4c: "LONG"
                case 0x50: "PERSID"
                case 0x53: "STRING"
                case 0x56: "UNICODE"
                case 0x67: "GET"
                case 0x6f: "OBJ"
                case 0x70: "PUT"
                default: nil
                }
                if let name { throw bad("protocol-0/1 opcode \(name) is not supported", at: at) }
                throw bad("unknown opcode 0x\(String(op, radix: 16))", at: at)
            }
        }
    }

    /// A LONG1/LONG4 integer from `n` little-endian two's-complement bytes at `start`.
    private func long(_ start: Int, _ n: Int) -> PickleValue {
        if n == 0 { return .int(0) }
        if n > 8 { return .bigInt(byteArray(start, n)) }
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(bytes[start + i]) << (8 * UInt64(i)) }
        if n < 8 && bytes[start + n - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }  // sign-extend
        return .int(Int(Int64(bitPattern: v)))
    }
}
