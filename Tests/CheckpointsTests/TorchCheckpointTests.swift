@testable import Checkpoints
import Foundation
import Testing
import Tensors

// Fixtures come from tools/make_torch_fixtures.py (run by hand with a Python that has torch); its docstring lists
// what each file holds. torch_expected.json holds what torch.load gives for the valid ones.

private func torchFixture(_ name: String) throws -> String {
    try #require(Bundle.module.path(forResource: name, ofType: nil, inDirectory: "Fixtures"),
                 "fixture Fixtures/\(name) is missing from the test bundle")
}

private func bytes(of path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

/// The error opening and decoding `path` throws, or nil when it loads.
private func loadError(_ path: String) -> CheckpointError? {
    do {
        _ = try TorchCheckpoint.load(path: path)
        return nil
    } catch {
        return error
    }
}

/// The error opening and decoding `bytes` throws, or nil when they load.
private func loadError(bytes: [UInt8], name: String = "crafted") -> CheckpointError? {
    do {
        _ = try TorchCheckpoint(bytes: bytes, name: name).tensors()
        return nil
    } catch {
        return error
    }
}

private struct ExpectedTensor: Decodable {
    let dtype: String
    let shape: [Int]
    let values: [Double]
}

private struct ExpectedFixtures: Decodable {
    let keys: [String]
    let tensors: [String: ExpectedTensor]
    let skipped: [String]
}

/// The ``DType`` a PyTorch dtype name is reported as.
private func dtype(_ torchName: String) -> DType? {
    switch torchName {
    case "torch.float32", "torch.float64": .float32
    case "torch.float16": .float16
    case "torch.bfloat16": .bfloat16
    case "torch.int64": .int64
    case "torch.int32": .int32
    case "torch.uint8": .uint8
    case "torch.bool": .bool
    default: nil
    }
}

private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }
private func bits(_ values: [Double]) -> [UInt32] { values.map { Float($0).bitPattern } }

// MARK: - Hand-made pickles

/// Builds protocol-2 pickle bytes by hand.
private struct PickleWriter {
    var bytes: [UInt8] = [0x80, 0x02]

    mutating func op(_ codes: UInt8...) { bytes += codes }

    mutating func string(_ s: String) {
        let u = Array(s.utf8)
        bytes += [0x58] + withUnsafeBytes(of: UInt32(u.count).littleEndian, Array.init) + u
    }

    mutating func int(_ i: Int) {
        if (0..<256).contains(i) {
            bytes += [0x4b, UInt8(i)]
        } else {
            bytes += [0x4a] + withUnsafeBytes(of: Int32(i).littleEndian, Array.init)
        }
    }

    mutating func global(_ module: String, _ name: String) {
        bytes += [0x63] + Array("\(module)\n\(name)\n".utf8)
    }

    /// `(int, int, …)` with MARK … TUPLE.
    mutating func intTuple(_ values: [Int]) {
        op(0x28)
        for v in values { int(v) }
        op(0x74)
    }

    /// A `_rebuild_tensor_v2` call over a legacy storage persistent id, with optional view metadata.
    mutating func tensor(storageKey: String, type: String = "FloatStorage", numel: Int,
                         view: (key: String, offset: Int, size: Int)? = nil, offset: Int, size: [Int], stride: [Int]) {
        global("torch._utils", "_rebuild_tensor_v2")
        op(0x28)  // MARK: arguments
        op(0x28)  // MARK: persistent id
        string("storage")
        global("torch", type)
        string(storageKey)
        string("cpu")
        int(numel)
        if let view {
            string(view.key)
            int(view.offset)
            int(view.size)
            op(0x87)  // TUPLE3
        } else {
            op(0x4e)  // NONE
        }
        op(0x74, 0x51)  // TUPLE, BINPERSID
        int(offset)
        intTuple(size)
        intTuple(stride)
        op(0x89)  // NEWFALSE
        global("collections", "OrderedDict")
        op(0x29, 0x52)  // EMPTY_TUPLE, REDUCE
        op(0x74, 0x52)  // TUPLE, REDUCE
    }

    mutating func stop() -> [UInt8] {
        op(0x2e)
        return bytes
    }
}

/// A legacy-format checkpoint around `state`: magic number, protocol version, sys info, `state`, the storage key
/// list, then each storage's element count and data.
private func legacyFile(state: [UInt8], storages: [(key: String, count: Int64, data: [UInt8])]) -> [UInt8] {
    var out: [UInt8] = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]
    out += [0x80, 0x02, 0x4d, 0xe9, 0x03, 0x2e]  // 1001
    var info = PickleWriter()
    info.op(0x7d)
    info.string("little_endian")
    info.op(0x88, 0x73)
    out += info.stop()
    out += state
    var keys = PickleWriter()
    keys.op(0x5d, 0x28)
    for s in storages { keys.string(s.key) }
    keys.op(0x65)
    out += keys.stop()
    for s in storages { out += withUnsafeBytes(of: s.count.littleEndian, Array.init) + s.data }
    return out
}

private func floatBytes(_ values: [Float]) -> [UInt8] { values.flatMap { withUnsafeBytes(of: $0, Array.init) } }

/// Unpickles `bytes` on its own (no persistent ids), returning the value or the error.
private func unpickle(_ bytes: [UInt8]) -> Result<PickleValue, CheckpointError> {
    bytes.withUnsafeBytes { raw in
        var u = Unpickler(file: "p", bytes: raw, start: 0, end: raw.count, persistentIDs: .none)
        do throws(CheckpointError) {
            return .success(try u.load())
        } catch {
            return .failure(error)
        }
    }
}

private func pickleError(_ bytes: [UInt8]) -> CheckpointError? {
    if case .failure(let e) = unpickle(bytes) { return e }
    return nil
}

// MARK: - Valid checkpoints

@Suite struct TorchCheckpointTests {
    static let validFixtures = ["torch_zip.pt", "torch_legacy.pt", "torch_proto5.pt", "torch_zip64.pt"]

    @Test(arguments: validFixtures)
    func fixtureMatchesTorchLoad(_ name: String) throws {
        let path = try torchFixture(name)
        let expected = try JSONDecoder().decode(ExpectedFixtures.self,
                                                from: Data(contentsOf: URL(fileURLWithPath: try torchFixture("torch_expected.json"))))
        let checkpoint = try TorchCheckpoint(path: path)
        #expect(checkpoint.format == (name == "torch_legacy.pt" ? "pytorch-legacy" : "pytorch-zip"))
        #expect(checkpoint.keys == expected.keys, "keys in file order")
        #expect(checkpoint.skippedKeys == expected.skipped)
        let tensors = try checkpoint.tensors()
        #expect(Set(tensors.keys) == Set(expected.keys))
        for info in checkpoint.entries {
            let e = try #require(expected.tensors[info.key])
            #expect(info.torchDType == e.dtype, "dtype of \(info.key)")
            #expect(info.dtype == dtype(e.dtype), "DType of \(info.key)")
            #expect(info.shape == e.shape, "shape of \(info.key)")
            let t = try #require(tensors[info.key])
            #expect(t.shape.dims == e.shape, "tensor shape of \(info.key)")
            #expect(bits(t.toArray()) == bits(e.values), "values of \(info.key)")
            #expect(bits(try checkpoint.tensor(info.key).toArray()) == bits(e.values), "tensor(\"\(info.key)\")")
        }
    }

    @Test func inspectReportsStoredTypesInFileOrder() throws {
        let entries = try TorchCheckpoint.inspect(path: try torchFixture("torch_legacy.pt"))
        let byKey = Dictionary(uniqueKeysWithValues: entries.map { ($0.key, $0) })
        #expect(entries.first?.key == "linear.weight")
        #expect(entries.last?.key == "sub.w")
        #expect(byKey["bn.num_batches_tracked"]?.dtype == .int64)
        #expect(byKey["bn.num_batches_tracked"]?.shape == [])
        #expect(byKey["linear.bias"]?.dtype == .float16)
        #expect(byKey["double"]?.torchDType == "torch.float64")
        #expect(byKey["double"]?.dtype == .float32)
        #expect(byKey["transposed"]?.shape == [3, 4])
        #expect(byKey["empty"]?.count == 0)
        #expect(byKey["scalar"]?.count == 1)
    }

    @Test func intsViewsAndSharedStoragesDecodeAsTorchDoes() throws {
        for name in ["torch_zip.pt", "torch_legacy.pt"] {
            let t = try TorchCheckpoint.load(path: try torchFixture(name))
            #expect(t["bn.num_batches_tracked"]?.toArray() == [1234], "\(name)")
            #expect(t["bn.num_batches_tracked"]?.shape == Shape([]))
            #expect(t["ids"]?.toArray() == [-7, 0, 3, 1_048_576])
            #expect(t["bytes"]?.toArray() == [0, 1, 255])
            #expect(t["mask"]?.toArray() == [1, 0, 1])
            #expect(t["expanded"]?.toArray() == [1.5, -1, 2, 1.5, -1, 2])
            // Views of one storage: base = arange(12) * 0.5 - 2.
            #expect(t["shared.a"]?.toArray() == [-2, -1.5, -1, -0.5, 0, 0.5])
            #expect(t["shared.b"]?.toArray() == [0.5, 1.5, 2.5])
            #expect(t["empty"]?.shape == Shape([0, 5]))
        }
    }

    @Test func loadAgreesWithSafeTensorsRoundTrip() throws {
        // What the reader gives survives a safetensors round trip unchanged (the two readers agree).
        let tensors = try TorchCheckpoint.load(path: try torchFixture("torch_zip.pt"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("torch-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("converted.safetensors").path
        try SafeTensorsWriter.write(tensors, to: path)
        let back = try SafeTensorsFile(path: path).tensors()
        for (k, t) in tensors { #expect(bits(back[k]!.toArray()) == bits(t.toArray()), "\(k)") }
    }

    @Test func inMemoryAndMappedReadsAgree() throws {
        let path = try torchFixture("torch_legacy.pt")
        let fromBytes = try TorchCheckpoint(bytes: try bytes(of: path), name: "legacy")
        let fromFile = try TorchCheckpoint(path: path)
        #expect(fromBytes.entries == fromFile.entries)
        #expect(fromBytes.path == "legacy")
        #expect(throws: CheckpointError.missingKey(file: "legacy", key: "nope")) { try fromBytes.tensor("nope") }
    }

    // MARK: Hostile and broken files

    @Test func pickledCallsAreRefusedNamingTheGlobal() throws {
        let cases: [(String, String, String)] = [
            ("hostile_os_system.pt", "os", "system"),
            ("hostile_os_system_zip.pt", "os", "system"),
            ("hostile_eval.pt", "builtins", "eval"),
            ("hostile_popen.pt", "subprocess", "Popen"),
        ]
        for (name, module, global) in cases {
            let path = try torchFixture(name)
            #expect(loadError(path) == .disallowedGlobal(file: path, module: module, name: global), "\(name)")
            #expect(throws: CheckpointError.disallowedGlobal(file: path, module: module, name: global)) {
                try TorchCheckpoint.inspect(path: path)
            }
        }
    }

    @Test func brokenFilesThrowTypedErrors() throws {
        var path = try torchFixture("hostile_storage_size.pt")
        var error = loadError(path)
        guard case .badStorage(path, let key, let reason)? = error else {
            Issue.record("hostile_storage_size.pt: \(String(describing: error))")
            return
        }
        #expect(!key.isEmpty && reason.contains("1099511627776 elements") && reason.contains("remain"), "\(reason)")

        path = try torchFixture("hostile_zip_numel.pt")
        error = loadError(path)
        #expect(error?.key == "0", "\(String(describing: error))")
        #expect({ if case .badStorage(path, "0", let r)? = error { r.contains("1000000000000") } else { false } }())

        for name in ["hostile_huge_shape.pt", "hostile_expanded.pt"] {
            path = try torchFixture(name)
            error = loadError(path)
            #expect({ if case .badTensor(path, "w", _)? = error { true } else { false } }(), "\(name): \(String(describing: error))")
        }

        path = try torchFixture("compressed_zip.pt")
        error = loadError(path)
        #expect({ if case .badArchive(path, let r)? = error { r.contains("deflate") } else { false } }(),
                "\(String(describing: error))")

        path = try torchFixture("truncated_zip.pt")
        error = loadError(path)
        #expect({ if case .badArchive(path, let r)? = error { r.contains("truncated") } else { false } }(),
                "\(String(describing: error))")

        path = try torchFixture("truncated_legacy.pt")
        let size = try bytes(of: path).count
        error = loadError(path)
        // The cut falls in the last storage's record: its count field or its data.
        #expect({ if case .truncated(path, let expected, size)? = error { expected > size && expected <= size + 10 } else { false } }(),
                "\(String(describing: error))")

        // A legacy file cut inside its state-dict pickle.
        let legacy = try bytes(of: try torchFixture("torch_legacy.pt"))
        error = loadError(bytes: Array(legacy[..<300]))
        #expect({ if case .truncated("crafted", _, 300)? = error { true } else { false } }(), "\(String(describing: error))")

        #expect(loadError(bytes: Array("hello world".utf8))?.description.contains("not a PyTorch checkpoint") == true)
        #expect(loadError(bytes: [])?.description.contains("too few") == true)
        let missing = "/nonexistent/\(UUID().uuidString).pt"
        #expect({ if case .io(missing, _)? = loadError(missing) { true } else { false } }())
    }

    @Test func corruptZipDataFailsItsChecksum() throws {
        var zip = try bytes(of: try torchFixture("torch_zip.pt"))
        // The first storage record (linear.weight, 12 floats) follows data.pkl; flip a byte in the middle of it.
        let checkpoint = try TorchCheckpoint(bytes: zip, name: "zip")
        let original = try checkpoint.tensor("linear.weight").toArray()
        let needle = floatBytes(Array(original[4..<8]))
        let at = try #require((0...(zip.count - needle.count)).first { Array(zip[$0..<($0 + needle.count)]) == needle })
        zip[at + 1] ^= 0x40
        let corrupt = try TorchCheckpoint(bytes: zip, name: "zip")  // storages are checked when decoded
        #expect({ if case .badStorage("zip", _, let r)? = loadError(bytes: zip, name: "zip") { r.contains("CRC-32") } else { false } }())
        #expect(throws: CheckpointError.self) { try corrupt.tensor("linear.weight") }
        #expect(try corrupt.tensor("bn.num_batches_tracked").toArray() == [1234])  // other storages are fine
    }

    // MARK: Real weights

    /// The EfficientNet-Lite0 weights in the cache, when a fetch has put them there.
    static var realWeights: String? {
        let env = ProcessInfo.processInfo.environment
        let cache = env["TRANSFERKIT_CACHE"] ?? (FileManager.default.homeDirectoryForCurrentUser.path + "/.cache/transferkit")
        let path = cache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    @Test(.enabled(if: realWeights != nil,
                   "skipped: efficientnet-lite0-57934424.pth is not in ${TRANSFERKIT_CACHE:-~/.cache/transferkit}/efficientnet-lite0/ (fetch the weights first)"))
    func realEfficientNetLite0() throws {
        let path = try #require(Self.realWeights)
        let facts = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try torchFixture("efficientnet_lite0_expected.json"))))
                as? [String: Any])
        let clock = ContinuousClock()
        let start = clock.now
        let checkpoint = try TorchCheckpoint(path: path)
        let tensors = try checkpoint.tensors()
        let elapsed = clock.now - start
        print("EfficientNet-Lite0: opened and decoded \(checkpoint.entries.count) tensors in \(elapsed)")

        #expect(checkpoint.format == "pytorch-legacy")
        #expect(checkpoint.entries.count == 296)
        #expect(checkpoint.entries.count == facts["entries"] as? Int)
        // Every element counts, the 49 int64 `num_batches_tracked` scalars included.
        #expect(checkpoint.entries.reduce(0) { $0 + $1.count } == 4_694_073)
        #expect(tensors.values.reduce(0) { $0 + $1.count } == 4_694_073)
        #expect(checkpoint.entries.filter { $0.dtype == .int64 }.count == facts["int64_entries"] as? Int)
        #expect(checkpoint.entries.filter { $0.dtype != .int64 }.allSatisfy { $0.dtype == .float32 })
        #expect(Array(checkpoint.keys.prefix(5)) == facts["first_keys"] as? [String])
        #expect(checkpoint.keys.last == facts["last_key"] as? String)
        #expect(checkpoint.skippedKeys.isEmpty)
        #expect(checkpoint.info("_conv_stem.weight")?.shape == [32, 3, 3, 3])
        #expect(checkpoint.info("_fc.weight")?.shape == [1000, 1280])
        let shapes = try #require(facts["shapes"] as? [String: [Int]])
        for (k, s) in shapes { #expect(checkpoint.info(k)?.shape == s, "shape of \(k)") }

        let values = try #require(facts["values"] as? [String: [Double]])
        func check(_ label: String, _ got: [Float]) {
            #expect(bits(got) == bits(values[label] ?? []), "\(label)")
        }
        let stem = try #require(tensors["_conv_stem.weight"]).toArray()  // stored non-contiguous (stride 1, 32, 288, 96)
        check("_conv_stem.weight[0]", Array(stem[0..<27]))
        check("_fc.bias[:10]", Array(try #require(tensors["_fc.bias"]).toArray()[0..<10]))
        let head = try #require(tensors["_conv_head.weight"]).toArray()  // [1280, 320, 1, 1]
        check("_conv_head.weight[0,:8,0,0]", Array(head[0..<8]))
        let dw = try #require(tensors["_blocks.1._depthwise_conv.weight"]).toArray()  // [96, 1, 3, 3]
        check("_blocks.1._depthwise_conv.weight[5,0]", Array(dw[45..<54]))
        check("_bn0.num_batches_tracked", try #require(tensors["_bn0.num_batches_tracked"]).toArray())
        let sums = try #require(facts["sums"] as? [String: Double])
        for (k, expected) in sums {
            let sum = try #require(tensors[k]).toArray().reduce(0.0) { $0 + Double($1) }
            #expect(abs(sum - expected) <= 1e-9 * max(1, abs(expected)) * 100, "sum of \(k): \(sum) vs \(expected)")
        }
    }

    // MARK: Fuzzing

    /// One random mutation of `input`: bit flips, a truncation, overwritten bytes, inserted or deleted bytes, or a
    /// 1/2/4/8-byte field set to an extreme value.
    static func mutate(_ input: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var b = input
        func pos(_ n: Int = 0) -> Int { Int(rng.next() % UInt64(max(1, b.count - n))) }
        let rounds = 1 + Int(rng.next() % 3)
        for _ in 0..<rounds where !b.isEmpty {
            switch rng.next() % 6 {
            case 0:
                b[pos()] ^= UInt8(1) << (rng.next() % 8)
            case 1:
                b.removeSubrange(pos()...)
            case 2:
                let n = 1 + Int(rng.next() % 8)
                let at = pos(n)
                for i in at..<min(b.count, at + n) { b[i] = UInt8(truncatingIfNeeded: rng.next()) }
            case 3:
                let n = 1 + Int(rng.next() % 8)
                b.insert(contentsOf: (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: pos())
            case 4:
                let at = pos()
                b.removeSubrange(at..<min(b.count, at + 1 + Int(rng.next() % 16)))
            default:
                let width = [1, 2, 4, 8][Int(rng.next() % 4)]
                let extremes: [UInt64] = [0, ~0, UInt64(Int64.max), 1 << 63, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
                let v = extremes[Int(rng.next() % UInt64(extremes.count))]
                let at = pos(width)
                for i in 0..<width where at + i < b.count { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
            }
        }
        return b
    }

    @Test(.timeLimit(.minutes(2)))
    func mutatedCheckpointsLoadOrThrowCheckpointErrors() throws {
        // (fixture, verify zip checksums): without checksums, mutations of zip files reach the unpickler.
        let runs: [(String, Bool)] = [("torch_zip.pt", true), ("torch_zip.pt", false), ("torch_proto5.pt", false),
                                      ("torch_legacy.pt", false)]
        // TRANSFERKIT_FUZZ_ITERATIONS runs more (or fewer) mutations per fixture for a longer search by hand.
        let perRun = ProcessInfo.processInfo.environment["TRANSFERKIT_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 2500
        var rng = SeededGenerator(seed: 0x70_12C4)
        var loaded = 0
        var failures: [String: Int] = [:]
        let clock = ContinuousClock()
        let start = clock.now
        for (name, verify) in runs {
            let original = try bytes(of: try torchFixture(name))
            for i in 0..<perRun {
                let mutated = Self.mutate(original, &rng)
                do {
                    let checkpoint = try TorchCheckpoint(bytes: mutated, name: "\(name)#\(i)", verifyChecksums: verify)
                    let tensors = try checkpoint.tensors()
                    #expect(tensors.count == checkpoint.entries.count)
                    loaded += 1
                } catch {
                    // The do block can only throw CheckpointError (typed throws); tally the kinds.
                    let kind = Mirror(reflecting: error).children.first?.label ?? "\(error)"
                    failures[kind, default: 0] += 1
                }
            }
        }
        let elapsed = clock.now - start
        let total = runs.count * perRun
        print("fuzz: \(total) mutated checkpoints in \(elapsed): \(loaded) loaded, errors \(failures.sorted { $0.key < $1.key })")
        #expect(loaded + failures.values.reduce(0, +) == total)
        #expect(failures.count >= 5, "mutations reach several kinds of checks")
    }
}

// MARK: - The unpickler on hand-made pickles

@Suite struct PickleTests {
    @Test func decodesScalarsStringsAndContainers() throws {
        var w = PickleWriter()
        w.op(0x7d, 0x71, 0x00)  // EMPTY_DICT, BINPUT 0
        w.op(0x28)  // MARK
        w.string("f")
        w.op(0x47, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0)  // BINFLOAT 1.5
        w.string("neg")
        w.op(0x8a, 0x02, 0x00, 0xff)  // LONG1 -256
        w.string("big")
        w.op(0x8a, 0x09, 1, 0, 0, 0, 0, 0, 0, 0, 1)  // LONG1 2**64 + 1
        w.string("i")
        w.op(0x4a, 0xfe, 0xff, 0xff, 0xff)  // BININT -2
        w.string("bytes")
        w.op(0x43, 0x02, 0x61, 0x62)  // SHORT_BINBYTES b"ab"
        w.string("list")
        w.op(0x5d, 0x4e, 0x61, 0x88, 0x61)  // EMPTY_LIST, NONE, APPEND, NEWTRUE, APPEND
        w.string("self")
        w.op(0x68, 0x00)  // BINGET 0 (the dict itself)
        w.op(0x75)  // SETITEMS
        let bytes = w.stop()
        try bytes.withUnsafeBytes { raw in
            var u = Unpickler(file: "p", bytes: raw, start: 0, end: raw.count, persistentIDs: .none)
            guard case .dict(let id) = try u.load() else { Issue.record("not a dict"); return }
            let d = u.dicts[id]
            guard case .float(let f)? = d.value(forKey: "f"), case .int(let n)? = d.value(forKey: "neg"),
                  case .bigInt(let big)? = d.value(forKey: "big"), case .int(let i)? = d.value(forKey: "i"),
                  case .bytes(let b)? = d.value(forKey: "bytes"), case .list(let l)? = d.value(forKey: "list"),
                  case .dict(let me)? = d.value(forKey: "self")
            else {
                Issue.record("unexpected values \(d.values)")
                return
            }
            #expect(f == 1.5 && n == -256 && i == -2 && b == [0x61, 0x62] && me == id)
            #expect(big == [1, 0, 0, 0, 0, 0, 0, 0, 1])
            #expect(u.lists[l].count == 2)
            #expect(u.pos == raw.count)
        }
    }

    @Test func globalsOffTheAllowListAreRefused() {
        var w = PickleWriter()
        w.global("posix", "system")
        #expect(pickleError(w.stop()) == .disallowedGlobal(file: "p", module: "posix", name: "system"))

        // STACK_GLOBAL (protocol 4) with the same check.
        let stackGlobal: [UInt8] = [0x80, 0x04, 0x8c, 0x08] + Array("builtins".utf8) + [0x8c, 0x04] + Array("exec".utf8)
            + [0x93, 0x2e]
        #expect(pickleError(stackGlobal) == .disallowedGlobal(file: "p", module: "builtins", name: "exec"))

        // A near miss of an allowed name, and torch.storage._load_from_bytes, are refused too.
        w = PickleWriter()
        w.global("torch._utils", "_rebuild_tensor_v3")
        #expect(pickleError(w.stop()) == .disallowedGlobal(file: "p", module: "torch._utils", name: "_rebuild_tensor_v3"))
        w = PickleWriter()
        w.global("torch.storage", "_load_from_bytes")
        #expect(pickleError(w.stop()) == .disallowedGlobal(file: "p", module: "torch.storage", name: "_load_from_bytes"))

        // INST names its class before instantiating it.
        let inst: [UInt8] = [0x80, 0x02, 0x28, 0x69] + Array("os\nsystem\n".utf8) + [0x2e]
        #expect(pickleError(inst) == .disallowedGlobal(file: "p", module: "os", name: "system"))
    }

    @Test func malformedPicklesThrowBadPickle() {
        func expectBad(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let error = pickleError(bytes)
            guard case .badPickle("p", _, let reason)? = error else {
                Issue.record("expected badPickle containing '\(fragment)', got \(String(describing: error))",
                             sourceLocation: sourceLocation)
                return
            }
            #expect(reason.contains(fragment), "\(reason)", sourceLocation: sourceLocation)
        }
        expectBad([0x80, 0x02, 0x52, 0x2e], "underflow")  // REDUCE on an empty stack
        expectBad([0x80, 0x02, 0x68, 0x07, 0x2e], "memo key 7")  // BINGET of an undefined key
        expectBad([0x80, 0x02, 0xff], "unknown opcode 0xff")
        expectBad([0x80, 0x07, 0x4e, 0x2e], "protocol 7")
        expectBad([0x80, 0x02, 0x7d, 0x28, 0x4e, 0x75, 0x2e], "odd")  // SETITEMS with one value
        expectBad([0x80, 0x02, 0x4e, 0x4e, 0x73, 0x2e], "underflow")  // SETITEM without a target
        expectBad([0x80, 0x02, 0x4e, 0x4e, 0x4e, 0x73, 0x2e], "SETITEM(S) on a None")
        expectBad([0x80, 0x02, 0x4e, 0x4e, 0x61, 0x2e], "APPEND(S) on a None")
        expectBad([0x80, 0x02, 0x74, 0x2e], "no MARK")
        expectBad([0x80, 0x02, 0x28, 0x2e], "underflow")  // STOP right after MARK
        expectBad([0x80, 0x02, 0x4e, 0x29, 0x52, 0x2e], "REDUCE calls a None")
        expectBad([0x80, 0x02, 0x4e, 0x51, 0x2e], "persistent id")
        expectBad([0x80, 0x02, 0x82, 0x01, 0x2e], "extension")
        expectBad([0x80, 0x02, 0x49] + Array("1\n.".utf8), "INT")
        expectBad([0x80, 0x02, 0x58, 0x02, 0, 0, 0, 0xff, 0xfe, 0x2e], "UTF-8")
        // Tuples nested deeper than the limit (each TUPLE1 wraps the previous tuple).
        expectBad([0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 150) + [0x2e], "nest deeper")
        // Calls of allowed globals with the wrong arguments.
        var w = PickleWriter()
        w.global("torch._utils", "_rebuild_tensor_v2")
        w.op(0x29, 0x52)
        expectBad(w.stop(), "0 arguments")
        w = PickleWriter()
        w.global("torch", "FloatStorage")
        w.op(0x29, 0x52)
        expectBad(w.stop(), "cannot be called")
        w = PickleWriter()
        w.global("collections", "OrderedDict")
        w.op(0x4e, 0x85, 0x52)
        expectBad(w.stop(), "OrderedDict called with a None")
        // BUILD on something other than a dict.
        expectBad([0x80, 0x02, 0x5d, 0x4e, 0x62, 0x2e], "BUILD on a list")
    }

    @Test func shortInputIsTruncatedNeverAnOverread() {
        // The pickle's range is the whole input, so running off its end reports a truncated file.
        #expect(pickleError([0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x61]) == .truncated(file: "p", expected: 7 + 0x7fff_ffff, actual: 8))
        // BINUNICODE8 with a length of 2^64 - 1.
        let huge = pickleError([0x80, 0x02, 0x8d] + [UInt8](repeating: 0xff, count: 8))
        #expect({ if case .badPickle("p", 2, let r)? = huge { r.contains("out of range") } else { false } }())
        #expect(pickleError([0x80]) == .truncated(file: "p", expected: 2, actual: 1))
        #expect(pickleError([0x80, 0x02, 0x63] + Array("os".utf8)) == .truncated(file: "p", expected: 6, actual: 5))
        #expect(pickleError([0x80, 0x02, 0x4e]) == .truncated(file: "p", expected: 4, actual: 3))  // no STOP
        // A pickle inside a larger range (a zip record) reports the end of its own data instead.
        let inner: [UInt8] = [0x80, 0x02, 0x58, 0x10, 0, 0, 0, 0x61, 0x2e, 0, 0, 0]
        let error: CheckpointError? = inner.withUnsafeBytes { raw -> CheckpointError? in
            var u = Unpickler(file: "p", bytes: raw, start: 0, end: 9, persistentIDs: .none)
            do throws(CheckpointError) {
                _ = try u.load()
                return nil
            } catch {
                return error
            }
        }
        #expect({ if case .badPickle("p", _, let r)? = error { r.contains("ends early") } else { false } }())
    }

    @Test func legacyViewStoragesAndStridesAreHonoured() throws {
        // One storage of 6 floats; "v" uses the legacy view metadata (view of elements 2..<6), "t" a transposed view.
        var w = PickleWriter()
        w.op(0x7d)
        w.string("v")
        w.tensor(storageKey: "s", numel: 6, view: ("s_view", 2, 4), offset: 1, size: [2], stride: [2])
        w.op(0x73)
        w.string("t")
        w.tensor(storageKey: "s", numel: 6, offset: 0, size: [3, 2], stride: [1, 3])
        w.op(0x73)
        let file = legacyFile(state: w.stop(), storages: [("s", 6, floatBytes([0, 1, 2, 3, 4, 5]))])
        let checkpoint = try TorchCheckpoint(bytes: file, name: "views")
        #expect(checkpoint.keys == ["v", "t"])
        let t = try checkpoint.tensors()
        #expect(t["v"]?.toArray() == [3, 5])  // view starts at 2; offset 1, stride 2
        #expect(t["t"]?.toArray() == [0, 3, 1, 4, 2, 5])
        #expect(t["t"]?.shape == Shape([3, 2]))
    }

    @Test func legacyStorageRecordsAreChecked() {
        func state(numel: Int = 2, size: [Int] = [2], stride: [Int] = [1], offset: Int = 0) -> [UInt8] {
            var w = PickleWriter()
            w.op(0x7d)
            w.string("w")
            w.tensor(storageKey: "k", numel: numel, offset: offset, size: size, stride: stride)
            w.op(0x73)
            return w.stop()
        }
        let data = floatBytes([1, 2])
        #expect(loadError(bytes: legacyFile(state: state(), storages: [("k", 2, data)])) == nil)
        // Element count in the data record differs from the pickle's.
        #expect({ if case .badStorage("crafted", "k", let r)? = loadError(bytes: legacyFile(state: state(), storages: [("k", 1, data)])) { r.contains("declares 2") } else { false } }())
        #expect({ if case .badStorage("crafted", "k", let r)? = loadError(bytes: legacyFile(state: state(), storages: [("k", -1, data)])) { r.contains("remain") } else { false } }())
        // A key the pickle never used, or the same key twice.
        #expect({ if case .badArchive(_, let r)? = loadError(bytes: legacyFile(state: state(), storages: [("x", 2, data)])) { r.contains("'x'") } else { false } }())
        #expect({ if case .badArchive(_, let r)? = loadError(bytes: legacyFile(state: state(), storages: [("k", 2, data), ("k", 2, data)])) { r.contains("twice") } else { false } }())
        // No data for a storage the pickle uses.
        #expect({ if case .badStorage(_, "k", _)? = loadError(bytes: legacyFile(state: state(), storages: [])) { true } else { false } }())
        // Views outside their storage.
        #expect({ if case .badTensor(_, "w", let r)? = loadError(bytes: legacyFile(state: state(size: [3]), storages: [("k", 2, data)])) { r.contains("reach element 2") } else { false } }())
        #expect({ if case .badTensor(_, "w", _)? = loadError(bytes: legacyFile(state: state(offset: 2), storages: [("k", 2, data)])) { true } else { false } }())
        #expect({ if case .badTensor(_, "w", let r)? = loadError(bytes: legacyFile(state: state(size: [Int(Int32.max), 8], stride: [0, 0]), storages: [("k", 2, data)])) { r.contains("expanded") } else { false } }())
        // An expanded view within the limit is fine.
        let expanded = legacyFile(state: state(size: [3, 2], stride: [0, 1]), storages: [("k", 2, data)])
        #expect((try? TorchCheckpoint(bytes: expanded).tensor("w").toArray()) == [1, 2, 1, 2, 1, 2])
    }

    @Test func smallFilesCannotDemandHugeAllocations() {
        // One expanded tensor (2^24 elements over a 1-element storage) named twice through the memo.
        var w = PickleWriter()
        w.op(0x7d, 0x28)
        w.string("a")
        w.tensor(storageKey: "k", numel: 1, offset: 0, size: [1 << 24], stride: [0])
        w.op(0x71, 0x02)  // BINPUT 2
        w.string("b")
        w.op(0x68, 0x02)  // BINGET 2
        w.op(0x75)
        let aliased = legacyFile(state: w.stop(), storages: [("k", 1, floatBytes([1]))])
        #expect({ if case .badArchive(_, let r)? = loadError(bytes: aliased) { r.contains("more than 8 times") } else { false } }())

        // One memoized dict with a 4000-byte key under 1000 short keys: 4 MB of flattened names from ~20 KB.
        var n = PickleWriter()
        n.op(0x7d, 0x28)
        n.string("k0")
        n.op(0x7d, 0x71, 0x01)  // EMPTY_DICT, BINPUT 1
        n.string(String(repeating: "x", count: 4000))
        n.int(5)
        n.op(0x73)
        for i in 1..<1000 {
            n.string("k\(i)")
            n.op(0x68, 0x01)  // BINGET 1
        }
        n.op(0x75)
        let names = legacyFile(state: n.stop(), storages: [])
        #expect({ if case .badArchive(_, let r)? = loadError(bytes: names) { r.contains("key names") } else { false } }())
    }

    @Test func stateDictSelectionAndFlattening() throws {
        // {"epoch": 1, "model": {"enc": {"w": tensor}, "note": "x", 7: tensor}}
        var w = PickleWriter()
        w.op(0x7d, 0x28)
        w.string("epoch")
        w.int(1)
        w.string("model")
        w.op(0x7d, 0x28)
        w.string("enc")
        w.op(0x7d)
        w.string("w")
        w.tensor(storageKey: "k", numel: 2, offset: 0, size: [2], stride: [1])
        w.op(0x73)
        w.string("note")
        w.string("x")
        w.int(7)
        w.tensor(storageKey: "k", numel: 2, offset: 1, size: [], stride: [])
        w.op(0x75, 0x75)
        let file = legacyFile(state: w.stop(), storages: [("k", 2, floatBytes([4, 5]))])
        let checkpoint = try TorchCheckpoint(bytes: file)
        #expect(checkpoint.keys == ["enc.w", "7"])
        #expect(checkpoint.skippedKeys == ["note"])
        #expect(try checkpoint.tensor("7").toArray() == [5])

        // A dict that contains itself is reported, not followed forever.
        var c = PickleWriter()
        c.op(0x7d, 0x71, 0x00)
        c.string("me")
        c.op(0x68, 0x00, 0x73)
        let cyclic = legacyFile(state: c.stop(), storages: [])
        #expect({ if case .badArchive(_, let r)? = loadError(bytes: cyclic) { r.contains("contains itself") } else { false } }())

        // A top-level object that is not a dict.
        var l = PickleWriter()
        l.op(0x5d)
        #expect({ if case .badArchive(_, let r)? = loadError(bytes: legacyFile(state: l.stop(), storages: [])) { r.contains("list") } else { false } }())
    }
}
