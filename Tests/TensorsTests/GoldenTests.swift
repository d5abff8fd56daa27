// Golden comparisons against PyTorch.
//
// Each fixture in Fixtures/*.safetensors was written by tools/make_golden_fixtures.py (run by hand; CI never needs
// PyTorch). It holds the float32 inputs and weights, a random `upstream` gradient, and the reference outputs and
// gradients, computed by PyTorch in float64 from those float32 inputs and rounded once to float32; the fixture's
// `__metadata__["golden"]` JSON describes the exact computation and its parameters. Here the same computation runs
// through the `Tensors` API, the loss is `(out * upstream).sum()` (the loss itself for cross-entropy), and
// `backward()` produces the gradients.
//
// Tolerance: every element must satisfy |actual − expected| ≤ atol + rtol · |expected| with atol = 1e-4 and
// rtol = 1e-4 (float32 kernels against a float64 reference; values are O(1) to O(10)). Set GOLDEN_REPORT=1 to print
// the largest absolute difference of every comparison.

import Checkpoints
import Foundation
import Tensors
import Testing

/// One golden fixture: its tensors and its parameters.
private struct Golden {
    let name: String
    let file: SafeTensorsFile
    /// The parsed `__metadata__["golden"]` JSON object.
    let params: [String: Any]

    init(_ name: String) throws {
        self.name = name
        let path = try #require(Bundle.module.path(forResource: name, ofType: "safetensors", inDirectory: "Fixtures"),
                                "fixture Fixtures/\(name).safetensors is missing; run tools/make_golden_fixtures.py")
        file = try SafeTensorsFile(path: path)
        let json = try #require(file.metadata["golden"], "\(name): no golden metadata")
        params = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    /// A fixture tensor (a fresh leaf).
    func callAsFunction(_ key: String) throws -> Tensor { try file.tensor(key) }

    /// A fixture tensor that requires a gradient.
    func leaf(_ key: String) throws -> Tensor {
        let t = try file.tensor(key)
        t.requiresGrad = true
        return t
    }

    func int(_ key: String) throws -> Int { try #require(params[key] as? Int, "\(name): parameter \(key)") }
    func ints(_ key: String) throws -> [Int] { try #require(params[key] as? [Int], "\(name): parameter \(key)") }
    func float(_ key: String) throws -> Float {
        Float(try #require((params[key] as? NSNumber)?.doubleValue, "\(name): parameter \(key)"))
    }
    func string(_ key: String) throws -> String { try #require(params[key] as? String, "\(name): parameter \(key)") }
}

private let defaultAbsTolerance: Float = 1e-4
private let defaultRelTolerance: Float = 1e-4

/// Checks `actual` against `expected` elementwise: |a − e| ≤ atol + rtol·|e|, same shape, no NaN. Returns the
/// largest absolute difference.
@discardableResult
private func expectClose(_ actual: Tensor?, _ expected: Tensor, _ what: String,
                         atol: Float = defaultAbsTolerance, rtol: Float = defaultRelTolerance,
                         sourceLocation: SourceLocation = #_sourceLocation) -> Float {
    guard let actual else {
        Issue.record("\(what): no value (gradient not computed?)", sourceLocation: sourceLocation)
        return .infinity
    }
    guard actual.shape == expected.shape else {
        Issue.record("\(what): shape \(actual.shape), expected \(expected.shape)", sourceLocation: sourceLocation)
        return .infinity
    }
    let a = actual.toArray(), e = expected.toArray()
    var maxDiff: Float = 0, worst = -1
    var failures = 0
    for i in a.indices {
        let d = Swift.abs(a[i] - e[i])
        if !(d <= atol + rtol * Swift.abs(e[i])) {
            failures += 1
            if worst < 0 || !(d <= Swift.abs(a[worst] - e[worst])) { worst = i }
        }
        if !(d <= maxDiff) { maxDiff = d }
    }
    if ProcessInfo.processInfo.environment["GOLDEN_REPORT"] == "1" {
        print("golden \(what): max |diff| = \(maxDiff)")
    }
    if failures > 0 {
        Issue.record("""
            \(what): \(failures) of \(a.count) elements outside atol \(atol) + rtol \(rtol); max |diff| \(maxDiff); \
            worst at flat index \(worst): \(a[worst]) vs \(e[worst])
            """, sourceLocation: sourceLocation)
    }
    return maxDiff
}

@Suite struct GoldenTests {
    // MARK: Convolution

    @Test(arguments: ["conv2d_plain", "conv2d_same_stride2", "conv2d_dilated", "conv2d_grouped", "conv2d_depthwise_same"])
    func conv2dForwardAndGradientsMatchPyTorch(_ name: String) throws {
        let g = try Golden(name)
        let stride = try g.ints("stride"), dilation = try g.ints("dilation")
        let pads = try g.ints("pads_top_bottom_left_right")
        var paddings: [(String, Padding)] = [
            ("explicit", .explicit(top: pads[0], bottom: pads[1], left: pads[2], right: pads[3])),
        ]
        if try g.string("padding") == "same" {
            paddings.append(("same", .same))
        } else {
            #expect(pads[0] == pads[1] && pads[2] == pads[3])
            paddings.append(("symmetric", .symmetric(pads[0], pads[2])))
        }
        for (label, padding) in paddings {
            let x = try g.leaf("x"), w = try g.leaf("weight"), b = try g.leaf("bias")
            let out = Tensor.conv2d(x, weight: w, bias: b, stride: (stride[0], stride[1]), padding: padding,
                                    dilation: (dilation[0], dilation[1]), groups: try g.int("groups"))
            expectClose(out, try g("out"), "\(name) [\(label)] out")
            try (out * g("upstream")).sum().backward()
            expectClose(x.grad, try g("grad_x"), "\(name) [\(label)] grad x")
            expectClose(w.grad, try g("grad_weight"), "\(name) [\(label)] grad weight")
            expectClose(b.grad, try g("grad_bias"), "\(name) [\(label)] grad bias")
        }
    }

    // MARK: Normalisation

    @Test func batchNormTrainingMatchesPyTorchIncludingRunningStatistics() throws {
        let g = try Golden("batch_norm_train")
        let x = try g.leaf("x"), w = try g.leaf("weight"), b = try g.leaf("bias")
        let runningMean = try g("running_mean"), runningVar = try g("running_var")
        let out = Tensor.batchNorm2d(x, weight: w, bias: b, runningMean: runningMean, runningVar: runningVar,
                                     training: true, momentum: try g.float("momentum"), eps: try g.float("eps"))
        expectClose(out, try g("out"), "batch_norm_train out")
        expectClose(runningMean, try g("running_mean_after"), "batch_norm_train running mean after one step")
        expectClose(runningVar, try g("running_var_after"), "batch_norm_train running var after one step")
        try (out * g("upstream")).sum().backward()
        expectClose(x.grad, try g("grad_x"), "batch_norm_train grad x")
        expectClose(w.grad, try g("grad_weight"), "batch_norm_train grad weight")
        expectClose(b.grad, try g("grad_bias"), "batch_norm_train grad bias")
    }

    @Test func batchNormEvalUsesRunningStatisticsLikePyTorch() throws {
        let g = try Golden("batch_norm_eval")
        let x = try g.leaf("x"), w = try g.leaf("weight"), b = try g.leaf("bias")
        let runningMean = try g("running_mean"), runningVar = try g("running_var")
        let out = Tensor.batchNorm2d(x, weight: w, bias: b, runningMean: runningMean, runningVar: runningVar,
                                     training: false, momentum: try g.float("momentum"), eps: try g.float("eps"))
        expectClose(out, try g("out"), "batch_norm_eval out")
        #expect(runningMean.toArray() == (try g("running_mean")).toArray(), "eval mode changed the running mean")
        #expect(runningVar.toArray() == (try g("running_var")).toArray(), "eval mode changed the running variance")
        try (out * g("upstream")).sum().backward()
        expectClose(x.grad, try g("grad_x"), "batch_norm_eval grad x")
        expectClose(w.grad, try g("grad_weight"), "batch_norm_eval grad weight")
        expectClose(b.grad, try g("grad_bias"), "batch_norm_eval grad bias")
    }

    @Test func layerNormWithBertEpsilonMatchesPyTorch() throws {
        let g = try Golden("layer_norm")
        let x = try g.leaf("x"), w = try g.leaf("weight"), b = try g.leaf("bias")
        let out = Tensor.layerNorm(x, weight: w, bias: b, eps: try g.float("eps"))
        expectClose(out, try g("out"), "layer_norm out")
        try (out * g("upstream")).sum().backward()
        expectClose(x.grad, try g("grad_x"), "layer_norm grad x")
        expectClose(w.grad, try g("grad_weight"), "layer_norm grad weight")
        expectClose(b.grad, try g("grad_bias"), "layer_norm grad bias")
    }

    // MARK: Losses and activations

    @Test(arguments: ["cross_entropy_smoothing", "cross_entropy_plain"])
    func crossEntropyLossAndGradientMatchPyTorch(_ name: String) throws {
        let g = try Golden(name)
        let logits = try g.leaf("logits")
        let targets = try g.file.int64s("targets").map { Int($0) }
        let loss = Tensor.crossEntropy(logits: logits, targets: targets, labelSmoothing: try g.float("label_smoothing"),
                                       ignoreIndex: try g.int("ignore_index"))
        expectClose(loss, try g("loss"), "\(name) loss")
        loss.backward()
        expectClose(logits.grad, try g("grad_logits"), "\(name) grad logits")
    }

    @Test(arguments: [false, true])
    func geluMatchesPyTorch(approximate: Bool) throws {
        let g = try Golden("gelu")
        let suffix = approximate ? "tanh" : "erf"
        let x = try g.leaf("x")
        let out = x.gelu(approximate: approximate)
        expectClose(out, try g("out_\(suffix)"), "gelu \(suffix) out")
        try (out * g("upstream")).sum().backward()
        expectClose(x.grad, try g("grad_x_\(suffix)"), "gelu \(suffix) grad x")
    }

    @Test(arguments: [false, true])
    func softmaxAlongAxis1MatchesPyTorch(log: Bool) throws {
        let g = try Golden("softmax")
        let name = log ? "log_softmax" : "softmax"
        let axis = try g.int("axis")
        let x = try g.leaf("x")
        let out = log ? x.logSoftmax(axis: axis) : x.softmax(axis: axis)
        expectClose(out, try g("\(name)_out"), "\(name) out")
        try (out * g("upstream")).sum().backward()
        expectClose(x.grad, try g("\(name)_grad_x"), "\(name) grad x")
    }

    // MARK: Attention

    @Test func maskedMultiHeadAttentionBlockMatchesPyTorch() throws {
        let g = try Golden("attention")
        let batch = try g.int("batch"), tokens = try g.int("tokens"), dim = try g.int("dim")
        let heads = try g.int("heads"), headDim = try g.int("head_dim")
        let x = try g.leaf("x")
        var p: [String: Tensor] = [:]
        for name in ["wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"] { p[name] = try g.leaf(name) }
        let mask = try g("mask")  // [B, 1, 1, T]: 0, or -1e4 on the masked key positions

        // [B, T, D] -> [B, H, T, dh]
        func split(_ t: Tensor) -> Tensor { t.reshaped(batch, tokens, heads, headDim).transposed(1, 2) }
        let q = split(Tensor.linear(x, weight: p["wq"]!, bias: p["bq"]!))
        let k = split(Tensor.linear(x, weight: p["wk"]!, bias: p["bk"]!))
        let v = split(Tensor.linear(x, weight: p["wv"]!, bias: p["bv"]!))
        let scores = q.matmul(k.transposed(-2, -1)) / Float(headDim).squareRoot() + mask
        let probs = scores.softmax(axis: -1)
        let context = probs.matmul(v).transposed(1, 2).reshaped(batch, tokens, dim)
        let out = Tensor.linear(context, weight: p["wo"]!, bias: p["bo"]!)

        expectClose(out, try g("out"), "attention out")
        try (out * g("upstream")).sum().backward()
        expectClose(x.grad, try g("grad_x"), "attention grad x")
        for name in ["wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"] {
            expectClose(p[name]!.grad, try g("grad_\(name)"), "attention grad \(name)")
        }
    }

    // MARK: Pooling

    @Test func maxPool3x3Stride2Pad1MatchesPyTorch() throws {
        let g = try Golden("pooling")
        let x = try g.leaf("x")
        let out = Tensor.maxPool2d(x, kernel: (3, 3), stride: (2, 2), padding: .symmetric(1, 1))
        expectClose(out, try g("max_pool_out"), "max_pool out")
        try (out * g("max_pool_upstream")).sum().backward()
        expectClose(x.grad, try g("max_pool_grad_x"), "max_pool grad x")
    }

    @Test func avgPool3x3Stride2Pad1CountingPaddingMatchesPyTorch() throws {
        let g = try Golden("pooling")
        let x = try g.leaf("x")
        let out = Tensor.avgPool2d(x, kernel: (3, 3), stride: (2, 2), padding: .symmetric(1, 1), countIncludePad: true)
        expectClose(out, try g("avg_pool_out"), "avg_pool out")
        try (out * g("avg_pool_upstream")).sum().backward()
        expectClose(x.grad, try g("avg_pool_grad_x"), "avg_pool grad x")
    }

    @Test func globalAvgPoolMatchesAdaptiveAvgPoolTo1() throws {
        let g = try Golden("pooling")
        let x = try g.leaf("x")
        let out = Tensor.globalAvgPool2d(x)  // [N, C]; PyTorch's adaptive_avg_pool2d(x, 1) is [N, C, 1, 1]
        let expected = try g("global_avg_pool_out")
        expectClose(out, expected.reshaped(expected.shape[0], expected.shape[1]), "global_avg_pool out")
        let upstream = try g("global_avg_pool_upstream")
        (out * upstream.reshaped(upstream.shape[0], upstream.shape[1])).sum().backward()
        expectClose(x.grad, try g("global_avg_pool_grad_x"), "global_avg_pool grad x")
    }
}
