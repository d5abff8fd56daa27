import Foundation

/// Reusable timing helpers: every figure the bench quotes is the median of several timed runs taken after
/// untimed warm-up runs (which create cached primitives, fill the buffer pool and fault in pages).

/// Monotonic wall-clock time in seconds.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// The median of a non-empty list (the mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    precondition(!values.isEmpty, "median of no values")
    let s = values.sorted()
    let m = s.count / 2
    return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/// How often a measured body runs: `warmup` untimed runs, then `repeats` timed ones.
struct TimingPlan: Sendable {
    var warmup: Int
    var repeats: Int

    /// The same plan with the timed runs scaled by `factor` (at least 3), for measurements much cheaper or
    /// dearer than the typical one.
    func scaled(_ factor: Double) -> TimingPlan {
        TimingPlan(warmup: warmup, repeats: Swift.max(3, Int((Double(repeats) * factor).rounded())))
    }
}

/// Seconds taken by one run of `body`.
func timeOnce(_ body: () -> Void) -> Double {
    let t0 = monotonicSeconds()
    body()
    return monotonicSeconds() - t0
}

/// The median seconds of `body` over `plan.repeats` timed runs, after `plan.warmup` untimed runs.
func medianSeconds(_ plan: TimingPlan, _ body: () -> Void) -> Double {
    for _ in 0..<plan.warmup { body() }
    return median((0..<plan.repeats).map { _ in timeOnce(body) })
}

/// The median seconds of two bodies timed in alternation (A, B, A, B, …) after both are warmed up, so that a change
/// of load on the machine during the measurement (another build, say) affects both alike.
///
/// - Returns: `(median of a, median of b)`.
func medianSecondsPaired(_ plan: TimingPlan, _ a: () -> Void, _ b: () -> Void) -> (Double, Double) {
    for _ in 0..<plan.warmup {
        a()
        b()
    }
    var ta: [Double] = [], tb: [Double] = []
    for _ in 0..<plan.repeats {
        ta.append(timeOnce(a))
        tb.append(timeOnce(b))
    }
    return (median(ta), median(tb))
}
