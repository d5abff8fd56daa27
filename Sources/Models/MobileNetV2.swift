import Layers
import Tensors

/// MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018) exactly as
/// torchvision builds it (`torchvision/models/mobilenetv2.py`, width 1.0), with its parameter names, so torchvision's
/// `mobilenet_v2-b0353104.pth` loads with a strict ``Module/load(_:strict:)``:
///
/// - `features.0`: 3×3 stride-2 convolution to 32 channels (`features.0.0`), batch norm (`features.0.1`), ReLU6;
/// - `features.1 … features.17`: ``InvertedResidual`` blocks in 7 stages (``settings``: expansion t, channels c,
///   repeats n, first stride s);
/// - `features.18`: 1×1 convolution to 1280 channels, batch norm, ReLU6;
/// - global average pooling, `classifier.0` dropout 0.2, `classifier.1` linear.
///
/// Convolutions have no bias and symmetric padding (k − 1) / 2; batch norm has eps 1e-5 and momentum 0.1. Inputs are
/// RGB normalised with ImageNet's mean and std over x / 255, nominally 224 × 224 (resize 256, centre crop); any size
/// ≥ 1 runs.
public final class MobileNetV2: Module, VisionBackbone, PooledTrunk {
    /// torchvision's `inverted_residual_setting`: (t, c, n, s) per stage.
    public static let settings: [(expand: Int, channels: Int, repeats: Int, stride: Int)] = [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ]
    /// Channels of `features.18`, the pooled feature size.
    public static let lastChannels = 1280
    public static let batchNormEps: Float = 1e-5

    public let numClasses: Int
    public let includeTop: Bool
    /// `features` (torchvision's name): a ``Sequential`` of the stem, the 17 blocks and the last convolution unit.
    @Child public private(set) var featureLayers: any UnaryLayer
    private let classifierSlot: Child<any UnaryLayer>?
    /// The block indices (into `features`) of each stage.
    let stageBlocks: [Range<Int>]

    /// `classifier` (a ``Sequential`` of ``Dropout`` and ``Linear`` unless replaced), nil without a top.
    public var classifier: (any UnaryLayer)? { classifierSlot?.wrappedValue }

    /// Builds a freshly initialised model (normal √(2/fanOut) convolutions) from the current ``Initializer`` seed.
    public init(numClasses: Int = 1000, includeTop: Bool = true) {
        guard numClasses >= 1 else { fatalError("MobileNetV2: numClasses \(numClasses) must be ≥ 1") }
        self.numClasses = numClasses
        self.includeTop = includeTop
        var units: [any UnaryLayer] = [Self.convUnit(3, 32, kernel: 3, stride: 2)]
        var inChannels = 32, ranges: [Range<Int>] = []
        for s in Self.settings {
            let first = units.count
            for i in 0..<s.repeats {
                units.append(InvertedResidual(inChannels: inChannels, outChannels: s.channels, stride: i == 0 ? s.stride : 1,
                                              expandRatio: s.expand))
                inChannels = s.channels
            }
            ranges.append(first..<units.count)
        }
        units.append(Self.convUnit(inChannels, Self.lastChannels, kernel: 1, stride: 1))
        stageBlocks = ranges
        featureLayers = Sequential(units)
        classifierSlot = includeTop
            ? Child<any UnaryLayer>(wrappedValue: Sequential(Dropout(0.2), Linear(Self.lastChannels, numClasses, initializer: .normal(std: 0.01))))
            : nil
        super.init()
        child("features", $featureLayers)
        if let classifierSlot { child("classifier", classifierSlot) }
    }

    /// torchvision's `Conv2dNormActivation`: `Sequential(Conv2d, BatchNorm2d)` (its ReLU6 has no parameters and runs
    /// fused).
    static func convUnit(_ inC: Int, _ outC: Int, kernel: Int, stride: Int, groups: Int = 1) -> Sequential {
        let pad = (kernel - 1) / 2
        return Sequential(
            Conv2d(inC, outC, kernel: (kernel, kernel), stride: (stride, stride), padding: .symmetric(pad, pad), groups: groups,
                   bias: false, initializer: fanOutNormal(outChannels: outC, kernel: kernel, groups: groups)),
            BatchNorm2d(outC, eps: batchNormEps))
    }

    /// A conv + batch norm unit and its activation, fused where both are still the original layers.
    static func runUnit(_ unit: any UnaryLayer, _ x: Tensor, activation: FusedActivation?) -> Tensor {
        guard let pair = unit as? Sequential, pair.count == 2 else { return unit(x) }
        return pair[0](x, batchNorm: pair[1], activation: activation)
    }

    public var modelName: String { "MobileNetV2" }
    public var classifierPath: String { "classifier" }
    public var featureDimension: Int { Self.lastChannels }

    /// stem (`features.0`), stage0 … stage6 (their `features.N` blocks), head (`features.18`) and, with a top,
    /// classifier.
    public var blockGroups: [BlockGroup] {
        var groups = [BlockGroup(name: "stem", prefixes: ["features.0"])]
        for (i, r) in stageBlocks.enumerated() { groups.append(BlockGroup(name: "stage\(i)", prefixes: r.map { "features.\($0)" })) }
        groups.append(BlockGroup(name: "head", prefixes: ["features.\(stageBlocks.last!.upperBound)"]))
        if includeTop { groups.append(BlockGroup(name: "classifier", prefixes: ["classifier"])) }
        return groups
    }

    /// Logits `[N, numClasses]` with a top, else the pooled features `[N, 1280]`.
    public func callAsFunction(_ x: Tensor) -> Tensor { run(x, collect: false).output }

    public func features(_ x: Tensor) -> Tensor { pooledFeatures(x) }

    /// The maps after the stem (stride 2, 32 channels), after each of the 7 stages (strides 2, 4, 8, 16, 16, 32, 32)
    /// and after the head (stride 32, 1280 channels).
    public func featureMaps(_ x: Tensor) -> [FeatureMap] { trunkMaps(x) }

    public func outputAndFeatureMaps(_ x: Tensor) -> (output: Tensor, featureMaps: [FeatureMap]) { run(x, collect: true) }

    func classify(_ pooled: Tensor) -> Tensor? { classifier.map { $0(pooled) } }

    func trunk(_ x: Tensor, collect: Bool) -> (map: Tensor, maps: [FeatureMap]) {
        guard let units = featureLayers as? Sequential else {
            let h = featureLayers(x)
            return (h, collect ? [FeatureMap(name: "head", stride: 32, tensor: h)] : [])
        }
        var maps: [FeatureMap] = []
        var stride = 2
        var h = Self.runUnit(units[0], x, activation: .relu6)
        if collect { maps.append(FeatureMap(name: "stem", stride: stride, tensor: h)) }
        for (i, r) in stageBlocks.enumerated() {
            for b in r { h = units[b](h) }
            stride *= Self.settings[i].stride
            if collect { maps.append(FeatureMap(name: "stage\(i)", stride: stride, tensor: h)) }
        }
        h = Self.runUnit(units[units.count - 1], h, activation: .relu6)
        if collect { maps.append(FeatureMap(name: "head", stride: stride, tensor: h)) }
        return (h, maps)
    }
}

/// torchvision's `InvertedResidual` (MobileNetV2): `conv` is `Sequential([expand 1×1 unit,] depthwise 3×3 unit,
/// project 1×1 Conv2d, BatchNorm2d)`, each unit a `Sequential(Conv2d, BatchNorm2d)` followed by ReLU6; the input is
/// added when the stride is 1 and the channel counts agree.
public final class InvertedResidual: Module, UnaryLayer {
    /// `conv`: the block's layers in torchvision's order.
    @Child public private(set) var conv: any UnaryLayer
    public let hasResidual: Bool
    let expands: Bool

    public init(inChannels: Int, outChannels: Int, stride: Int, expandRatio: Int) {
        let mid = inChannels * expandRatio
        expands = expandRatio != 1
        var layers: [any UnaryLayer] = []
        if expands { layers.append(MobileNetV2.convUnit(inChannels, mid, kernel: 1, stride: 1)) }
        layers.append(MobileNetV2.convUnit(mid, mid, kernel: 3, stride: stride, groups: mid))
        layers.append(Conv2d(mid, outChannels, kernel: (1, 1), bias: false, initializer: fanOutNormal(outChannels: outChannels, kernel: 1)))
        layers.append(BatchNorm2d(outChannels, eps: MobileNetV2.batchNormEps))
        conv = Sequential(layers)
        hasResidual = stride == 1 && inChannels == outChannels
        super.init()
        child("conv", $conv)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard let s = conv as? Sequential, s.count == (expands ? 4 : 3) else { return hasResidual ? conv(x) + x : conv(x) }
        if expands, let e = s[0] as? Sequential, e.count == 2, let d = s[1] as? Sequential, d.count == 2 {
            return e[0](x, batchNorm: e[1], activation: .relu6, thenDepthwise: d[0], batchNorm: d[1], activation: .relu6,
                        thenProject: s[2], batchNorm: s[3], residual: hasResidual ? x : nil)
        }
        let h: Tensor
        if expands, let e = s[0] as? Sequential, e.count == 2, let d = s[1] as? Sequential, d.count == 2 {
            h = e[0](x, batchNorm: e[1], activation: .relu6, thenDepthwise: d[0], batchNorm: d[1], activation: .relu6)
        } else if expands {
            h = MobileNetV2.runUnit(s[1], MobileNetV2.runUnit(s[0], x, activation: .relu6), activation: .relu6)
        } else {
            h = MobileNetV2.runUnit(s[0], x, activation: .relu6)
        }
        let project = s[s.count - 2], bn = s[s.count - 1]
        return project(h, batchNorm: bn, activation: nil, residual: hasResidual ? x : nil)
    }
}
