import Datasets
import Tensors

/// The deletion metric of a saliency map (Petsiuk et al., "RISE", BMVC 2018; the "most relevant first" order of
/// ROAD, Rong et al. ICML 2022): the model's probability of the explained class as ever more of the most salient
/// pixels are removed, against removing pixels in a random order. A faithful map makes the probability fall
/// faster, so its area under the curve is smaller than the random order's.
///
/// A removed pixel takes the image's per-channel mean (in the model's normalised input space), all three channels
/// at once; removals are cumulative in steps of 1/`steps` of the pixels.
public struct DeletionCurve: Sendable, Codable {
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
                               randomOrders: Int = 3, seed: UInt64 = 0) throws(ExplainError) -> DeletionCurve {
        guard steps >= 1 && steps <= 100 else { throw .invalid(option: "--deletion-steps", value: "\(steps)", accepted: "1…100") }
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
            let map = maps.maps[i]
            let byRelevance = (0..<hw).sorted { map[$0] > map[$1] || (map[$0] == map[$1] && $0 < $1) }
            salient.append(probabilities(model, image: image, order: byRelevance, size: (h, w), steps: steps, cls: maps.classes[i]))
            var sum = [Double](repeating: 0, count: steps + 1)
            for _ in 0..<randomOrders {
                var order = Array(0..<hw)
                order.shuffle(using: &generator)
                let p = probabilities(model, image: image, order: order, size: (h, w), steps: steps, cls: maps.classes[i])
                for s in sum.indices { sum[s] += p[s] / Double(randomOrders) }
            }
            random.append(sum)
        }
        return DeletionCurve(fractions: (0...steps).map { Double($0) / Double(steps) }, salient: salient, random: random,
                             salientAUC: salient.map(area), randomAUC: random.map(area))
    }

    /// The class probability of `image` (`3 × H × W`) with the first ⌊s/steps · HW⌋ pixels of `order` removed,
    /// s = 0 … steps, in one batch.
    static func probabilities(_ model: ImageClassifier, image: [Float], order: [Int], size: (Int, Int), steps: Int,
                              cls: Int) -> [Double] {
        let hw = size.0 * size.1
        let means = (0..<3).map { c in image[(c * hw)..<((c + 1) * hw)].reduce(0, +) / Float(hw) }
        var batch = [Float](), current = image
        var removed = 0
        for s in 0...steps {
            let target = s * hw / steps
            while removed < target {
                let p = order[removed]
                for c in 0..<3 { current[c * hw + p] = means[c] }
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
}
