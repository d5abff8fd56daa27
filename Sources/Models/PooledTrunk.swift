import Layers
import Tensors

/// A ``VisionBackbone`` whose pooled features are the global average of its trunk's last map and whose ImageNet
/// classifier, when it has one, reads them: EfficientNet-Lite, MobileNetV2 and ResNet. The forward passes every such
/// model offers (logits or features, feature maps, both at once) are written once here over the model's ``trunk``.
protocol PooledTrunk: VisionBackbone {
    /// Stem, stages and head: the last map and, when `collect`, the intermediate maps of ``featureMaps(_:)``.
    func trunk(_ x: Tensor, collect: Bool) -> (map: Tensor, maps: [FeatureMap])
    /// The classifier on the pooled features (with the dropout before it, if any), nil without a top.
    func classify(_ pooled: Tensor) -> Tensor?
}

extension PooledTrunk {
    /// Global-average-pooled trunk output (``VisionBackbone/features(_:)``).
    func pooledFeatures(_ x: Tensor) -> Tensor {
        checkInput(x)
        return Tensor.globalAvgPool2d(trunk(x, collect: false).map)
    }

    /// The trunk's maps (``VisionBackbone/featureMaps(_:)``).
    func trunkMaps(_ x: Tensor) -> [FeatureMap] {
        checkInput(x)
        return trunk(x, collect: true).maps
    }

    /// The model's output (logits with a top, pooled features without) and, when `collect`, the maps it went through.
    func run(_ x: Tensor, collect: Bool) -> (output: Tensor, featureMaps: [FeatureMap]) {
        checkInput(x)
        let (map, maps) = trunk(x, collect: collect)
        let pooled = Tensor.globalAvgPool2d(map)
        // The classifier runs in fp32 even under bf16: it costs nothing next to the trunk and decides the ranking
        // (near-tied ImageNet logits flip under bf16 rounding of a 1280-term dot product).
        guard let logits = withPrecision(.fp32, { classify(pooled) }) else { return (pooled, maps) }
        return (logits, maps)
    }
}
