import Layers
import Tensors

/// ResNet-18, -34 and -50 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016) exactly as
/// torchvision builds them (`torchvision/models/resnet.py`), with its parameter names (`conv1`, `bn1`,
/// `layer1.0.conv1`, `layer1.0.bn1`, `layer2.0.downsample.0`, `layer2.0.downsample.1`, …, `fc`), so torchvision and
/// timm state dicts load with a strict ``Module/load(_:strict:)``.
///
/// - stem: `conv1` 7×7 stride 2 padding 3, `bn1`, ReLU, max pooling 3×3 stride 2 padding 1;
/// - `layer1…layer4` with 64, 128, 256, 512 base channels, the first block of layers 2–4 with stride 2: ``BasicBlock``
///   (two 3×3 convolutions) for ResNet-18/34 and ``Bottleneck`` (1×1, 3×3, 1×1 with expansion 4, the stride on the
///   3×3 convolution: "ResNet v1.5") for ResNet-50; a `downsample` 1×1 convolution + batch norm on the identity
///   wherever the stride or the channel count changes;
/// - global average pooling and `fc`.
///
/// Convolutions have no bias; batch norm has eps 1e-5 and momentum 0.1. Inputs are RGB normalised with ImageNet's
/// mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) over x / 255, nominally 224 × 224; any size ≥ 1 runs.
public final class ResNet: Module, VisionBackbone, PooledTrunk {
    /// The supported depths: blocks per layer (2, 2, 2, 2), (3, 4, 6, 3) and (3, 4, 6, 3).
    public enum Depth: Int, CaseIterable, Sendable, CustomStringConvertible {
        case resnet18 = 18, resnet34 = 34, resnet50 = 50

        /// Residual blocks in layer1 … layer4.
        public var blocksPerLayer: [Int] {
            switch self {
            case .resnet18: [2, 2, 2, 2]
            case .resnet34, .resnet50: [3, 4, 6, 3]
            }
        }
        /// Whether the blocks are ``Bottleneck``s (expansion 4) rather than ``BasicBlock``s.
        public var usesBottleneck: Bool { self == .resnet50 }
        /// Output channels of a block over its base width (4 for bottlenecks, 1 for basic blocks).
        public var expansion: Int { usesBottleneck ? 4 : 1 }
        /// "ResNet-18", "ResNet-34", "ResNet-50".
        public var description: String { "ResNet-\(rawValue)" }
    }

    /// Batch-norm epsilon of every layer (PyTorch's default).
    public static let batchNormEps: Float = 1e-5

    public let depth: Depth
    public let numClasses: Int
    public let includeTop: Bool
    /// `conv1`: a ``Conv2d`` unless replaced (``Module/replaceModule(at:with:)``).
    @Child public private(set) var conv1: any UnaryLayer
    /// `bn1`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn1: any UnaryLayer
    private let layerSlots: [Child<any UnaryLayer>]
    private let fcSlot: Child<any UnaryLayer>?

    /// `layer1` … `layer4`: each a ``Sequential`` of residual blocks unless replaced.
    public var layers: [any UnaryLayer] { layerSlots.map(\.wrappedValue) }
    /// The classifier `fc` (a ``Linear`` unless replaced), nil without a top.
    public var fc: (any UnaryLayer)? { fcSlot?.wrappedValue }

    /// Builds a freshly initialised model with torchvision's initialisation (normal √(2/fanOut) convolutions, unit
    /// batch norms, PyTorch-default `fc`) from the current ``Initializer`` seed.
    ///
    /// - Parameters:
    ///   - depth: 18, 34 or 50.
    ///   - numClasses: `fc` outputs (1000 for ImageNet checkpoints).
    ///   - includeTop: whether the model has `fc`; without it calling the model returns the pooled features.
    public init(_ depth: Depth = .resnet18, numClasses: Int = 1000, includeTop: Bool = true) {
        guard numClasses >= 1 else { fatalError("\(depth): numClasses \(numClasses) must be ≥ 1") }
        self.depth = depth
        self.numClasses = numClasses
        self.includeTop = includeTop
        conv1 = Conv2d(3, 64, kernel: (7, 7), stride: (2, 2), padding: .symmetric(3, 3), bias: false,
                       initializer: fanOutNormal(outChannels: 64, kernel: 7))
        bn1 = BatchNorm2d(64, eps: Self.batchNormEps)
        var inChannels = 64
        var layers: [Sequential] = []
        for (i, count) in depth.blocksPerLayer.enumerated() {
            let width = 64 << i
            var blocks: [any UnaryLayer] = []
            for j in 0..<count {
                let stride = i > 0 && j == 0 ? 2 : 1
                if depth.usesBottleneck {
                    blocks.append(Bottleneck(inChannels: inChannels, width: width, stride: stride))
                } else {
                    blocks.append(BasicBlock(inChannels: inChannels, outChannels: width, stride: stride))
                }
                inChannels = width * depth.expansion
            }
            layers.append(Sequential(blocks))
        }
        layerSlots = layers.map { Child<any UnaryLayer>(wrappedValue: $0) }
        fcSlot = includeTop ? Child<any UnaryLayer>(wrappedValue: Linear(512 * depth.expansion, numClasses)) : nil
        super.init()
        child("conv1", $conv1)
        child("bn1", $bn1)
        for (i, slot) in layerSlots.enumerated() { child("layer\(i + 1)", slot) }
        if let fcSlot { child("fc", fcSlot) }
    }

    public var modelName: String { depth.description }
    public var classifierPath: String { "fc" }
    /// 512 for ResNet-18/34, 2048 for ResNet-50.
    public var featureDimension: Int { 512 * depth.expansion }

    /// stem (`conv1`, `bn1`), layer1 … layer4 and, with a top, classifier (`fc`).
    public var blockGroups: [BlockGroup] {
        var groups = [BlockGroup(name: "stem", prefixes: ["conv1", "bn1"])]
        for i in 1...4 { groups.append(BlockGroup(name: "layer\(i)", prefixes: ["layer\(i)"])) }
        if includeTop { groups.append(BlockGroup(name: "classifier", prefixes: ["fc"])) }
        return groups
    }

    /// Logits `[N, numClasses]` with a top, else the pooled features `[N, featureDimension]`.
    public func callAsFunction(_ x: Tensor) -> Tensor { run(x, collect: false).output }

    public func features(_ x: Tensor) -> Tensor { pooledFeatures(x) }

    /// The maps after the stem's ReLU (stride 2, 64 channels; before max pooling) and after layer1 … layer4
    /// (strides 4, 8, 16, 32; 64 · e, 128 · e, 256 · e, 512 · e channels with e = ``Depth/expansion``).
    public func featureMaps(_ x: Tensor) -> [FeatureMap] { trunkMaps(x) }

    public func outputAndFeatureMaps(_ x: Tensor) -> (output: Tensor, featureMaps: [FeatureMap]) { run(x, collect: true) }

    func classify(_ pooled: Tensor) -> Tensor? { fc.map { $0(pooled) } }

    func trunk(_ x: Tensor, collect: Bool) -> (map: Tensor, maps: [FeatureMap]) {
        var maps: [FeatureMap] = []
        var h = conv1(x, batchNorm: bn1, activation: .relu)
        if collect { maps.append(FeatureMap(name: "stem", stride: 2, tensor: h)) }
        h = Tensor.maxPool2d(h, kernel: (3, 3), stride: (2, 2), padding: .symmetric(1, 1))
        for (i, layer) in layerSlots.enumerated() {
            h = layer.wrappedValue(h)
            if collect { maps.append(FeatureMap(name: "layer\(i + 1)", stride: 4 << i, tensor: h)) }
        }
        return (h, maps)
    }

    /// The identity path of a block: `x`, or its `downsample` (convolution + BatchNorm, fused when nothing records
    /// and both are still the original layers).
    static func identity(_ downsample: (any UnaryLayer)?, _ x: Tensor) -> Tensor {
        guard let downsample else { return x }
        guard let pair = downsample as? Sequential, pair.count == 2 else { return downsample(x) }
        return pair[0](x, batchNorm: pair[1], activation: nil)
    }

    /// The identity path's `downsample` (torchvision: `nn.Sequential(conv1x1(stride), BatchNorm2d)`), or nil when
    /// the block keeps its shape.
    static func downsample(_ inChannels: Int, _ outChannels: Int, stride: Int) -> Sequential? {
        guard stride != 1 || inChannels != outChannels else { return nil }
        return Sequential(
            Conv2d(inChannels, outChannels, kernel: (1, 1), stride: (stride, stride), bias: false,
                   initializer: fanOutNormal(outChannels: outChannels, kernel: 1)),
            BatchNorm2d(outChannels, eps: batchNormEps))
    }
}

/// torchvision's `BasicBlock` (ResNet-18/34): `relu(bn2(conv2(relu(bn1(conv1(x))))) + identity)`, both convolutions
/// 3×3 padding 1, the first with the block's stride; `identity = downsample(x)` where the shape changes.
public final class BasicBlock: Module, UnaryLayer {
    /// `conv1`: a ``Conv2d`` unless replaced.
    @Child public private(set) var conv1: any UnaryLayer
    /// `bn1`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn1: any UnaryLayer
    /// `conv2`: a ``Conv2d`` unless replaced.
    @Child public private(set) var conv2: any UnaryLayer
    /// `bn2`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn2: any UnaryLayer
    private let downsampleSlot: Child<any UnaryLayer>?
    /// `downsample` (a ``Sequential`` of a 1×1 ``Conv2d`` and a ``BatchNorm2d`` unless replaced), nil when the block
    /// keeps its shape.
    public var downsample: (any UnaryLayer)? { downsampleSlot?.wrappedValue }

    public init(inChannels: Int, outChannels: Int, stride: Int = 1) {
        conv1 = Conv2d(inChannels, outChannels, kernel: (3, 3), stride: (stride, stride), padding: .symmetric(1, 1),
                       bias: false, initializer: fanOutNormal(outChannels: outChannels, kernel: 3))
        bn1 = BatchNorm2d(outChannels, eps: ResNet.batchNormEps)
        conv2 = Conv2d(outChannels, outChannels, kernel: (3, 3), padding: .symmetric(1, 1), bias: false,
                       initializer: fanOutNormal(outChannels: outChannels, kernel: 3))
        bn2 = BatchNorm2d(outChannels, eps: ResNet.batchNormEps)
        downsampleSlot = ResNet.downsample(inChannels, outChannels, stride: stride)
            .map { Child<any UnaryLayer>(wrappedValue: $0) }
        super.init()
        child("conv1", $conv1)
        child("bn1", $bn1)
        child("conv2", $conv2)
        child("bn2", $bn2)
        if let downsampleSlot { child("downsample", downsampleSlot) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let identity = ResNet.identity(downsample, x)
        if let c1 = conv1 as? Conv2d, let b1 = bn1 as? BatchNorm2d, let c2 = conv2 as? Conv2d, let b2 = bn2 as? BatchNorm2d {
            // Chained in int8 when both convolutions are quantised.
            return c1(x, batchNorm: b1, activation: .relu, then: c2, batchNorm: b2, activation: .relu, residual: identity)
        }
        let h = conv1(x, batchNorm: bn1, activation: .relu)
        return conv2(h, batchNorm: bn2, activation: .relu, residual: identity)
    }
}

/// torchvision's `Bottleneck` (ResNet-50, "v1.5": the stride sits on the 3×3 convolution):
/// `relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + identity)` with `conv1` 1×1 to `width`, `conv2` 3×3
/// padding 1 with the block's stride, `conv3` 1×1 to `4 · width`; `identity = downsample(x)` where the shape changes.
public final class Bottleneck: Module, UnaryLayer {
    public static let expansion = 4
    /// `conv1`: a ``Conv2d`` unless replaced.
    @Child public private(set) var conv1: any UnaryLayer
    /// `bn1`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn1: any UnaryLayer
    /// `conv2`: a ``Conv2d`` unless replaced.
    @Child public private(set) var conv2: any UnaryLayer
    /// `bn2`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn2: any UnaryLayer
    /// `conv3`: a ``Conv2d`` unless replaced.
    @Child public private(set) var conv3: any UnaryLayer
    /// `bn3`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn3: any UnaryLayer
    private let downsampleSlot: Child<any UnaryLayer>?
    /// `downsample` (a ``Sequential`` of a 1×1 ``Conv2d`` and a ``BatchNorm2d`` unless replaced), nil when the block
    /// keeps its shape.
    public var downsample: (any UnaryLayer)? { downsampleSlot?.wrappedValue }

    public init(inChannels: Int, width: Int, stride: Int = 1) {
        let out = width * Self.expansion
        conv1 = Conv2d(inChannels, width, kernel: (1, 1), bias: false, initializer: fanOutNormal(outChannels: width, kernel: 1))
        bn1 = BatchNorm2d(width, eps: ResNet.batchNormEps)
        conv2 = Conv2d(width, width, kernel: (3, 3), stride: (stride, stride), padding: .symmetric(1, 1), bias: false,
                       initializer: fanOutNormal(outChannels: width, kernel: 3))
        bn2 = BatchNorm2d(width, eps: ResNet.batchNormEps)
        conv3 = Conv2d(width, out, kernel: (1, 1), bias: false, initializer: fanOutNormal(outChannels: out, kernel: 1))
        bn3 = BatchNorm2d(out, eps: ResNet.batchNormEps)
        downsampleSlot = ResNet.downsample(inChannels, out, stride: stride).map { Child<any UnaryLayer>(wrappedValue: $0) }
        super.init()
        child("conv1", $conv1)
        child("bn1", $bn1)
        child("conv2", $conv2)
        child("bn2", $bn2)
        child("conv3", $conv3)
        child("bn3", $bn3)
        if let downsampleSlot { child("downsample", downsampleSlot) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv1(x, batchNorm: bn1, activation: .relu)
        h = conv2(h, batchNorm: bn2, activation: .relu)
        return conv3(h, batchNorm: bn3, activation: .relu, residual: ResNet.identity(downsample, x))
    }
}
