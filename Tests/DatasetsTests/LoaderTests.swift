import Datasets
import Foundation
import Tensors
import Testing

/// Counts calls from worker threads. Every access goes through `lock`, which is what makes sharing it sound.
private final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() {
        lock.lock()
        value += 1
        lock.unlock()
    }
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

/// An in-memory dataset of `count` constant 1×2×2 "images" (value = index), for scheduling tests.
private struct CountingDataset: Dataset {
    let samples: [Sample]
    var classNames: [String] { ["even", "odd"] }
    var task: TaskKind { .classification }
    init(count: Int) {
        samples = (0..<count).map { Sample(source: .index($0), target: .classIndex($0 % 2)) }
    }
    func load(_ index: Int) throws(DatasetError) -> Float { Float(index) }
}

/// A 16-bit-free JPEG whose SOF header claims `width × height` (the scan data is a tiny real image's).
func jpegClaiming(width: Int, height: Int) throws -> [UInt8] {
    var bytes = try JPEGEncoder.encode(syntheticImage(width: 16, height: 16))
    var i = 2
    while i + 9 < bytes.count {
        if bytes[i] == 0xFF && (bytes[i + 1] == 0xC0 || bytes[i + 1] == 0xC2) {
            bytes[i + 5] = UInt8(height >> 8); bytes[i + 6] = UInt8(height & 0xFF)
            bytes[i + 7] = UInt8(width >> 8); bytes[i + 8] = UInt8(width & 0xFF)
            return bytes
        }
        if bytes[i] == 0xFF && bytes[i + 1] != 0xD8 && bytes[i + 1] != 0x00 && bytes[i + 1] != 0xFF {
            i += 2 + (Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]))
        } else {
            i += 1
        }
    }
    throw DatasetError.corruptImage(path: "synthetic", reason: "no SOF marker")
}

/// `perClass` images in each of `classes` class folders: PNGs and JPEGs of varied sizes.
func makeImageFolder(_ s: Scratch, name: String = "data", classes: [String] = ["cat", "dog"], perClass: Int) throws -> String {
    for (c, cls) in classes.enumerated() {
        for i in 0..<perClass {
            let img = syntheticImage(width: 24 + 3 * i, height: 20 + 2 * ((i + c) % 4), seed: UInt64(100 * c + i))
            if i % 2 == 0 {
                try s.write("\(name)/\(cls)/img\(i).png", PNGEncoder.encode(img))
            } else {
                try s.write("\(name)/\(cls)/img\(i).jpg", JPEGEncoder.encode(img))
            }
        }
    }
    return s.path(name)
}

private func flatten(_ batches: [Batch]) -> (indices: [Int], data: [Float]) {
    (batches.flatMap(\.indices), batches.flatMap { $0.images.toArray() })
}

@Suite("DataLoader: order, determinism, bad files, bounded prefetch", .serialized)
struct LoaderTests {
    @Test("every sample once per epoch, seeded order that changes per epoch, targets follow the samples")
    func coverageAndOrder() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let ds = try ImageFolderDataset(root: try makeImageFolder(s, perClass: 11))
        let pipeline = ImagePipeline.training(.light, size: 16)
        let loader = try DataLoader(dataset: ds, pipeline: pipeline, options: LoaderOptions(batchSize: 4, seed: 5, workers: 2))
        #expect(loader.batchesPerEpoch == 6)
        var orders: [[Int]] = []
        for epoch in 0..<3 {
            let batches = try loader.batches(epoch: epoch)
            #expect(batches.map(\.count) == [4, 4, 4, 4, 4, 2])
            let seen = batches.flatMap(\.indices)
            #expect(seen.sorted() == Array(0..<22))
            #expect(seen == loader.order(epoch: epoch))
            for b in batches {
                #expect(b.images.shape == [b.count, 3, 16, 16])
                #expect(b.targets == b.indices.map { ds.samples[$0].target })
                #expect(b.classIndices == b.indices.map { $0 < 11 ? 0 : 1 })
            }
            orders.append(seen)
        }
        #expect(orders[0] != orders[1] && orders[1] != orders[2])
        #expect(orders[0] != Array(0..<22))
        let again = try DataLoader(dataset: ds, pipeline: pipeline, options: LoaderOptions(batchSize: 4, seed: 5, workers: 1))
        #expect(try again.batches(epoch: 1).flatMap(\.indices) == orders[1])
        let other = try DataLoader(dataset: ds, pipeline: pipeline, options: LoaderOptions(batchSize: 4, seed: 6, workers: 1))
        #expect(other.order(epoch: 0) != orders[0])
        let plain = try DataLoader(dataset: ds, pipeline: pipeline, options: LoaderOptions(batchSize: 5, shuffle: false, dropLast: true))
        let kept = try plain.batches(epoch: 0)
        #expect(kept.map(\.count) == [5, 5, 5, 5])
        #expect(kept.flatMap(\.indices) == Array(0..<20))
    }

    @Test("0, 1, 2 and 3 workers give identical batches")
    func workerCountDoesNotMatter() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let ds = try ImageFolderDataset(root: try makeImageFolder(s, perClass: 9))
        let pipeline = ImagePipeline.training(.strong, size: 20)
        var results: [(indices: [Int], data: [Float])] = []
        for (workers, prefetch) in [(0, 1), (1, 2), (2, 2), (3, 1)] {
            let loader = try DataLoader(dataset: ds, pipeline: pipeline,
                                        options: LoaderOptions(batchSize: 5, seed: 77, workers: workers, prefetchBatches: prefetch))
            results.append(flatten(try loader.batches(epoch: 3)))
        }
        for r in results.dropFirst() {
            #expect(r.indices == results[0].indices)
            #expect(r.data == results[0].data)
        }
        // Augmentation really happened: epochs differ in pixels, not only in order.
        let loader = try DataLoader(dataset: ds, pipeline: pipeline, options: LoaderOptions(batchSize: 18, shuffle: false, seed: 77, workers: 2))
        let e0 = try loader.batches(epoch: 0)[0].images.toArray(), e1 = try loader.batches(epoch: 1)[0].images.toArray()
        #expect(e0 != e1)
    }

    @Test("corrupt, truncated, non-image and huge files are skipped, counted and listed; batches stay full")
    func badFilesAreSkipped() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let root = try makeImageFolder(s, perClass: 4)
        let good = try JPEGEncoder.encode(syntheticImage(width: 30, height: 20))
        let truncated = try s.write("data/cat/truncated.jpg", Array(good.prefix(good.count / 2)))
        let text = try s.write("data/dog/notes.png", Array("not an image at all".utf8))
        let huge = try s.write("data/dog/huge.jpg", try jpegClaiming(width: 20000, height: 20000))
        let ds = try ImageFolderDataset(root: root)
        #expect(ds.count == 11)
        let loader = try DataLoader(dataset: ds, pipeline: ImagePipeline.evaluation(size: 16),
                                    options: LoaderOptions(batchSize: 3, seed: 1, workers: 2))
        for epoch in 0..<2 {
            let it = loader.epoch(epoch)
            var sizes: [Int] = []
            var seen: [Int] = []
            while let b = try it.next() {
                sizes.append(b.count)
                seen += b.indices
            }
            #expect(sizes == [3, 3, 2])
            #expect(it.skippedCount == 3)
            #expect(it.deliveredCount == 8)
            #expect(Set(seen).count == 8)
        }
        // Listed once each, with the reason.
        #expect(loader.skipped.count == 3)
        let byPath = Dictionary(uniqueKeysWithValues: loader.skipped.map { ($0.path, $0) })
        guard case .corruptImage = byPath[truncated]?.error else {
            Issue.record("truncated JPEG not reported as corrupt: \(loader.skipped)")
            return
        }
        #expect(byPath[text]?.error == .unsupportedImageFormat(path: text))
        #expect(byPath[huge]?.error == .imageTooLarge(path: huge, width: 20000, height: 20000, limit: DecodeOptions.defaultMaxPixels))
        #expect(byPath[huge]?.reason.contains("20000×20000") == true)
    }

    @Test("an epoch where every sample fails is a clear error")
    func everythingFails() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        try s.write("bad/a/1.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0])
        try s.write("bad/b/2.png", Array("text".utf8))
        let ds = try ImageFolderDataset(root: s.path("bad"))
        for workers in [0, 2] {
            let loader = try DataLoader(dataset: ds, pipeline: ImagePipeline.evaluation(size: 8),
                                        options: LoaderOptions(batchSize: 4, workers: workers))
            do {
                _ = try loader.batches(epoch: 0)
                Issue.record("expected noLoadableSamples")
            } catch {
                guard case .noLoadableSamples(let attempted, let failures) = error else {
                    Issue.record("unexpected \(error)")
                    continue
                }
                #expect(attempted == 2 && failures.count == 2)
                #expect(error.description.contains(s.path("bad/b/2.png")))
            }
        }
    }

    @Test("workers never run more than prefetchBatches × batchSize samples ahead of the consumer")
    func prefetchIsBounded() throws {
        let ds = CountingDataset(count: 100)
        let counter = CallCounter()
        let options = LoaderOptions(batchSize: 4, shuffle: false, workers: 2, prefetchBatches: 2)
        let loader = try DataLoader(dataset: ds, options: options) { (index: Int, _: inout SeededGenerator) throws(DatasetError) -> FloatImage in
            counter.increment()
            return FloatImage(channels: 1, width: 2, height: 2, data: [Float](repeating: try ds.load(index), count: 4))
        }
        let it = loader.epoch(0)
        #expect(it.prefetchLimit == 8)
        let first = try #require(try it.next())
        #expect(first.indices == [0, 1, 2, 3])
        #expect(first.images.toArray() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3])
        // The consumer has taken 4; the workers fill the window and stop there.
        let deadline = Date().addingTimeInterval(10)
        while counter.count < 12 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 0.2)
        #expect(counter.count == 4 + 8)
        #expect(it.peakPrefetched == 8)
        var total = 4
        while let b = try it.next() {
            total += b.count
            #expect(counter.count <= total + 8)
        }
        #expect(total == 100)
        #expect(it.peakPrefetched <= 8)
        // Abandoning an epoch half-way stops its workers; the next epoch runs normally.
        do {
            let partial = loader.epoch(1)
            _ = try partial.next()
        }
        #expect(try loader.batches(epoch: 2).count == 25)
    }

    @Test("a subset of indices, option errors, and reduced-size JPEG decoding")
    func subsetsOptionsAndReducedDecode() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let ds = try ImageFolderDataset(root: try makeImageFolder(s, perClass: 5))
        let loader = try DataLoader(dataset: ds, pipeline: .evaluation(size: 12), indices: [8, 1, 5],
                                    options: LoaderOptions(batchSize: 2, seed: 3))
        #expect(try loader.batches(epoch: 0).flatMap(\.indices).sorted() == [1, 5, 8])
        #expect(throws: LoaderError.invalidOptions("batch size 0 must be at least 1")) {
            try DataLoader(dataset: ds, pipeline: .evaluation(size: 12), options: LoaderOptions(batchSize: 0))
        }
        #expect(throws: LoaderError.invalidOptions("index 10 is outside the dataset's 0..<10")) {
            try DataLoader(dataset: ds, pipeline: .evaluation(size: 12), indices: [10], options: LoaderOptions(batchSize: 1))
        }
        // A 640×480 JPEG decoded for a shorter side of 100 comes out at libjpeg's 2/8 scale.
        let photo = try s.write("big/a/photo.jpg", try JPEGEncoder.encode(syntheticImage(width: 640, height: 480)))
        try s.write("big/b/photo.jpg", try JPEGEncoder.encode(syntheticImage(width: 64, height: 48)))
        let big = try ImageFolderDataset(root: s.path("big"))
        let index = try #require(big.samples.firstIndex { $0.source == .path(photo) })
        let reduced = try big.loadImage(index, target: .shorterSide(100))
        #expect(reduced.width == 160 && reduced.height == 120)
        #expect(try big.loadImage(index, target: nil).width == 640)
        let batch = try #require(try DataLoader(dataset: big, pipeline: .evaluation(size: 32, resize: 100),
                                                options: LoaderOptions(batchSize: 2)).batches(epoch: 0).first)
        #expect(batch.images.shape == [2, 3, 32, 32])
    }
}
