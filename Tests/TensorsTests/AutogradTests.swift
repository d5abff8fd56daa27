import Testing
@testable import Tensors

@Suite struct AutogradTests {
    @Test func gradientsAccumulateAcrossBackwardCalls() {
        let w = Tensor([1, 2, 3], shape: [3])
        w.requiresGrad = true
        (w * w).sum().backward()
        (w * 3).sum().backward()
        #expect(w.grad!.toArray() == [5, 7, 9])
    }

    @Test func sharedSubexpressionsSumTheirGradients() {
        let x = Tensor([2], shape: [1])
        x.requiresGrad = true
        let y = x * x
        (y + y * x).sum().backward()  // d/dx (x² + x³) = 2x + 3x² = 16
        #expect(x.grad!.item() == 16)
    }

    @Test func theGraphKeepsNoIntermediateThatNoBackwardNeeds() {
        let w = Tensor([1, -2, 3], shape: [3])
        w.requiresGrad = true
        weak var preActivation: Tensor?
        weak var sum: Tensor?
        let loss: Tensor
        do {
            let a = w * 2           // mul keeps its operands (w and the constant), not its output
            let b = a + 1           // the ReLU input: ReLU's backward keeps only its output
            preActivation = b
            let c = b.relu()
            let d = c + c           // add keeps only shapes
            sum = d
            loss = d.sum()
        }
        #expect(preActivation == nil, "ReLU's input is still alive: the graph or a backward holds it")
        #expect(sum == nil, "an add's output is still alive after its only use")
        loss.backward()
        #expect(w.grad!.toArray() == [4, 0, 4])  // d/dw 2·relu(2w + 1)
    }

    @Test func aLeafUnmarkedAfterRecordingGetsNoGradient() {
        let a = Tensor([1, 2], shape: [2]), b = Tensor([3, 4], shape: [2])
        a.requiresGrad = true
        b.requiresGrad = true
        let loss = (a * b).sum()
        a.requiresGrad = false
        loss.backward()
        #expect(a.grad == nil)
        #expect(b.grad!.toArray() == [1, 2])
    }

    @Test func noGradScopeRecordsNothing() {
        let w = Tensor([1, 2], shape: [2])
        w.requiresGrad = true
        let y = withNoGrad { (w * 2).exp() }
        #expect(!y.requiresGrad)
        #expect(y.gradFunctionName == nil)
        #expect((w * 2).gradFunctionName == "affine")
    }

    @Test func detachCutsTheTape() {
        let w = Tensor([1, 2], shape: [2])
        w.requiresGrad = true
        let d = (w * 2).detached()
        #expect(!d.requiresGrad)
        let z = (w * d).sum()
        z.backward()
        #expect(w.grad!.toArray() == [2, 4])  // d treated as a constant
    }

    @Test func frozenInputsRecordNoBackwardWork() {
        // A "frozen" prefix (no tensor requires a gradient) records nothing; the tape starts at the first
        // trainable tensor, so backward never visits the frozen part.
        let x = randomTensor([4, 8], seed: 1)
        let frozenW = randomTensor([8, 8], seed: 2)
        let h = x.matmul(frozenW).relu()
        #expect(!h.requiresGrad && h.gradFunctionName == nil)
        let head = randomTensor([8, 2], seed: 3)
        head.requiresGrad = true
        let loss = h.matmul(head).sum()
        #expect(loss.requiresGrad)
        loss.backward()
        #expect(head.grad != nil && frozenW.grad == nil)
    }

    @Test func backwardReleasesTheGraphUnlessRetained() {
        let w = Tensor([1, 2], shape: [2])
        w.requiresGrad = true
        let y = (w * w).sum()
        y.backward(retainGraph: true)
        y.backward()
        #expect(w.grad!.toArray() == [4, 8])
    }
}
