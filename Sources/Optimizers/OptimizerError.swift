/// Errors of the Optimizers module: an optimizer state dictionary that does not fit the optimizer it is loaded
/// into, or parameter groups that cannot be built as asked.
public enum OptimizerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The state dictionary lacks `key`, which the optimizer needs (e.g. `step`, or `state.<name>.exp_avg_sq` of a
    /// parameter whose `state.<name>.step` is present).
    case missingKey(String)
    /// The state dictionary holds `key`, which names no state of this optimizer: an unknown parameter, a
    /// parameter group index past the optimizer's groups, or a state tensor this optimizer does not keep.
    case unexpectedKey(String)
    /// Tensor `key` has shape `found` where the optimizer needs `expected` (the parameter's shape for state
    /// tensors, `[]` for scalars).
    case shapeMismatch(key: String, expected: [Int], found: [Int])
    /// Scalar `key` holds a value the optimizer cannot use (`reason` says why), e.g. a negative or fractional
    /// step count.
    case invalidValue(key: String, value: Float, reason: String)
    /// ``ParameterGroup/split(_:prefixes:learningRates:weightDecay:names:)``: parameter `name` matches no prefix
    /// list (give an empty list as the last group to catch every remaining parameter).
    case unmatchedParameter(String)
    /// ``ParameterGroup/split(_:prefixes:learningRates:weightDecay:names:)``: `learningRates` (or `names`) has
    /// `found` entries for `expected` prefix lists.
    case countMismatch(what: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .missingKey(let k): "optimizer state: missing key '\(k)'"
        case .unexpectedKey(let k): "optimizer state: unexpected key '\(k)'"
        case let .shapeMismatch(k, e, f): "optimizer state: '\(k)' has shape \(f), expected \(e)"
        case let .invalidValue(k, v, r): "optimizer state: '\(k)' = \(v): \(r)"
        case .unmatchedParameter(let n): "parameter groups: '\(n)' matches no prefix list"
        case let .countMismatch(w, e, f): "parameter groups: \(f) \(w) for \(e) prefix lists"
        }
    }
}
