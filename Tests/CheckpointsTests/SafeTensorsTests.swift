import Checkpoints
import Foundation
import Testing
import Tensors

/// A fresh temporary directory, removed by `cleanup()`.
private struct Scratch {
    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { "\(dir)/\(name)" }
    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }

    /// Writes a hand-made safetensors file: the declared header length (the real one unless given), the header text
    /// (padded with spaces to a multiple of 8 when `pad`), then `data`.
    func file(_ name: String, header: String, data: [UInt8] = [], declaredLength: UInt64? = nil,
              pad: Bool = true) throws -> String {
        var h = Array(header.utf8)
        if pad { h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8) }
        var bytes = withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { Array($0) }
        bytes += h + data
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
}

/// The error opening `path` throws, or nil when it opens.
private func openError(_ path: String) -> CheckpointError? {
    do {
        _ = try SafeTensorsFile(path: path)
        return nil
    } catch {
        return error
    }
}

private func fixture(_ name: String) throws -> String {
    try #require(Bundle.module.path(forResource: name, ofType: "safetensors", inDirectory: "Fixtures"),
                 "fixture Fixtures/\(name).safetensors is missing from the test bundle")
}

private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

private let f32x2 = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"

@Suite struct SafeTensorsTests {
    @Test func roundTripKeepsValuesShapesAndMetadata() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let path = scratch.path("model.safetensors")
        let matrix = Tensor(shape: [2, 3], data: [1, -2, 3.5, .infinity, -0.0, 1e-30])
        let tensors: [String: Tensor] = [
            "encoder.weight": matrix,
            "a/scalar": Tensor(scalar: 7.25),
            "empty": Tensor(shape: [0, 4], data: []),
            "transposed": matrix.transposed(0, 1),  // a strided view: written in logical (row-major) order
            "quote\"and\\slash\n": Tensor([42]),
        ]
        let metadata = ["format": "pt", "note": "quote \" backslash \\ newline \n tab \t", "unicode": "ümlaut ✓"]
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)

        let file = try SafeTensorsFile(path: path)
        #expect(file.keys == tensors.keys.sorted())
        #expect(file.metadata == metadata)
        for (key, t) in tensors {
            let info = try #require(file.info(key))
            #expect(info.dtype == .float32)
            #expect(info.shape == t.shape.dims, "shape of \(key)")
            let back = try file.tensor(key)
            #expect(back.shape == t.shape)
            #expect(bits(back.toArray()) == bits(t.toArray()), "values of \(key)")
        }
        #expect(try file.tensor("transposed").toArray() == [1, .infinity, -2, -0.0, 3.5, 1e-30])
        #expect(file.info("absent") == nil)

        // Layout as the reference writer makes it: header padded with spaces to a multiple of 8, data in key order.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = Int(bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
        #expect(n % 8 == 0)
        #expect(bytes.count == 8 + n + 4 * tensors.values.reduce(0) { $0 + $1.count })
        let header = try #require(String(data: bytes[8..<(8 + n)], encoding: .utf8))
        #expect(header.hasPrefix("{"))
        #expect(header.trimmingCharacters(in: .whitespaces).hasSuffix("}"))
        var lastBegin = -1
        for key in file.keys {
            let begin = try file.withRawBytes(key) { Int(bitPattern: $0.baseAddress) }
            #expect(begin >= lastBegin, "data of \(key) is laid out in key order")
            lastBegin = begin
        }
    }

    @Test func writerReplacesAnExistingFileAndLeavesNoTemporaryFiles() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let path = scratch.path("w.safetensors")
        try SafeTensorsWriter.write(["x": Tensor([1, 2, 3])], to: path)
        try SafeTensorsWriter.write(["y": Tensor([4])], to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(file.keys == ["y"])
        #expect(file.metadata.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.dir) == ["w.safetensors"])
    }

    @Test func writerRejectsTheReservedMetadataKeyAndUnwritablePaths() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let path = scratch.path("r.safetensors")
        do {
            try SafeTensorsWriter.write(["__metadata__": Tensor([1])], to: path)
            Issue.record("writing a tensor named __metadata__ succeeded")
        } catch {
            #expect(error == .badEntry(file: path, key: "__metadata__", reason: "the name is reserved for the metadata map"))
        }
        let missingDir = scratch.path("no/such/dir/x.safetensors")
        do {
            try SafeTensorsWriter.write(["x": Tensor([1])], to: missingDir)
            Issue.record("writing into a missing directory succeeded")
        } catch {
            guard case .io(let file, _) = error else { Issue.record("expected .io, got \(error)"); return }
            #expect(file == missingDir)
        }
    }

    @Test func readsAFileWrittenByPythonSafetensors() throws {
        let path = try fixture("python_dtypes")
        let file = try SafeTensorsFile(path: path)
        #expect(file.keys == ["bf16", "bf16_as_f32", "bool", "empty", "f16", "f16_as_f32", "f32", "i32", "i64", "scalar", "u8"])
        #expect(file.metadata == ["format": "pt"])

        #expect(file.info("f32")?.dtype == .float32)
        #expect(file.info("f16")?.dtype == .float16)
        #expect(file.info("bf16")?.dtype == .bfloat16)
        #expect(file.info("i64")?.dtype == .int64)
        #expect(file.info("i32")?.dtype == .int32)
        #expect(file.info("u8")?.dtype == .uint8)
        #expect(file.info("bool")?.dtype == .bool)

        let f32 = try file.tensor("f32")
        #expect(f32.shape == [2, 3])
        #expect(f32.toArray() == [-1, -0.5, 0, 0.5, 1, 1.5])

        // Half precision widens exactly as torch does (incl. 65504, a subnormal, -0 and infinities).
        for name in ["f16", "bf16"] {
            let half = try file.tensor(name)
            let reference = try file.tensor("\(name)_as_f32")
            #expect(half.shape == [2, 4])
            #expect(bits(half.toArray()) == bits(reference.toArray()), "\(name) decoded like torch")
        }
        #expect(try file.tensor("f16").toArray()[4] == 65504)
        #expect(try file.tensor("bf16").toArray()[7] == -.infinity)

        #expect(try file.int64s("i64") == [-100, 0, 7, 1_099_511_627_779])
        #expect(try file.tensor("i64").toArray() == [-100, 0, 7, Float(1_099_511_627_779 as Int64)])  // rounds
        #expect(try file.int64s("i32") == [-5, 6, 2_147_483_647, -2_147_483_648])
        #expect(try file.tensor("i32").shape == [2, 2])
        #expect(try file.int64s("u8") == [0, 1, 200, 255])
        #expect(try file.tensor("u8").toArray() == [0, 1, 200, 255])
        #expect(try file.int64s("bool") == [1, 0, 1])

        let scalar = try file.tensor("scalar")
        #expect(scalar.shape == Shape([]))
        #expect(scalar.item() == 3.25)
        let empty = try file.tensor("empty")
        #expect(empty.shape == [0, 3])
        #expect(empty.count == 0)

        #expect(try file.withRawBytes("u8") { Array($0) } == [0, 1, 200, 255])
        #expect(try file.tensors().count == file.keys.count)
    }

    @Test func integerAccessToAFloatTensorThrowsDTypeMismatch() throws {
        let path = try fixture("python_dtypes")
        let file = try SafeTensorsFile(path: path)
        do {
            _ = try file.int64s("f16")
            Issue.record("int64s of an F16 tensor succeeded")
        } catch {
            guard case .dtypeMismatch(let f, let key, _, let actual) = error else { Issue.record("got \(error)"); return }
            #expect(f == path && key == "f16" && actual == "F16")
            #expect(error.description.contains(path) && error.description.contains("'f16'"))
        }
    }

    @Test func missingKeyThrowsMissingKeyNamingFileAndKey() throws {
        let path = try fixture("python_dtypes")
        let file = try SafeTensorsFile(path: path)
        do {
            _ = try file.tensor("classifier.weight")
            Issue.record("reading an absent tensor succeeded")
        } catch {
            #expect(error == .missingKey(file: path, key: "classifier.weight"))
            #expect(error.description.contains(path) && error.description.contains("classifier.weight"))
        }
    }

    @Test func truncatedFileThrowsTruncated() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let path = scratch.path("cut.safetensors")
        try SafeTensorsWriter.write(["a": Tensor([1, 2]), "b": Tensor([3, 4, 5])], to: path)
        let full = try Data(contentsOf: URL(fileURLWithPath: path))
        try full.prefix(full.count - 4).write(to: URL(fileURLWithPath: path))
        let error = try #require(openError(path))
        #expect(error == .truncated(file: path, expected: full.count, actual: full.count - 4))
        #expect(error.description.contains(path))

        let tiny = scratch.path("tiny.safetensors")
        try Data([1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: tiny))
        #expect(openError(tiny) == .truncated(file: tiny, expected: 8, actual: 5))
        let empty = scratch.path("empty.safetensors")
        try Data().write(to: URL(fileURLWithPath: empty))
        #expect(openError(empty) == .truncated(file: empty, expected: 8, actual: 0))
    }

    @Test func headerLengthBeyondTheFileThrowsTruncated() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let path = try scratch.file("long.safetensors", header: "{}", declaredLength: 1000)
        let error = try #require(openError(path))
        #expect(error == .truncated(file: path, expected: 1008, actual: 16))
        #expect(error.description.contains(path))

        let huge = try scratch.file("huge.safetensors", header: "{}", declaredLength: UInt64.max)
        guard case .badHeader(let file, let reason) = try #require(openError(huge)) else {
            Issue.record("a header length of 2^64-1 did not throw badHeader")
            return
        }
        #expect(file == huge && reason.contains("limit"))
    }

    @Test func offsetsOutOfBoundsThrowNamingFileAndKey() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let data = [UInt8](repeating: 0, count: 16)
        let path = try scratch.file("oob.safetensors",
                                header: "{\"a\":\(f32x2)[0,8]},\"b\":\(f32x2)[100,108]}}", data: data)
        let error = try #require(openError(path))
        #expect(error == .offsetsOutOfBounds(file: path, key: "b", begin: 100, end: 108, dataSize: 16))
        #expect(error.description.contains(path) && error.description.contains("'b'"))

        let reversed = try scratch.file("rev.safetensors", header: "{\"r\":\(f32x2)[8,0]}}", data: data)
        #expect(openError(reversed) == .offsetsOutOfBounds(file: reversed, key: "r", begin: 8, end: 0, dataSize: 16))
    }

    @Test func badJSONThrowsBadHeaderNamingTheFile() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        for (name, header) in [("syntax", "{\"a\": {\"dtype\": "), ("array", "[1, 2, 3]"), ("garbage", "\u{1}\u{2}nope")] {
            let path = try scratch.file("\(name).safetensors", header: header)
            guard case .badHeader(let file, _) = try #require(openError(path)) else {
                Issue.record("\(name): expected badHeader, got \(String(describing: openError(path)))")
                continue
            }
            #expect(file == path)
            #expect(openError(path)!.description.contains(path))
        }
        let meta = try scratch.file("meta.safetensors", header: "{\"__metadata__\":{\"epoch\":3}}")
        #expect(openError(meta) == .badHeader(file: meta, reason: "__metadata__ must be an object whose values are strings"))
    }

    @Test func malformedEntryThrowsBadEntryNamingTheKey() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let missing = try scratch.file("missing.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", data: [UInt8](repeating: 0, count: 8))
        #expect(openError(missing) == .badEntry(file: missing, key: "w", reason: "missing field 'data_offsets'"))
        let typed = try scratch.file("typed.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}",
                                 data: [UInt8](repeating: 0, count: 8))
        let error = try #require(openError(typed))
        guard case .badEntry(let file, let key, let reason) = error else { Issue.record("got \(error)"); return }
        #expect(file == typed && key == "w" && reason.contains("shape"))
        #expect(error.description.contains(typed) && error.description.contains("'w'"))
        let negative = try scratch.file("neg.safetensors", header: "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
                                    data: [UInt8](repeating: 0, count: 8))
        guard case .badEntry(_, "w", _) = try #require(openError(negative)) else { Issue.record("negative shape accepted"); return }
    }

    @Test func unknownDTypeThrowsUnsupportedDTypeNamingTheKey() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let path = try scratch.file("f64.safetensors", header: "{\"layer.bias\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
                                data: [UInt8](repeating: 0, count: 8))
        let error = try #require(openError(path))
        #expect(error == .unsupportedDType(file: path, key: "layer.bias", dtype: "F64"))
        #expect(error.description.contains(path) && error.description.contains("layer.bias") && error.description.contains("F64"))
    }

    @Test func byteCountDisagreeingWithShapeThrowsShapeMismatch() throws {
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let path = try scratch.file("shape.safetensors", header: "{\"w\":{\"dtype\":\"F16\",\"shape\":[3,2],\"data_offsets\":[0,8]}}",
                                data: [UInt8](repeating: 0, count: 8))
        let error = try #require(openError(path))
        #expect(error == .shapeMismatch(file: path, key: "w", shape: [3, 2], byteCount: 8))
        #expect(error.description.contains(path) && error.description.contains("'w'"))
    }

    @Test func unreadablePathThrowsIO() throws {
        let path = "/nonexistent-dir/model.safetensors"
        guard case .io(let file, let message) = try #require(openError(path)) else {
            Issue.record("expected .io")
            return
        }
        #expect(file == path && message.contains("cannot open"))
    }

    @Test func unpaddedHeaderAndUnalignedHalfDataAreRead() throws {
        // Other writers need not pad: a 1-byte offset of the data section leaves F16 values unaligned.
        let scratch = try Scratch()
        defer { scratch.cleanup() }
        let header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}"
        let padded = header.utf8.count % 2 == 0 ? header + " " : header
        let path = try scratch.file("odd.safetensors", header: padded, data: [0x00, 0x3C, 0x00, 0xC0], pad: false)
        #expect(padded.utf8.count % 2 == 1)
        #expect(try SafeTensorsFile(path: path).tensor("h").toArray() == [1, -2])
    }
}
