import Foundation
import Layers
import Tensors

/// The top-down feature pyramid of an FPN (Lin et al. 2017) without the segmentation branch: 1×1 lateral
/// convolutions (`p5`, `p4.skip_conv`, …) and nearest ×2 upsampling; returns `p2` (stride 4), the map a
/// ``CenterNetHead`` reads.
public final class FeaturePyramid: Module {
    @Child public private(set) var p5: Conv2d
    @Child public private(set) var p4: FPNBlock
    @Child public private(set) var p3: FPNBlock
    @Child public private(set) var p2: FPNBlock
    public let channels: Int

    /// - Parameter encoderChannels: channels of the pyramid levels, finest (stride 2) first; the last four are used.
    public init(encoderChannels: [Int], channels: Int) {
        let c = Array(encoderChannels.suffix(4))
        p5 = Conv2d(c[3], channels, kernel: (1, 1))
        p4 = FPNBlock(pyramidChannels: channels, skipChannels: c[2])
        p3 = FPNBlock(pyramidChannels: channels, skipChannels: c[1])
        p2 = FPNBlock(pyramidChannels: channels, skipChannels: c[0])
        self.channels = channels
        super.init()
        child("p5", $p5)
        child("p4", $p4)
        child("p3", $p3)
        child("p2", $p2)
    }

    public func callAsFunction(_ pyramid: [Tensor]) -> Tensor {
        let c = Array(pyramid.suffix(4))
        return p2(p3(p4(p5(c[3]), skip: c[2]), skip: c[1]), skip: c[0])
    }
}

/// CenterNet's head (Zhou et al., "Objects as Points", 2019): per branch a 3×3 convolution, ReLU and a 1×1
/// convolution; `heatmap` gives one logit per class and pixel of the stride-4 map (its bias starts at −2.19, so the
/// sigmoid starts at 0.1, as in the paper), `size` the box's log width and height in stride units, `offset` the
/// sub-pixel position of its centre.
public final class CenterNetHead: Module {
    @Child private var heatmap: Sequential
    @Child private var size: Sequential
    @Child private var offset: Sequential

    public init(inChannels: Int, classes: Int, hidden: Int = 64) {
        func branch(_ out: Int) -> Sequential {
            Sequential(Conv2d(inChannels, hidden, kernel: (3, 3), padding: .symmetric(1, 1)), Activation(.relu), Conv2d(hidden, out, kernel: (1, 1)))
        }
        heatmap = branch(classes)
        size = branch(2)
        offset = branch(2)
        super.init()
        child("heatmap", $heatmap)
        child("size", $size)
        child("offset", $offset)
        if let last = heatmap[2] as? Conv2d, let b = last.bias { b.assign(Tensor.full(b.shape, -2.19)) }
    }

    public func callAsFunction(_ x: Tensor) -> (heatmap: Tensor, size: Tensor, offset: Tensor) {
        (heatmap(x), size(x), offset(x))
    }

    /// Starts the regression branches at the typical answer, as the heatmap's −2.19 starts at the typical score:
    /// the size bias at the mean log width and height (stride units) of the training boxes, the offset bias at 0.5
    /// (the mean of a centre's sub-cell position). From a zero bias, Adam's L1 steps of about one learning rate each
    /// need thousands of steps to reach log sizes of 2–3, and the boxes stay far too small or too large meanwhile.
    public func setRegressionPrior(logWidth: Float, logHeight: Float) {
        if let last = size[2] as? Conv2d, let b = last.bias { b.assign(Tensor(shape: b.shape, data: [logWidth, logHeight])) }
        if let last = offset[2] as? Conv2d, let b = last.bias { b.assign(Tensor.full(b.shape, 0.5)) }
    }
}

/// CenterNet training targets for one image at output stride ``CenterNetTargets/stride``.
public struct CenterNetTargets: Sendable {
    public static let stride = 4
    /// `[classes, h, w]` Gaussian peaks, 1 at object centres.
    public var heatmap: [Float]
    /// Flat index `y·w + x` of each object's centre cell.
    public var centres: [Int]
    /// Per object: log width, log height (stride units), offset x, offset y.
    public var regression: [[Float]]

    /// CornerNet's `gaussian_radius` (Law & Deng 2018, as CenterNet uses it) with minimum overlap 0.7.
    static func gaussianRadius(_ h: Float, _ w: Float, minOverlap: Float = 0.7) -> Float {
        let b1 = h + w, c1 = w * h * (1 - minOverlap) / (1 + minOverlap)
        let r1 = (b1 + (b1 * b1 - 4 * c1).squareRoot()) / 2
        let b2 = 2 * (h + w), c2 = (1 - minOverlap) * w * h
        let r2 = (b2 + (b2 * b2 - 16 * c2).squareRoot()) / 2
        let a3 = 4 * minOverlap, b3 = -2 * minOverlap * (h + w), c3 = (minOverlap - 1) * w * h
        let r3 = (b3 + (b3 * b3 - 4 * a3 * c3).squareRoot()) / 2
        return Swift.min(r1, r2, r3)
    }

    /// Boxes centred outside the map or empty are skipped (a crop keeps only boxes centred in it); labels must be in
    /// `0..<classes`.
    public init(boxes: [DetectionBox], classes: Int, height: Int, width: Int) {
        let s = Float(Self.stride)
        heatmap = [Float](repeating: 0, count: classes * height * width)
        centres = []
        regression = []
        for b in boxes {
            let cx = (b.x0 + b.x1) / 2 / s, cy = (b.y0 + b.y1) / 2 / s
            let px = Int(cx.rounded(.down)), py = Int(cy.rounded(.down))
            guard px >= 0 && px < width && py >= 0 && py < height && b.width > 0 && b.height > 0 else { continue }
            guard b.label >= 0 && b.label < classes else { fatalError("CenterNetTargets: box label \(b.label) outside 0..<\(classes)") }
            let w = b.width / s, h = b.height / s
            let radius = Swift.max(0, Int(Self.gaussianRadius(h.rounded(.up), w.rounded(.up))))
            let sigma = Float(2 * radius + 1) / 6
            for y in Swift.max(0, py - radius)...Swift.min(height - 1, py + radius) {
                for x in Swift.max(0, px - radius)...Swift.min(width - 1, px + radius) {
                    let d = Float((x - px) * (x - px) + (y - py) * (y - py))
                    let v = Foundation.exp(-d / (2 * sigma * sigma))
                    let o = (b.label * height + y) * width + x
                    heatmap[o] = Swift.max(heatmap[o], v)
                }
            }
            centres.append(py * width + px)
            regression.append([Foundation.log(w), Foundation.log(h), cx - Float(px), cy - Float(py)])
        }
    }
}

public enum CenterNetLoss {
    /// CenterNet's penalty-reduced focal loss (α = 2, β = 4) over sigmoid heatmap logits `[N, C, h, w]` against
    /// Gaussian targets of the same shape, divided by the number of objects (at least 1). One deliberate deviation
    /// from the reference code: it clamps the sigmoid to [1e-4, 1 − 1e-4], which zeroes the gradient of a cell
    /// whose score has fallen below 1e-4, so a heatmap pushed to zero by the negatives of sparse crops (DeepForest's
    /// Yellowstone photographs) never recovers and the loss stalls at −log 1e-4 ≈ 9.2 per object. Here log p and
    /// log(1 − p) are computed from the logits as −softplus(∓x), stable and with a gradient everywhere.
    public static func heatmap(_ logits: Tensor, target: Tensor, objects: Int) -> Tensor {
        let p = logits.sigmoid()
        // softplus(±x) = relu(±x) + log(1 + e^(−|x|)).
        let tail = ((logits.abs() * -1).exp() + 1).log()
        let logP = (logits * -1).relu() * -1 - tail, log1mP = logits.relu() * -1 - tail
        let y = target.toArray()
        let positive = Tensor(shape: target.shape, data: y.map { $0 == 1 ? 1 : 0 })
        let negativeWeight = Tensor(shape: target.shape, data: y.map { $0 == 1 ? 0 : Foundation.pow(1 - $0, 4) })
        let pos = ((1 - p).square() * logP * positive).sum()
        let neg = (p.square() * log1mP * negativeWeight).sum()
        return -(pos + neg) / Float(Swift.max(1, objects))
    }

    /// The total loss of a batch: heatmap focal loss + L1 of log size + L1 of offset at the object centres.
    public static func total(_ out: (heatmap: Tensor, size: Tensor, offset: Tensor), targets: [CenterNetTargets]) -> Tensor {
        let s = out.heatmap.shape
        let classes = s[1], h = s[2], w = s[3]
        let heat = Tensor(shape: s, data: targets.flatMap(\.heatmap))
        let objects = targets.reduce(0) { $0 + $1.centres.count }
        var loss = heatmap(out.heatmap, target: heat, objects: objects)
        guard objects > 0 else { return loss }
        var indices: [Int] = [], values: [Float] = []
        for (n, t) in targets.enumerated() {
            indices += t.centres.map { n * h * w + $0 }
            values += t.regression.flatMap { $0 }
        }
        _ = classes
        let regression = Tensor.concat([out.size, out.offset], axis: 1).permuted([0, 2, 3, 1]).reshaped(dims: [-1, 4])
        let picked = regression.indexSelect(axis: 0, indices: indices)
        let target = Tensor(shape: [indices.count, 4], data: values)
        loss = loss + (picked - target).abs().sum() / Float(objects)
        return loss
    }
}

/// Box decoding of CenterNet: a cell is a peak when its sigmoid score equals the 3×3 max-pool of the scores
/// (the paper's NMS-free peak extraction); the top `k` peaks over all classes become boxes
/// `(x + offset_x ∓ w/2, y + offset_y ∓ h/2) · stride` with `w, h = exp(size)`.
public func decodeCenterNet(heatmap: Tensor, size: Tensor, offset: Tensor, k: Int = 100, minScore: Float = 0.01) -> [[DetectionBox]] {
    let s = heatmap.shape
    let n = s[0], classes = s[1], h = s[2], w = s[3]
    let scores = withNoGrad { heatmap.sigmoid().contiguous() }
    let pooled = withNoGrad { Tensor.maxPool2d(scores, kernel: (3, 3), stride: (1, 1), padding: .symmetric(1, 1)).contiguous() }
    let sc = scores.toArray(), pl = pooled.toArray(), sz = size.contiguous().toArray(), of = offset.contiguous().toArray()
    let stride = Float(CenterNetTargets.stride)
    var result: [[DetectionBox]] = []
    for b in 0..<n {
        var peaks: [(Float, Int)] = []
        for i in 0..<(classes * h * w) {
            let v = sc[b * classes * h * w + i]
            if v == pl[b * classes * h * w + i] && v >= minScore { peaks.append((v, i)) }
        }
        peaks.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        var boxes: [DetectionBox] = []
        for (score, i) in peaks.prefix(k) {
            let c = i / (h * w), cell = i % (h * w), y = cell / w, x = cell % w
            let base = b * 2 * h * w + cell
            let bw = Foundation.exp(sz[base]), bh = Foundation.exp(sz[base + h * w])
            let cx = Float(x) + of[base], cy = Float(y) + of[base + h * w]
            boxes.append(DetectionBox(x0: (cx - bw / 2) * stride, y0: (cy - bh / 2) * stride, x1: (cx + bw / 2) * stride,
                                      y1: (cy + bh / 2) * stride, label: c, score: score))
        }
        result.append(boxes)
    }
    return result
}
