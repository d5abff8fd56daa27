import Foundation

/// Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017): one T > 0 dividing every
/// logit, chosen to minimise the mean negative log-likelihood of held-out data. Accuracy is unchanged (the arg-max of
/// z/T is that of z). The NLL is convex in β = 1/T, so a golden-section search over log β in [1/``maxTemperature``,
/// 1/``minTemperature``] finds its minimum.
public struct TemperatureScaling: Sendable {
    public static let minTemperature = 0.05, maxTemperature = 20.0

    public init() {}

    /// The temperature for logits `[rows, classes]` (row-major) with true classes `labels`, and the NLL before/after.
    public func fit(logits: [Double], labels: [Int], classes: Int) -> (temperature: Double, nllBefore: Double, nllAfter: Double) {
        let before = nll(logits, labels, classes: classes, beta: 1)
        guard !labels.isEmpty else { return (1, before, before) }
        var a = log(1 / Self.maxTemperature), b = log(1 / Self.minTemperature)
        let phi = (5.0.squareRoot() - 1) / 2
        var x1 = b - phi * (b - a), x2 = a + phi * (b - a)
        var f1 = nll(logits, labels, classes: classes, beta: exp(x1)), f2 = nll(logits, labels, classes: classes, beta: exp(x2))
        for _ in 0..<80 where b - a > 1e-7 {
            if f1 < f2 { b = x2; x2 = x1; f2 = f1; x1 = b - phi * (b - a); f1 = nll(logits, labels, classes: classes, beta: exp(x1)) }
            else { a = x1; x1 = x2; f1 = f2; x2 = a + phi * (b - a); f2 = nll(logits, labels, classes: classes, beta: exp(x2)) }
        }
        let beta = exp((a + b) / 2)
        let after = nll(logits, labels, classes: classes, beta: beta)
        // Never worse than no scaling on the data it was fitted to.
        return after <= before ? (1 / beta, before, after) : (1, before, before)
    }

    func nll(_ z: [Double], _ y: [Int], classes k: Int, beta: Double) -> Double {
        var s = 0.0
        for (i, c) in y.enumerated() {
            var m = -Double.infinity
            for j in 0..<k { m = Swift.max(m, beta * z[i * k + j]) }
            var sum = 0.0
            for j in 0..<k { sum += exp(beta * z[i * k + j] - m) }
            s += m + log(sum) - beta * z[i * k + c]
        }
        return s / Double(Swift.max(y.count, 1))
    }
}

/// Expected calibration error over 15 equal-width confidence bins (lo, hi] (Guo et al. 2017; the definition of
/// TransferKit's ``TransferKit/ClassificationMetrics/ece``): Σ_b |acc_b − conf_b| · n_b / n, of the top probability.
public func expectedCalibrationError(probabilities p: [Double], labels: [Int], classes k: Int, bins: Int = 15) -> Double {
    guard !labels.isEmpty else { return 0 }
    var count = [Int](repeating: 0, count: bins), correct = count
    var confidence = [Double](repeating: 0, count: bins)
    for (i, y) in labels.enumerated() {
        var best = 0
        for j in 1..<k where p[i * k + j] > p[i * k + best] { best = j }
        let conf = p[i * k + best]
        guard conf > 0 else { continue }
        var b = Swift.min(bins - 1, Swift.max(0, Int((conf * Double(bins)).rounded(.up)) - 1))
        while b > 0 && conf <= Double(b) / Double(bins) { b -= 1 }
        while b < bins - 1 && conf > Double(b + 1) / Double(bins) { b += 1 }
        count[b] += 1; confidence[b] += conf
        if best == y { correct[b] += 1 }
    }
    var total = 0.0
    for b in 0..<bins where count[b] > 0 {
        total += abs(Double(correct[b]) - confidence[b]) / Double(labels.count)
    }
    return total
}
