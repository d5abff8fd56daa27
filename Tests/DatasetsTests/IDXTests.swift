import Datasets
import Foundation
import Tensors
import Testing

/// Fashion-MNIST from the Debian package `dataset-fashion-mnist` (installed by `make setup`).
private let fashionDirectory = FashionMNIST.systemDirectory
private let fashionInstalled = FileManager.default.fileExists(atPath: fashionDirectory + "/t10k-images-idx3-ubyte.gz")

/// A gzip file (one stored, uncompressed deflate block) holding `payload`, with a correct CRC-32 and size trailer.
private func gzipStored(_ payload: [UInt8]) -> [UInt8] {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in payload {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
    }
    crc = ~crc
    precondition(payload.count < 65_536)
    let len = UInt16(payload.count)
    var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
    out += [0x01, UInt8(len & 0xFF), UInt8(len >> 8), UInt8(~len & 0xFF), UInt8(~len >> 8)]
    out += payload
    for v in [crc, UInt32(payload.count)] { out += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
    return out
}

private func idxBytes(type: UInt8, dims: [Int], data: [UInt8]) -> [UInt8] {
    var b: [UInt8] = [0, 0, type, UInt8(dims.count)]
    for d in dims { b += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
    return b + data
}

@Suite("IDX files and Fashion-MNIST")
struct IDXTests {
    @Test("the real Fashion-MNIST test set has 10,000 28×28 images, 1,000 per class, first label 9 (Ankle boot)")
    func fashionMNISTTestSet() throws {
        try #require(fashionInstalled, "Fashion-MNIST is not installed at \(fashionDirectory): run `make setup` (Debian package dataset-fashion-mnist)")
        let ds = try FashionMNIST(split: .test, directory: fashionDirectory)
        #expect(ds.count == 10_000)
        #expect(ds.pixels.count == 10_000 * 28 * 28)
        #expect(ds.labels.first == 9)
        #expect(ds.classNames[ds.labels[0]] == "Ankle boot")
        let summary = ds.summary()
        #expect(summary.classCounts == [Int](repeating: 1_000, count: 10))
        #expect(summary.imbalanceRatio == 1)
        let first = try ds.load(0)
        #expect(first.shape == [1, 28, 28])
        let values = first.toArray()
        #expect(values.allSatisfy { $0 >= 0 && $0 <= 1 } && values.contains { $0 > 0.5 })
        let all = ds.imagesTensor()
        #expect(all.shape == [10_000, 1, 28, 28])
        #expect(Array(all.toArray().prefix(784)) == values)
        // Raw IDX header of the label file.
        let labels = try IDX.read(path: fashionDirectory + "/t10k-labels-idx1-ubyte.gz")
        #expect(labels.elementType == .uint8 && labels.dimensions == [10_000])
        #expect(datasetError { try ds.load(10_000) } == .indexOutOfRange(index: 10_000, count: 10_000))
    }

    @Test("a missing Fashion-MNIST folder names the path and the fix")
    func missingFashionMNIST() {
        let error = datasetError { try FashionMNIST(split: .train, directory: "/nonexistent/fmnist") }
        guard case .datasetNotInstalled(let path, let fix) = error else {
            Issue.record("expected datasetNotInstalled, got \(String(describing: error))")
            return
        }
        #expect(path == "/nonexistent/fmnist/train-images-idx3-ubyte.gz")
        #expect(fix.contains("apt-get install dataset-fashion-mnist") && fix.contains("make setup"))
        #expect(error!.description.contains("/nonexistent/fmnist/train-images-idx3-ubyte.gz"))
    }

    @Test("plain and gzip IDX files read the same; every element type converts")
    func plainAndGzipAgree() throws {
        let plain = idxBytes(type: 0x0B, dims: [2, 3], data: [0, 1, 0xFF, 0xFF, 0x12, 0x34, 0x80, 0, 0, 0, 0x7F, 0xFF])
        let a = try IDX.parse(plain, path: "a.idx")
        let b = try IDX.parse(gzipStored(plain), path: "a.idx.gz")
        #expect(a == b)
        #expect(a.dimensions == [2, 3] && a.elementType == .int16)
        #expect(a.doubles() == [1, -1, 0x1234, -32768, 0, 32767])
        let f = try IDX.parse(idxBytes(type: 0x0D, dims: [1], data: [0x3F, 0xC0, 0, 0]), path: "f.idx")
        #expect(f.doubles() == [1.5])
        // Concatenated gzip members are one stream.
        let half1 = Array(plain.prefix(9)), half2 = Array(plain.dropFirst(9))
        #expect(try IDX.parse(gzipStored(half1) + gzipStored(half2), path: "multi.gz") == a)
    }

    @Test("bad magic, unknown types, short data and extra data are typed errors naming the file")
    func malformedIDXFiles() {
        func reason(_ bytes: [UInt8]) -> String? {
            if case .malformedIDX(let path, let reason) = datasetError({ try IDX.parse(bytes, path: "bad.idx") }) {
                #expect(path == "bad.idx")
                return reason
            }
            return nil
        }
        #expect(reason([1, 0, 8, 1, 0, 0, 0, 1, 0])?.contains("first two bytes") == true)
        #expect(reason([0, 0, 0x07, 1, 0, 0, 0, 1, 0])?.contains("element type 0x07") == true)
        #expect(reason([0, 0, 8, 0])?.contains("zero dimensions") == true)
        #expect(reason([0, 0, 8, 2, 0, 0, 0, 3])?.contains("2 dimensions") == true)
        #expect(reason(idxBytes(type: 8, dims: [4, 0], data: []))?.contains("dimension 1 is zero") == true)
        #expect(reason(idxBytes(type: 8, dims: [2, 2], data: [1, 2, 3]))?.contains("need 4 data bytes but the file has 3") == true)
        #expect(reason(idxBytes(type: 8, dims: [2, 2], data: [1, 2, 3, 4, 5]))?.contains("the file has 5") == true)
        #expect(reason([0, 0])?.contains("too short") == true)
        let gz = gzipStored(idxBytes(type: 8, dims: [3], data: [1, 2, 3]))
        #expect(reason(Array(gz.prefix(gz.count - 12)))?.contains("truncated") == true)
        var corrupt = gz
        corrupt[10] = 0x07  // an invalid deflate block type
        #expect(reason(corrupt)?.contains("gzip") == true)
    }

    @Test("a missing IDX file is unreadable, with the path")
    func missingIDX() {
        guard case .unreadable(let path, _) = datasetError({ try IDX.read(path: "/nonexistent/x.idx") }) else {
            Issue.record("expected unreadable")
            return
        }
        #expect(path == "/nonexistent/x.idx")
    }
}
