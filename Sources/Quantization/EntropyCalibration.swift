import Foundation

/// TensorRT's entropy calibration (Migacz, "8-bit Inference with TensorRT", GTC 2017), as in NVIDIA's
/// `pytorch-quantization` `_compute_amax_entropy`: for each candidate number of histogram bins `i`, the reference
/// distribution is the first `i` bins with everything beyond folded into bin `i − 1`; it is merged into `levels`
/// quantisation bins and spread back over the nonzero bins it came from; the `i` with the smallest
/// KL(reference ‖ quantised) sets the threshold `i · binWidth` (ties go to the larger `i`).
///
/// As there, the first bin (the magnitudes nearest zero) is replaced by its neighbour before the search: after a
/// ReLU or ReLU6 most of the mass sits exactly at zero, and that spike, merged with its empty-ish neighbours into one
/// quantisation level, costs `p₀ · log(binsPerLevel)`, which grows with `i` and would otherwise drive the search to
/// the smallest candidate (a ReLU6 input clipped at a quarter of its range). Zero is exactly representable at any
/// threshold, so the spike carries no information about where to clip.
public enum EntropyCalibration {
    /// The bin count (≥ `levels`) whose clipped, quantised histogram is closest in KL divergence to the clipped one.
    public static func bestBinCount(_ histogram: [Double], levels: Int) -> Int {
        let n = histogram.count
        guard n > levels else { return n }
        var h = histogram
        h[0] = h[1]
        var best = n, bestDivergence = Double.infinity
        var i = levels
        while i <= n {
            let d = divergence(h, bins: i, levels: levels)
            if d <= bestDivergence { bestDivergence = d; best = i }
            i += 1
        }
        return best
    }

    /// KL(P ‖ Q) for the first `bins` bins of `histogram` (outliers folded into the last) quantised into `levels`.
    static func divergence(_ histogram: [Double], bins: Int, levels: Int) -> Double {
        var p = Array(histogram[0..<bins])
        p[bins - 1] += histogram[bins...].reduce(0, +)
        let totalP = p.reduce(0, +)
        guard totalP > 0 else { return 0 }
        var q = [Double](repeating: 0, count: bins)
        let perLevel = Double(bins) / Double(levels)
        for level in 0..<levels {
            let start = Int((Double(level) * perLevel).rounded(.down))
            let end = level == levels - 1 ? bins : Int((Double(level + 1) * perLevel).rounded(.down))
            guard end > start else { continue }
            var sum = 0.0, nonzero = 0
            for j in start..<end where histogram[j] != 0 {
                sum += histogram[j]
                nonzero += 1
            }
            guard nonzero > 0 else { continue }
            let spread = sum / Double(nonzero)
            for j in start..<end where histogram[j] != 0 { q[j] = spread }
        }
        let totalQ = q.reduce(0, +)
        guard totalQ > 0 else { return .infinity }
        var kl = 0.0
        for j in 0..<bins where p[j] > 0 {
            let pj = p[j] / totalP
            let qj = q[j] / totalQ
            guard qj > 0 else { return .infinity }  // clipped mass with nothing left to hold it
            kl += pj * log(pj / qj)
        }
        return kl
    }
}
