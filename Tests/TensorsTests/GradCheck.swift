import Testing
@testable import Tensors

/// Finite-difference gradient checking.
///
/// For inputs `xs` and a function `f`, the analytic gradient of `L = Σ f(xs) ⊙ U` (U a fixed random upstream
/// gradient) from ``Tensor/backward(_:retainGraph:)`` is compared with central differences
/// `(L(x + ε) − L(x − ε)) / 2ε`, where L is accumulated in Float64 from Float32 outputs. An element passes when
/// `|analytic − numeric| ≤ atol + rtol · |numeric|`. Defaults: ε = 1e-2, atol = 2e-3, rtol = 1e-2 — the finite
/// difference of a Float32 function carries ~1e-6·|L|/ε of rounding noise, and ε = 1e-2 keeps the truncation error
/// of smooth functions below 1e-4. Large inputs are probed at up to `maxProbes` evenly spread elements.
struct GradCheckResult: CustomStringConvertible {
    var worst: Double = 0
    var worstInput = -1
    var worstIndex = -1
    var analytic: Double = 0
    var numeric: Double = 0
    var failures = 0
    var description: String {
        "input \(worstInput)[\(worstIndex)]: analytic \(analytic) vs numeric \(numeric) (excess \(worst)), \(failures) failures"
    }
}

func checkGradients(_ xs: [Tensor], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2, maxProbes: Int = 48,
                    seed: UInt64 = 7, _ f: ([Tensor]) -> Tensor) -> GradCheckResult {
    for x in xs { x.requiresGrad = true; x.grad = nil }
    let out = f(xs)
    var gen = SeededGenerator(seed: seed)
    let upstream = Tensor.uniform(out.shape, low: -1, high: 1, generator: &gen)
    (out * upstream).sum().backward()
    let u = upstream.toArray()
    func loss() -> Double {
        let o = withNoGrad { f(xs) }.toArray()
        var s = 0.0
        for i in 0..<o.count { s += Double(o[i]) * Double(u[i]) }
        return s
    }
    var result = GradCheckResult()
    for (xi, x) in xs.enumerated() {
        let analytic = x.grad?.toArray() ?? [Float](repeating: 0, count: x.count)
        let n = x.count
        let probes = n <= maxProbes ? Array(0..<n) : (0..<maxProbes).map { $0 * n / maxProbes + ($0 * 7) % Swift.max(1, n / maxProbes) }
        for i in probes {
            let orig = x.withMutableData { $0[i] }
            x.withMutableData { $0[i] = orig + eps }
            let lp = loss()
            x.withMutableData { $0[i] = orig - eps }
            let lm = loss()
            x.withMutableData { $0[i] = orig }
            let numeric = (lp - lm) / (2 * Double(eps))
            let a = Double(analytic[i])
            let excess = Swift.abs(a - numeric) - (atol + rtol * Swift.abs(numeric))
            if excess > 0 { result.failures += 1 }
            if excess > result.worst || result.worstIndex < 0 {
                if excess > result.worst { result.worst = excess }
                result.worstInput = xi; result.worstIndex = i; result.analytic = a; result.numeric = numeric
            }
        }
    }
    return result
}

/// A seeded random tensor, optionally kept away from a value (for kinks such as |x| or relu at 0).
func randomTensor(_ shape: Shape, seed: UInt64, low: Float = -1, high: Float = 1, avoid: Float? = nil,
                  margin: Float = 0.05) -> Tensor {
    var gen = SeededGenerator(seed: seed)
    var values = (0..<shape.count).map { _ in low + (high - low) * gen.nextFloat() }
    if let avoid {
        for i in values.indices where Swift.abs(values[i] - avoid) < margin {
            values[i] = avoid + (values[i] < avoid ? -margin : margin) * 2
        }
    }
    return Tensor(shape: shape, data: values)
}

/// Asserts a gradient check passed, naming the op.
func expectGradients(_ name: String, _ xs: [Tensor], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2,
                     _ f: ([Tensor]) -> Tensor) {
    let r = checkGradients(xs, eps: eps, atol: atol, rtol: rtol, f)
    #expect(r.failures == 0, "\(name): \(r)")
}

/// Max |a − b| between two value arrays of equal length.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}
