import Foundation
import Testing
@testable import Tensors

/// Batch norm by definition, in Float64: per channel over (N, H, W), with the given or the batch (biased) statistics.
private func naiveBatchNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, mean: [Float]? = nil, variance: [Float]? = nil,
                            eps: Double = 1e-5) -> [Float] {
    let n = x.shape[0], c = x.shape[1], hw = x.shape[2] * x.shape[3]
    let xv = x.toArray().map(Double.init), wv = weight?.toArray(), bv = bias?.toArray()
    var out = [Float](repeating: 0, count: xv.count)
    for ch in 0..<c {
        var idx: [Int] = []
        for b in 0..<n { for i in 0..<hw { idx.append((b * c + ch) * hw + i) } }
        let m = mean.map { Double($0[ch]) } ?? idx.reduce(0) { $0 + xv[$1] } / Double(idx.count)
        let v = variance.map { Double($0[ch]) } ?? idx.reduce(0) { $0 + (xv[$1] - m) * (xv[$1] - m) } / Double(idx.count)
        for k in idx {
            out[k] = Float((xv[k] - m) / (v + eps).squareRoot() * Double(wv?[ch] ?? 1) + Double(bv?[ch] ?? 0))
        }
    }
    return out
}

/// Layer norm over the last dimension, in Float64.
private func naiveLayerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> [Float] {
    let d = x.shape[x.rank - 1]
    let xv = x.toArray().map(Double.init), wv = weight?.toArray(), bv = bias?.toArray()
    var out = [Float](repeating: 0, count: xv.count)
    for r in 0..<(xv.count / d) {
        let row = xv[(r * d)..<((r + 1) * d)]
        let m = row.reduce(0, +) / Double(d)
        let v = row.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(d)
        for j in 0..<d {
            out[r * d + j] = Float((xv[r * d + j] - m) / (v + eps).squareRoot() * Double(wv?[j] ?? 1) + Double(bv?[j] ?? 0))
        }
    }
    return out
}

@Suite struct NormalizationTests {
    @Test func batchNorm2dTrainingNormalisesWithBatchStatisticsAndUpdatesRunningStatsLikePyTorch() {
        // Channel 0 holds {1, 2, 3, 6}: mean 3, biased variance 3.5, unbiased 14/3.
        // Channel 1 holds {0, 0, 4, 4}: mean 2, biased variance 4, unbiased 16/3.
        let x = Tensor(shape: [2, 2, 1, 2], data: [1, 2, 0, 0, 3, 6, 4, 4])
        let weight = Tensor([2, 0.5]), bias = Tensor([1, -1])
        let runningMean = Tensor([0.5, -1]), runningVar = Tensor([1, 2])
        let y = Tensor.batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                   training: true)
        #expect(maxAbsDiff(y.toArray(), naiveBatchNorm(x, weight: weight, bias: bias)) < 1e-5)
        // running = 0.9 · running + 0.1 · batch, with the unbiased variance.
        #expect(maxAbsDiff(runningMean.toArray(), [0.9 * 0.5 + 0.1 * 3, 0.9 * -1 + 0.1 * 2]) < 1e-6)
        #expect(maxAbsDiff(runningVar.toArray(), [0.9 * 1 + 0.1 * 14 / 3, 0.9 * 2 + 0.1 * 16 / 3]) < 1e-6)
        // A second step with another momentum compounds on the updated values.
        _ = Tensor.batchNorm2d(x, weight: nil, bias: nil, runningMean: runningMean, runningVar: runningVar,
                               training: true, momentum: 0.25)
        #expect(maxAbsDiff(runningMean.toArray(), [0.75 * 0.75 + 0.25 * 3, 0.75 * -0.7 + 0.25 * 2]) < 1e-6)
        #expect(maxAbsDiff(runningVar.toArray(),
                           [0.75 * (0.9 + 1.4 / 3) + 0.25 * 14 / 3, 0.75 * (1.8 + 1.6 / 3) + 0.25 * 16 / 3]) < 1e-6)
        // Normalisation itself uses the biased variance: each channel of the output has variance ≈ 1.
        let plain = Tensor.batchNorm2d(x, weight: nil, bias: nil, runningMean: Tensor.zeros([2]), runningVar: Tensor.ones([2]),
                                       training: true, eps: 0)
        #expect(maxAbsDiff(plain.variance(axes: [0, 2, 3], correction: 0).toArray(), [1, 1]) < 1e-5)
    }

    @Test func batchNorm2dTrainingGradientMatchesFiniteDifferences() {
        let x = randomTensor([3, 4, 3, 2], seed: 1, low: -2, high: 2)
        let weight = randomTensor([4], seed: 2, low: 0.5, high: 1.5), bias = randomTensor([4], seed: 3)
        let rm = Tensor.zeros([4]), rv = Tensor.ones([4])
        expectGradients("batchNorm2d training", [x, weight, bias]) { t in
            Tensor.batchNorm2d(t[0], weight: t[1], bias: t[2], runningMean: rm, runningVar: rv, training: true)
        }
        expectGradients("batchNorm2d training without affine", [x]) { t in
            Tensor.batchNorm2d(t[0], weight: nil, bias: nil, runningMean: rm, runningVar: rv, training: true)
        }
        expectGradients("batchNorm2d training, shift only", [x, bias]) { t in
            Tensor.batchNorm2d(t[0], weight: nil, bias: t[1], runningMean: rm, runningVar: rv, training: true)
        }
    }

    @Test func batchNorm2dEvalUsesRunningStatisticsAndLeavesThemAlone() {
        let x = randomTensor([2, 3, 4, 4], seed: 4, low: -2, high: 2)
        let weight = randomTensor([3], seed: 5, low: 0.5, high: 1.5), bias = randomTensor([3], seed: 6)
        let rm = Tensor([0.2, -0.4, 0.1]), rv = Tensor([0.5, 1.5, 2.0])
        let y = Tensor.batchNorm2d(x, weight: weight, bias: bias, runningMean: rm, runningVar: rv, training: false)
        #expect(maxAbsDiff(y.toArray(), naiveBatchNorm(x, weight: weight, bias: bias, mean: rm.toArray(), variance: rv.toArray())) < 1e-5)
        #expect(rm.toArray() == [0.2, -0.4, 0.1] && rv.toArray() == [0.5, 1.5, 2.0])
        // Recorded (forward_training with global stats) and unrecorded (forward_inference) paths agree.
        x.requiresGrad = true
        let recorded = Tensor.batchNorm2d(x, weight: weight, bias: bias, runningMean: rm, runningVar: rv, training: false)
        #expect(recorded.gradFunctionName == "batchNorm2d")
        #expect(maxAbsDiff(recorded.toArray(), y.toArray()) < 1e-6)
        expectGradients("batchNorm2d eval", [x, weight, bias]) { t in
            Tensor.batchNorm2d(t[0], weight: t[1], bias: t[2], runningMean: rm, runningVar: rv, training: false)
        }
    }

    @Test func batchNorm2dWithFrozenAffineGivesTheSameInputGradient() {
        let x = randomTensor([2, 3, 3, 3], seed: 7, low: -2, high: 2)
        let weight = randomTensor([3], seed: 8, low: 0.5, high: 1.5), bias = randomTensor([3], seed: 9)
        var gen = SeededGenerator(seed: 10)
        let upstream = Tensor.randn([2, 3, 3, 3], generator: &gen)
        for training in [true, false] {
            func inputGradient(trainAffine: Bool) -> [Float] {
                x.requiresGrad = true; x.grad = nil
                weight.requiresGrad = trainAffine; weight.grad = nil
                bias.requiresGrad = trainAffine; bias.grad = nil
                let y = Tensor.batchNorm2d(x, weight: weight, bias: bias, runningMean: Tensor([0.1, 0.2, 0.3]),
                                           runningVar: Tensor([1, 2, 3]), training: training)
                (y * upstream).sum().backward()
                #expect((weight.grad != nil) == trainAffine && (bias.grad != nil) == trainAffine)
                return x.grad!.toArray()
            }
            #expect(maxAbsDiff(inputGradient(trainAffine: true), inputGradient(trainAffine: false)) < 1e-6, "training \(training)")
        }
    }

    @Test func batchNorm2dKeepsTheBlockedLayoutOfAConvolutionOutput() {
        let x = randomTensor([2, 8, 6, 6], seed: 11), w = randomTensor([16, 8, 3, 3], seed: 12, low: -0.3, high: 0.3)
        let c = Tensor.conv2d(x, weight: w, padding: .symmetric(1, 1))
        #expect(c.layout != nil)
        let weight = randomTensor([16], seed: 13, low: 0.5, high: 1.5), bias = randomTensor([16], seed: 14)
        for training in [true, false] {
            let rm = Tensor.full([16], 0.1), rv = Tensor.full([16], 0.8)
            let y = Tensor.batchNorm2d(c, weight: weight, bias: bias, runningMean: rm, runningVar: rv, training: training)
            #expect(y.layout != nil)
            let expected = training
                ? naiveBatchNorm(c.contiguous(), weight: weight, bias: bias)
                : naiveBatchNorm(c.contiguous(), weight: weight, bias: bias, mean: [Float](repeating: 0.1, count: 16),
                                 variance: [Float](repeating: 0.8, count: 16))
            #expect(maxAbsDiff(y.toArray(), expected) < 1e-4, "training \(training)")
        }
    }

    @Test func normalizationStopsOnShapeErrors() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.batchNorm2d(Tensor.zeros([2, 3, 4, 4]), weight: nil, bias: nil, runningMean: Tensor.zeros([4]),
                                   runningVar: Tensor.ones([4]), training: false)  // 3 channels, stats for 4
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.batchNorm2d(Tensor.zeros([1, 3, 1, 1]), weight: nil, bias: nil, runningMean: Tensor.zeros([3]),
                                   runningVar: Tensor.ones([3]), training: true)  // one value per channel
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.layerNorm(Tensor.zeros([2, 5]), weight: Tensor.ones([4]), bias: nil)  // last dim 5, weight 4
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.layerNorm(Tensor.zeros([5]), weight: nil, bias: nil)  // rank 1
        }
    }

    @Test(arguments: [[6, 5], [2, 3, 8], [2, 2, 3, 4], [1, 2, 2, 2, 6]])
    func layerNormMatchesReferenceAndFiniteDifferences(_ dims: [Int]) {
        let x = randomTensor(Shape(dims), seed: 15, low: -2, high: 2)
        let d = dims.last!
        let weight = randomTensor([d], seed: 16, low: 0.5, high: 1.5), bias = randomTensor([d], seed: 17)
        let y = Tensor.layerNorm(x, weight: weight, bias: bias)
        #expect(y.shape == x.shape)
        #expect(maxAbsDiff(y.toArray(), naiveLayerNorm(x, weight: weight, bias: bias)) < 1e-5, "\(dims)")
        #expect(maxAbsDiff(Tensor.layerNorm(x, weight: nil, bias: nil).toArray(), naiveLayerNorm(x, weight: nil, bias: nil)) < 1e-5)
        expectGradients("layerNorm \(dims)", [x, weight, bias]) { t in Tensor.layerNorm(t[0], weight: t[1], bias: t[2]) }
        expectGradients("layerNorm \(dims) without affine", [x]) { t in Tensor.layerNorm(t[0], weight: nil, bias: nil) }
        expectGradients("layerNorm \(dims) scale only", [x, weight]) { t in Tensor.layerNorm(t[0], weight: t[1], bias: nil) }
    }

    @Test func layerNormReadsStridedViewsAndSkipsParameterGradientsWhenFrozen() {
        let base = randomTensor([6, 4], seed: 18, low: -2, high: 2)
        let weight = randomTensor([6], seed: 19, low: 0.5, high: 1.5), bias = randomTensor([6], seed: 20)
        let view = base.transposed(0, 1)  // [4, 6], not contiguous
        #expect(maxAbsDiff(Tensor.layerNorm(view, weight: weight, bias: bias, eps: 1e-3).toArray(),
                           naiveLayerNorm(view.contiguous(), weight: weight, bias: bias, eps: 1e-3)) < 1e-5)
        expectGradients("layerNorm of a transposed view", [base]) { t in
            Tensor.layerNorm(t[0].transposed(0, 1), weight: weight, bias: bias, eps: 1e-3)
        }
        #expect(weight.grad == nil && bias.grad == nil)
    }
}
