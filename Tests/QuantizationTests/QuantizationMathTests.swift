import Foundation
import Testing
@testable import Quantization
import Tensors

/// The quantise/dequantise arithmetic, the weight scales and the three calibration rules on known distributions.
@Suite struct QuantizationMathTests {
    @Test func quantiseRoundsHalfToEvenAndSaturates() {
        #expect(Int8Math.quantize(1.5, scale: 1, signed: true) == 2)
        #expect(Int8Math.quantize(2.5, scale: 1, signed: true) == 2)
        #expect(Int8Math.quantize(-0.6, scale: 0.5, signed: true) == -1)
        #expect(Int8Math.quantize(300, scale: 1, signed: false) == 255)
        #expect(Int8Math.quantize(-3, scale: 1, signed: false) == 0)
        #expect(Int8Math.quantize(-1000, scale: 1, signed: true) == -128)
        #expect(Int8Math.quantize(.infinity, scale: 1, signed: true) == 127)
        #expect(Int8Math.dequantize(-7, scale: 0.25) == -1.75)
    }

    @Test func symmetricScalesMapTheRangeOntoTheIntegerGrid() {
        #expect(Int8InputQuantization.symmetric(absMax: 254, signed: true) == .init(scale: 2, signed: true))
        #expect(Int8InputQuantization.symmetric(absMax: 255, signed: false) == .init(scale: 1, signed: false))
        #expect(Int8InputQuantization.symmetric(absMax: 0, signed: false).scale == 1)
        // The whole range round-trips to within half a step.
        let q = Int8InputQuantization.symmetric(absMax: 3.7, signed: true)
        for x in stride(from: Float(-3.7), through: 3.7, by: 0.013) {
            let back = Int8Math.dequantize(Int8Math.quantize(x, scale: q.scale, signed: true), scale: q.scale)
            #expect(abs(back - x) <= q.scale / 2 + 1e-6)
        }
    }

    @Test func weightScalesArePerOutputChannel() {
        let w = Tensor(shape: [3, 2, 1, 1], data: [1, -3, 0, 0, 0.5, 0.25])
        let s = Int8Math.channelScales(w)
        #expect(s.count == 3 && abs(s[0] - 3 / 127) < 1e-9 && s[1] == 1 && abs(s[2] - 0.5 / 127) < 1e-9)
    }

    /// 100 000 standard normal magnitudes plus one outlier at 40: min-max keeps the outlier; the 99.99th percentile
    /// lands near the normal's 99.99th percentile of |x| (3.89); entropy clips well inside the outlier.
    @Test func percentileAndEntropyClipAnOutlierThatMinMaxKeeps() {
        var g = SeededGenerator(seed: 5)
        let values = Tensor.randn([100_000], generator: &g).toArray() + [40]
        var s = InputStatistics()
        values.withUnsafeBufferPointer { s.addRange($0) }
        values.withUnsafeBufferPointer { s.addHistogram($0) }
        #expect(s.signed && s.absMax == 40 && s.threshold(.minmax) == 40)
        let p = s.threshold(.percentile)
        #expect(p > 3.6 && p < 4.3, "percentile threshold \(p)")
        let e = s.threshold(.entropy)
        #expect(e > 2 && e < 12, "entropy threshold \(e)")
    }

    /// A ReLU6 output (`clamp(N(−1, 2), 0, 6)`: 69% exact zeros, a spike at 6): the spike at zero must not drive the
    /// KL search to its smallest candidate (before the fix it clipped at 1.5, a quarter of the range, and EfficientNet-Lite0
    /// fell to chance); entropy keeps the bulk up to the ceiling, as TensorRT's calibrator does. The same for a plain ReLU
    /// of N(0, 1): the threshold stays above the 99th percentile of its nonzero values (2.58).
    @Test func entropyDoesNotClipAReLU6DistributionBelowItsBulk() {
        var g = SeededGenerator(seed: 11)
        let relu6 = Tensor.randn([200_000], generator: &g).toArray().map { Swift.min(Swift.max(2 * $0 - 1, 0), 6) }
        var s = InputStatistics()
        relu6.withUnsafeBufferPointer { s.addRange($0) }
        relu6.withUnsafeBufferPointer { s.addHistogram($0) }
        #expect(!s.signed && s.absMax == 6)
        let e = s.threshold(.entropy)
        #expect(e > 5.5, "entropy threshold \(e) of a ReLU6 distribution (range 6)")

        let relu = Tensor.randn([200_000], generator: &g).toArray().map { Swift.max($0, 0) }
        var r = InputStatistics()
        relu.withUnsafeBufferPointer { r.addRange($0) }
        relu.withUnsafeBufferPointer { r.addHistogram($0) }
        let t = r.threshold(.entropy)
        #expect(t > 2.58 && t <= r.absMax, "entropy threshold \(t) of a ReLU(N(0, 1)) distribution (max \(r.absMax))")
    }

    @Test func entropyKeepsTheWholeRangeOfAUniformDistribution() {
        let histogram = [Double](repeating: 10, count: 2048)
        #expect(EntropyCalibration.bestBinCount(histogram, levels: 128) >= 2000)
    }
}

/// `quantization.json`: a plan round-trips, and every defect is refused with the key named.
@Suite struct QuantizationPlanTests {
    let plan = QuantizationPlan(method: .entropy, samples: 300,
                                layers: [.init(path: "backbone.stem.conv", kind: .conv2d, input: .init(scale: 0.02, signed: true)),
                                         .init(path: "backbone.blocks.0.0.conv_pw", kind: .conv2d, input: .init(scale: 0.05, signed: false))],
                                fp32Layers: ["head.outputLayer": "head (kept fp32)"])

    func edited(_ change: (inout [String: Any]) -> Void) throws -> Data {
        var o = try JSONSerialization.jsonObject(with: plan.encoded()) as? [String: Any] ?? [:]
        change(&o)
        return try JSONSerialization.data(withJSONObject: o)
    }

    @Test func aPlanRoundTrips() throws {
        #expect(try QuantizationPlan.decode(plan.encoded(), file: "q.json") == plan)
    }

    @Test func defectsAreRefusedWithTheKeyNamed() throws {
        func refusal(_ change: (inout [String: Any]) -> Void) throws -> QuantizationError? {
            do { _ = try QuantizationPlan.decode(edited(change), file: "q.json"); return nil } catch let e as QuantizationError { return e }
        }
        #expect(try refusal { $0["extra"] = 1 } == .unknownKey(file: "q.json", key: "extra"))
        #expect(try refusal { $0.removeValue(forKey: "samples") } == .missingKey(file: "q.json", key: "samples"))
        #expect(try refusal { $0["format_version"] = 2 } == .invalidValue(file: "q.json", key: "format_version", value: "2", accepted: "1"))
        #expect(try refusal { $0["method"] = "mse" }.map { "\($0)".contains("minmax, percentile, entropy") } == true)
        #expect(try refusal { $0["samples"] = 0 }.map { "\($0)".contains("\"samples\" is 0") } == true)
        func layer(_ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
            { o in var ls = o["layers"] as! [[String: Any]]; change(&ls[1]); o["layers"] = ls }
        }
        #expect(try refusal(layer { $0["scale"] = -1 }).map { "\($0)".contains("layers[1].scale") } == true)
        #expect(try refusal(layer { $0["scale"] = true }).map { "\($0)".contains("layers[1].scale") } == true)
        #expect(try refusal(layer { $0["signed"] = 1 }).map { "\($0)".contains("layers[1].signed") } == true)
        #expect(try refusal(layer { $0["kind"] = "pool" }).map { "\($0)".contains("conv2d, linear") } == true)
        #expect(try refusal(layer { $0["path"] = "backbone.stem.conv" }).map { "\($0)".contains("a path listed once") } == true)
        #expect(try refusal(layer { $0["bias"] = 0 }) == .unknownKey(file: "q.json", key: "layers[1].bias"))
        #expect(try refusal { $0["fp32_layers"] = ["backbone.stem.conv": "x"] }.map { "\($0)".contains("not also in layers") } == true)
        do { _ = try QuantizationPlan.decode(Data("[1]".utf8), file: "q.json"); Issue.record("accepted an array") } catch {
            #expect(error == .invalidFile(file: "q.json", reason: "not a JSON object"))
        }
    }
}
