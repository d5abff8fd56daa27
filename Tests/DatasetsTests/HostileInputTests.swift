import Datasets
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

// Hostile inputs to the dataset readers (issue 24): special files, oversized files, names and labels that are not
// UTF-8, non-finite numbers in a numeric label column. Every FIFO test is bounded by `boundedFIFOCall`.

/// `body`'s result, or nil with a recorded issue when it blocked on `fifo` (``TestSupport/runReleasingFIFO(_:seconds:_:)``).
private func boundedFIFOCall<T: Sendable>(fifo: String, seconds: Double = 10, _ body: @escaping @Sendable () -> T?) -> T? {
    guard case .finished(let v) = runReleasingFIFO(fifo, seconds: seconds, body) else {
        Issue.record("reading the FIFO \(fifo) blocked for \(seconds) s"); return nil
    }
    return v
}

/// Creates a file whose name is the raw bytes `name` inside `dir` (which must exist), holding `bytes`.
private func writeRawName(_ dir: String, _ name: [UInt8], _ bytes: [UInt8]) throws {
    var path = Array(dir.utf8) + [UInt8(ascii: "/")] + name
    path.append(0)
    let fd = path.withUnsafeBufferPointer { p in
        p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { open($0, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
    }
    guard fd >= 0 else { throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno)) }
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

private func tinyPNG() -> [UInt8] { PNGEncoder.encode(RGBImage(width: 2, height: 2, fill: (10, 20, 30))) }

@Suite("Hostile files: special files, size caps, non-UTF-8 names and labels, non-finite targets")
struct HostileDatasetInputTests {
    @Test("a FIFO named like an image is refused as a FIFO, without blocking")
    func fifoImageIsRefusedWithoutBlocking() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let fifo = s.path("x.png")
        try makeFIFO(fifo)
        let error = boundedFIFOCall(fifo: fifo) { datasetError { try ImageDecoder.decode(contentsOf: fifo) } }
        #expect(error == .notARegularFile(path: fifo, kind: "FIFO"))
        #expect(error?.description.contains(fifo) == true)
        #expect(error?.description.contains("FIFO") == true)
    }

    @Test("a FIFO inside a class folder is refused when the folder is listed, naming it")
    func fifoInClassFolderIsRefusedWhenListing() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        try s.write("data/a/1.png", tinyPNG())
        try s.write("data/b/1.png", tinyPNG())
        let fifo = s.path("data/b/x.png")
        try makeFIFO(fifo)
        let error = boundedFIFOCall(fifo: fifo) { datasetError { try ImageFolderDataset(root: s.path("data")) } }
        #expect(error == .notARegularFile(path: fifo, kind: "FIFO"))
    }

    @Test("a FIFO as a CSV manifest or a text file is refused without blocking")
    func fifoTableIsRefused() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let fifo = s.path("labels.csv")
        try makeFIFO(fifo)
        let manifest = boundedFIFOCall(fifo: fifo) { datasetError { try CSVManifestDataset(path: fifo) } }
        #expect(manifest == .notARegularFile(path: fifo, kind: "FIFO"))
        let table = boundedFIFOCall(fifo: fifo) { datasetError { try TextTableDataset(path: fifo) } }
        #expect(table == .notARegularFile(path: fifo, kind: "FIFO"))
    }

    @Test("/dev/zero is refused as a character device before anything is read")
    func deviceIsRefused() {
        #expect(datasetError { try ImageDecoder.decode(contentsOf: "/dev/zero") }
                == .notARegularFile(path: "/dev/zero", kind: "character device"))
    }

    @Test("an image file larger than maxFileBytes is refused from its size, before it is read")
    func oversizedImageFileIsRefused() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let small = try s.write("small.png", tinyPNG())
        let size = tinyPNG().count
        #expect(datasetError { try ImageDecoder.decode(contentsOf: small, options: DecodeOptions(maxFileBytes: size - 1)) }
                == .fileTooLarge(path: small, size: size, limit: size - 1))
        #expect(try ImageDecoder.decode(contentsOf: small, options: DecodeOptions(maxFileBytes: size)).width == 2)
        // A sparse 300 MiB file: the default 256 MiB cap refuses it from fstat, without reading it.
        let huge = try s.write("huge.png", Array(tinyPNG().prefix(8)))
        #expect(truncate(huge, 300 << 20) == 0)
        #expect(DecodeOptions.defaultMaxFileBytes == 256 << 20)
        #expect(datasetError { try ImageDecoder.decode(contentsOf: huge) }
                == .fileTooLarge(path: huge, size: 300 << 20, limit: 256 << 20))
    }

    @Test("an image name that is not UTF-8 is reported with its bytes escaped, not as a missing file")
    func nonUTF8FileNameIsReported() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        try s.write("data/a/1.png", tinyPNG())
        try s.write("data/b/1.png", tinyPNG())
        try writeRawName(s.path("data/b"), Array("caf".utf8) + [0xE9] + Array(".png".utf8), tinyPNG())
        let error = datasetError { try ImageFolderDataset(root: s.path("data")) }
        #expect(error == .invalidFileName(directory: s.path("data/b"), name: "caf\\xE9.png"))
        #expect(error?.description.contains("not valid UTF-8") == true)
        #expect(error?.description.contains("No such file") == false)
    }

    @Test("a non-UTF-8 name that is not an image file is ignored like any other non-image")
    func nonUTF8NonImageNameIsIgnored() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        try s.write("data/a/1.png", tinyPNG())
        try s.write("data/b/1.png", tinyPNG())
        try writeRawName(s.path("data/b"), Array("notes".utf8) + [0xFF] + Array(".txt".utf8), [0x41])
        #expect(try ImageFolderDataset(root: s.path("data")).count == 2)
    }

    @Test("a CSV label that is not UTF-8 is an error naming the row, not a new class")
    func nonUTF8LabelIsRefused() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let bytes = Array("text,label\nhello,cat\nbye,caf".utf8) + [0xE9] + Array("\nyo,cat\n".utf8)
        let csv = try s.write("t.csv", bytes)
        let error = datasetError { try TextTableDataset(path: csv) }
        guard case .invalidLabel(let file, let line, let value, let reason) = error else {
            Issue.record("expected invalidLabel, got \(String(describing: error))")
            return
        }
        #expect(file == csv && line == 3 && value == "caf\\xE9" && reason.contains("UTF-8"))
        let manifest = try s.write("m.csv", Array("path,label\na.png,cat\nb.png,d".utf8) + [0xF6, 0x67] + Array("\n".utf8))
        guard case .invalidLabel(manifest, 3, "d\\xF6g", _) = datasetError({ try CSVManifestDataset(path: manifest) }) else {
            Issue.record("a non-UTF-8 manifest label was accepted")
            return
        }
        // Invalid bytes in a text (not a label) still become U+FFFD, as in text folders.
        let texts = try s.write("x.csv", Array("text,label\nok,a\ncaf".utf8) + [0xE9] + Array(",b\n".utf8))
        #expect(try TextTableDataset(path: texts).texts == ["ok", "caf\u{FFFD}"])
    }

    @Test("a numeric label column with nan or inf is refused naming the rows, not read as classes")
    func nonFiniteNumericLabelsAreRefused() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let csv = try s.write("r.csv", text: "text,label\na,0.5\nb,1.25\nc,nan\nd,2.0\ne,-2.5\nf,0.75\ng,1\nh,3.5\ni,inf\n")
        let error = datasetError { try TextTableDataset(path: csv) }
        guard case .invalidLabel(let file, let line, let value, let reason) = error else {
            Issue.record("expected invalidLabel, got \(String(describing: error))")
            return
        }
        #expect(file == csv && line == 4 && value == "nan")
        #expect(reason.contains("4, 10"))
        for spelling in ["NaN", "-inf", "Infinity", "NA", "null"] {
            let f = try s.write("\(spelling).csv", text: "path,label\nx.png,0.5\ny.png,\(spelling)\nz.png,2\n")
            #expect(datasetError { try CSVManifestDataset(path: f) }?.description.contains(":3: label '\(spelling)'") == true,
                    "\(spelling)")
        }
        // Integers with a nan are refused too (a missing value, not a class "nan").
        let ints = try s.write("i.csv", text: "path,label\nx.png,1\ny.png,nan\n")
        guard case .invalidLabel(ints, 3, "nan", _) = datasetError({ try CSVManifestDataset(path: ints) }) else {
            Issue.record("integer labels with a nan were accepted")
            return
        }
        // Asked for explicitly, classification keeps "nan" as a class name; words stay classes.
        #expect(try CSVManifestDataset(path: ints, task: .classification).classNames == ["1", "nan"])
        let words = try s.write("w.csv", text: "path,label\nx.png,cat\ny.png,nan\n")
        #expect(try CSVManifestDataset(path: words).classNames == ["cat", "nan"])
    }
}
