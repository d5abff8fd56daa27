import Foundation
import Testing
@testable import Tuning

struct SamplerTests {
    /// A 2-D objective with its optimum at lr = 1e-2 (log scale), x = 0.3, and a categorical that matters.
    func objective(_ t: TrialHandle) throws -> Double {
        let lr = try t.suggestFloat("lr", 1e-5, 1, log: true)
        let x = try t.suggestFloat("x", -1, 1)
        let k = try t.suggestCategorical("kind", ["a", "b", "c"])
        let n = try t.suggestInt("n", 1, 64, log: true)
        let penalty = k == "b" ? 0 : 1.0
        return pow(log10(lr) + 2, 2) + pow(x - 0.3, 2) + penalty + 0.001 * Double(n)
    }

    func run(_ sampler: Sampler, trials: Int = 40) throws -> Study {
        let s = Study(direction: .minimize, sampler: sampler)
        try s.optimize(budget: .trials(trials), objective: objective)
        return s
    }

    @Test func samplersRepeatUnderASeedAndDifferUnderAnother() throws {
        for make in [{ (s: UInt64) -> Sampler in RandomSampler(seed: s) }, { TPESampler(seed: $0) }] {
            let a = try run(make(1)), b = try run(make(1)), c = try run(make(2))
            #expect(a.trials.map(\.params) == b.trials.map(\.params))
            #expect(a.trials.map(\.params) != c.trials.map(\.params))
        }
    }

    @Test func everySampledValueRespectsItsBoundsAndKind() throws {
        for sampler in [RandomSampler(seed: 5), TPESampler(seed: 5)] as [Sampler] {
            for t in try run(sampler, trials: 60).trials {
                guard case .float(let lr) = t.params["lr"], case .float(let x) = t.params["x"], case .int(let n) = t.params["n"],
                      case .string(let k) = t.params["kind"] else { Issue.record("kinds: \(t.params)"); continue }
                #expect(lr >= 1e-5 && lr <= 1 && x >= -1 && x <= 1 && (1...64).contains(n) && ["a", "b", "c"].contains(k))
            }
        }
    }

    @Test func randomSamplingIsUniformInLogSpaceForLogScales() throws {
        let s = try run(RandomSampler(seed: 9), trials: 400)
        let logs = s.trials.compactMap { t -> Double? in if case .float(let v) = t.params["lr"] { return log10(v) }; return nil }
        // Uniform on [-5, 0]: mean −2.5, and each decade gets about a fifth.
        let mean = logs.reduce(0, +) / Double(logs.count)
        #expect(abs(mean + 2.5) < 0.25, "mean log10 lr \(mean)")
        let lowest = logs.filter { $0 < -4 }.count
        #expect(lowest > 50 && lowest < 110, "\(lowest) of 400 in [1e-5, 1e-4)")
    }

    @Test func tpeFindsABetterOptimumThanRandomSearchWithTheSameBudget() throws {
        var tpeWins = 0
        for seed in UInt64(0)..<5 {
            let tpe = try run(TPESampler(seed: seed), trials: 50).bestTrial!.value!
            let random = try run(RandomSampler(seed: seed), trials: 50).bestTrial!.value!
            if tpe < random { tpeWins += 1 }
        }
        #expect(tpeWins >= 4, "TPE beat random search in \(tpeWins) of 5 seeds")
    }

    @Test func tpeSamplesRandomlyForItsStartupTrialsThenConcentratesNearTheBest() throws {
        let s = try run(TPESampler(seed: 3), trials: 60)
        let random = try run(RandomSampler(seed: 3), trials: 10)
        #expect(Array(s.trials.prefix(10).map(\.params)) == random.trials.map(\.params))
        let late = s.trials.suffix(20).filter { if case .string("b") = $0.params["kind"] { return true }; return false }.count
        #expect(late >= 14, "\(late) of the last 20 trials chose the right category")
    }

    @Test func optunaDefaultGammaAndWeights() {
        #expect(TPESampler.gamma(10) == 1 && TPESampler.gamma(11) == 2 && TPESampler.gamma(1000) == 25)
        #expect(TPESampler.weights(3) == [1, 1, 1])
        let w = TPESampler.weights(30)
        #expect(w.count == 30 && abs(w[0] - 1.0 / 30) < 1e-12 && w[4] == 1 && w.suffix(25).allSatisfy { $0 == 1 })
    }

    @Test func budgetParsesTrialsAndDurationsAndRefusesTheRest() throws {
        #expect(try Budget(parsing: "30") == .trials(30))
        #expect(try Budget(parsing: "20m") == .seconds(1200))
        #expect(try Budget(parsing: "90s") == .seconds(90))
        #expect(try Budget(parsing: "2h") == .seconds(7200))
        for bad in ["0", "-3", "abc", "10x", "0m", "nanm", "", "9999h"] {
            #expect(throws: TuningError.self, "\(bad)") { try Budget(parsing: bad) }
        }
    }

    @Test func aBadSpaceIsRefusedNamingTheParameter() throws {
        let s = Study(direction: .minimize, sampler: RandomSampler())
        #expect(throws: TuningError.invalidSpace(name: "lr", reason: "range [0.0, 1.0] on a log scale needs low > 0")) {
            try s.optimize(budget: .trials(1)) { t in try t.suggestFloat("lr", 0, 1, log: true) }
        }
    }
}

struct PrunerTests {
    /// Curves that rise towards their trial's quality; trial 5 is clearly bad. With ASHA (min resource 1, η = 4)
    /// it is stopped at an early rung while the good trials run to the end.
    @Test func successiveHalvingPrunesAClearlyBadTrialEarly() throws {
        let quality = [0.9, 0.8, 0.85, 0.88, 0.87, 0.2, 0.86, 0.89]
        let s = Study(direction: .maximize, sampler: RandomSampler(seed: 0), pruner: try SuccessiveHalvingPruner(minResource: 1))
        try s.optimize(budget: .trials(quality.count)) { t in
            let q = quality[t.number]
            for epoch in 1...16 {
                t.report(q * (1 - exp(-Double(epoch) / 3)), step: epoch)
                if t.shouldPrune() { throw TrialPruned() }
            }
            return q
        }
        let bad = s.trials[5]
        #expect(bad.state == .pruned && (bad.lastStep ?? 99) <= 4, "bad trial: \(bad.state) at step \(bad.lastStep ?? -1)")
        #expect(s.trials[0].state == .complete)
        #expect(s.bestTrial?.number == 0)
    }

    @Test func autoMinimumResourceWaitsForACompletedTrial() throws {
        let s = Study(direction: .minimize, sampler: RandomSampler(seed: 0), pruner: try SuccessiveHalvingPruner())
        var prunedFirst = false
        try s.optimize(budget: .trials(1)) { t in
            for e in 1...5 { t.report(Double(10 - e), step: e); if t.shouldPrune() { prunedFirst = true } }
            return 5
        }
        #expect(!prunedFirst)
        #expect(throws: TuningError.self) { try SuccessiveHalvingPruner(reductionFactor: 1) }
    }
}
