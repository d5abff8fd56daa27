import Datasets
import Foundation
import Tensors

/// `loader_images_per_s`: the training input pipeline end to end — decode, resize (shorter side 256), random
/// resized crop 224, horizontal flip, ImageNet normalisation into `[32, 3, 224, 224]` batches — on 2 worker threads
/// over a folder of a few hundred photo-sized JPEG and PNG files, against torchvision's `DataLoader` with 2 worker
/// processes running the same transforms on the same files (`benchmarks/torchvision_loader.py`) when torchvision
/// can be imported. TransferKit epochs and torchvision runs alternate; each figure is a median over the rounds.
enum LoaderBench {
    /// Files in the generated folder (4 classes).
    static let imageCount = 320
    static let workers = 2
    static let batchSize = 32

    static func run(_ ctx: BenchContext) -> BenchResult {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("transferkit-loader-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let source: String
        do {
            source = try writeImages(to: root)
        } catch {
            ctx.note("loader_images_per_s: could not write the benchmark images: \(error)")
            return BenchResult(name: "loader_images_per_s", value: .nan, unit: "img/s", reference: nil, ratio: nil, target: nil)
        }
        let rounds = Swift.max(3, ctx.plan.repeats / 27)
        let pipeline = ImagePipeline(transforms: [ResizeShorter(256), RandomResizedCrop(224), RandomHorizontalFlip()],
                                     normalization: .imagenet)
        var fullDecode = pipeline
        fullDecode.decodeTarget = nil
        guard let ours = EpochTimer(root: root, pipeline: pipeline), let oursFull = EpochTimer(root: root, pipeline: fullDecode) else {
            ctx.note("loader_images_per_s: the benchmark image folder could not be listed")
            return BenchResult(name: "loader_images_per_s", value: .nan, unit: "img/s", reference: nil, ratio: nil, target: nil)
        }
        for _ in 0..<Swift.max(1, ctx.plan.warmup / 2) {
            _ = ours.timeEpoch()
            _ = oursFull.timeEpoch()
        }
        // Rounds alternate TransferKit and torchvision (one warm-up and one timed epoch per peer run), so a change of
        // load on the machine affects both alike.
        var rates: [Double] = [], fullRates: [Double] = [], peerRates: [Double] = []
        var peerFailure: String?
        var version = "?"
        for _ in 0..<rounds {
            rates.append(ours.timeEpoch())
            fullRates.append(oursFull.timeEpoch())
            guard peerFailure == nil else { continue }
            switch torchvisionPeer(root: root, epochs: 1) {
            case .success(let p):
                peerRates.append(p.imagesPerSecond)
                version = p.version
            case .failure(let reason):
                peerFailure = reason.description
            }
        }
        let value = median(rates)
        var note = "loader_images_per_s: \(imageCount) files (\(source), 3/4 JPEG q90, 1/4 PNG, 400–640 × 300–480 px, "
            + "4 class folders); decode → Resize(256) → RandomResizedCrop(224) → RandomHorizontalFlip → ImageNet "
            + "normalisation into [\(batchSize), 3, 224, 224] batches, \(workers) workers, prefetch 2 batches, shuffled; "
            + "median of \(rounds) epochs after warm-up. TransferKit decodes JPEGs with libjpeg's DCT scaling to the "
            + "smallest size ≥ 256 on the shorter side (DecodeOptions.target); with full-size decoding it reaches "
            + String(format: "%.0f", median(fullRates)) + " img/s."
        var reference: Double?
        if let peerFailure {
            note += " No torchvision reference: \(peerFailure)."
        } else {
            reference = median(peerRates)
            note += " Reference: torchvision \(version) DataLoader, \(workers) worker processes, the same transforms on "
                + "PIL images (full-size decode) and the same files, one warm-up and one timed epoch per run, runs "
                + "alternating with TransferKit's epochs; ratio = TransferKit / torchvision."
        }
        ctx.note(note)
        return BenchResult(name: "loader_images_per_s", value: value, unit: "img/s", reference: reference,
                           ratio: reference.map { value / $0 }, target: nil)
    }

    /// Times whole epochs of one loader over the benchmark folder.
    final class EpochTimer {
        let loader: DataLoader
        var epoch = 0

        init?(root: String, pipeline: ImagePipeline) {
            guard let dataset = try? ImageFolderDataset(root: root),
                  let loader = try? DataLoader(dataset: dataset, pipeline: pipeline,
                                               options: LoaderOptions(batchSize: LoaderBench.batchSize, seed: 1,
                                                                      workers: LoaderBench.workers, prefetchBatches: 2))
            else { return nil }
            self.loader = loader
        }

        /// Images per second of the next epoch (NaN when it fails).
        func timeEpoch() -> Double {
            let t0 = monotonicSeconds()
            var seen = 0
            let it = loader.epoch(epoch)
            epoch += 1
            do {
                while let batch = try it.next() { seen += batch.count }
            } catch {
                return .nan
            }
            return Double(seen) / (monotonicSeconds() - t0)
        }
    }

    struct Peer {
        let imagesPerSecond: Double
        let version: String
    }

    struct PeerUnavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `benchmarks/torchvision_loader.py` with `$TRANSFERKIT_PYTHON`, else `/root/tkvenv/bin/python` when it
    /// exists, else `python3`.
    static func torchvisionPeer(root: String, epochs: Int) -> Result<Peer, PeerUnavailable> {
        let env = ProcessInfo.processInfo.environment
        let python = env["TRANSFERKIT_PYTHON"]
            ?? (FileManager.default.isExecutableFile(atPath: "/root/tkvenv/bin/python") ? "/root/tkvenv/bin/python" : "python3")
        guard run(python, ["-c", "import torchvision"]).status == 0 else {
            return .failure(PeerUnavailable(description: "`\(python) -c 'import torchvision'` failed"))
        }
        guard let script = peerScript() else {
            return .failure(PeerUnavailable(description: "benchmarks/torchvision_loader.py not found"))
        }
        let r = run(python, [script, "--data", root, "--workers", String(workers), "--batch-size", String(batchSize),
                             "--epochs", String(epochs), "--warmup", "1"])
        guard r.status == 0,
              let line = r.stdout.split(separator: "\n").last,
              let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let rate = obj["images_per_s"] as? Double else {
            return .failure(PeerUnavailable(description: "the torchvision script failed: \(r.stderr.suffix(300))"))
        }
        return .success(Peer(imagesPerSecond: rate, version: obj["torchvision"] as? String ?? "?"))
    }

    /// The peer script: under the current directory (the repository root, where the bench is normally run), else
    /// next to this source file's package.
    static func peerScript() -> String? {
        let relative = "benchmarks/torchvision_loader.py"
        let here = FileManager.default.currentDirectoryPath + "/" + relative
        if FileManager.default.fileExists(atPath: here) { return here }
        let fromSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(relative).path
        return FileManager.default.fileExists(atPath: fromSource) ? fromSource : nil
    }

    static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [executable] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return (-1, "", "\(error)") }
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Writes the image folder; returns where the pictures came from.
    static func writeImages(to root: String) throws -> String {
        let classes = ["a", "b", "c", "d"]
        for c in classes { try FileManager.default.createDirectory(atPath: root + "/" + c, withIntermediateDirectories: true) }
        let fashion = try? FashionMNIST(split: .test)
        var g = SeededGenerator(seed: 2024)
        for i in 0..<imageCount {
            let w = 400 + g.nextInt(below: 241), h = 300 + g.nextInt(below: 181)
            let image = photo(width: w, height: h, base: fashion.map { $0.rgbImage(i) }, generator: &g)
            let path = "\(root)/\(classes[i % 4])/img\(String(format: "%04d", i))"
            if i % 4 == 3 {
                try PNGEncoder.write(image, to: path + ".png")
            } else {
                try JPEGEncoder.write(image, to: path + ".jpg", quality: 90)
            }
        }
        return fashion != nil ? "Fashion-MNIST images upscaled and tinted" : "synthetic gradients and shapes"
    }

    /// A photo-sized picture: `base` (a small greyscale image) upscaled and tinted over a coloured gradient, or
    /// procedural shapes, with mild noise so the files compress like photographs.
    static func photo(width w: Int, height h: Int, base: RGBImage?, generator g: inout SeededGenerator) -> RGBImage {
        let up = base?.resize(width: w, height: h, filter: .bicubic)
        let tint = (Float(80 + g.nextInt(below: 176)), Float(80 + g.nextInt(below: 176)), Float(80 + g.nextInt(below: 176)))
        let bg0 = (Float(g.nextInt(below: 120)), Float(g.nextInt(below: 120)), Float(g.nextInt(below: 120)))
        let cx = Float(g.nextInt(below: w)), cy = Float(g.nextInt(below: h)), radius = Float(60 + g.nextInt(below: 120))
        var px = [UInt8](repeating: 0, count: w * h * 3)
        var noise = g.next()
        for y in 0..<h {
            for x in 0..<w {
                let fx = Float(x) / Float(w), fy = Float(y) / Float(h)
                let v: Float
                if let up {
                    v = Float(up.pixels[(y * w + x) * 3]) / 255
                } else {
                    let dx = Float(x) - cx, dy = Float(y) - cy
                    v = (dx * dx + dy * dy).squareRoot() < radius ? 0.9 : 0.5 + 0.4 * sin(fx * 9 + fy * 5)
                }
                noise = noise &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let n = Float(Int(noise >> 59)) - 16
                let p = (y * w + x) * 3
                let background = (bg0.0 + 100 * fx, bg0.1 + 100 * fy, bg0.2 + 60 * (fx + fy))
                px[p] = UInt8(Swift.min(Swift.max(v * tint.0 + (1 - v) * background.0 + n, 0), 255))
                px[p + 1] = UInt8(Swift.min(Swift.max(v * tint.1 + (1 - v) * background.1 + n, 0), 255))
                px[p + 2] = UInt8(Swift.min(Swift.max(v * tint.2 + (1 - v) * background.2 + n, 0), 255))
            }
        }
        return RGBImage(width: w, height: h, pixels: px)
    }
}
