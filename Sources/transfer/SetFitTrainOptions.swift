import ArgumentParser
import FewShot
import Foundation
import TransferKit

/// The `transfer train --strategy setfit` options: SetFit's pair generation before the head.
struct SetFitTrainOptions: ParsableArguments {
    @Option(name: .long, help: "SetFit (--strategy setfit): pair-generation rounds, 2 · rounds · examples pairs (1…1000, default 20).")
    var iterations: Int?
    @Option(name: .long, help: "SetFit (--strategy setfit): at most this many pairs (≥ 2).")
    var maxPairs: Int?

    func validate(strategy: Strategy) throws {
        let given = [("--iterations", iterations != nil), ("--max-pairs", maxPairs != nil)].filter(\.1).map(\.0)
        if strategy != .setfit, let first = given.first {
            throw ValidationError("\(first) applies to --strategy setfit (received --strategy \(strategy.rawValue))")
        }
        if let iterations { try requireWhole("--iterations", iterations, in: 1...1000) }
        if let maxPairs { try requireWhole("--max-pairs", maxPairs, atLeast: 2) }
    }

    func preparation(seed: UInt64, progress: Bool) -> SetFitPreparation {
        var o = SetFitOptions()
        if let iterations { o.iterations = iterations }
        o.maxPairs = maxPairs
        o.seed = seed
        let p = SetFitPreparation(options: o)
        if progress {
            let start = Date()
            p.progress = { step, steps, loss in ProgressLine.draw(String(format: "setfit pairs (loss %.4f)", loss), done: step, total: steps, start: start) }
        }
        return p
    }
}
