import Layers
import Models
import Tensors

extension VisionBackbone {
    /// The multi-scale stage outputs a dense decoder reads: of the maps of ``VisionBackbone/featureMaps(_:)`` other
    /// than a `"head"` map (EfficientNet-Lite's 1×1 head convolution, which follows the last stage), the last one at
    /// each stride, ordered from the finest stride (2) to the coarsest (32). This is the `features`
    /// list of segmentation_models.pytorch's encoders without their identity entry (EfficientNet-Lite0: stem, stage1,
    /// stage2, stage4, head at strides 2…32; ResNet: stem, layer1…layer4). Any backbone whose ``featureMaps(_:)``
    /// reports its stage outputs in forward order (MobileNetV2 included) gets a pyramid with no extra code.
    public func pyramid(_ x: Tensor) -> [FeatureMap] {
        Self.lastPerStride(featureMaps(x))
    }

    /// `(stride, channels)` of each level of ``pyramid(_:)``, found by one inference pass on a 64 × 64 input.
    public func pyramidShape() -> [(stride: Int, channels: Int)] {
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        let probe = Tensor.zeros([1, inputChannels, 64, 64])
        return withNoGrad { pyramid(probe).map { ($0.stride, $0.channels) } }
    }

    static func lastPerStride(_ maps: [FeatureMap]) -> [FeatureMap] {
        var byStride: [Int: FeatureMap] = [:]
        for m in maps where m.name != "head" { byStride[m.stride] = m }
        return byStride.keys.sorted().map { byStride[$0]! }
    }
}
