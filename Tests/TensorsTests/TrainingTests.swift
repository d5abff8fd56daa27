import Foundation
import Testing
@testable import Tensors

/// A small CNN trained from scratch on a generated task proves that the forward ops, their gradients, batch norm's
/// training statistics and the tape work together.
@Suite struct TrainingTests {
    /// 16×16 greyscale images of three kinds: horizontal stripes, vertical stripes, and a Gaussian blob, each with
    /// random phase/period/position and additive noise.
    static func makeImages(count: Int, seed: UInt64) -> (Tensor, [Int]) {
        var g = SeededGenerator(seed: seed)
        let side = 16
        var data = [Float](repeating: 0, count: count * side * side)
        var labels: [Int] = []
        for n in 0..<count {
            let label = n % 3
            labels.append(label)
            let period = 3 + Float(g.nextFloat() * 3), phase = g.nextFloat() * 6.28
            let cx = 4 + g.nextFloat() * 8, cy = 4 + g.nextFloat() * 8, radius = 2 + g.nextFloat() * 2
            for y in 0..<side {
                for x in 0..<side {
                    let v: Float
                    switch label {
                    case 0: v = sin(Float(y) * 6.28 / period + phase)
                    case 1: v = sin(Float(x) * 6.28 / period + phase)
                    default:
                        let d2 = (Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy)
                        v = 2 * exp(-d2 / (2 * radius * radius)) - 0.5
                    }
                    data[n * side * side + y * side + x] = v + 0.4 * g.nextNormal()
                }
            }
        }
        return (Tensor(shape: [count, 1, side, side], data: data), labels)
    }

    struct SmallCNN {
        var gen = SeededGenerator(seed: 42)
        let w1: Tensor, g1: Tensor, b1: Tensor, m1: Tensor, v1: Tensor
        let w2: Tensor, g2: Tensor, b2: Tensor, m2: Tensor, v2: Tensor
        let fc: Tensor, fcb: Tensor
        var parameters: [Tensor] { [w1, g1, b1, w2, g2, b2, fc, fcb] }

        init() {
            var g = SeededGenerator(seed: 42)
            w1 = Tensor.randn([8, 1, 3, 3], generator: &g, std: (2.0 / 9).squareRoot())
            w2 = Tensor.randn([16, 8, 3, 3], generator: &g, std: (2.0 / 72).squareRoot())
            fc = Tensor.randn([3, 16], generator: &g, std: (1.0 / 16).squareRoot())
            g1 = .ones([8]); b1 = .zeros([8]); m1 = .zeros([8]); v1 = .ones([8])
            g2 = .ones([16]); b2 = .zeros([16]); m2 = .zeros([16]); v2 = .ones([16])
            fcb = .zeros([3])
            for p in parameters { p.requiresGrad = true }
        }

        func callAsFunction(_ x: Tensor, training: Bool) -> Tensor {
            var h = Tensor.conv2d(x, weight: w1, padding: .symmetric(1, 1))
            h = Tensor.batchNorm2d(h, weight: g1, bias: b1, runningMean: m1, runningVar: v1, training: training).relu()
            h = Tensor.maxPool2d(h, kernel: (2, 2))
            h = Tensor.conv2d(h, weight: w2, padding: .same)
            h = Tensor.batchNorm2d(h, weight: g2, bias: b2, runningMean: m2, runningVar: v2, training: training).relu()
            return Tensor.linear(Tensor.globalAvgPool2d(h), weight: fc, bias: fcb)
        }
    }

    @Test func smallCNNLearnsStripesVersusBlobsAbove95Percent() {
        let (trainX, trainY) = Self.makeImages(count: 384, seed: 1)
        let (testX, testY) = Self.makeImages(count: 300, seed: 2)
        let model = SmallCNN()
        var velocity = model.parameters.map { Tensor.zeros($0.shape) }
        let batch = 32, lr: Float = 0.05
        var order = Array(0..<384)
        var shuffle = SeededGenerator(seed: 3)
        for _ in 0..<8 {
            order.shuffle(using: &shuffle)
            for start in stride(from: 0, to: 384, by: batch) {
                let idx = Array(order[start..<start + batch])
                let x = trainX.indexSelect(axis: 0, indices: idx)
                let loss = Tensor.crossEntropy(logits: model(x, training: true), targets: idx.map { trainY[$0] })
                for p in model.parameters { p.grad = nil }
                loss.backward()
                withNoGrad {
                    for (i, p) in model.parameters.enumerated() {
                        velocity[i] = velocity[i] * 0.9 + p.grad!
                        p.assign(p - velocity[i] * lr)
                    }
                }
            }
        }
        let predictions = withNoGrad { model(testX, training: false) }.argmax(axis: 1)
        let accuracy = Double(zip(predictions, testY).filter { $0 == $1 }.count) / Double(testY.count)
        #expect(accuracy > 0.95, "test accuracy \(accuracy)")
        // Batch norm's running statistics moved away from their initial values during training.
        #expect(model.m1.toArray().contains { $0 != 0 })
    }

    @Test func steadyStateTrainingStepAllocatesNoNewTensorBuffers() {
        let (x, y) = Self.makeImages(count: 32, seed: 4)
        let model = SmallCNN()
        func step() {
            for p in model.parameters { p.grad = nil }
            Tensor.crossEntropy(logits: model(x, training: true), targets: y).backward()
            withNoGrad { for p in model.parameters { p.assign(p - p.grad! * 0.01) } }
        }
        step(); step()
        let before = BufferPool.shared.freshAllocations
        for _ in 0..<3 { step() }
        #expect(BufferPool.shared.freshAllocations == before)
    }
}
