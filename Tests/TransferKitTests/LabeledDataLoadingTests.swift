import Checkpoints
import Datasets
import Foundation
import TestSupport
import Testing
@testable import TransferKit
#if canImport(Glibc)
import Glibc
#endif

// LabeledData.load and Pretrained.readWeights on hostile data (issue 24): the right error for the right file, no
// silent fallback to another reading of the data. Every FIFO test is bounded by `boundedFIFOCall`.

/// `body`'s result, or nil with a recorded issue when it blocked on `fifo` (``TestSupport/runReleasingFIFO(_:seconds:_:)``).
private func boundedFIFOCall<T: Sendable>(fifo: String, seconds: Double = 10, _ body: @escaping @Sendable () -> T?) -> T? {
    guard case .finished(let v) = runReleasingFIFO(fifo, seconds: seconds, body) else {
        Issue.record("reading the FIFO \(fifo) blocked for \(seconds) s"); return nil
    }
    return v
}

/// A temporary folder for one test, removed by `cleanup()`.
private struct Workspace {
    let dir: String
    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-labeled-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { dir + "/" + name }
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = path(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
    @discardableResult
    func write(_ name: String, text: String) throws -> String { try write(name, Array(text.utf8)) }
    func mkdir(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: path(name), withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: dir) }
}

private func png() -> [UInt8] { PNGEncoder.encode(RGBImage(width: 2, height: 2, fill: (1, 2, 3))) }

/// The error `LabeledData.load` throws for `path`, or nil when it loads.
private func loadError(_ path: String, task: TaskKind? = nil) -> (any Error)? {
    do {
        _ = try LabeledData.load(path, task: task)
        return nil
    } catch {
        return error
    }
}

@Suite("LabeledData.load and Pretrained.readWeights on hostile data")
struct LabeledDataLoadingTests {
    @Test("an empty class folder of an image folder is reported under its own name")
    func emptyImageClassIsNamed() throws {
        let w = try Workspace()
        defer { w.cleanup() }
        try w.write("data/a/1.png", png())
        try w.write("data/c/1.png", png())
        try w.mkdir("data/b")
        let error = loadError(w.path("data")) as? DatasetError
        #expect(error == .emptyClass(path: w.path("data/b")))
    }

    @Test("an empty class folder of a text folder is reported under its own name")
    func emptyTextClassIsNamed() throws {
        let w = try Workspace()
        defer { w.cleanup() }
        try w.write("data/a/1.txt", text: "one")
        try w.write("data/b/1.txt", text: "two")
        try w.mkdir("data/c")
        #expect(loadError(w.path("data")) as? DatasetError == .emptyClass(path: w.path("data/c")))
    }

    @Test("a regression CSV with one nan label is refused naming the row, not read as classes")
    func nanInRegressionTableIsRefused() throws {
        let w = try Workspace()
        defer { w.cleanup() }
        let rows = ["0.5", "1.25", "2.75", "nan", "3.5", "4.25", "5.0", "6.5", "7.75"]
        let csv = try w.write("values.csv", text: "text,label\n" + rows.enumerated().map { "t\($0.offset),\($0.element)" }.joined(separator: "\n") + "\n")
        guard case .invalidLabel(let file, let line, let value, _)? = loadError(csv) as? DatasetError else {
            Issue.record("expected invalidLabel, got \(String(describing: loadError(csv)))")
            return
        }
        #expect(file == csv && line == 5 && value == "nan")
        // The same in an image manifest: the manifest's error, not "no column 'text'" from a second reading.
        let manifest = try w.write("images.csv", text: "path,label\na.png,0.5\nb.png,inf\nc.png,1.5\n")
        guard case .invalidLabel(manifest, 3, "inf", _)? = loadError(manifest) as? DatasetError else {
            Issue.record("expected invalidLabel for the manifest, got \(String(describing: loadError(manifest)))")
            return
        }
    }

    @Test("a single-class CSV is refused for classification, naming the class and the row count")
    func singleClassTableIsRefused() throws {
        let w = try Workspace()
        defer { w.cleanup() }
        let csv = try w.write("one.csv", text: "text,label\na,cat\nb,cat\nc,cat\n")
        let error = loadError(csv) as? DatasetError
        #expect(error == .singleClass(file: csv, label: "cat", count: 3))
        #expect(error?.description.contains("'cat'") == true && error?.description.contains("3 rows") == true)
        let manifest = try w.write("one-images.csv", text: "path,label\na.png,dog\n")
        #expect(loadError(manifest) as? DatasetError == .singleClass(file: manifest, label: "dog", count: 1))
        // Regression and two classes load.
        let two = try w.write("two.csv", text: "text,label\na,cat\nb,dog\n")
        #expect(try LabeledData.load(two).classNames == ["cat", "dog"])
    }

    @Test("a non-UTF-8 label is refused naming the row")
    func nonUTF8LabelIsRefused() throws {
        let w = try Workspace()
        defer { w.cleanup() }
        let csv = try w.write("t.csv", Array("text,label\na,cat\nb,dog\nc,d".utf8) + [0xF6, 0x67] + Array("\n".utf8))
        guard case .invalidLabel(csv, 4, "d\\xF6g", _)? = loadError(csv) as? DatasetError else {
            Issue.record("expected invalidLabel, got \(String(describing: loadError(csv)))")
            return
        }
    }

    @Test("an image whose name is not UTF-8 is reported as such, not as a missing file")
    func nonUTF8FileNameIsReported() throws {
        let w = try Workspace()
        defer { w.cleanup() }
        try w.write("data/a/1.png", png())
        try w.write("data/b/1.png", png())
        var raw = Array(w.path("data/b/").utf8) + [0x78, 0xFF, 0x2E, 0x70, 0x6E, 0x67]  // "x\xFF.png"
        raw.append(0)
        let fd = raw.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { open($0, O_WRONLY | O_CREAT, 0o644) }
        }
        try #require(fd >= 0)
        close(fd)
        let error = loadError(w.path("data")) as? DatasetError
        #expect(error == .invalidFileName(directory: w.path("data/b"), name: "x\\xFF.png"))
    }

    @Test("a FIFO given as data or weights is refused without blocking")
    func fifoDataAndWeightsAreRefused() throws {
        let w = try Workspace()
        defer { w.cleanup() }
        let fifo = w.path("data.csv")
        try makeFIFO(fifo)
        let data = boundedFIFOCall(fifo: fifo) { loadError(fifo).map { "\($0)" } }
        #expect(data?.contains("FIFO") == true, "\(String(describing: data))")
        let weights = boundedFIFOCall(fifo: fifo) { () -> String? in
            do {
                _ = try Pretrained.readWeights(fifo)
                return "read"
            } catch {
                return "\(error)"
            }
        }
        #expect(weights?.contains("FIFO") == true, "\(String(describing: weights))")
    }

    @Test("weights in a safetensors file whose header length has low byte 0x80 are read as safetensors")
    func safetensorsWithPickleLikeLengthIsRead() throws {
        let w = try Workspace()
        defer { w.cleanup() }
        var header = Array("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}".utf8)
        header += [UInt8](repeating: 0x20, count: 0x280 - header.count)
        let values: [Float] = [0.25, -4]
        let bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header + values.withUnsafeBytes { Array($0) }
        #expect(bytes[0] == 0x80)
        let path = try w.write("w.safetensors", bytes)
        #expect(try Pretrained.readWeights(path)["w"]?.toArray() == values)
    }
}
