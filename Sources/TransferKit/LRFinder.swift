import Foundation
import Layers
import Optimizers
import Tensors

/// The loss curve of a learning-rate sweep and the rates it suggests (fastai `lr_find`).
public struct LRFinderResult: Codable, Sendable, Equatable {
    /// The learning rate of each step (the top group's rate).
    public var learningRates: [Float]
    /// The loss at each step, exponentially smoothed (β = 0.98, bias-corrected).
    public var losses: [Float]
    /// fastai's `valley` suggestion: the middle of the longest stretch over which the loss keeps falling.
    public var valley: Float
    /// The rate where the smoothed loss falls fastest against log(rate).
    public var steepest: Float
    /// A tenth of the rate with the lowest smoothed loss (fastai `minimum`).
    public var minimumOverTen: Float

    enum CodingKeys: String, CodingKey {
        case learningRates = "learning_rates", losses, valley, steepest, minimumOverTen = "minimum_over_ten"
    }

    public init(learningRates: [Float], losses: [Float]) {
        precondition(learningRates.count == losses.count && !losses.isEmpty, "LRFinderResult: \(learningRates.count) rates, \(losses.count) losses")
        self.learningRates = learningRates
        self.losses = losses
        // fastai `valley`: the longest decreasing subsequence, then a point 1/3 + 1/6 of the way along it.
        let n = losses.count
        var lds = [Int](repeating: 1, count: n)
        var maxStart = 0, maxEnd = 0
        for i in 1..<Swift.max(n, 1) {
            for j in 0..<i {
                if losses[i] < losses[j] && lds[i] < lds[j] + 1 { lds[i] = lds[j] + 1 }
                if lds[maxEnd] < lds[i] {
                    maxEnd = i
                    maxStart = maxEnd - lds[maxEnd]
                }
            }
        }
        let sections = Double(maxEnd - maxStart) / 3
        let idx = Swift.min(Swift.max(maxStart + Int(sections) + Int(sections / 2), 0), n - 1)
        valley = learningRates[idx]
        var best = 0, steep = 0
        var slope = Float.infinity
        for i in 0..<n {
            if losses[i] < losses[best] { best = i }
            if i > 0 {
                let d = (losses[i] - losses[i - 1]) / Swift.max(Foundation.log(learningRates[i] / learningRates[i - 1]), 1e-12)
                if d < slope { slope = d; steep = i }
            }
        }
        steepest = learningRates[steep]
        minimumOverTen = learningRates[best] / 10
    }
}

/// Ramps the learning rate geometrically batch by batch and records the smoothed loss; stops when the loss
/// diverges (4× its minimum, or not finite) or after `iterations` steps. Used by ``Learner/findLearningRate(start:end:iterations:)``.
public final class LRFinder: Callback {
    public let iterations: Int
    public private(set) var learningRates: [Float] = []
    public private(set) var losses: [Float] = []
    private var average: Double = 0
    private var best = Float.infinity

    public init(iterations: Int) { self.iterations = iterations }
    public override var order: Int { 10 }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        switch event {
        case .afterLoss:
            learningRates.append(l.optimizer.learningRates.last ?? 0)
            average = 0.98 * average + 0.02 * Double(l.lossValue)
            let smoothed = Float(average / (1 - Foundation.pow(0.98, Double(losses.count + 1))))
            losses.append(smoothed)
            best = Swift.min(best, smoothed)
        case .afterStep:
            let last = losses.last ?? .nan
            if losses.count >= iterations || !last.isFinite || last > 4 * best { throw LearnerControl.stopFit }
        default: break
        }
    }
}

extension Learner {
    /// Sweeps the learning rate from `start` to `end` (the top group's rate; lower groups keep their ratio to it)
    /// over at most `iterations` batches, then puts the model and optimizer back as they were (fastai `lr_find`).
    public func findLearningRate(start: Float = 1e-7, end: Float = 10, iterations: Int = 100) throws -> LRFinderResult {
        let savedModel = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.tensor.copy()) })
        let savedOptimizer = Dictionary(uniqueKeysWithValues: optimizer.stateDict().map { ($0.key, $0.value.copy()) })
        let savedSchedule = optimizer.schedule, savedTotal = optimizer.totalSteps
        let savedCallbacks = callbacks, savedHistory = history, savedIteration = iteration, savedPhase = phase
        let savedValid = validData
        defer {
            validData = savedValid
            try? model.load(savedModel)
            try? optimizer.loadStateDict(savedOptimizer)
            optimizer.setSchedule(savedSchedule, totalSteps: Swift.max(savedTotal, 1))
            callbacks = savedCallbacks; history = savedHistory; iteration = savedIteration; phase = savedPhase
        }
        let top = optimizer.groups.last?.learningRate ?? 1
        optimizer.setSchedule(ExponentialRampSchedule(start: start / top, end: end / top), totalSteps: iterations)
        let finder = LRFinder(iterations: iterations)
        callbacks = [finder] + callbacks.filter { $0 is ProgressBar }
        history = []
        validData = nil
        phase = "lr-find"
        try fit(epochs: iterations)
        guard !finder.losses.isEmpty else { throw TrainError.nothingToTrain("the learning-rate sweep ran no batch") }
        return LRFinderResult(learningRates: finder.learningRates, losses: finder.losses)
    }
}
