import Testing
@testable import Tensors

/// `registerGradientReadyHook`: once per backward pass, when the leaf's gradient is complete, nearest the loss first.
@Suite struct GradientReadyHookTests {
    @Test func hookFiresOnceWithTheCompleteGradientOfASharedWeight() {
        // y = sum((w·x) * w): w is consumed twice; the hook must see both contributions (∂y/∂w = 2·w·x).
        let w = Tensor(shape: [3], data: [1, 2, 3], requiresGrad: true)
        let x = Tensor(shape: [3], data: [0.5, -1, 2])
        var seen: [[Float]] = []
        let h = w.registerGradientReadyHook { t in seen.append(t.grad!.toArray()) }
        ((w * x) * w).sum().backward()
        #expect(seen == [[1, -4, 12]])
        #expect(w.grad!.toArray() == [1, -4, 12])
        h.remove()
        w.grad = nil
        ((w * x) * w).sum().backward()
        #expect(seen.count == 1)
    }

    @Test func hooksFireNearestTheLossFirstAndNotForGradientsOf() {
        let w1 = Tensor(shape: [2, 2], data: [1, 2, 3, 4], requiresGrad: true)
        let w2 = Tensor(shape: [2, 2], data: [0.5, -1, 1, 2], requiresGrad: true)
        let x = Tensor(shape: [1, 2], data: [1, -1])
        var order: [String] = []
        w1.registerGradientReadyHook { _ in order.append("w1") }
        w2.registerGradientReadyHook { _ in order.append("w2") }
        let loss = x.matmul(w1).relu().matmul(w2).sum()
        _ = Tensor.gradients(of: loss, wrt: [w1, w2], retainGraph: true)
        #expect(order.isEmpty)
        loss.backward()
        #expect(order == ["w2", "w1"])
    }

    @Test func hookFiresOnALeafBackwardToo() {
        let a = Tensor(shape: [2], data: [1, 2], requiresGrad: true)
        var fired = 0
        a.registerGradientReadyHook { t in fired += 1; #expect(t.grad!.toArray() == [1, 1]) }
        a.backward(Tensor(shape: [2], data: [1, 1]))
        #expect(fired == 1)
    }
}
