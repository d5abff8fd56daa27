// Upsampling (PyTorch F.interpolate, nearest and bilinear) against PyTorch goldens and finite differences.
//
// Goldens: Fixtures/dense_upsample_*.safetensors, written by tools/make_dense_fixtures.py (float64 PyTorch reference
// from float32 inputs, rounded once). Outputs and input gradients (for the stored upstream gradient) must match
// within 1e-5 absolute (values are O(1); float32 rounding of a 4-tap blend or of a sum of a few such terms is
// ~1e-6). Each fixture runs through the default path (oneDNN resampling where its semantics match, the Swift
// kernel otherwise), through the Swift kernel alone, and from a oneDNN-blocked (nChw8c) input.
// Finite differences: GradCheck.swift (ε = 1e-2, |a − n| ≤ 2e-3 + 1e-2·|n|).

import CDNNL
import Checkpoints
import Foundation
import Testing
@testable import Tensors

/// One dense fixture: its tensors and its parameters.
struct DenseFixture {
    let name: String
    let file: SafeTensorsFile
    let params: [String: Any]

    init(_ name: String) throws {
        self.name = name
        let path = try #require(Bundle.module.path(forResource: "dense_\(name)", ofType: "safetensors", inDirectory: "Fixtures"),
                                "fixture Fixtures/dense_\(name).safetensors is missing; run tools/make_dense_fixtures.py")
        file = try SafeTensorsFile(path: path)
        let json = try #require(file.metadata["golden"], "\(name): no golden metadata")
        params = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    func callAsFunction(_ key: String) throws -> Tensor { try file.tensor(key) }
    func pair(_ key: String) -> (Int, Int)? {
        (params[key] as? [Int]).map { ($0[0], $0[1]) }
    }
    func doublePair(_ key: String) -> (Double, Double)? {
        (params[key] as? [NSNumber]).map { ($0[0].doubleValue, $0[1].doubleValue) }
    }
}

/// The largest |a − b|, or infinity when the shapes differ.
func maxDifference(_ a: Tensor?, _ b: Tensor) -> Float {
    guard let a, a.shape == b.shape else { return .infinity }
    return maxAbsDiff(a.toArray(), b.toArray())
}

/// `x` in oneDNN's `nChw8c` layout (same values).
func blocked8c(_ x: Tensor) -> Tensor {
    let b = DNNL.asLayout(x, DNNL.desc(x.shape.dims, dnnl_nChw8c))
    precondition(b.layout != nil)
    return b
}

let upsampleFixtures = [
    "upsample_nearest_scale2", "upsample_nearest_5to7", "upsample_nearest_down", "upsample_nearest_sf1p7",
    "upsample_bilinear_hp_scale2", "upsample_bilinear_hp_5to7", "upsample_bilinear_hp_down", "upsample_bilinear_hp_sf1p7",
    "upsample_bilinear_ac_scale2", "upsample_bilinear_ac_5to7", "upsample_bilinear_ac_down", "upsample_bilinear_ac_sf1p7",
]

@Suite struct UpsampleTests {
    static let tolerance: Float = 1e-5

    enum Path: String, CaseIterable { case defaultPath, swiftKernel, blockedInput }

    @Test(arguments: upsampleFixtures, Path.allCases)
    func upsampleMatchesPyTorchForwardAndBackward(_ name: String, _ path: Path) throws {
        let f = try DenseFixture(name)
        let modeName = try #require(f.params["mode"] as? String)
        let mode = try #require(UpsampleMode(rawValue: modeName))
        let align = (f.params["align_corners"] as? Bool) ?? false
        let x0 = try f("x")
        let x = path == .blockedInput ? blocked8c(x0) : x0
        x.requiresGrad = true
        let out = x.upsample(size: f.pair("size"), scaleFactor: f.doublePair("scale_factor"), mode: mode,
                             alignCorners: align, allowDNNL: path != .swiftKernel)
        let dOut = maxDifference(out, try f("out"))
        (out * (try f("upstream"))).sum().backward()
        let dGrad = maxDifference(x.grad, try f("grad_x"))
        #expect(dOut <= Self.tolerance, "\(name) [\(path)]: forward max |Δ| \(dOut)")
        #expect(dGrad <= Self.tolerance, "\(name) [\(path)]: input gradient max |Δ| \(dGrad)")
        if ProcessInfo.processInfo.environment["GOLDEN_REPORT"] != nil {
            print("\(name) [\(path)]: forward \(dOut), gradient \(dGrad), output layout \(out.layout == nil ? "plain" : "blocked")")
        }
    }

    @Test func oneDNNResamplingIsUsedExactlyWhereItsSemanticsMatchPyTorch() {
        func axis(_ i: Int, _ o: Int, _ mode: UpsampleMode, _ ac: Bool = false, _ s: Double? = nil) -> Bool {
            Tensor.resamplingMatches(UpsampleAxis(inSize: i, outSize: o, mode: mode, alignCorners: ac, scaleFactor: s),
                                     mode: mode, alignCorners: ac, scaleFactor: s)
        }
        #expect(axis(4, 8, .nearest) && axis(5, 15, .nearest) && axis(4, 8, .nearest, false, 2) && axis(6, 6, .nearest))
        #expect(!axis(5, 7, .nearest) && !axis(8, 4, .nearest) && !axis(8, 5, .nearest))
        #expect(axis(4, 8, .bilinear) && axis(5, 7, .bilinear) && axis(8, 5, .bilinear) && axis(4, 8, .bilinear, false, 2))
        #expect(!axis(5, 8, .bilinear, false, 1.7) && !axis(4, 8, .bilinear, true))
        // A blocked input stays blocked on the oneDNN path (bilinear ×2) and comes back plain from the Swift kernel.
        let x = blocked8c(randomTensor([1, 8, 4, 4], seed: 3))
        #expect(x.upsample(scaleFactor: 2, mode: .bilinear).layout != nil)
        #expect(x.upsample(scaleFactor: 2, mode: .bilinear, alignCorners: true).layout == nil)
    }

    @Test(arguments: [(UpsampleMode.nearest, false), (.bilinear, false), (.bilinear, true)])
    func upsampleGradientsMatchFiniteDifferences(_ mode: UpsampleMode, _ align: Bool) {
        for (size, sf) in [((8, 10) as (Int, Int)?, nil as (Double, Double)?), ((7, 9), nil), ((3, 4), nil), (nil, (1.7, 1.5))] {
            for allow in [true, false] {
                let x = randomTensor([2, 2, 4, 5], seed: 9)
                let r = checkGradients([x]) { $0[0].upsample(size: size, scaleFactor: sf, mode: mode, alignCorners: align, allowDNNL: allow) }
                #expect(r.failures == 0, "\(mode) align \(align) size \(String(describing: size)) sf \(String(describing: sf)) dnnl \(allow): \(r)")
            }
        }
    }

    @Test func upsampleOfAConvolutionOutputBackPropagatesToTheWeights() {
        // Decoder-style: conv (blocked output) → bilinear ×2 → conv; gradients reach the first conv's weight.
        let x = randomTensor([1, 3, 5, 5], seed: 41)
        let w1 = randomTensor([8, 3, 3, 3], seed: 42, low: -0.4, high: 0.4)
        let w2 = randomTensor([2, 8, 1, 1], seed: 43, low: -0.4, high: 0.4)
        let r = checkGradients([x, w1]) { t in
            Tensor.conv2d(Tensor.conv2d(t[0], weight: t[1], padding: .symmetric(1, 1)).upsample(scaleFactor: 2, mode: .bilinear),
                          weight: w2)
        }
        #expect(r.failures == 0, "\(r)")
    }
}

extension UpsampleTests {
    /// Where oneDNN's resampling computes PyTorch's result, measured on the primitive itself rather than assumed:
    /// nearest agrees only for integer upscales (oneDNN rounds `(dst + 0.5) / F − 0.5` to nearest; PyTorch floors
    /// `dst · in / out`), linear agrees with bilinear `align_corners=False` whenever the coordinate scale is `in / out`.
    @Test func oneDNNResamplingAgreesWithPyTorchOnlyWhereTheDispatchUsesIt() {
        let x = randomTensor([1, 2, 8, 8], seed: 61)
        func gap(_ mode: UpsampleMode, _ size: (Int, Int), _ h: Int = 8) -> Float {
            let xi = h == 8 ? x : x.sliced(axis: 2, start: 0, end: h).sliced(axis: 3, start: 0, end: h).contiguous()
            let ref = xi.upsample(size: size, scaleFactor: nil, mode: mode, alignCorners: false, allowDNNL: false)
            return maxDifference(xi.upsampleDNNL(mode: mode, outSize: size), ref)
        }
        var report: [String] = []
        for (h, size) in [(4, (8, 8)), (4, (12, 16)), (5, (15, 10)), (8, (4, 4)), (8, (5, 5)), (5, (7, 7)), (8, (12, 12))] {
            let d = gap(.nearest, size, h)
            report.append("nearest \(h)→\(size): \(d)")
            let integerUpscale = size.0 % h == 0 && size.1 % h == 0
            #expect((d == 0) == integerUpscale, "nearest \(h) → \(size): oneDNN differs by \(d)")
        }
        for (h, size) in [(4, (8, 8)), (5, (7, 9)), (8, (5, 4)), (8, (3, 3)), (5, (17, 6))] {
            let d = gap(.bilinear, size, h)
            report.append("bilinear \(h)→\(size): \(d)")
            #expect(d <= 1e-6, "linear \(h) → \(size): oneDNN differs by \(d)")
        }
        if ProcessInfo.processInfo.environment["GOLDEN_REPORT"] != nil { print(report.joined(separator: "\n")) }
    }
}
