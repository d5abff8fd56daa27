import ArgumentParser
import Datasets
import Tensors
import Foundation

/// `transfer augment-preview --data DIR --out grid.png`: a PNG grid showing what a training augmentation policy does
/// to the user's own images — one row per image, the original (resized and centre-cropped) first, then augmented
/// versions as the data loader would produce them in successive epochs.
struct AugmentPreviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment-preview",
        abstract: "Write a PNG grid of augmented samples of your images, to see what augmentation does.",
        discussion: """
            Each row is one image: the original (shorter side resized to --size, centre-cropped) in the first \
            column, then --variants augmented versions: column k is what the training data loader gives that image \
            in epoch k − 1 with the same --seed. Augmented tiles are shown as the model sees them, after \
            normalisation (random erasing shows as the mean colour). Images are picked round-robin over the \
            classes. Unreadable images are skipped and listed.
            """)

    @Option(name: .long, help: "An image folder (one sub-folder per class) or a CSV manifest with path,label columns.")
    var data: String

    @Option(name: .long, help: "Where to write the PNG grid.")
    var out: String

    @Option(name: .long, help: "Augmentation policy.")
    var policy: AugmentationPolicy = .light

    @Option(name: .long, help: "Number of images (rows), 1…256.")
    var count: Int = 16

    @Option(name: .long, help: "Augmented versions per image (columns after the original), 0…32.")
    var variants: Int = 5

    @Option(name: .long, help: "Side of each tile in pixels (the training crop size), 16…1024; the grid may have at most 64 megapixels.")
    var size: Int = 160

    @Option(name: .long, help: "Seed for the image choice and the augmentations, 0…18446744073709551615.")
    var seed: UInt64 = 0

    /// Pixels between tiles and around the grid.
    static let gap = 4
    /// The grid's background colour.
    static let background: (r: UInt8, g: UInt8, b: UInt8) = (24, 24, 24)

    /// Rows a grid may have.
    static let countRange = 1...256
    /// Augmented columns a grid may have.
    static let variantsRange = 0...32
    /// Tile sides in pixels.
    static let sizeRange = 16...1024
    /// The most pixels a grid may have (64 megapixels, 192 MB of RGB).
    static let maxGridPixels = 64 << 20

    func validate() throws {
        try requireWhole("--count", count, in: Self.countRange)
        try requireWhole("--variants", variants, in: Self.variantsRange)
        try requireWhole("--size", size, in: Self.sizeRange)
        let width = (variants + 1) * size + (variants + 2) * Self.gap, height = count * size + (count + 1) * Self.gap
        guard width * height <= Self.maxGridPixels else {
            throw ValidationError("--count \(count) --variants \(variants) --size \(size) make a \(width)×\(height) grid; at most "
                + "\(Self.maxGridPixels >> 20) megapixels: lower one of them")
        }
        guard !data.isEmpty else { throw ValidationError("--data must be a folder or a CSV (received an empty string)") }
        guard !out.isEmpty else { throw ValidationError("--out must be a file path (received an empty string)") }
    }

    func run() throws {
        let pipeline = ImagePipeline.training(policy, size: size)
        let dataset: any ImageSource
        do {
            dataset = data.lowercased().hasSuffix(".csv") || data.lowercased().hasSuffix(".tsv")
                ? try CSVManifestDataset(path: data) : try ImageFolderDataset(root: data)
        } catch {
            printErr("error: \(error.description)")
            throw ExitCode.failure
        }
        var rows: [[RGBImage]] = []
        var skipped: [(String, String)] = []
        for index in Self.pickOrder(dataset.samples, classCount: dataset.classNames.count, seed: seed) {
            if rows.count == count { break }
            let image: RGBImage
            do {
                image = try dataset.loadImage(index, target: pipeline.decodeTarget)
            } catch {
                skipped.append((dataset.samples[index].source.description, error.description))
                continue
            }
            var row = [image.resizeShorter(to: size).centerCrop(size: size)]
            for v in 0..<variants {
                row.append(pipeline.normalization.denormalized(pipeline.apply(image, seed: seed, epoch: v, index: index)))
            }
            rows.append(row)
        }
        for (path, reason) in skipped { printErr("skipped \(path): \(reason)") }
        guard !rows.isEmpty else {
            printErr("error: none of the \(dataset.count) images in \(data) could be read")
            throw ExitCode.failure
        }
        let grid = Self.grid(rows, tile: size)
        do {
            try PNGEncoder.write(grid, to: out)
        } catch {
            printErr("error: \(error.description)")
            throw ExitCode.failure
        }
        print("wrote \(out) (\(grid.width)×\(grid.height)): \(rows.count) image\(rows.count == 1 ? "" : "s") × "
              + "(original + \(variants) augmented), policy \(policy.rawValue), seed \(seed)")
        print("pipeline: \(pipeline)")
        if !skipped.isEmpty { print("skipped \(skipped.count) unreadable image\(skipped.count == 1 ? "" : "s") (listed on stderr)") }
    }

    /// Sample indices in the order images are tried: classes in turn (each class's samples in a seeded order), so
    /// the first rows cover every class; samples without a single class come last, in a seeded order.
    static func pickOrder(_ samples: [Sample], classCount: Int, seed: UInt64) -> [Int] {
        var perClass = [[Int]](repeating: [], count: classCount)
        var others: [Int] = []
        for (i, s) in samples.enumerated() {
            if case .classIndex(let c) = s.target, c >= 0 && c < classCount { perClass[c].append(i) } else { others.append(i) }
        }
        var g = SeededGenerator.forEpoch(seed: seed, epoch: 0, stream: 0x5052_4556)  // "PREV"
        perClass = perClass.map { list in g.permutation(list.count).map { list[$0] } }
        others = g.permutation(others.count).map { others[$0] }
        var order: [Int] = []
        var k = 0
        while order.count < samples.count - others.count {
            for list in perClass where k < list.count { order.append(list[k]) }
            k += 1
        }
        return order + others
    }

    /// Rows of equal-sized square tiles laid out with ``gap`` pixels between and around them.
    static func grid(_ rows: [[RGBImage]], tile: Int) -> RGBImage {
        let columns = rows.map(\.count).max() ?? 1
        let width = columns * tile + (columns + 1) * gap
        let height = rows.count * tile + (rows.count + 1) * gap
        var canvas = RGBImage(width: width, height: height, fill: background)
        for (r, row) in rows.enumerated() {
            for (c, image) in row.enumerated() {
                let x0 = gap + c * (tile + gap), y0 = gap + r * (tile + gap)
                for y in 0..<Swift.min(tile, image.height) {
                    let src = y * image.width * 3, dst = ((y0 + y) * width + x0) * 3
                    let n = Swift.min(tile, image.width) * 3
                    canvas.pixels.replaceSubrange(dst..<(dst + n), with: image.pixels[src..<(src + n)])
                }
            }
        }
        return canvas
    }
}
