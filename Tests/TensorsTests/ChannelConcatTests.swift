// Channel concatenation through oneDNN's concat primitive (blocked layouts kept) and the plain path, against
// torch.cat (Fixtures/dense_concat_channels.safetensors from tools/make_dense_fixtures.py) and finite differences.
// Concatenation only copies, so outputs and gradients must match the golden exactly (tolerance 0).

import Testing
@testable import Tensors

@Suite struct ChannelConcatTests {
    enum Inputs: String, CaseIterable { case plain, allBlocked, mixed }

    @Test(arguments: Inputs.allCases)
    func concatAlongChannelsMatchesTorchCat(_ inputs: Inputs) throws {
        let f = try DenseFixture("concat_channels")
        let plain = try (0..<3).map { try f("x\($0)") }
        let xs: [Tensor] = switch inputs {
        case .plain: plain
        case .allBlocked: plain.map(blocked8c)
        case .mixed: [plain[0], blocked8c(plain[1]), plain[2]]
        }
        for x in xs { x.requiresGrad = true }
        let out = Tensor.concat(xs, axis: 1)
        #expect(out.shape == [2, 16, 3, 4])
        // Channel offset 3 is not a multiple of the 8-channel block: the plain path (plain output).
        #expect(out.layout == nil)
        #expect(maxDifference(out, try f("out")) == 0)
        (out * (try f("upstream"))).sum().backward()
        for i in 0..<3 {
            let g = try #require(xs[i].grad)
            #expect(maxDifference(g, try f("grad_x\(i)")) == 0, "input \(i)")
        }
    }

    @Test func concatWithChannelOffsetsOnBlockBoundariesStaysBlockedAndMatchesThePlainConcat() {
        // 8 (blocked) + 8 (plain) + 5 (blocked, padded to 8): offsets 0, 8, 16 are block boundaries.
        let a = blocked8c(randomTensor([2, 8, 3, 4], seed: 61)), b = randomTensor([2, 8, 3, 4], seed: 62)
        let c = blocked8c(randomTensor([2, 5, 3, 4], seed: 63))
        let xs = [a, b, c]
        for x in xs { x.requiresGrad = true }
        let out = Tensor.concat(xs, axis: 1)
        #expect(out.layout != nil && out.shape == [2, 21, 3, 4])
        let reference = Tensor.concat(xs.map { $0.contiguous() }, axis: 1)
        #expect(maxDifference(out, reference) == 0)
        for seed in [randomTensor([2, 21, 3, 4], seed: 64), blocked8c(randomTensor([2, 21, 3, 4], seed: 64))] {
            let gs = Tensor.gradients(of: out, wrt: xs, seed: seed, retainGraph: true)
            var start = 0
            for (i, x) in xs.enumerated() {
                let want = seed.sliced(axis: 1, start: start, end: start + x.shape[1])
                #expect(maxDifference(gs[i], want.contiguous()) == 0, "input \(i), seed blocked \(seed.layout != nil)")
                if seed.layout != nil { #expect(gs[i]?.layout != nil) }
                start += x.shape[1]
            }
        }
        // The padded channels of the output are zero, as oneDNN requires of blocked data.
        let padded = out.storage.pointer
        for img in 0..<2 {
            for p in 0..<12 { for ch in 5..<8 { #expect(padded[img * 24 * 12 + 2 * 8 * 12 + p * 8 + ch] == 0) } }
        }
    }

    @Test func blockedGradientSlicesKeepTheInputLayoutWhenChannelsFallOnBlockBoundaries() {
        // 8 + 8 channels in nChw8c: each input's gradient is a sub-block of the output gradient.
        let a = blocked8c(randomTensor([1, 8, 2, 3], seed: 1)), b = blocked8c(randomTensor([1, 8, 2, 3], seed: 2))
        a.requiresGrad = true
        b.requiresGrad = true
        let out = Tensor.concat([a, b], axis: 1)
        let u = blocked8c(randomTensor([1, 16, 2, 3], seed: 3))
        let gs = Tensor.gradients(of: out, wrt: [a, b], seed: u)
        #expect(gs[0]?.layout != nil && gs[1]?.layout != nil)
        let up = u.toArray()
        #expect(gs[0]!.toArray() == Array(up[0..<48]) && gs[1]!.toArray() == Array(up[48..<96]))
    }

    @Test func concatOfConvolutionOutputsMatchesFiniteDifferences() {
        // Two branches of different widths (blocked conv outputs) joined along channels, then mixed by a 1×1 conv.
        let x = randomTensor([2, 3, 5, 5], seed: 51)
        let wa = randomTensor([8, 3, 3, 3], seed: 52, low: -0.4, high: 0.4)
        let wb = randomTensor([5, 3, 1, 1], seed: 53, low: -0.4, high: 0.4)
        let wm = randomTensor([4, 13, 1, 1], seed: 54, low: -0.4, high: 0.4)
        let r = checkGradients([x, wa, wb]) { t in
            let a = Tensor.conv2d(t[0], weight: t[1], padding: .symmetric(1, 1))
            let b = Tensor.conv2d(t[0], weight: t[2])
            return Tensor.conv2d(Tensor.concat([a, b], axis: 1), weight: wm)
        }
        #expect(r.failures == 0, "\(r)")
    }

    @Test func concatAlongOtherAxesStaysOnThePlainPath() {
        let a = blocked8c(randomTensor([1, 8, 2, 3], seed: 4)), b = randomTensor([1, 8, 2, 3], seed: 5)
        let out = Tensor.concat([a, b], axis: 3)
        #expect(out.layout == nil && out.shape == [1, 8, 2, 6])
        let ab = a.toArray(), bb = b.toArray(), o = out.toArray()
        #expect(o[0..<3] == ab[0..<3] && o[3..<6] == bb[0..<3])
    }
}
