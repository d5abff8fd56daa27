import Datasets
import Foundation
import Tensors

/// The deletion metric of a saliency map (Petsiuk et al., "RISE", BMVC 2018; the "most relevant first" order of
/// ROAD, Rong et al. ICML 2022): the model's probability of the explained class as ever more of the most salient
/// pixels are removed, against removing pixels in a random order. A faithful map makes the probability fall
/// faster, so its area under the curve is smaller than the random order's.
///
/// Pixels are removed in square patches (`patch` pixels a side, by default 32: one patch per cell of the stride-32
/// target layer of both backbones; a patch's saliency is the mean of the map over it),
/// cumulatively in steps of 1/`steps` of the patches. A removed pixel takes the value of a Gaussian blur of the
/// image (σ = 10 px, the default: what the image looks like without its detail, RISE's "blur" deletion) or the
/// image's per-channel mean, in the model's normalised input space. Measured on two real photos with EfficientNet-
/// Lite0, mean-filled random patches lower the confidence faster than Grad-CAM's order does (scattered grey
/// squares are themselves a strong, out-of-distribution signal; Rong et al. 2022 discuss such artefacts), while with
/// the blur fill Grad-CAM's order is the steeper one: see docs/explain-cluster-pretrain.md.
public struct DeletionCurve: Sendable, Codable {
    /// What a removed pixel becomes.
    public enum Fill: String, Sendable, Codable, CaseIterable {
        case blur, mean
    }

    /// The removed fractions 0, 1/steps, …, 1.
    public let fractions: [Double]
    /// Probability of the explained class per step, per image, removing the most salient pixels first.
    public let salient: [[Double]]
    /// The same removing pixels in random orders (the mean over `randomOrders` seeded permutations).
    public let random: [[Double]]
    /// Trapezoidal area under each image's curve.
    public let salientAUC: [Double]
    public let randomAUC: [Double]

    /// Mean areas over the images.
    public var meanSalientAUC: Double { salientAUC.reduce(0, +) / Double(max(1, salientAUC.count)) }
    public var meanRandomAUC: Double { randomAUC.reduce(0, +) / Double(max(1, randomAUC.count)) }

    /// Trapezoidal area under `y` over evenly spaced x in [0, 1].
    static func area(_ y: [Double]) -> Double {
        guard y.count > 1 else { return y.first ?? 0 }
        let h = 1 / Double(y.count - 1)
        return zip(y, y.dropFirst()).reduce(0) { $0 + ($1.0 + $1.1) / 2 * h }
    }

    /// The curves of `maps` (``ClassActivationMaps``, one saliency value per input pixel) for images `x`
    /// `[N, 3, H, W]` (model inputs).
    public static func measure(_ model: ImageClassifier, images x: Tensor, maps: ClassActivationMaps, steps: Int = 10,
                               patch: Int = 32, fill: Fill = .blur, randomOrders: Int = 3,
                               seed: UInt64 = 0) throws(ExplainError) -> DeletionCurve {
        guard steps >= 1 && steps <= 100 else { throw .invalid(option: "--deletion-steps", value: "\(steps)", accepted: "1…100") }
        guard patch >= 1 && patch <= 64 else { throw .invalid(option: "--deletion-patch", value: "\(patch)", accepted: "1…64") }
        guard randomOrders >= 1 else { throw .invalid(option: "random orders", value: "\(randomOrders)", accepted: "≥ 1") }
        let n = x.shape[0], h = x.shape[2], w = x.shape[3], hw = h * w
        guard maps.maps.count == n, maps.width == w, maps.height == h else {
            throw .count(what: "saliency maps of \(w)×\(h) for \(n) images", expected: n, actual: maps.maps.count)
        }
        let pixels = x.contiguous().toArray()
        var salient: [[Double]] = [], random: [[Double]] = []
        var generator = SeededGenerator(seed: seed)
        for i in 0..<n {
            let image = Array(pixels[(i * 3 * hw)..<((i + 1) * 3 * hw)])
            let filler = fill == .blur ? gaussianBlur(image, size: (h, w), sigma: 10) : channelMeans(image, pixels: hw)
            let units = patches(size: (h, w), side: patch, map: maps.maps[i])
            let byRelevance = units.indices.sorted { units[$0].saliency > units[$1].saliency || (units[$0].saliency == units[$1].saliency && $0 < $1) }
            let cells = units.map(\.pixels)
            salient.append(probabilities(model, image: image, filler: filler, order: byRelevance.map { cells[$0] }, size: (h, w),
                                         steps: steps, cls: maps.classes[i]))
            var sum = [Double](repeating: 0, count: steps + 1)
            for _ in 0..<randomOrders {
                var order = cells
                order.shuffle(using: &generator)
                let p = probabilities(model, image: image, filler: filler, order: order, size: (h, w), steps: steps, cls: maps.classes[i])
                for s in sum.indices { sum[s] += p[s] / Double(randomOrders) }
            }
            random.append(sum)
        }
        return DeletionCurve(fractions: (0...steps).map { Double($0) / Double(steps) }, salient: salient, random: random,
                             salientAUC: salient.map(area), randomAUC: random.map(area))
    }

    /// The class probability of `image` (`3 × H × W`) with the first ⌊s/steps · U⌋ of the U pixel groups of `order`
    /// replaced by `filler`'s pixels, s = 0 … steps, in batches.
    static func probabilities(_ model: ImageClassifier, image: [Float], filler: [Float], order: [[Int]], size: (Int, Int),
                              steps: Int, cls: Int) -> [Double] {
        let hw = size.0 * size.1
        var batch = [Float](), current = image
        var removed = 0
        for s in 0...steps {
            let target = s * order.count / steps
            while removed < target {
                for p in order[removed] { for c in 0..<3 { current[c * hw + p] = filler[c * hw + p] } }
                removed += 1
            }
            batch += current
        }
        var out: [Double] = []
        let chunk = 8
        for start in stride(from: 0, to: steps + 1, by: chunk) {
            let count = Swift.min(chunk, steps + 1 - start)
            let xs = Tensor(shape: [count, 3, size.0, size.1], data: Array(batch[(start * 3 * hw)..<((start + count) * 3 * hw)]))
            let probs = model.probabilities(xs).toArray()
            let k = probs.count / count
            out += (0..<count).map { Double(probs[$0 * k + cls]) }
        }
        return out
    }

    /// The `side × side` patches of an `h × w` image (row-major; edge patches smaller), each with its pixels and the
    /// mean of `map` over them.
    static func patches(size: (Int, Int), side: Int, map: [Float]) -> [(pixels: [Int], saliency: Float)] {
        let (h, w) = size
        var out: [(pixels: [Int], saliency: Float)] = []
        for r0 in stride(from: 0, to: h, by: side) {
            for c0 in stride(from: 0, to: w, by: side) {
                var pixels: [Int] = []
                for r in r0..<Swift.min(h, r0 + side) { for c in c0..<Swift.min(w, c0 + side) { pixels.append(r * w + c) } }
                out.append((pixels, pixels.reduce(Float(0)) { $0 + map[$1] } / Float(pixels.count)))
            }
        }
        return out
    }

    /// Every pixel set to its channel's mean.
    static func channelMeans(_ image: [Float], pixels hw: Int) -> [Float] {
        (0..<3).flatMap { c in
            [Float](repeating: image[(c * hw)..<((c + 1) * hw)].reduce(0, +) / Float(hw), count: hw)
        }
    }

    /// A separable Gaussian blur of each channel (radius 3σ, edges reflected without repeating the border pixel, as
    /// OpenCV's default `BORDER_REFLECT_101`).
    static func gaussianBlur(_ image: [Float], size: (Int, Int), sigma: Double) -> [Float] {
        let (h, w) = size, radius = Int((3 * sigma).rounded(.up))
        var kernel = (-radius...radius).map { Foundation.exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        func reflect(_ i: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            var j = i
            while j < 0 || j >= n { j = j < 0 ? -j : 2 * (n - 1) - j }
            return j
        }
        var out = image, tmp = image
        for c in 0..<3 {
            let base = c * h * w
            for r in 0..<h {
                for col in 0..<w {
                    var s = 0.0
                    for (k, v) in kernel.enumerated() { s += v * Double(image[base + r * w + reflect(col + k - radius, w)]) }
                    tmp[base + r * w + col] = Float(s)
                }
            }
            for r in 0..<h {
                for col in 0..<w {
                    var s = 0.0
                    for (k, v) in kernel.enumerated() { s += v * Double(tmp[base + reflect(r + k - radius, h) * w + col]) }
                    out[base + r * w + col] = Float(s)
                }
            }
        }
        return out
    }
}
