import Foundation

/// Chooses a trial's value of one parameter (Optuna's independent sampling).
public protocol Sampler {
    func sample(study: Study, trial: TrialHandle, name: String, distribution: Distribution) -> ParamValue
}

/// A seeded SplitMix64 generator.
public struct TuningRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }

    /// The generator of one (seed, trial, parameter): the same values whatever order parameters are drawn in.
    static func derived(seed: UInt64, trial: Int, name: String) -> TuningRandom {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the name
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        var g = TuningRandom(seed: seed ^ h ^ (UInt64(trial) &* 0xD1B5_4A32_D192_ED03))
        _ = g.next()
        return g
    }
}

/// Uniform sampling (in log space for log scales; each category equally likely), seeded.
public struct RandomSampler: Sampler {
    public let seed: UInt64
    public init(seed: UInt64 = 0) { self.seed = seed }

    public func sample(study: Study, trial: TrialHandle, name: String, distribution: Distribution) -> ParamValue {
        var g = TuningRandom.derived(seed: seed, trial: trial.number, name: name)
        return Self.draw(distribution, &g)
    }

    static func draw(_ d: Distribution, _ g: inout TuningRandom) -> ParamValue {
        switch d {
        case .float(let lo, let hi, let log):
            let u = g.uniform()
            return log ? .float(Swift.min(hi, exp(Foundation.log(lo) + u * (Foundation.log(hi) - Foundation.log(lo))))) : .float(lo + u * (hi - lo))
        case .int(let lo, let hi, let log):
            if log {
                let a = Foundation.log(Double(lo) - 0.5), b = Foundation.log(Double(hi) + 0.5)
                return .int(Swift.min(Swift.max(Int(exp(a + g.uniform() * (b - a)).rounded()), lo), hi))
            }
            return .int(lo + Int(g.next() % UInt64(hi - lo + 1)))
        case .categorical(let c):
            return .string(c[Int(g.next() % UInt64(c.count))])
        }
    }
}

/// The Tree-structured Parzen Estimator (Bergstra et al., "Algorithms for Hyper-Parameter Optimization", NeurIPS
/// 2011) with Optuna's `TPESampler` defaults: random sampling for the first `startupTrials` (10) finished trials;
/// then the finished trials are split into the best γ(n) = min(⌈0.1·n⌉, 25) ("below") and the rest, a Parzen
/// estimator l(x) / g(x) is built on each (``ParzenEstimator``, prior weight 1, magic clip, no endpoints), 24
/// candidates are drawn from l and the one with the largest log l(x) − log g(x) is taken. Parameters are sampled
/// independently (Optuna's default `multivariate=False`); a trial that lacks a parameter (a conditional one) does not
/// count for it. Pruned trials rank after every complete one in the split.
public struct TPESampler: Sampler {
    public let seed: UInt64
    public var startupTrials = 10
    public var candidates = 24
    public var priorWeight = 1.0

    public init(seed: UInt64 = 0) { self.seed = seed }

    /// Optuna's `default_gamma`.
    public static func gamma(_ n: Int) -> Int { Swift.min(Int((0.1 * Double(n)).rounded(.up)), 25) }

    /// Optuna's `default_weights`: 1 for each of the last 25 observations, a ramp from 1/n up for older ones.
    public static func weights(_ n: Int) -> [Double] {
        guard n >= 25 else { return [Double](repeating: 1, count: n) }
        let ramp = n - 25
        let r: [Double] = ramp == 1 ? [1.0 / Double(n)] : (0..<ramp).map { 1.0 / Double(n) + (1 - 1.0 / Double(n)) * Double($0) / Double(ramp - 1) }
        return r + [Double](repeating: 1, count: 25)
    }

    public func sample(study: Study, trial: TrialHandle, name: String, distribution: Distribution) -> ParamValue {
        var g = TuningRandom.derived(seed: seed, trial: trial.number, name: name)
        let finished = study.trials.filter { $0.state == .complete || $0.state == .pruned }
        guard finished.count >= startupTrials else { return RandomSampler.draw(distribution, &g) }
        let (below, above) = split(finished, study: study)
        func observations(_ ts: [FrozenTrial]) -> [Double] {
            ts.sorted { $0.number < $1.number }.compactMap { t in
                guard let v = t.params[name], t.distributions[name] == distribution else { return nil }
                return distribution.internalValue(v)
            }
        }
        let l = ParzenEstimator(observations(below), distribution, priorWeight: priorWeight)
        let gEst = ParzenEstimator(observations(above), distribution, priorWeight: priorWeight)
        var best = 0.0, bestScore = -Double.infinity
        for _ in 0..<candidates {
            let x = l.sample(&g)
            let score = l.logDensity(x) - gEst.logDensity(x)
            if score > bestScore { bestScore = score; best = x }
        }
        return distribution.externalValue(best)
    }

    /// The γ(n) best finished trials and the rest.
    func split(_ trials: [FrozenTrial], study: Study) -> (below: [FrozenTrial], above: [FrozenTrial]) {
        let complete = trials.filter { $0.state == .complete && ($0.value?.isFinite ?? false) }
            .sorted { study.better($0.value!, than: $1.value!) || ($0.value! == $1.value! && $0.number < $1.number) }
        let pruned = trials.filter { !($0.state == .complete && ($0.value?.isFinite ?? false)) }.sorted {
            let (a, b) = ($0.lastStep ?? -1, $1.lastStep ?? -1)
            if a != b { return a > b }
            guard let va = $0.value, let vb = $1.value else { return $0.value != nil }
            return study.better(va, than: vb)
        }
        let ranked = complete + pruned
        let n = Self.gamma(ranked.count)
        return (Array(ranked.prefix(n)), Array(ranked.dropFirst(n)))
    }
}
