/// Limited-memory BFGS (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 7.4 with the strong-Wolfe
/// line search of Algorithms 3.5–3.6), with the stopping rules of SciPy's `L-BFGS-B` as scikit-learn's `lbfgs`
/// solver calls it: stop when the largest gradient component is at most ``gradientTolerance`` (`gtol = tol`), when the
/// relative decrease of the objective is at most ``relativeDecreaseTolerance`` (`ftol = 64·ε`), or after
/// ``maxIterations`` iterations (`max_iter`).
public struct LBFGS: Sendable {
    /// Correction pairs kept (SciPy's `maxcor`, 10).
    public var memory = 10
    public var maxIterations = 100
    public var gradientTolerance = 1e-4
    public var relativeDecreaseTolerance = 64 * Double.ulpOfOne
    /// Sufficient-decrease and curvature constants of the line search (SciPy's `dcsrch`: 1e-3 and 0.9).
    public var c1 = 1e-3, c2 = 0.9

    public init(maxIterations: Int = 100, gradientTolerance: Double = 1e-4) {
        self.maxIterations = maxIterations; self.gradientTolerance = gradientTolerance
    }

    /// How a minimisation ended.
    public struct Result: Sendable {
        public var x: [Double]
        public var value: Double
        public var iterations: Int
        public var evaluations: Int
        public var converged: Bool
    }

    /// Minimises `f` (returning the value and gradient at a point) from `x0`.
    public func minimize(_ x0: [Double], _ f: ([Double]) -> (Double, [Double])) -> Result {
        var x = x0
        var (fx, g) = f(x)
        var evaluations = 1
        var s: [[Double]] = [], y: [[Double]] = [], rho: [Double] = []
        var iteration = 0
        while iteration < maxIterations {
            if maxAbs(g) <= gradientTolerance { return Result(x: x, value: fx, iterations: iteration, evaluations: evaluations, converged: true) }
            var d = direction(g, s, y, rho)
            var slope = dot(g, d)
            if !(slope < 0) {  // not a descent direction: restart from steepest descent
                s = []; y = []; rho = []
                d = g.map { -$0 }; slope = dot(g, d)
            }
            let first = s.isEmpty ? Swift.min(1, 1 / Swift.max(norm(g), 1e-300)) : 1
            let step = lineSearch(f, x: x, fx: fx, slope: slope, d: d, initial: first)
            evaluations += step.evaluations
            guard step.alpha > 0 else { break }
            let xNew = zip(x, d).map { $0 + step.alpha * $1 }
            let sk = zip(xNew, x).map { $0 - $1 }, yk = zip(step.g, g).map { $0 - $1 }
            let sy = dot(sk, yk)
            if sy > 1e-10 * dot(yk, yk) {
                s.append(sk); y.append(yk); rho.append(1 / sy)
                if s.count > memory { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
            }
            let decrease = (fx - step.f) / Swift.max(abs(fx), abs(step.f), 1)
            x = xNew; fx = step.f; g = step.g
            iteration += 1
            if decrease <= relativeDecreaseTolerance { return Result(x: x, value: fx, iterations: iteration, evaluations: evaluations, converged: true) }
        }
        return Result(x: x, value: fx, iterations: iteration, evaluations: evaluations, converged: maxAbs(g) <= gradientTolerance)
    }

    /// The two-loop recursion: −H·g with the initial scaling γ = sᵀy / yᵀy.
    func direction(_ g: [Double], _ s: [[Double]], _ y: [[Double]], _ rho: [Double]) -> [Double] {
        var q = g
        var alpha = [Double](repeating: 0, count: s.count)
        for i in stride(from: s.count - 1, through: 0, by: -1) {
            alpha[i] = rho[i] * dot(s[i], q)
            for j in q.indices { q[j] -= alpha[i] * y[i][j] }
        }
        if let sl = s.last, let yl = y.last { let gamma = dot(sl, yl) / dot(yl, yl); for j in q.indices { q[j] *= gamma } }
        for i in s.indices {
            let beta = rho[i] * dot(y[i], q)
            for j in q.indices { q[j] += s[i][j] * (alpha[i] - beta) }
        }
        return q.map { -$0 }
    }

    struct Step { var alpha: Double; var f: Double; var g: [Double]; var evaluations: Int }

    /// A step length satisfying the strong Wolfe conditions (bracketing, then zooming by bisection-safeguarded cubic
    /// interpolation); alpha 0 when none was found in 20 evaluations.
    func lineSearch(_ f: ([Double]) -> (Double, [Double]), x: [Double], fx: Double, slope: Double, d: [Double], initial: Double) -> Step {
        var evaluations = 0
        func at(_ a: Double) -> (Double, [Double], Double) {
            evaluations += 1
            let (v, g) = f(zip(x, d).map { $0 + a * $1 })
            return (v, g, dot(g, d))
        }
        var lo = 0.0, flo = fx, dlo = slope, loG: [Double]? = nil
        var a = initial
        var previous = 0.0, fPrevious = fx, dPrevious = slope
        var best = Step(alpha: 0, f: fx, g: [], evaluations: 0)
        for i in 0..<20 {
            let (fa, ga, da) = at(a)
            if fa.isFinite && fa < best.f { best = Step(alpha: a, f: fa, g: ga, evaluations: 0) }
            if !fa.isFinite || fa > fx + c1 * a * slope || (i > 0 && fa >= fPrevious) {
                lo = previous; flo = fPrevious; dlo = dPrevious; loG = nil
                return finish(zoom(f: at, fx: fx, slope: slope, lo: lo, flo: flo, dlo: dlo, hi: a, fhi: fa, dhi: da, loG: loG) ?? best, evaluations)
            }
            if abs(da) <= -c2 * slope { return Step(alpha: a, f: fa, g: ga, evaluations: evaluations) }
            if da >= 0 {
                return finish(zoom(f: at, fx: fx, slope: slope, lo: a, flo: fa, dlo: da, hi: previous, fhi: fPrevious, dhi: dPrevious, loG: ga) ?? best, evaluations)
            }
            previous = a; fPrevious = fa; dPrevious = da
            a *= 2
        }
        return finish(best, evaluations)
    }

    func finish(_ s: Step, _ evaluations: Int) -> Step { var s = s; s.evaluations = evaluations; return s }

    func zoom(f at: (Double) -> (Double, [Double], Double), fx: Double, slope: Double, lo: Double, flo: Double, dlo: Double,
              hi: Double, fhi: Double, dhi: Double, loG: [Double]?) -> Step? {
        var lo = lo, flo = flo, dlo = dlo, hi = hi, fhi = fhi, dhi = dhi, loG = loG
        for _ in 0..<30 {
            var a = cubicMinimizer(lo, flo, dlo, hi, fhi, dhi)
            let (l, h) = (Swift.min(lo, hi), Swift.max(lo, hi))
            if !(a > l + 0.1 * (h - l) && a < h - 0.1 * (h - l)) { a = (lo + hi) / 2 }
            let (fa, ga, da) = at(a)
            if !fa.isFinite || fa > fx + c1 * a * slope || fa >= flo {
                hi = a; fhi = fa; dhi = da
            } else {
                if abs(da) <= -c2 * slope { return Step(alpha: a, f: fa, g: ga, evaluations: 0) }
                if da * (hi - lo) >= 0 { hi = lo; fhi = flo; dhi = dlo }
                lo = a; flo = fa; dlo = da; loG = ga
            }
            if abs(hi - lo) < 1e-16 * Swift.max(1, abs(lo)) { break }
        }
        if let loG, lo > 0 { return Step(alpha: lo, f: flo, g: loG, evaluations: 0) }
        return nil
    }

    /// The minimiser of the cubic through (a, fa, da) and (b, fb, db) (Nocedal & Wright eq. 3.59); NaN if none.
    func cubicMinimizer(_ a: Double, _ fa: Double, _ da: Double, _ b: Double, _ fb: Double, _ db: Double) -> Double {
        guard fb.isFinite else { return .nan }
        let d1 = da + db - 3 * (fa - fb) / (a - b)
        let disc = d1 * d1 - da * db
        guard disc >= 0 else { return .nan }
        let d2 = (b > a ? 1.0 : -1.0) * disc.squareRoot()
        return b - (b - a) * (db + d2 - d1) / (db - da + 2 * d2)
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in for i in 0..<pa.count { s += pa[i] * pb[i] } } }
    return s
}

func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }

func maxAbs(_ a: [Double]) -> Double { a.reduce(0) { Swift.max($0, abs($1)) } }
