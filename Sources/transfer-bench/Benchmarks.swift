import CBLAS
import CDNNL
import Foundation
import Layers
import Tensors

/// What every measurement gets: how often to time, the reference oneDNN engine, and a place for the notes printed
/// under the table (how each figure was taken).
final class BenchContext {
    let plan: TimingPlan
    let raw: RawEngine
    private(set) var notes: [String] = []

    init(plan: TimingPlan, raw: RawEngine) {
        self.plan = plan
        self.raw = raw
    }

    /// Adds a note once (measurements that share a method share the note).
    func note(_ text: String) {
        if !notes.contains(text) { notes.append(text) }
    }
}

/// One measurement, producing one result line.
struct Benchmark: Sendable {
    let name: String
    let run: @Sendable (BenchContext) -> BenchResult
}

/// Throughput in 10⁹ units per second.
private func perSecond(_ amount: Double, _ seconds: Double) -> Double { amount / seconds / 1e9 }

/// A result whose value and reference are throughputs (higher is better): ratio = value / reference.
private func throughput(_ name: String, amount: Double, unit: String, seconds: Double, referenceSeconds: Double,
                        target: Double?) -> BenchResult {
    BenchResult(name: name, value: perSecond(amount, seconds), unit: unit,
                reference: perSecond(amount, referenceSeconds), ratio: referenceSeconds / seconds, target: target)
}

/// Every measurement, in report order.
enum Benchmarks {
    static let all: [Benchmark] = [
        Benchmark(name: "matmul_1024") { matmul($0, n: 1024) },
        Benchmark(name: "matmul_2048") { matmul($0, n: 2048) },
        Benchmark(name: "linear_bf16") { linearBF16($0) },
        Benchmark(name: "conv3x3_fwd") { conv($0, "conv3x3_fwd", .dense, .forward) },
        Benchmark(name: "conv3x3_bwd_data") { conv($0, "conv3x3_bwd_data", .dense, .backwardData) },
        Benchmark(name: "conv3x3_bwd_weights") { conv($0, "conv3x3_bwd_weights", .dense, .backwardWeights) },
        Benchmark(name: "dwconv3x3_fwd") { conv($0, "dwconv3x3_fwd", .depthwise, .forward) },
        Benchmark(name: "dwconv3x3_bwd") { conv($0, "dwconv3x3_bwd", .depthwise, .backwardBoth) },
        Benchmark(name: "conv3x3_fwdbwd_bf16_raw") { convTrainRawBF16($0, .dense) },
        Benchmark(name: "dwconv3x3_fwdbwd_bf16_raw") { convTrainRawBF16($0, .depthwise) },
        Benchmark(name: "add") { bandwidth($0, "add", inputs: 2) { a, b in _ = a + b! } },
        Benchmark(name: "gelu") { bandwidth($0, "gelu", inputs: 1) { x, _ in _ = x.gelu() } },
        Benchmark(name: "upsample_bilinear2x") { upsample($0, "upsample_bilinear2x", blocked: false) },
        Benchmark(name: "upsample_bilinear2x_blocked") { upsample($0, "upsample_bilinear2x_blocked", blocked: true) },
        Benchmark(name: "frozen_backbone_backward") { frozenBackbone($0) },
        Benchmark(name: "loader_images_per_s") { LoaderBench.run($0) },
        Benchmark(name: "efficientnet_lite0_infer") {
            ModelBench.visionInference($0, "efficientnet_lite0_infer") { ModelBench.efficientNetLite0(includeTop: true) }
        },
        Benchmark(name: "resnet18_infer") { ModelBench.visionInference($0, "resnet18_infer") { ModelBench.resNet18(includeTop: true) } },
        Benchmark(name: "mobilenet_v2_infer") {
            ModelBench.visionInference($0, "mobilenet_v2_infer") { ModelBench.mobileNetV2(includeTop: true) }
        },
        Benchmark(name: "mobilenet_v2_infer_bf16") {
            ModelBench.visionInference($0, "mobilenet_v2_infer_bf16", precision: .bf16) { ModelBench.mobileNetV2(includeTop: true) }
        },
        Benchmark(name: "mobilenet_v2_train") {
            ModelBench.visionTraining($0, "mobilenet_v2_train", .all) { ModelBench.mobileNetV2(includeTop: false) }
        },
        Benchmark(name: "minilm_infer") { ModelBench.textInference($0) },
        Benchmark(name: "efficientnet_lite0_infer_bf16") {
            ModelBench.visionInference($0, "efficientnet_lite0_infer_bf16", precision: .bf16) { ModelBench.efficientNetLite0(includeTop: true) }
        },
        Benchmark(name: "resnet18_infer_bf16") {
            ModelBench.visionInference($0, "resnet18_infer_bf16", precision: .bf16) { ModelBench.resNet18(includeTop: true) }
        },
        Benchmark(name: "minilm_infer_bf16") { ModelBench.textInference($0, precision: .bf16) },
        Benchmark(name: "efficientnet_lite0_infer_int8") {
            ModelBench.visionInferenceInt8($0, "efficientnet_lite0_infer_int8") { ModelBench.efficientNetLite0(includeTop: true) }
        },
        Benchmark(name: "resnet18_infer_int8") { ModelBench.visionInferenceInt8($0, "resnet18_infer_int8") { ModelBench.resNet18(includeTop: true) } },
        Benchmark(name: "mobilenet_v2_infer_int8") {
            ModelBench.visionInferenceInt8($0, "mobilenet_v2_infer_int8") { ModelBench.mobileNetV2(includeTop: true) }
        },
        Benchmark(name: "minilm_infer_int8") { ModelBench.textInferenceInt8($0) },
        Benchmark(name: "efficientnet_lite0_features") { ModelBench.featureExtraction($0) },
        Benchmark(name: "efficientnet_lite0_features_bf16") { ModelBench.featureExtraction($0, precision: .bf16) },
        Benchmark(name: "efficientnet_lite0_train") {
            ModelBench.visionTraining($0, "efficientnet_lite0_train", .all) { ModelBench.efficientNetLite0(includeTop: false) }
        },
        // The last two stages and the head convolution, as `transfer train --strategy fine-tune` unfreezes.
        Benchmark(name: "efficientnet_lite0_train_top") {
            ModelBench.visionTraining($0, "efficientnet_lite0_train_top", .top(3)) { ModelBench.efficientNetLite0(includeTop: false) }
        },
        Benchmark(name: "resnet18_train") {
            ModelBench.visionTraining($0, "resnet18_train", .all) { ModelBench.resNet18(includeTop: false) }
        },
        Benchmark(name: "resnet18_train_top") {
            ModelBench.visionTraining($0, "resnet18_train_top", .top(1)) { ModelBench.resNet18(includeTop: false) }
        },
        Benchmark(name: "minilm_train") { ModelBench.textTraining($0, "minilm_train", .all) },
        // bf16 mixed-precision training steps, each timed in alternation with its fp32 step (BF16TrainingBench.swift).
        Benchmark(name: "resnet18_train_bf16") {
            ModelBench.visionTrainingBF16($0, "resnet18_train_bf16") { ModelBench.resNet18(includeTop: false) }
        },
        Benchmark(name: "efficientnet_lite0_train_bf16") {
            ModelBench.visionTrainingBF16($0, "efficientnet_lite0_train_bf16") { ModelBench.efficientNetLite0(includeTop: false) }
        },
        Benchmark(name: "mobilenet_v2_train_bf16") {
            ModelBench.visionTrainingBF16($0, "mobilenet_v2_train_bf16") { ModelBench.mobileNetV2(includeTop: false) }
        },
        Benchmark(name: "minilm_train_bf16") { ModelBench.textTrainingBF16($0) },
        Benchmark(name: "minilm_train_top") { ModelBench.textTraining($0, "minilm_train_top", .top(2)) },
        // LoRA (rank 8) with `transfer train --strategy lora`'s default targets, beside full and top-group training.
        Benchmark(name: "efficientnet_lite0_train_lora") {
            ModelBench.visionTraining($0, "efficientnet_lite0_train_lora", .lora(topGroups: 3)) { ModelBench.efficientNetLite0(includeTop: false) }
        },
        Benchmark(name: "minilm_train_lora") { ModelBench.textTraining($0, "minilm_train_lora", .lora(topGroups: 2)) },
    ] + DenseBench.all + [
        // Last, so that it covers every measurement before it.
        Benchmark(name: "peak_rss_mb") { _ in
            BenchResult(name: "peak_rss_mb", value: peakRSSMegabytes(), unit: "MB", reference: nil, ratio: nil, target: nil)
        },
    ]

    // MARK: - GEMM

    /// `Tensor.matmul` of two plain `[n, n]` tensors against `cblas_sgemm` on the same buffers (2n³ flops).
    static func matmul(_ ctx: BenchContext, n: Int) -> BenchResult {
        let a = randomTensor([n, n], seed: 11), b = randomTensor([n, n], seed: 12)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { c.deallocate() }
        let n32 = Int32(n)
        let (tk, ref) = a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                medianSecondsPaired(ctx.plan.scaled(n <= 1024 ? 2 : 1), { _ = Tensor.matmul(a, b) }, {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n32, n32, n32, 1, pa.baseAddress, n32,
                                pb.baseAddress, n32, 0, c, n32)
                })
            }
        }
        ctx.note("matmul_N: Tensor.matmul([N,N], [N,N]) vs cblas_sgemm on the same input buffers; 2·N³ flops.")
        return throughput("matmul_\(n)", amount: 2 * pow(Double(n), 3), unit: "GFLOP/s", seconds: tk,
                          referenceSeconds: ref, target: 0.95)
    }

    /// A bf16 `Linear` as MiniLM's feed-forward expansion runs it in bf16 inference (`[4096, 384]` bf16 rows from
    /// the previous layer → 1536, bias, bf16 output kept for the next linear, converted weight cached) against a raw
    /// oneDNN bf16 matmul with the same descriptors; 2·M·K·N flops.
    static func linearBF16(_ ctx: BenchContext) -> BenchResult {
        let name = "linear_bf16", m = 4096, k = 384, n = 1536
        if let refused = ModelBench.refuse(ctx, name, .bf16, unit: "GFLOP/s") { return refused }
        let previous = Linear(k, k), linear = Linear(k, n)
        let x = withPrecision(.bf16) {
            withNoGrad { previous(randomTensor([m, k], seed: 21), activation: nil, keepsPrecision: true) }
        }
        var src = rawDesc([m, k], dnnl_ab, type: dnnl_bf16), wei = rawDesc([k, n], dnnl_format_tag_any, type: dnnl_bf16)
        var bias = rawDesc([1, n], dnnl_ab), dst = rawDesc([m, n], dnnl_ab, type: dnnl_bf16)
        var op = dnnl_matmul_desc_t()
        dnnlCheck(dnnl_matmul_desc_init(&op, &src, &wei, &bias, &dst), "matmul_desc_init (bf16)")
        let raw = RawPrimitive(ctx.raw.primitiveDesc(&op, "matmul (bf16)"), engine: ctx.raw)
        raw.allocate(DNNL_ARG_SRC, dnnl_query_src_md, seed: 22)
        raw.allocate(DNNL_ARG_WEIGHTS, dnnl_query_weights_md, seed: 23)
        raw.allocate(DNNL_ARG_BIAS, dnnl_query_weights_md, index: 1, seed: 24)
        raw.allocate(DNNL_ARG_DST, dnnl_query_dst_md)
        let (tk, ref) = medianSecondsPaired(ctx.plan, {
            _ = withPrecision(.bf16) { withNoGrad { linear(x, activation: nil, keepsPrecision: true) } }
        }, { raw.execute() })
        ctx.note("linear_bf16: Linear(384 → 1536) on [4096, 384] bf16 rows (a previous bf16 linear's output), bias, bf16 "
                 + "output, in bf16 inference (withPrecision(.bf16), withNoGrad; the converted weight cached after the first call) "
                 + "vs a raw oneDNN bf16 matmul with the same descriptors (weights in its chosen layout); 2·M·K·N flops.")
        return throughput(name, amount: 2 * Double(m * k * n), unit: "GFLOP/s", seconds: tk, referenceSeconds: ref,
                          target: 0.95)
    }

    // MARK: - Convolution

    /// The ceiling of bf16 mixed-precision training for one convolution on this CPU: raw oneDNN forward-training,
    /// backward-data and backward-weights in bf16 (fp32 weight gradient) against the same three in fp32, both with
    /// `dnnl_convolution_auto` and every buffer already in its primitive's layout; GFLOP/s over 3 passes.
    static func convTrainRawBF16(_ ctx: BenchContext, _ shape: ConvCase) -> BenchResult {
        func conv(_ type: dnnl_data_type_t) -> RawConv3x3 {
            RawConv3x3(engine: ctx.raw, n: shape.n, cin: shape.channels, cout: shape.channels, h: shape.hw, w: shape.hw,
                       groups: shape.groups, type: type)
        }
        let bf16 = conv(dnnl_bf16), fp32 = conv(dnnl_f32)
        let step: (RawConv3x3) -> Void = { c in
            c.forward.execute()
            c.backwardData.execute()
            c.backwardWeights.execute()
        }
        let (tb, tf) = medianSecondsPaired(ctx.plan, { step(bf16) }, { step(fp32) })
        let kind = shape == .dense ? "conv3x3 (N=32, 64→64, 56×56)" : "dwconv3x3 (N=32, C=144, 56×56)"
        ctx.note("*_fwdbwd_bf16_raw: \(kind) raw oneDNN forward_training + backward_data + backward_weights in bf16 (src, "
                 + "weights, dst and their gradients bf16, weight gradient fp32) vs the same in fp32 (reference); the "
                 + "ratio is the speed-up bf16 training kernels offer here, before any reorder or elementwise pass.")
        return throughput(shape == .dense ? "conv3x3_fwdbwd_bf16_raw" : "dwconv3x3_fwdbwd_bf16_raw", amount: 3 * shape.flops,
                          unit: "GFLOP/s", seconds: tb, referenceSeconds: tf, target: nil)
    }

    /// The convolution shapes measured (3×3 window, stride 1, padding 1, no bias).
    enum ConvCase {
        /// N=32, 64 → 64 channels, 56×56.
        case dense
        /// Depthwise: N=32, 144 channels (groups = 144), 56×56.
        case depthwise

        var n: Int { 32 }
        var channels: Int { self == .dense ? 64 : 144 }
        var groups: Int { self == .dense ? 1 : 144 }
        var hw: Int { 56 }
        var inputShape: Shape { [n, channels, hw, hw] }
        var weightShape: Shape { [channels, channels / groups, 3, 3] }
        /// Flops of one pass: 2 · N · Cout · (Cin / groups) · 9 · H · W.
        var flops: Double { 2 * Double(n * channels * (channels / groups) * 9 * hw * hw) }
    }

    /// Which convolution work is timed.
    enum ConvPass {
        case forward, backwardData, backwardWeights
        /// Backward-data and backward-weights together (depthwise).
        case backwardBoth
    }

    /// A TransferKit convolution pass against the same oneDNN primitive created and run directly (see
    /// ``RawConv3x3``), in GFLOP/s.
    ///
    /// TransferKit's input is what a previous layer would hand it in a network: the output of one convolution of
    /// the same shape, in the layout oneDNN chose for it (inference for the forward, training for the backward
    /// passes). The backward passes are timed as
    /// `y.backward(gy, retainGraph: true)` on a recorded `y = conv2d(x, w)`, with `gy` in `y`'s layout (what the
    /// BN/ReLU backward after it would produce). For backward-data, `x` requires a gradient while the forward records
    /// and is then marked as not requiring one, so the backward runs the convolution's backward closure (computing
    /// ∂x) but does not copy ∂x into a leaf `.grad` — in a network ∂x flows on, blocked, to the previous layer.
    static func conv(_ ctx: BenchContext, _ name: String, _ shape: ConvCase, _ pass: ConvPass) -> BenchResult {
        let ref = RawConv3x3(engine: ctx.raw, n: shape.n, cin: shape.channels, cout: shape.channels, h: shape.hw,
                             w: shape.hw, groups: shape.groups)
        let pad = Padding.symmetric(1, 1), groups = shape.groups
        let weightScale = (3 / Float(9 * shape.channels / groups)).squareRoot()
        // The previous layer runs as it would in the measured setting: an inference forward hands over the layout
        // oneDNN picks for inference, a recorded (training) forward the one it picks for training.
        let previousWeight = randomTensor(shape.weightShape, scale: weightScale, seed: 22)
        previousWeight.requiresGrad = pass != .forward
        let x = Tensor.conv2d(randomTensor(shape.inputShape, seed: 21), weight: previousWeight, padding: pad,
                              groups: groups).detached()
        let w = randomTensor(shape.weightShape, scale: weightScale, seed: 23)
        let letters = "nchw"
        let xLayout = x.layout.map { layoutName($0.desc, letters: letters) } ?? "plain nchw"
        let kind = shape == .dense ? "conv3x3" : "dwconv3x3"
        let params = shape == .dense ? "N=32, 64→64, 56×56" : "depthwise, N=32, C=144, 56×56"

        let tkBody: () -> Void, refBody: () -> Void
        var amount = shape.flops
        switch pass {
        case .forward:
            tkBody = { _ = Tensor.conv2d(x, weight: w, padding: pad, groups: groups) }
            refBody = { ref.forward.execute() }
            let rawSrc = ref.forward.md(dnnl_query_src_md)
            let same = x.layout.map { DNNL.equal($0.desc, rawSrc) } ?? false
            ctx.note("\(kind)_fwd (\(params), 3×3, pad 1): TransferKit's input is the output of a previous conv, in \(xLayout) "
                     + (same ? "(= the raw primitive's preferred src layout, so no reorder)"
                             : "(the raw primitive prefers \(layoutName(rawSrc, letters: letters)): TransferKit reorders)")
                     + "; weights are plain (PyTorch layout) and reordered by TransferKit on every call. Reference: raw oneDNN "
                     + "forward_training primitive (dnnl_convolution_auto, as TransferKit), format_tag_any, memory already in its layouts, execute only.")
        case .backwardData, .backwardWeights, .backwardBoth:
            let xg = x.detached(), wg = w.detached()
            xg.requiresGrad = pass != .backwardWeights
            wg.requiresGrad = pass != .backwardData
            let y = Tensor.conv2d(xg, weight: wg, padding: pad, groups: groups)
            xg.requiresGrad = false
            let g0 = randomTensor(y.shape, scale: 0.01, seed: 24)
            let gy = y.layout.map { DNNL.asLayout(g0, $0.desc) } ?? g0
            tkBody = {
                wg.grad = nil
                y.backward(gy, retainGraph: true)
            }
            switch pass {
            case .backwardData: refBody = { ref.backwardData.execute() }
            case .backwardWeights: refBody = { ref.backwardWeights.execute() }
            default:
                refBody = {
                    ref.backwardData.execute()
                    ref.backwardWeights.execute()
                }
                amount *= 2
            }
            let gyLayout = gy.layout.map { layoutName($0.desc, letters: letters) } ?? "plain nchw"
            let rawDiffDst = pass == .backwardWeights ? ref.backwardWeights.md(dnnl_query_diff_dst_md)
                                                      : ref.backwardData.md(dnnl_query_diff_dst_md)
            let same = gy.layout.map { DNNL.equal($0.desc, rawDiffDst) } ?? false
            ctx.note("\(kind) backward: y.backward(gy, retainGraph: true) on y = conv2d(x, w); gy in y's layout \(gyLayout)"
                     + (same ? " (= the raw primitive's diff_dst layout)" : " (raw primitive wants \(layoutName(rawDiffDst, letters: letters)))")
                     + "; x in \(xLayout) from a previous (training) conv. bwd_data: x recorded as needing a gradient, then unmarked, "
                     + "so ∂x is computed but not copied into a leaf .grad; bwd_weights: only w needs a gradient (∂w returned "
                     + "plain). Reference: the raw backward primitives (hint: forward_training), execute only.")
            if pass == .backwardBoth {
                ctx.note("dwconv3x3_bwd: backward-data + backward-weights together (flops counted twice).")
            }
        }
        let (tk, rf) = medianSecondsPaired(ctx.plan, tkBody, refBody)
        return throughput(name, amount: amount, unit: "GFLOP/s", seconds: tk, referenceSeconds: rf, target: 0.9)
    }

    // MARK: - Memory bandwidth

    /// A 16M-element elementwise op in GB/s of bytes read + written, against `memcpy` moving the same number of bytes
    /// (half read, half written) on the same number of threads.
    static func bandwidth(_ ctx: BenchContext, _ name: String, inputs: Int, _ op: @escaping (Tensor, Tensor?) -> Void)
        -> BenchResult {
        let count = 16 << 20
        let a = randomTensor([count], seed: 31)
        let b: Tensor? = inputs == 2 ? randomTensor([count], seed: 32) : nil
        let traffic = (inputs + 1) * count * 4
        let half = traffic / 2
        var src: UnsafeMutableRawPointer?, dst: UnsafeMutableRawPointer?
        precondition(posix_memalign(&src, 64, half) == 0 && posix_memalign(&dst, 64, half) == 0, "cannot allocate")
        defer {
            free(src)
            free(dst)
        }
        memset(src!, 1, half)
        memset(dst!, 0, half)
        let threads = Threads.count
        let (tk, ref) = medianSecondsPaired(ctx.plan.scaled(2), { op(a, b) }, {
            parallelCopy(dst!, src!, bytes: half, threads: threads)
        })
        ctx.note("add, gelu: 16M float32 elements (a + b: 3×64 MiB moved; x.gelu(): 2×64 MiB), plain tensors; reference: "
                 + "memcpy of half as many bytes (same read+write total) split over \(threads) thread(s).")
        return throughput(name, amount: Double(traffic), unit: "GB/s", seconds: tk, referenceSeconds: ref, target: nil)
    }

    // MARK: - Upsampling

    /// Bilinear ×2 (align_corners=False) of [8, 64, 56, 56] → [8, 64, 112, 112], inference, against a raw oneDNN
    /// linear resampling on the same source layout (plain NCHW: TransferKit's Swift kernel; nChw16c: TransferKit's
    /// oneDNN path, whose output stays blocked).
    static func upsample(_ ctx: BenchContext, _ name: String, blocked: Bool) -> BenchResult {
        let srcDims = [8, 64, 56, 56], dstDims = [8, 64, 112, 112]
        let tag = blocked ? dnnl_nChw16c : dnnl_nchw
        let plain = randomTensor(Shape(srcDims), seed: 41)
        let x = blocked ? DNNL.asLayout(plain, rawDesc(srcDims, tag)) : plain
        var op = dnnl_resampling_desc_t()
        var s = rawDesc(srcDims, tag), d = rawDesc(dstDims, dnnl_format_tag_any)
        dnnlCheck(dnnl_resampling_forward_desc_init(&op, dnnl_forward_inference, dnnl_resampling_linear, nil, &s, &d),
                  "resampling_forward_desc_init")
        let raw = RawPrimitive(ctx.raw.primitiveDesc(&op, "resampling_forward"), engine: ctx.raw)
        raw.allocate(DNNL_ARG_SRC, dnnl_query_src_md)
        raw.allocate(DNNL_ARG_DST, dnnl_query_dst_md)
        let (tk, ref) = medianSecondsPaired(ctx.plan, {
            _ = withNoGrad { x.upsample(scaleFactor: 2, mode: .bilinear) }
        }, { raw.execute() })
        ctx.note("upsample_bilinear2x[_blocked]: x.upsample(scaleFactor: 2, mode: .bilinear) of [8, 64, 56, 56] (plain NCHW: "
                 + "the Swift kernel; nChw16c: oneDNN resampling, output kept blocked) vs a raw oneDNN linear resampling "
                 + "with the same source layout (destination `any`, buffers bound once); bytes = source + destination.")
        let bytes = Double((srcDims.reduce(1, *) + dstDims.reduce(1, *)) * 4)
        return throughput(name, amount: bytes, unit: "GB/s", seconds: tk, referenceSeconds: ref, target: nil)
    }

    // MARK: - Frozen backbone

    /// conv3×3 (no bias) → batch norm (training mode, affine) → ReLU.
    final class ConvBlock {
        let weight, gamma, beta, runningMean, runningVar: Tensor
        let stride: Int

        init(_ cin: Int, _ cout: Int, stride: Int, seed: UInt64) {
            weight = randomTensor([cout, cin, 3, 3], scale: (6 / Float(9 * cin)).squareRoot(), seed: seed)
            gamma = Tensor.ones([cout])
            beta = Tensor.zeros([cout])
            runningMean = Tensor.zeros([cout])
            runningVar = Tensor.ones([cout])
            self.stride = stride
        }

        var parameters: [Tensor] { [weight, gamma, beta] }

        func callAsFunction(_ x: Tensor) -> Tensor {
            let y = Tensor.conv2d(x, weight: weight, stride: (stride, stride), padding: .symmetric(1, 1))
            return Tensor.batchNorm2d(y, weight: gamma, bias: beta, runningMean: runningMean, runningVar: runningVar,
                                      training: true).relu()
        }
    }

    /// Forward + backward of a small CNN (6 conv+BN+ReLU blocks, global average pool, linear head, cross-entropy) on
    /// a 32×3×64×64 batch, fully trainable against all but the last block frozen. value = ms frozen,
    /// reference = ms fully trainable, ratio = full / frozen (the speed-up freezing buys).
    static func frozenBackbone(_ ctx: BenchContext) -> BenchResult {
        let blocks = [
            ConvBlock(3, 32, stride: 1, seed: 41), ConvBlock(32, 32, stride: 1, seed: 42),
            ConvBlock(32, 64, stride: 2, seed: 43), ConvBlock(64, 64, stride: 1, seed: 44),
            ConvBlock(64, 128, stride: 2, seed: 45), ConvBlock(128, 128, stride: 1, seed: 46),
        ]
        let headWeight = randomTensor([10, 128], scale: (1 / Float(128)).squareRoot(), seed: 47)
        let headBias = Tensor.zeros([10])
        let input = randomTensor([32, 3, 64, 64], seed: 48)
        let targets = (0..<32).map { $0 % 10 }
        let head = [headWeight, headBias]
        let backbone = blocks.dropLast().flatMap(\.parameters)
        let trainable = blocks.last!.parameters + head

        /// One training step's compute (no optimizer): zero grads, forward, backward.
        func step(freezeBackbone: Bool) {
            for p in backbone { p.requiresGrad = !freezeBackbone }
            for p in trainable { p.requiresGrad = true }
            for p in backbone + trainable { p.grad = nil }
            var h = input
            for b in blocks { h = b(h) }
            let logits = Tensor.linear(Tensor.globalAvgPool2d(h), weight: headWeight, bias: headBias)
            Tensor.crossEntropy(logits: logits, targets: targets).backward()
        }
        let (frozen, full) = medianSecondsPaired(ctx.plan.scaled(0.5), { step(freezeBackbone: true) },
                                                 { step(freezeBackbone: false) })
        ctx.note("frozen_backbone_backward: forward+backward of 6×(conv3×3+BN(train)+ReLU) 3→32→32→64/2→64→128/2→128, "
                 + "avg pool, linear 128→10, cross-entropy, input 32×3×64×64; value = ms per step with blocks 1–5 frozen "
                 + "(requiresGrad = false), reference = ms fully trainable, ratio = full / frozen.")
        return BenchResult(name: "frozen_backbone_backward", value: frozen * 1000, unit: "ms", reference: full * 1000,
                           ratio: full / frozen, target: nil)
    }
}
