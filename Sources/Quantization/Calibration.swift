import Foundation
import Tensors

/// How a layer's input range is chosen from calibration data.
public enum CalibrationMethod: String, Sendable, CaseIterable, Codable {
    /// The largest magnitude seen (no clipping; sensitive to outliers).
    case minmax
    /// The 99.99th percentile of the magnitudes (McKinstry et al., "Discovering Low-Precision Networks Close to
    /// Full-Precision Networks for Efficient Embedded Inference", 2018).
    case percentile
    /// The clipping threshold whose quantised distribution is closest in KL divergence to the observed one
    /// (Migacz, "8-bit Inference with TensorRT", GTC 2017).
    case entropy
}

/// The input statistics of one layer over the calibration set: the range, then (for percentile and entropy) a
/// histogram of magnitudes over `[0, absMax]`.
public struct InputStatistics: Sendable {
    public var absMax: Float = 0
    public var min: Float = .infinity
    public var count = 0
    /// Counts of `|x|` in ``bins`` equal bins over `[0, histogramRange]` (empty during the range pass).
    public var histogram: [Double] = []
    public var histogramRange: Float = 0
    public static let bins = 2048

    /// Whether the input was ever negative (then it is quantised as `s8`).
    public var signed: Bool { min < 0 }

    mutating func addRange(_ p: UnsafeBufferPointer<Float>) {
        var lo = min, hi = absMax
        for v in p {
            lo = Swift.min(lo, v)
            hi = Swift.max(hi, abs(v))
        }
        min = lo
        absMax = hi
        count += p.count
    }

    mutating func addHistogram(_ p: UnsafeBufferPointer<Float>) {
        if histogram.isEmpty {
            histogram = [Double](repeating: 0, count: Self.bins)
            histogramRange = absMax
        }
        guard histogramRange > 0 else { histogram[0] += Double(p.count); return }
        let perBin = Float(Self.bins) / histogramRange
        let last = Self.bins - 1
        for v in p {
            let b = Int(abs(v) * perBin)
            histogram[b < last ? b : last] += 1
        }
    }

    /// The clipping magnitude `method` chooses.
    public func threshold(_ method: CalibrationMethod) -> Float {
        guard absMax > 0, !histogram.isEmpty else { return absMax }
        let width = histogramRange / Float(Self.bins)
        switch method {
        case .minmax: return absMax
        case .percentile:
            let total = histogram.reduce(0, +), want = total * 0.9999
            var seen = 0.0
            for (i, h) in histogram.enumerated() {
                seen += h
                if seen >= want { return Swift.min(Float(i + 1) * width, absMax) }
            }
            return absMax
        case .entropy:
            let levels = signed ? 128 : 256
            let i = EntropyCalibration.bestBinCount(histogram, levels: levels)
            return Swift.min(Float(i) * width, absMax)
        }
    }
}

/// Records ``InputStatistics`` of every convolution and linear layer that runs while it is the
/// ``InputObservation/current`` observer: first the ranges (``Pass/range``), then the histograms
/// (``Pass/histogram``) over the ranges of the first pass.
public final class InputStatisticsObserver: InputObserver, @unchecked Sendable {
    public enum Pass: Sendable { case range, histogram }
    public var pass: Pass = .range
    public private(set) var statistics: [ObjectIdentifier: InputStatistics] = [:]
    private let lock = NSLock()

    public init() {}

    public func observe(_ layer: ObjectIdentifier, input: Tensor) {
        let x = input.contiguous()
        lock.lock()
        defer { lock.unlock() }
        var s = statistics[layer] ?? InputStatistics()
        x.withUnsafeBufferPointer { p in
            switch pass {
            case .range: s.addRange(p)
            case .histogram: s.addHistogram(p)
            }
        }
        statistics[layer] = s
    }
}
