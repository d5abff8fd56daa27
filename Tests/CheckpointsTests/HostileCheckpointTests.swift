@testable import Checkpoints
import Foundation
import TestSupport
import Testing
import Tensors
#if canImport(Glibc)
import Glibc
#endif

// Hostile checkpoint files (issue 24): special files, format detection by structure, safetensors headers with
// duplicate keys, overlapping or unindexed data. Every FIFO test is bounded by `boundedFIFOCall`.

/// `body`'s result, or nil with a recorded issue when it blocked on `fifo` (``TestSupport/runReleasingFIFO(_:seconds:_:)``).
private func boundedFIFOCall<T: Sendable>(fifo: String, seconds: Double = 10, _ body: @escaping @Sendable () -> T?) -> T? {
    guard case .finished(let v) = runReleasingFIFO(fifo, seconds: seconds, body) else {
        Issue.record("reading the FIFO \(fifo) blocked for \(seconds) s"); return nil
    }
    return v
}

/// A fresh temporary directory, removed by `cleanup()`.
private struct Scratch {
    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { "\(dir)/\(name)" }
    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }
}

/// The bytes of a safetensors file with header text `header` padded with spaces to `length` bytes (or unpadded),
/// followed by `data`.
private func safetensorsBytes(header: String, paddedTo length: Int? = nil, data: [UInt8]) -> [UInt8] {
    var h = Array(header.utf8)
    if let length { h += [UInt8](repeating: 0x20, count: length - h.count) }
    return withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h + data
}

private func write(_ bytes: [UInt8], _ path: String) throws -> String {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

private func openError(_ path: String) -> CheckpointError? {
    do {
        _ = try SafeTensorsFile(path: path)
        return nil
    } catch {
        return error
    }
}

private func floats(_ values: [Float]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

private let f32x2 = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"

@Suite("Hostile checkpoints: special files, format detection, duplicate keys, overlapping data")
struct HostileCheckpointTests {
    @Test("a safetensors file whose header length has low byte 0x80 (and a pickle protocol byte next) is safetensors")
    func headerLengthWithLowByte0x80IsDetectedAsSafeTensors() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        // 0x280 = 640: the file starts 80 02, the opening of a protocol-2 pickle.
        let bytes = safetensorsBytes(header: "{\"w\":\(f32x2)[0,8]}}", paddedTo: 0x280, data: floats([1.5, -2]))
        #expect(bytes[0] == 0x80 && bytes[1] == 0x02)
        let path = try write(bytes, s.path("w.safetensors"))
        #expect(try CheckpointFormat.detect(path: path) == .safetensors)
        #expect(try CheckpointReader.tensors(path: path)["w"]?.toArray() == [1.5, -2])
        // Every low byte works, including 'P' (0x50) and 0x80 alone.
        for length in [0x180, 0x150, 0x1080] {
            let p = try write(safetensorsBytes(header: "{\"w\":\(f32x2)[0,8]}}", paddedTo: length, data: floats([3, 4])),
                              s.path("len\(length).safetensors"))
            #expect(try CheckpointFormat.detect(path: p) == .safetensors, "header length \(length)")
            #expect(try CheckpointReader.tensors(path: p)["w"]?.toArray() == [3, 4])
        }
    }

    @Test("torch zip and legacy fixtures are detected by their structure")
    func torchFixturesAreDetected() throws {
        func fixture(_ name: String) throws -> String {
            try #require(Bundle.module.path(forResource: name, ofType: nil, inDirectory: "Fixtures"))
        }
        #expect(try CheckpointFormat.detect(path: try fixture("torch_zip.pt")) == .pytorchZip)
        #expect(try CheckpointFormat.detect(path: try fixture("torch_zip64.pt")) == .pytorchZip)
        #expect(try CheckpointFormat.detect(path: try fixture("torch_proto5.pt")) == .pytorchZip)
        #expect(try CheckpointFormat.detect(path: try fixture("torch_legacy.pt")) == .pytorchLegacy)
        #expect(try CheckpointFormat.detect(path: try fixture("python_dtypes.safetensors")) == .safetensors)
        let legacy = try fixture("torch_legacy.pt")
        #expect(try CheckpointReader.tensors(path: legacy).keys.sorted() == TorchCheckpoint.load(path: legacy).keys.sorted())
        // The hostile legacy pickle still reaches the restricted unpickler, which refuses it.
        let hostile = try fixture("hostile_os_system.pt")
        guard case .disallowedGlobal(_, "os", "system") = Result(catching: { () throws(CheckpointError) in
            try CheckpointReader.tensors(path: hostile)
        }).failureValue else {
            Issue.record("the hostile legacy pickle was not refused by the restricted unpickler")
            return
        }
    }

    @Test("a FIFO is refused by every checkpoint reader without blocking")
    func fifoIsRefusedWithoutBlocking() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let fifo = s.path("model.safetensors")
        try makeFIFO(fifo)
        let expected = CheckpointError.notARegularFile(file: fifo, kind: "FIFO")
        let safetensors = boundedFIFOCall(fifo: fifo) { openError(fifo) }
        #expect(safetensors == expected)
        let torch = boundedFIFOCall(fifo: fifo) {
            Result { () throws(CheckpointError) in try TorchCheckpoint(path: fifo) }.failureValue
        }
        #expect(torch == expected)
        let detected = boundedFIFOCall(fifo: fifo) {
            Result { () throws(CheckpointError) in try CheckpointFormat.detect(path: fifo) }.failureValue
        }
        #expect(detected == expected)
        let zip = boundedFIFOCall(fifo: fifo) {
            Result { () throws(CheckpointError) in try ZipArchive(path: fifo) }.failureValue
        }
        #expect(zip == expected)
        #expect(expected.description.contains(fifo) && expected.description.contains("FIFO"))
    }

    @Test("a device and a directory are refused with their kind")
    func devicesAndDirectoriesAreRefused() throws {
        #expect(openError("/dev/zero") == .notARegularFile(file: "/dev/zero", kind: "character device"))
        let s = try Scratch()
        defer { s.cleanup() }
        #expect(openError(s.dir) == .notARegularFile(file: s.dir, kind: "directory"))
    }

    @Test("a key repeated in the header is refused, at the top level and inside an entry")
    func duplicateKeysAreRefused() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let data = floats([1, 2, 3, 4])
        let top = try write(safetensorsBytes(header: "{\"a\":\(f32x2)[0,8]},\"a\":\(f32x2)[8,16]}}", data: data), s.path("top"))
        #expect(openError(top) == .duplicateKey(file: top, key: "a"))
        // "\u0061" is "a" once decoded.
        let escaped = try write(safetensorsBytes(header: "{\"a\":\(f32x2)[0,8]},\"\\u0061\":\(f32x2)[8,16]}}", data: data), s.path("esc"))
        #expect(openError(escaped) == .duplicateKey(file: escaped, key: "a"))
        let inner = try write(safetensorsBytes(
            header: "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", data: data), s.path("inner"))
        #expect(openError(inner) == .duplicateKey(file: inner, key: "w.dtype"))
        let meta = try write(safetensorsBytes(
            header: "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"},\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", data: data),
            s.path("meta"))
        #expect(openError(meta) == .duplicateKey(file: meta, key: "__metadata__.k"))
        // Equal values under different keys, and equal keys in different objects, are fine.
        let fine = try write(safetensorsBytes(header: "{\"a\":\(f32x2)[0,8]},\"b\":\(f32x2)[8,16]}}", data: data), s.path("fine"))
        #expect(try SafeTensorsFile(path: fine).keys == ["a", "b"])
    }

    @Test("overlapping data offsets are refused naming both tensors")
    func overlappingOffsetsAreRefused() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let path = try write(safetensorsBytes(header: "{\"a\":\(f32x2)[0,8]},\"b\":\(f32x2)[4,12]}}", data: [UInt8](repeating: 0, count: 12)),
                             s.path("overlap"))
        let error = openError(path)
        #expect(error == .overlappingTensors(file: path, key: "b", begin: 4, end: 12, other: "a", otherBegin: 0, otherEnd: 8))
        #expect(error?.description.contains("'a'") == true && error?.description.contains("'b'") == true)
        let same = try write(safetensorsBytes(header: "{\"a\":\(f32x2)[0,8]},\"b\":\(f32x2)[0,8]}}", data: [UInt8](repeating: 0, count: 8)),
                             s.path("same"))
        #expect(openError(same) == .overlappingTensors(file: same, key: "b", begin: 0, end: 8, other: "a", otherBegin: 0, otherEnd: 8))
    }

    @Test("holes and trailing bytes in the data section are refused; empty tensors take no bytes")
    func unindexedDataIsRefused() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let hole = try write(safetensorsBytes(header: "{\"a\":\(f32x2)[0,8]},\"b\":\(f32x2)[12,20]}}", data: [UInt8](repeating: 0, count: 20)),
                             s.path("hole"))
        #expect(openError(hole) == .unindexedBytes(file: hole, begin: 8, end: 12))
        let tail = try write(safetensorsBytes(header: "{\"a\":\(f32x2)[0,8]}}", data: [UInt8](repeating: 0, count: 11)), s.path("tail"))
        #expect(openError(tail) == .unindexedBytes(file: tail, begin: 8, end: 11))
        let empty = try write(safetensorsBytes(
            header: "{\"a\":\(f32x2)[0,8]},\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", data: floats([5, 6])),
            s.path("empty"))
        #expect(try SafeTensorsFile(path: empty).tensor("a").toArray() == [5, 6])
    }

    @Test("the duplicate-key scanner survives hostile headers: deep nesting, bad escapes, random bytes")
    func keyScannerIsSafeOnHostileInput() {
        func scan(_ s: [UInt8]) -> String? { s.withUnsafeBytes { JSONKeyScanner.firstDuplicateKey($0) } }
        #expect(scan(Array(String(repeating: "[", count: 200_000).utf8)) == nil)
        #expect(scan(Array((String(repeating: "{\"a\":", count: 50_000) + "1" + String(repeating: "}", count: 50_000)).utf8)) == nil)
        #expect(scan(Array("{\"a\\".utf8)) == nil)
        #expect(scan(Array("{\"\\u12".utf8)) == nil)
        #expect(scan(Array("{\"\\ud800\":1,\"\\ud800\":2}".utf8)) == "\u{FFFD}")
        #expect(scan(Array("}}]]{\"a\":1}".utf8)) == nil)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let alphabet = Array("{}[]\",:\\u0aA1 ".utf8)
        for _ in 0..<2000 {
            var text: [UInt8] = []
            for _ in 0..<64 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                text.append(alphabet[Int(state >> 33) % alphabet.count])
            }
            _ = scan(text)
        }
    }
}

extension Result {
    /// The error, or nil on success.
    var failureValue: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
