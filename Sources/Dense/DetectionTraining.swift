import Datasets
import Foundation
import Optimizers
import Tensors

/// How a ``DetectionModel`` trains and predicts.
public struct DetectionOptions: Sendable, Equatable {
    /// Side of the square training crops and prediction tiles, a multiple of 32.
    public var tile = 256
    /// Pixels shared by neighbouring prediction tiles.
    public var overlap = 64
    public var epochs = 20
    public var batchSize = 8
    public var learningRate: Float = 1e-3
    public var encoderLearningRate: Float = 1e-4
    public var freezeEncoder = false
    /// IoU above which NMS merges boxes of neighbouring tiles.
    public var nmsThreshold: Float = 0.3
    /// Detections kept per tile (CenterNet's top-k).
    public var maxPerTile = 200
    public var minScore: Float = 0.05
    /// Training crops per epoch, half shared equally between the images and half in proportion to their areas
    /// (every image gets at least one); nil: about `area / tile²` per image (one pass over the pixels).
    public var cropsPerEpoch: Int?
    public var seed: UInt64 = 0
    /// Colour and scale jitter of the training crops (off by default).
    public var augmentation = DetectionAugmentation.none

    public init() {}

    public func validate() throws(DenseError) {
        guard tile >= 32 && tile <= 2048 && tile % 32 == 0 else { throw .invalidOption(name: "--tile", value: "\(tile)", accepted: "a multiple of 32 in 32…2048") }
        guard overlap >= 0 && overlap < tile else {
            throw .invalidOption(name: "--overlap", value: "\(overlap)", accepted: "0…\(tile - 1) (below --tile \(tile))")
        }
        guard (1...100_000).contains(epochs) else { throw .invalidOption(name: "--epochs", value: "\(epochs)", accepted: "1…100000") }
        guard (1...4096).contains(batchSize) else { throw .invalidOption(name: "--batch-size", value: "\(batchSize)", accepted: "1…4096") }
        guard learningRate > 0 && learningRate <= 10 else { throw .invalidOption(name: "--lr", value: "\(learningRate)", accepted: "(0, 10]") }
        guard nmsThreshold > 0 && nmsThreshold <= 1 else { throw .invalidOption(name: "--nms", value: "\(nmsThreshold)", accepted: "(0, 1]") }
        if let c = cropsPerEpoch, !(1...100_000).contains(c) {
            throw .invalidOption(name: "--crops-per-epoch", value: "\(c)", accepted: "1…100000")
        }
        try augmentation.validate()
    }
}

public enum DetectionTraining {
    /// `[B, 3, t, t]` of `images`, normalised.
    static func tensor(_ images: [RGBImage], normalization: Normalization) -> Tensor {
        Tensor.stack(images.map { normalization.tensor($0) })
    }

    /// Random training crops of one epoch: per image, about `area / tile²` crops (at least one); or, with `total`,
    /// half of `total` shared equally between the images and the other half by area (largest remainder), so that a
    /// small photograph beside a large one still gets `total / (2·images)` crops (at least one) every epoch. Each
    /// crop lies at a random place and is flipped horizontally and/or vertically at random (aerial views have no up).
    /// With `augmentation`, each crop is first cut from a window rescaled to `tile`
    /// (``scaledCrop(_:_:x:y:window:tile:)``) and, after the flips, recoloured with draws from `colors` (a stream
    /// of its own, so colour jitter leaves every crop's place, flips and boxes as they are without it).
    static func crops(_ samples: [DetectionSample], tile: Int, total: Int?, augmentation: DetectionAugmentation = .none,
                      generator g: inout SeededGenerator, colors: inout SeededGenerator) -> [(RGBImage, [DetectionBox])] {
        var out: [(RGBImage, [DetectionBox])] = []
        let counts = cropCounts(areas: samples.map { Double($0.image.width * $0.image.height) }, tile: tile, total: total)
        for (s, count) in zip(samples, counts) {
            for _ in 0..<count {
                let w = augmentation.window(tile: tile, generator: &g)
                let x = g.nextInt(below: Swift.max(1, s.image.width - w + 1)), y = g.nextInt(below: Swift.max(1, s.image.height - w + 1))
                var (image, boxes) = scaledCrop(s.image, s.boxes, x: x, y: y, window: w, tile: tile)
                if g.nextDouble() < 0.5 { (image, boxes) = flip(image, boxes, horizontal: true) }
                if g.nextDouble() < 0.5 { (image, boxes) = flip(image, boxes, horizontal: false) }
                out.append((augmentation.recolor(image, generator: &colors), boxes))
            }
        }
        return out
    }

    /// Crops per image for one epoch (see ``crops(_:tile:total:generator:)``); sums to `max(total, images)`.
    static func cropCounts(areas: [Double], tile: Int, total: Int?) -> [Int] {
        guard let total else { return areas.map { Swift.max(1, Int(($0 / Double(tile * tile)).rounded())) } }
        let minimum = Swift.max(1, total / (2 * Swift.max(1, areas.count)))
        let shared = Swift.max(0, total - minimum * areas.count)
        let all = areas.reduce(0, +)
        let exact = areas.map { Double(shared) * $0 / Swift.max(all, 1) }
        var counts = exact.map { Int($0) }
        let rest = shared - counts.reduce(0, +)
        let order = areas.indices.sorted { exact[$0] - Double(counts[$0]) > exact[$1] - Double(counts[$1]) }
        for i in order.prefix(rest) { counts[i] += 1 }
        return counts.map { $0 + minimum }
    }

    static func flip(_ image: RGBImage, _ boxes: [DetectionBox], horizontal: Bool) -> (RGBImage, [DetectionBox]) {
        let w = image.width, h = image.height
        var out = image
        for y in 0..<h {
            for x in 0..<w {
                let (sx, sy) = horizontal ? (w - 1 - x, y) : (x, h - 1 - y)
                for c in 0..<3 { out.pixels[(y * w + x) * 3 + c] = image.pixels[(sy * w + sx) * 3 + c] }
            }
        }
        let fw = Float(w), fh = Float(h)
        let flipped = boxes.map { b in
            horizontal ? DetectionBox(x0: fw - b.x1, y0: b.y0, x1: fw - b.x0, y1: b.y1, label: b.label, score: b.score)
                : DetectionBox(x0: b.x0, y0: fh - b.y1, x1: b.x1, y1: fh - b.y0, label: b.label, score: b.score)
        }
        return (out, flipped)
    }

    /// Trains a fresh model with Adam on random crops; returns the mean loss of each epoch. The size and offset
    /// branches first start at the training boxes' mean log size and at 0.5
    /// (``CenterNetHead/setRegressionPrior(logWidth:logHeight:)``).
    @discardableResult
    public static func train(_ model: DetectionModel, on samples: [DetectionSample], options: DetectionOptions, normalization: Normalization,
                             progress: (Int, Double) -> Void = { _, _ in }) throws(DenseError) -> [Double] {
        try options.validate()
        for s in samples {
            if let b = s.boxes.first(where: { $0.label < 0 || $0.label >= model.classes }) {
                throw .invalidOption(name: "--boxes", value: "label \(b.label) in \(s.name)", accepted: "labels 0..<\(model.classes) (the model's classes)")
            }
        }
        let boxes = samples.flatMap(\.boxes).filter { $0.width > 0 && $0.height > 0 }
        if !boxes.isEmpty {
            let s = Float(CenterNetTargets.stride), n = Float(boxes.count)
            model.head.setRegressionPrior(logWidth: boxes.reduce(0) { $0 + Foundation.log($1.width / s) } / n,
                                          logHeight: boxes.reduce(0) { $0 + Foundation.log($1.height / s) } / n)
        }
        model.setEncoderFrozen(options.freezeEncoder)
        let named = model.trainableParameters()
        let encoder = named.filter { $0.0.hasPrefix("encoder.") }.map { (name: $0.0, tensor: $0.1) }
        let rest = named.filter { !$0.0.hasPrefix("encoder.") }.map { (name: $0.0, tensor: $0.1) }
        var groups = [ParameterGroup(name: "head", parameters: rest, learningRate: options.learningRate)]
        if !encoder.isEmpty { groups.append(ParameterGroup(name: "encoder", parameters: encoder, learningRate: options.encoderLearningRate)) }
        let optimizer = Adam(groups: groups)
        model.train()
        var history: [Double] = []
        let cells = options.tile / CenterNetTargets.stride
        for epoch in 0..<options.epochs {
            var g = SeededGenerator.forEpoch(seed: options.seed, epoch: epoch)
            var colors = SeededGenerator.forEpoch(seed: options.seed, epoch: epoch, stream: 1)
            var crops = crops(samples, tile: options.tile, total: options.cropsPerEpoch, augmentation: options.augmentation,
                              generator: &g, colors: &colors)
            crops.shuffle(using: &g)
            var total = 0.0, batches = 0
            for start in Swift.stride(from: 0, to: crops.count, by: options.batchSize) {
                let chunk = Array(crops[start..<Swift.min(start + options.batchSize, crops.count)])
                if chunk.count < 2 && crops.count >= 2 { continue }
                let x = tensor(chunk.map(\.0), normalization: normalization)
                let targets = chunk.map { CenterNetTargets(boxes: $0.1, classes: model.classes, height: cells, width: cells) }
                optimizer.zeroGrad()
                let loss = CenterNetLoss.total(model(x), targets: targets)
                loss.backward()
                optimizer.step()
                total += Double(loss.item())
                batches += 1
            }
            history.append(total / Double(Swift.max(1, batches)))
            progress(epoch + 1, history.last!)
        }
        model.eval()
        return history
    }

    /// Detections on a whole image: tiles of ``DetectionOptions/tile`` with ``DetectionOptions/overlap``, each
    /// decoded (``decodeCenterNet(heatmap:size:offset:k:minScore:)``), moved to image coordinates, clipped to the
    /// image, and merged across tiles by NMS.
    public static func predict(_ model: DetectionModel, image: RGBImage, options: DetectionOptions, normalization: Normalization) -> [DetectionBox] {
        model.eval()
        let t = options.tile
        var all: [DetectionBox] = []
        let positions = Tiling.starts(length: image.height, tile: t, overlap: options.overlap).flatMap { y in
            Tiling.starts(length: image.width, tile: t, overlap: options.overlap).map { x in (x, y) }
        }
        for chunk in Swift.stride(from: 0, to: positions.count, by: 4).map({ Array(positions[$0..<Swift.min($0 + 4, positions.count)]) }) {
            let x = tensor(chunk.map { Tiling.crop(image, x: $0.0, y: $0.1, tile: t) }, normalization: normalization)
            let out = withNoGrad { model(x) }
            let decoded = decodeCenterNet(heatmap: out.heatmap, size: out.size, offset: out.offset, k: options.maxPerTile, minScore: options.minScore)
            for (boxes, (px, py)) in zip(decoded, chunk) {
                let w = Float(image.width), h = Float(image.height)
                all += boxes.map { b in
                    let s = b.shifted(Float(px), Float(py))
                    return DetectionBox(x0: Swift.max(0, s.x0), y0: Swift.max(0, s.y0), x1: Swift.min(w, s.x1), y1: Swift.min(h, s.y1),
                                        label: s.label, score: s.score)
                }.filter { $0.area > 0 }
            }
        }
        return nonMaximumSuppression(all, iouThreshold: options.nmsThreshold)
    }

    /// Draws `boxes` as 2-pixel rectangles (class colours of PASCAL VOC's map, starting at index 1) on `image`.
    public static func draw(_ boxes: [DetectionBox], on image: RGBImage) -> RGBImage {
        var out = image
        let palette = LabelMask.vocPalette
        for b in boxes {
            let c = (b.label + 1) % 256
            let x0 = Swift.max(0, Int(b.x0)), x1 = Swift.min(image.width - 1, Int(b.x1))
            let y0 = Swift.max(0, Int(b.y0)), y1 = Swift.min(image.height - 1, Int(b.y1))
            guard x0 <= x1 && y0 <= y1 else { continue }
            func set(_ x: Int, _ y: Int) { for k in 0..<3 { out.pixels[(y * image.width + x) * 3 + k] = palette[c * 3 + k] } }
            for x in x0...x1 { for d in 0..<2 { set(x, Swift.min(y1, y0 + d)); set(x, Swift.max(y0, y1 - d)) } }
            for y in y0...y1 { for d in 0..<2 { set(Swift.min(x1, x0 + d), y); set(Swift.max(x0, x1 - d), y) } }
        }
        return out
    }
}
