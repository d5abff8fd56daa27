import Dense
import Tensors
import Testing

/// The segmentation losses: values against PyTorch (tools/make_segmentation_fixtures.py) and gradients against
/// central finite differences.
@Suite struct LossTests {
    static func fixture() throws -> (Tensor, [Int], [Float]) {
        let f = try denseFixture("dense_golden")
        return (try f.tensor("loss.logits"), try f.tensor("loss.labels").toArray().map { Int($0) }, try f.tensor("loss.values").toArray())
    }

    @Test func lossValuesMatchPyTorch() throws {
        let (logits, labels, expected) = try Self.fixture()
        let got = [SegmentationLoss.crossEntropy(logits, labels: labels).item(), SegmentationLoss.dice(logits, labels: labels).item(),
                   SegmentationLoss.focal(logits, labels: labels, gamma: 2).item()]
        for (g, e) in zip(got, expected) { #expect(Swift.abs(g - e) < 1e-5, "\(got) vs \(expected)") }
    }

    @Test(arguments: SegmentationLoss.allCases)
    func gradientMatchesFiniteDifferences(_ loss: SegmentationLoss) throws {
        let (fixed, labels, _) = try Self.fixture()
        let values = fixed.toArray()
        let x = Tensor(shape: fixed.shape, data: values)
        x.requiresGrad = true
        let l = loss(x, labels: labels)
        l.backward()
        let analytic = x.grad!.contiguous().toArray()
        let h: Float = 1e-2
        var worst: Float = 0
        for i in stride(from: 0, to: values.count, by: 7) {
            var plus = values, minus = values
            plus[i] += h
            minus[i] -= h
            let fp = withNoGrad { loss(Tensor(shape: fixed.shape, data: plus), labels: labels).item() }
            let fm = withNoGrad { loss(Tensor(shape: fixed.shape, data: minus), labels: labels).item() }
            worst = Swift.max(worst, Swift.abs((fp - fm) / (2 * h) - analytic[i]))
        }
        #expect(worst < 2e-3, "\(loss): worst |numeric − analytic| = \(worst)")
    }
}
