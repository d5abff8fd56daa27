import Dense
import Foundation
import Layers
import Models
import Tensors

/// Dense-prediction throughput: images per second of a segmentation model (U-Net or FPN decoder) and of the
/// CenterNet detector (FPN + head + box decoding), each on EfficientNet-Lite0, at batch ``batch`` of
/// ``side`` × ``side`` images, in fp32 or bf16 (docs/dense.md).
enum DenseBench {
    static let batch = 8
    static let side = 256

    enum Kind: String { case unet, fpn, centernet }

    static func inference(_ ctx: BenchContext, _ name: String, _ kind: Kind, precision: Precision = .fp32) -> BenchResult {
        if let refused = ModelBench.refuse(ctx, name, precision, unit: "images/s") { return refused }
        let (encoder, weights) = ModelBench.efficientNetLite0(includeTop: false)
        Initializer.seed(0)
        let x = randomTensor([batch, 3, side, side], seed: 71)
        let run: () -> Void
        switch kind {
        case .unet, .fpn:
            let model = SegmentationModel(encoder: encoder, architecture: kind == .unet ? .unet : .fpn, classes: 2)
            model.eval()
            run = { _ = model(x).contiguous() }
        case .centernet:
            let model = DetectionModel(encoder: encoder, classes: 1)
            model.eval()
            run = {
                let out = model(x)
                _ = decodeCenterNet(heatmap: out.heatmap, size: out.size, offset: out.offset, k: 200, minScore: 0.05)
            }
        }
        let seconds = medianSeconds(ModelBench.plan(ctx)) { withPrecision(precision) { withNoGrad { run() } } }
        let what = kind == .centernet ? "CenterNet detector (FPN p2 + heatmap/size/offset head + top-200 decoding)"
            : "\(kind == .unet ? "U-Net" : "FPN") segmentation model (2 classes, logits at input resolution)"
        ctx.note("\(name): \(what) on EfficientNet-Lite0 in \(precision), batch \(batch)×3×\(side)×\(side), eval(), withNoGrad; "
                 + "encoder \(weights), decoder random-initialised; images/s = \(batch) / median of \(ModelBench.plan(ctx).repeats) runs after 1 warm-up.")
        return BenchResult(name: name, value: Double(batch) / seconds, unit: "images/s", reference: nil, ratio: nil, target: nil)
    }

    static let all: [Benchmark] = [
        Benchmark(name: "unet_lite0_infer_256") { inference($0, "unet_lite0_infer_256", .unet) },
        Benchmark(name: "unet_lite0_infer_256_bf16") { inference($0, "unet_lite0_infer_256_bf16", .unet, precision: .bf16) },
        Benchmark(name: "fpn_lite0_infer_256") { inference($0, "fpn_lite0_infer_256", .fpn) },
        Benchmark(name: "fpn_lite0_infer_256_bf16") { inference($0, "fpn_lite0_infer_256_bf16", .fpn, precision: .bf16) },
        Benchmark(name: "centernet_lite0_infer_256") { inference($0, "centernet_lite0_infer_256", .centernet) },
        Benchmark(name: "centernet_lite0_infer_256_bf16") { inference($0, "centernet_lite0_infer_256_bf16", .centernet, precision: .bf16) },
    ]
}
