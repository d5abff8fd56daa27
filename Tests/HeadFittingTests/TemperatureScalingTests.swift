import Foundation
@testable import HeadFitting
import Testing

struct TemperatureScalingTests {
    /// Logits of a 4-class problem that are right 70% of the time but 4× too sharp: the fitted temperature is near 4,
    /// and NLL and ECE both fall.
    @Test func temperatureScalingLowersNLLAndECEOfAnOverconfidentModel() {
        var rng = SplitMix(seed: 3)
        let k = 4, n = 2000
        var logits: [Double] = [], labels: [Int] = []
        for _ in 0..<n {
            let y = Int(rng.next() % 4)
            // A calibrated model's logits: the true class gets +1.2 on average, then everything ×4.
            var row = (0..<k).map { _ in rng.normal() }
            row[y] += 1.2
            logits += row.map { $0 * 4 }
            labels.append(y)
        }
        let fit = TemperatureScaling().fit(logits: logits, labels: labels, classes: k)
        #expect(fit.temperature > 3 && fit.temperature < 5, "T = \(fit.temperature)")
        #expect(fit.nllAfter < fit.nllBefore - 0.3, "NLL \(fit.nllBefore) → \(fit.nllAfter)")
        let before = expectedCalibrationError(probabilities: softmaxRows(logits, classes: k), labels: labels, classes: k)
        let after = expectedCalibrationError(probabilities: softmaxRows(logits.map { $0 / fit.temperature }, classes: k), labels: labels, classes: k)
        #expect(after < 0.05 && before > 0.15, "ECE \(before) → \(after)")
    }

    @Test func expectedCalibrationErrorIsTheGapBetweenAccuracyAndConfidencePerBin() {
        // Two rows at confidence 0.75 (bin (0.7333, 0.8]), one right one wrong: accuracy 0.5, so ECE = 0.25.
        let p = [0.75, 0.25, 0.75, 0.25]
        #expect(abs(expectedCalibrationError(probabilities: p, labels: [0, 1], classes: 2) - 0.25) < 1e-12)
        // Confidence 0.9, right: gap 0.1.
        #expect(abs(expectedCalibrationError(probabilities: [0.1, 0.9], labels: [1], classes: 2) - 0.1) < 1e-12)
    }
}

/// A small seeded generator for the tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func normal() -> Double {
        let u = Swift.max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
