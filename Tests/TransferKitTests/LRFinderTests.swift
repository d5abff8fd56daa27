import Foundation
import Optimizers
import Testing
@testable import Tensors
@testable import TransferKit

@Suite struct LRFinderTests {
    @Test func valleyMatchesFastaiOnACurveWithNoiseAPlateauAndADivergence() {
        // The curve and its answer (index 14) come from fastai's `valley` run in Python on the same numbers.
        let lrs = (0..<36).map { Float(1e-6 * pow(10, Double($0) / 5)) }
        let losses: [Float] = [2.3, 2.34, 2.38, 2.32, 2.36, 2.3, 2.34, 2.38, 2.32, 2.31, 2.2, 2.19, 2.18, 2.07, 2.06, 1.95, 1.94, 1.93,
                               1.82, 1.81, 1.7, 1.69, 1.68, 1.57, 1.56, 1.45, 1.44, 1.73, 2.169, 2.869, 3.6, 4.544, 5.589, 6.626, 7.848, 9.05]
        let r = LRFinderResult(learningRates: lrs, losses: losses)
        #expect(r.valley == lrs[14])
        #expect(r.minimumOverTen == lrs[26] / 10)
    }

    @Test func exponentialRampGoesFromStartToEndGeometrically() {
        let s = ExponentialRampSchedule(start: 1e-6, end: 1)
        #expect(Swift.abs(s.factor(step: 0, totalSteps: 7) - 1e-6) < 1e-12)
        #expect(Swift.abs(s.factor(step: 3, totalSteps: 7) - 1e-3) < 1e-9)
        #expect(Swift.abs(s.factor(step: 6, totalSteps: 7) - 1) < 1e-6)
        #expect(s.factor(step: 60, totalSteps: 7) == s.factor(step: 6, totalSteps: 7))
    }

    @Test func sweepRampsTheRateStopsOnDivergenceAndPutsTheModelBack() throws {
        // Labels that no linear head can fit: a huge rate must blow the loss up (on separable blobs it would just
        // reach zero).
        let (x, _) = blobs(240, seed: 10)
        var g = SeededGenerator(seed: 3)
        let labels = (0..<240).map { _ in Int(g.next() % 3) }
        let noisy = Head(.linear, inputs: 8, outputs: 3, seed: 1)
        let opt = AdamW(parameters: noisy.namedParameters().map { ($0.0, $0.1) }, learningRate: 0.01, weightDecay: 0)
        let l = Learner(model: noisy, objective: ClassificationObjective(), optimizer: opt,
                        trainData: TensorBatchSource(inputs: x, targets: .classes(labels), batchSize: 16, shuffle: true), validData: nil)
        let before = noisy.stateDict().map { $0.tensor.toArray() }
        let r = try l.findLearningRate(start: 1e-6, end: 1e4, iterations: 100)
        #expect(zip(r.learningRates, r.learningRates.dropFirst()).allSatisfy { $0 < $1 })
        #expect(Swift.abs(r.learningRates[0] - 1e-6) < 1e-9)
        #expect(r.losses.count < 100, "the loss must diverge before the end of the sweep: \(r.losses.suffix(4)) at \(r.learningRates.suffix(2))")
        #expect(r.losses.last! > 4 * r.losses.min()!)
        #expect(noisy.stateDict().map { $0.tensor.toArray() } == before)
        #expect(l.history.isEmpty && l.optimizer.stepCount == 0)

        // On learnable data the valley lies inside the sweep, and the learner trains as if the sweep never happened.
        let (blobLearner, _) = makeLearner(lr: 0.05)
        let b = try blobLearner.findLearningRate(start: 1e-6, end: 10, iterations: 60)
        #expect(b.valley > 1e-6 && b.valley < 10)
        try blobLearner.fit(epochs: 2)
        #expect(blobLearner.validMetric! > 0.9)
    }
}
