import Foundation

/// The range a hyper-parameter is drawn from (Optuna's `FloatDistribution`, `IntDistribution`,
/// `CategoricalDistribution`).
public enum Distribution: Sendable, Equatable, CustomStringConvertible {
    /// A real in [low, high], uniform in log space when `log` (then low > 0).
    case float(low: Double, high: Double, log: Bool)
    /// A whole number in [low, high], uniform in log space when `log` (then low ≥ 1).
    case int(low: Int, high: Int, log: Bool)
    /// One of `choices`.
    case categorical([String])

    /// Checks the bounds: low ≤ high, log scales positive, at least one choice.
    public func validate(_ name: String) throws(TuningError) {
        switch self {
        case .float(let lo, let hi, let log):
            guard lo.isFinite && hi.isFinite && lo <= hi else { throw .invalidSpace(name: name, reason: "range [\(lo), \(hi)] needs finite low ≤ high") }
            guard !log || lo > 0 else { throw .invalidSpace(name: name, reason: "range [\(lo), \(hi)] on a log scale needs low > 0") }
        case .int(let lo, let hi, let log):
            guard lo <= hi && (!log || lo >= 1) else { throw .invalidSpace(name: name, reason: "int range [\(lo), \(hi)] must have low ≤ high\(log ? " and low ≥ 1 on a log scale" : "")") }
        case .categorical(let c):
            guard !c.isEmpty else { throw .invalidSpace(name: name, reason: "no choices") }
        }
    }

    public var description: String {
        switch self {
        case .float(let lo, let hi, let log): "float [\(lo), \(hi)]\(log ? " log" : "")"
        case .int(let lo, let hi, let log): "int [\(lo), \(hi)]\(log ? " log" : "")"
        case .categorical(let c): "one of \(c.joined(separator: ", "))"
        }
    }

    /// The sampler's internal representation of a value: the log for log scales, the index for categories.
    func internalValue(_ v: ParamValue) -> Double {
        switch (self, v) {
        case (.float(_, _, let log), .float(let x)): log ? Foundation.log(x) : x
        case (.int(_, _, let log), .int(let x)): log ? Foundation.log(Double(x)) : Double(x)
        case (.categorical(let c), .string(let s)): Double(c.firstIndex(of: s) ?? 0)
        default: .nan
        }
    }

    /// The value of an internal representation, clamped into the range.
    func externalValue(_ x: Double) -> ParamValue {
        switch self {
        case .float(let lo, let hi, let log): .float(Swift.min(Swift.max(log ? exp(x) : x, lo), hi))
        case .int(let lo, let hi, let log): .int(Swift.min(Swift.max(Int((log ? exp(x) : x).rounded()), lo), hi))
        case .categorical(let c): .string(c[Swift.min(Swift.max(Int(x.rounded()), 0), c.count - 1)])
        }
    }
}

/// A hyper-parameter's value.
public enum ParamValue: Sendable, Equatable, Codable, CustomStringConvertible {
    case float(Double), int(Int), string(String)

    public var description: String {
        switch self {
        case .float(let x): String(format: "%.4g", x)
        case .int(let x): String(x)
        case .string(let s): s
        }
    }

    /// As a JSON value.
    public var json: Any {
        switch self {
        case .float(let x): x
        case .int(let x): x
        case .string(let s): s
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i) } else if let d = try? c.decode(Double.self) { self = .float(d) } else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .float(let x): try c.encode(x)
        case .int(let x): try c.encode(x)
        case .string(let s): try c.encode(s)
        }
    }
}

/// Why a search could not run, naming the parameter, option or value.
public enum TuningError: Error, CustomStringConvertible, Equatable, Sendable {
    case invalidSpace(name: String, reason: String)
    case invalidOption(name: String, value: String, accepted: String)
    case noCompletedTrial(trials: Int)

    public var description: String {
        switch self {
        case .invalidSpace(let n, let r): "search space parameter \(n): \(r)"
        case .invalidOption(let n, let v, let a): "\(n) must be \(a) (received \(v))"
        case .noCompletedTrial(let n): "no trial completed (\(n) run, all pruned or failed): give a larger budget"
        }
    }
}
