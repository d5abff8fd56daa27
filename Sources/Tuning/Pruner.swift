import Foundation

/// Decides whether a running trial stops early.
public protocol Pruner {
    /// Whether `trial` (after its last report) should stop.
    func prune(study: Study, trial: TrialHandle) -> Bool
}

/// Asynchronous successive halving (ASHA; Li et al., "A System for Massively Parallel Hyperparameter Tuning",
/// MLSys 2020), as Optuna's `SuccessiveHalvingPruner` with its defaults: rung r is reached after
/// `minResource · reductionFactor^(minEarlyStoppingRate + r)` steps; a trial reaching a rung records its value
/// there and continues only if it is in the top 1/`reductionFactor` of every value recorded at that rung so far
/// (itself included; the best one when fewer than `reductionFactor` are recorded). With `minResource` nil ("auto")
/// nothing is pruned until a trial completes; then it is max(1, its last step / 100).
public final class SuccessiveHalvingPruner: Pruner {
    public private(set) var minResource: Int?
    public let reductionFactor: Int
    public let minEarlyStoppingRate: Int
    public let bootstrapCount: Int

    public init(minResource: Int? = nil, reductionFactor: Int = 4, minEarlyStoppingRate: Int = 0, bootstrapCount: Int = 0) throws(TuningError) {
        if let m = minResource, m < 1 { throw .invalidOption(name: "minResource", value: "\(m)", accepted: "nil (auto) or ≥ 1") }
        guard reductionFactor >= 2 else { throw .invalidOption(name: "reductionFactor", value: "\(reductionFactor)", accepted: "≥ 2") }
        guard minEarlyStoppingRate >= 0 && bootstrapCount >= 0 else {
            throw .invalidOption(name: "minEarlyStoppingRate/bootstrapCount", value: "\(minEarlyStoppingRate)/\(bootstrapCount)", accepted: "≥ 0")
        }
        self.minResource = minResource; self.reductionFactor = reductionFactor
        self.minEarlyStoppingRate = minEarlyStoppingRate; self.bootstrapCount = bootstrapCount
    }

    public func prune(study: Study, trial: TrialHandle) -> Bool {
        guard let step = trial.intermediate.keys.max(), let value = trial.intermediate[step] else { return false }
        if minResource == nil {
            let steps = study.trials.filter { $0.state == .complete }.compactMap(\.lastStep)
            guard let last = steps.max() else { return false }
            minResource = Swift.max(last / 100, 1)
        }
        var rung = study.rungValues[trial.number]?.count ?? 0
        while true {
            let promotionStep = minResource! * Int(pow(Double(reductionFactor), Double(minEarlyStoppingRate + rung)))
            if step < promotionStep { return false }
            if value.isNaN { return true }
            study.rungValues[trial.number, default: [:]][rung] = value
            let competing = study.rungValues.values.compactMap { $0[rung] }
            if competing.count <= bootstrapCount { return true }
            if !promotable(value, competing, study.direction) { return true }
            rung += 1
        }
    }

    func promotable(_ value: Double, _ competing: [Double], _ direction: Direction) -> Bool {
        let sorted = competing.sorted()
        let idx = Swift.max(competing.count / reductionFactor - 1, 0)
        return direction == .maximize ? value >= sorted[sorted.count - 1 - idx] : value <= sorted[idx]
    }
}
