import Foundation

/// Whether a search minimises or maximises its objective.
public enum Direction: String, Sendable, Codable { case minimize, maximize }

/// How a trial ended.
public enum TrialState: String, Sendable, Codable { case complete, pruned, failed }

/// A finished trial: its parameters, its value (complete) or last reported value (pruned), what it reported on the
/// way, how long it took.
public struct FrozenTrial: Sendable {
    public var number: Int
    public var params: [String: ParamValue]
    public var distributions: [String: Distribution]
    public var value: Double?
    /// Intermediate values by step (e.g. validation score after each epoch).
    public var intermediate: [Int: Double]
    public var state: TrialState
    public var seconds: Double
    /// Why a failed trial failed.
    public var error: String?
    public var lastStep: Int? { intermediate.keys.max() }
}

/// A running trial, as the objective sees it: define-by-run `suggest…` calls (Optuna's `Trial`), `report` of
/// intermediate values and `shouldPrune`.
public final class TrialHandle {
    public let number: Int
    let study: Study
    public private(set) var params: [String: ParamValue] = [:]
    public private(set) var distributions: [String: Distribution] = [:]
    public private(set) var intermediate: [Int: Double] = [:]

    init(number: Int, study: Study) { self.number = number; self.study = study }

    func suggest(_ name: String, _ d: Distribution) throws(TuningError) -> ParamValue {
        if let v = params[name] { return v }
        try d.validate(name)
        let v = study.sampler.sample(study: study, trial: self, name: name, distribution: d)
        params[name] = v; distributions[name] = d
        return v
    }

    public func suggestFloat(_ name: String, _ low: Double, _ high: Double, log: Bool = false) throws(TuningError) -> Double {
        if case .float(let x) = try suggest(name, .float(low: low, high: high, log: log)) { return x }
        throw .invalidSpace(name: name, reason: "suggested twice with different kinds")
    }

    public func suggestInt(_ name: String, _ low: Int, _ high: Int, log: Bool = false) throws(TuningError) -> Int {
        if case .int(let x) = try suggest(name, .int(low: low, high: high, log: log)) { return x }
        throw .invalidSpace(name: name, reason: "suggested twice with different kinds")
    }

    public func suggestCategorical(_ name: String, _ choices: [String]) throws(TuningError) -> String {
        if case .string(let s) = try suggest(name, .categorical(choices)) { return s }
        throw .invalidSpace(name: name, reason: "suggested twice with different kinds")
    }

    /// Records the objective's value after `step` units of resource (e.g. epochs).
    public func report(_ value: Double, step: Int) { intermediate[step] = value }

    /// Whether the study's pruner stops this trial now (after the last ``report(_:step:)``).
    public func shouldPrune() -> Bool { study.pruner?.prune(study: study, trial: self) ?? false }
}

/// Thrown by an objective whose trial was pruned.
public struct TrialPruned: Error, Sendable { public init() {} }

/// How long a search runs: a number of trials, or wall-clock time (no new trial starts after it).
public enum Budget: Sendable, Equatable, CustomStringConvertible {
    case trials(Int)
    case seconds(Double)

    /// `N` trials (1…10000) or a duration `Ns`, `Nm`, `Nh` (more than 0, at most 7 days).
    public init(parsing s: String) throws(TuningError) {
        let t = s.trimmingCharacters(in: .whitespaces)
        let accepted = "a number of trials 1…10000 (e.g. 30) or a duration such as 90s, 20m, 2h (at most 7 days)"
        if let n = Int(t) {
            guard (1...10_000).contains(n) else { throw .invalidOption(name: "--budget", value: s, accepted: accepted) }
            self = .trials(n); return
        }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
        guard let u = t.last, let scale = units[u], let x = Double(t.dropLast()), x.isFinite, x > 0, x * scale <= 7 * 86400 else {
            throw .invalidOption(name: "--budget", value: s, accepted: accepted)
        }
        self = .seconds(x * scale)
    }

    public var description: String {
        switch self {
        case .trials(let n): "\(n) trials"
        case .seconds(let s): String(format: "%.0f s", s)
        }
    }
}

/// A hyper-parameter search (Optuna's `Study`): runs trials of an objective with values suggested by ``sampler``,
/// pruning with ``pruner``, until the ``Budget`` is spent.
public final class Study {
    public let direction: Direction
    public var sampler: Sampler
    public var pruner: Pruner?
    public private(set) var trials: [FrozenTrial] = []
    /// Called after every trial (complete, pruned or failed): where a progress line or an experiment tracker plugs in.
    public var onTrialFinished: ((FrozenTrial) -> Void)?

    public init(direction: Direction, sampler: Sampler, pruner: Pruner? = nil) {
        self.direction = direction; self.sampler = sampler; self.pruner = pruner
    }

    /// Whether `a` is a better value than `b`.
    public func better(_ a: Double, than b: Double) -> Bool { direction == .minimize ? a < b : a > b }

    /// The best complete trial.
    public var bestTrial: FrozenTrial? {
        trials.filter { $0.state == .complete && ($0.value?.isFinite ?? false) }.min { better($0.value!, than: $1.value!) }
    }

    /// Runs trials until `budget` is spent. A trial that throws ``TrialPruned`` is pruned; any other error fails
    /// that trial (recorded with its message) and the search goes on, unless it is a ``TuningError`` (a bad space).
    public func optimize(budget: Budget, objective: (TrialHandle) throws -> Double) throws {
        let start = Date()
        while true {
            switch budget {
            case .trials(let n): if trials.count >= n { return }
            case .seconds(let s): if Date().timeIntervalSince(start) >= s { return }
            }
            let handle = TrialHandle(number: trials.count, study: self)
            let t0 = Date()
            var frozen = FrozenTrial(number: handle.number, params: [:], distributions: [:], value: nil, intermediate: [:],
                                     state: .complete, seconds: 0, error: nil)
            do {
                let v = try objective(handle)
                frozen.value = v
                if !v.isFinite { frozen.state = .failed; frozen.error = "objective value \(v)" }
            } catch is TrialPruned {
                frozen.state = .pruned
                frozen.value = handle.intermediate.max { $0.key < $1.key }?.value
            } catch let e as TuningError {
                throw e
            } catch {
                frozen.state = .failed
                frozen.error = "\(error)"
            }
            frozen.params = handle.params; frozen.distributions = handle.distributions; frozen.intermediate = handle.intermediate
            frozen.seconds = Date().timeIntervalSince(t0)
            trials.append(frozen)
            onTrialFinished?(frozen)
        }
    }

    /// Rung values recorded by a pruner, per trial number.
    var rungValues: [Int: [Int: Double]] = [:]
}
