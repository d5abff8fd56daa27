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

extension LRFinderResult {
    /// The curve as a standalone SVG document: smoothed loss against the learning rate on a log axis, with the
    /// three suggestions marked.
    public func svg(title: String = "Learning-rate sweep") -> String {
        let width = 560.0, height = 320.0, left = 64.0, right = 18.0, top = 34.0, bottom = 46.0
        let plotW = width - left - right, plotH = height - top - bottom
        // Losses above 4× the first one are the divergence: keep them out of the y range.
        let cap = Double(losses.first ?? 1) * 4
        let shown = losses.map { Swift.min(Double($0), cap) }
        let (yTicks, _) = niceTicks(shown.min() ?? 0, shown.max() ?? 1)
        let y0 = yTicks.first ?? 0, y1 = Swift.max(yTicks.last ?? 1, y0 + 1e-9)
        let lx0 = Foundation.log10(Double(learningRates.first ?? 1e-7)), lx1 = Swift.max(Foundation.log10(Double(learningRates.last ?? 10)), lx0 + 1e-9)
        func x(_ lr: Float) -> Double { left + (Foundation.log10(Double(lr)) - lx0) / (lx1 - lx0) * plotW }
        func y(_ v: Double) -> Double { top + (1 - (v - y0) / (y1 - y0)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" font-family=\"sans-serif\">"
        out += "<text x=\"\(f(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">\(HTMLReport.escape(title))</text>"
        for t in yTicks {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y(t)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y(t)))\" stroke=\"#e3e7ee\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y(t) + 4))\" text-anchor=\"end\" font-size=\"11\">\(String(format: "%.3g", t))</text>"
        }
        for d in Int(Foundation.floor(lx0 + 1e-6))...Int(Foundation.ceil(lx1 - 1e-6)) where Double(d) >= lx0 - 1e-6 && Double(d) <= lx1 + 1e-6 {
            let xx = left + (Double(d) - lx0) / (lx1 - lx0) * plotW
            out += "<line x1=\"\(f(xx))\" y1=\"\(f(top))\" x2=\"\(f(xx))\" y2=\"\(f(top + plotH))\" stroke=\"#e3e7ee\"/>"
            out += "<text x=\"\(f(xx))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\" font-size=\"11\">1e\(d)</text>"
        }
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\" font-size=\"12\">learning rate (log scale)</text>"
        out += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">smoothed loss</text>"
        let points = zip(learningRates, shown).map { "\(f(x($0))),\(f(y($1)))" }.joined(separator: " ")
        out += "<polyline fill=\"none\" stroke=\"#3366cc\" stroke-width=\"2\" points=\"\(points)\"/>"
        for (k, (name, lr, color)) in [("valley", valley, "#d62728"), ("steepest", steepest, "#2ca02c"), ("min/10", minimumOverTen, "#ff7f0e")].enumerated() {
            let i = learningRates.indices.min { Swift.abs(Foundation.log(learningRates[$0] / lr)) < Swift.abs(Foundation.log(learningRates[$1] / lr)) } ?? 0
            out += "<circle cx=\"\(f(x(lr)))\" cy=\"\(f(y(shown[i])))\" r=\"5\" fill=\"\(color)\"><title>\(name) \(String(format: "%.2e", lr))</title></circle>"
            out += "<text x=\"\(f(x(lr) + 7))\" y=\"\(f(y(shown[i]) - 8 - 14 * Double(k)))\" font-size=\"11\" fill=\"\(color)\">\(name) \(String(format: "%.1e", lr))</text>"
        }
        return out + "</svg>\n"
    }
}
