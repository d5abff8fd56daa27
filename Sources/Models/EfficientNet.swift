import Layers
import Tensors

/// EfficientNet-Lite0…Lite4 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
/// ICML 2019; the Lite variants of tensorflow/tpu `models/official/efficientnet/lite/efficientnet_lite_builder.py`)
/// with the parameter names of lukemelas/EfficientNet-PyTorch (`efficientnet_pytorch/model.py`), so its checkpoints
/// (e.g. `efficientnet-lite0-57934424.pth`) load with a strict ``Module/load(_:strict:)``.
///
/// Architecture, as the TensorFlow reference builds it with `fix_head_stem=True, use_se=False, relu_fn=relu6`:
/// - stem: `_conv_stem` 3×3 stride 2 with 32 channels, `_bn0`, ReLU6 (never width-scaled);
/// - `_blocks.N`: mobile inverted bottlenecks (MBConv) without squeeze-excitation, in 7 stages (``baseStages``):
///   `_expand_conv` 1×1 (absent when the expansion ratio is 1) + `_bn0` + ReLU6, `_depthwise_conv` k×k with the
///   stage's stride on the first block + `_bn1` + ReLU6, `_project_conv` 1×1 + `_bn2` (linear); identity residual
///   when the stride is 1 and input and output channels agree;
/// - head: `_conv_head` 1×1 to 1280 channels (never width-scaled), `_bn1`, ReLU6, global average pooling,
///   dropout, `_fc`.
///
/// Every convolution has no bias and TensorFlow "SAME" padding (``Padding/same``: asymmetric for stride 2 with an
/// even input); batch norm has eps 1e-3 and momentum 0.01 (TensorFlow's decay 0.99, as lukemelas converts it).
/// Widths are `round_filters(c · width)` (multiples of 8, never more than 10% below), stage repeats
/// `⌈depth · r⌉` except the first and last stage, which keep theirs. Inputs are RGB normalised as (x − 127) / 128
/// with x in 0…255 (`MEAN_RGB`/`STDDEV_RGB` of the Lite builder), nominally ``Variant/resolution`` pixels square; any
/// size ≥ 1 runs.
///
/// Training uses drop-connect (stochastic depth) on the residual blocks as lukemelas and TensorFlow do: block `i`
/// of `B` drops its residual branch per sample with probability `dropConnectRate · i / B`, from a generator seeded
/// at construction, so runs repeat exactly; eval mode never drops, and neither does a frozen block.
public final class EfficientNetLite: Module, VisionBackbone, PooledTrunk {
    /// The five published variants: `(width, depth, resolution, dropout)` from `efficientnet_lite_params`.
    public enum Variant: Int, CaseIterable, Sendable, CustomStringConvertible {
        case lite0, lite1, lite2, lite3, lite4

        /// Channel multiplier (1.0, 1.0, 1.1, 1.2, 1.4).
        public var widthMultiplier: Double { [1.0, 1.0, 1.1, 1.2, 1.4][rawValue] }
        /// Repeat multiplier of the inner stages (1.0, 1.1, 1.2, 1.4, 1.8).
        public var depthMultiplier: Double { [1.0, 1.1, 1.2, 1.4, 1.8][rawValue] }
        /// Training and evaluation image size (224, 240, 260, 280, 300).
        public var resolution: Int { [224, 240, 260, 280, 300][rawValue] }
        /// Dropout before the classifier (0.2, 0.2, 0.3, 0.3, 0.3).
        public var dropoutRate: Float { [0.2, 0.2, 0.3, 0.3, 0.3][rawValue] }
        /// "EfficientNet-Lite0" … "EfficientNet-Lite4".
        public var description: String { "EfficientNet-Lite\(rawValue)" }
    }

    /// One stage of MBConv blocks: `repeats` blocks, the first with `stride`, all with `kernel`×`kernel` depthwise
    /// convolutions, expansion ratio `expandRatio` and `outChannels` outputs.
    public struct Stage: Sendable, Equatable {
        public let repeats: Int
        public let kernel: Int
        public let stride: Int
        public let expandRatio: Int
        public let outChannels: Int

        public init(repeats: Int, kernel: Int, stride: Int, expandRatio: Int, outChannels: Int) {
            self.repeats = repeats
            self.kernel = kernel
            self.stride = stride
            self.expandRatio = expandRatio
            self.outChannels = outChannels
        }
    }

    /// The unscaled stages of EfficientNet-B0/Lite0 (`_DEFAULT_BLOCKS_ARGS` without squeeze-excitation):
    /// (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112), (4, 5, 2, 6, 192),
    /// (1, 3, 1, 6, 320) as (repeats, kernel, stride, expansion, output channels).
    public static let baseStages: [Stage] = [
        Stage(repeats: 1, kernel: 3, stride: 1, expandRatio: 1, outChannels: 16),
        Stage(repeats: 2, kernel: 3, stride: 2, expandRatio: 6, outChannels: 24),
        Stage(repeats: 2, kernel: 5, stride: 2, expandRatio: 6, outChannels: 40),
        Stage(repeats: 3, kernel: 3, stride: 2, expandRatio: 6, outChannels: 80),
        Stage(repeats: 3, kernel: 5, stride: 1, expandRatio: 6, outChannels: 112),
        Stage(repeats: 4, kernel: 5, stride: 2, expandRatio: 6, outChannels: 192),
        Stage(repeats: 1, kernel: 3, stride: 1, expandRatio: 6, outChannels: 320),
    ]
    /// Stem output channels (fixed for the Lite variants).
    public static let stemChannels = 32
    /// Head output channels, the pooled feature size (fixed for the Lite variants).
    public static let headChannels = 1280
    /// Batch-norm epsilon of every layer (TensorFlow's 1e-3).
    public static let batchNormEps: Float = 1e-3
    /// Batch-norm momentum in PyTorch's convention (TensorFlow's decay 0.99).
    public static let batchNormMomentum: Float = 0.01

    /// `round_filters` of the TensorFlow reference: `c · width` rounded to the nearest multiple of 8 (at least 8),
    /// plus 8 more when that rounds down by over 10%.
    public static func roundFilters(_ channels: Int, width: Double) -> Int {
        let scaled = Double(channels) * width
        var rounded = Swift.max(8, Int(scaled + 4) / 8 * 8)
        if Double(rounded) < 0.9 * scaled { rounded += 8 }
        return rounded
    }

    /// The stages of `variant`: widths scaled with ``roundFilters(_:width:)``, repeats `⌈depth · r⌉` except for the
    /// first and last stage (`fix_head_stem`).
    public static func stages(_ variant: Variant) -> [Stage] {
        baseStages.enumerated().map { i, s in
            let fixed = i == 0 || i == baseStages.count - 1
            let repeats = fixed ? s.repeats : Int((variant.depthMultiplier * Double(s.repeats)).rounded(.up))
            return Stage(repeats: repeats, kernel: s.kernel, stride: s.stride, expandRatio: s.expandRatio,
                         outChannels: roundFilters(s.outChannels, width: variant.widthMultiplier))
        }
    }

    public let variant: Variant
    public let numClasses: Int
    public let includeTop: Bool
    /// The largest drop-connect probability (that of the last block); 0 disables drop-connect.
    public let dropConnectRate: Float
    /// `_conv_stem`: a ``Conv2d`` unless replaced (``Module/replaceModule(at:with:)``).
    @Child public private(set) var convStem: any UnaryLayer
    /// `_bn0`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn0: any UnaryLayer
    /// `_blocks`: the MBConv blocks in order.
    @Child private var blockList: Sequential
    /// This variant's stages (``stages(_:)``).
    public let stages: [Stage]
    /// The indices into ``blocks`` of each stage's blocks.
    public let stageBlocks: [Range<Int>]
    /// `_conv_head`: a ``Conv2d`` unless replaced.
    @Child public private(set) var convHead: any UnaryLayer
    /// `_bn1`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn1: any UnaryLayer
    /// `_dropout`: a ``Dropout`` unless replaced.
    @Child public private(set) var dropout: any UnaryLayer
    private let fcSlot: Child<any UnaryLayer>?

    /// All blocks in order (`_blocks.0` …): ``MBConvBlock``s unless replaced.
    public var blocks: [any UnaryLayer] { blockList.layers }
    /// The classifier `_fc` (a ``Linear`` unless replaced), nil without a top.
    public var fc: (any UnaryLayer)? { fcSlot?.wrappedValue }

    /// Builds a freshly initialised model (TensorFlow's initialisation: normal √(2/fanOut) convolutions, unit batch
    /// norms, PyTorch-default classifier) from the current ``Initializer`` seed.
    ///
    /// - Parameters:
    ///   - variant: lite0 … lite4.
    ///   - numClasses: classifier outputs (1000 for the ImageNet checkpoints).
    ///   - includeTop: whether the model has dropout and the classifier `_fc`; without them calling the model returns
    ///     the pooled features.
    ///   - dropConnectRate: drop-connect probability of the last block (0.2 in the reference; 0 disables it).
    ///   - dropoutRate: dropout before `_fc`; nil uses ``Variant/dropoutRate``.
    ///   - seed: seeds dropout and drop-connect.
    public init(_ variant: Variant = .lite0, numClasses: Int = 1000, includeTop: Bool = true, dropConnectRate: Float = 0.2,
                dropoutRate: Float? = nil, seed: UInt64 = 0) {
        guard numClasses >= 1 else { fatalError("\(variant): numClasses \(numClasses) must be ≥ 1") }
        guard (0..<1).contains(dropConnectRate) else {
            fatalError("\(variant): dropConnectRate \(dropConnectRate) outside [0, 1)")
        }
        self.variant = variant
        self.numClasses = numClasses
        self.includeTop = includeTop
        self.dropConnectRate = dropConnectRate
        let stem = Self.stemChannels
        convStem = Conv2d(3, stem, kernel: (3, 3), stride: (2, 2), padding: .same, bias: false,
                          initializer: fanOutNormal(outChannels: stem, kernel: 3))
        bn0 = BatchNorm2d(stem, eps: Self.batchNormEps, momentum: Self.batchNormMomentum)
        var blocks: [MBConvBlock] = []
        var ranges: [Range<Int>] = []
        var channels = stem
        stages = Self.stages(variant)
        for stage in stages {
            let start = blocks.count
            for j in 0..<stage.repeats {
                blocks.append(MBConvBlock(inChannels: channels, outChannels: stage.outChannels, kernel: stage.kernel,
                                          stride: j == 0 ? stage.stride : 1, expandRatio: stage.expandRatio,
                                          seed: seed &+ UInt64(blocks.count) &+ 1))
                channels = stage.outChannels
            }
            ranges.append(start..<blocks.count)
        }
        for (i, b) in blocks.enumerated() { b.dropConnectRate = dropConnectRate * Float(i) / Float(blocks.count) }
        blockList = Sequential(blocks)
        stageBlocks = ranges
        convHead = Conv2d(channels, Self.headChannels, kernel: (1, 1), padding: .same, bias: false,
                          initializer: fanOutNormal(outChannels: Self.headChannels, kernel: 1))
        bn1 = BatchNorm2d(Self.headChannels, eps: Self.batchNormEps, momentum: Self.batchNormMomentum)
        dropout = Dropout(dropoutRate ?? variant.dropoutRate, seed: seed)
        fcSlot = includeTop ? Child<any UnaryLayer>(wrappedValue: Linear(Self.headChannels, numClasses)) : nil
        super.init()
        child("_conv_stem", $convStem)
        child("_bn0", $bn0)
        child("_blocks", $blockList)
        child("_conv_head", $convHead)
        child("_bn1", $bn1)
        child("_dropout", $dropout)
        if let fcSlot { child("_fc", fcSlot) }
    }

    public var modelName: String { variant.description }
    public var classifierPath: String { "_fc" }
    public var featureDimension: Int { Self.headChannels }

    /// stem (`_conv_stem`, `_bn0`), stage0 … stage6 (their `_blocks.N`), head (`_conv_head`, `_bn1`) and, with a top,
    /// classifier (`_fc`).
    public var blockGroups: [BlockGroup] {
        var groups = [BlockGroup(name: "stem", prefixes: ["_conv_stem", "_bn0"])]
        for (i, r) in stageBlocks.enumerated() {
            groups.append(BlockGroup(name: "stage\(i)", prefixes: r.map { "_blocks.\($0)" }))
        }
        groups.append(BlockGroup(name: "head", prefixes: ["_conv_head", "_bn1"]))
        if includeTop { groups.append(BlockGroup(name: "classifier", prefixes: ["_fc"])) }
        return groups
    }

    /// Logits `[N, numClasses]` with a top, else the pooled features `[N, 1280]`.
    public func callAsFunction(_ x: Tensor) -> Tensor { run(x, collect: false).output }

    public func features(_ x: Tensor) -> Tensor { pooledFeatures(x) }

    /// The maps after the stem (stride 2, 32 channels), after each of the 7 stages (strides 2, 4, 8, 16, 16, 32, 32)
    /// and after the head (stride 32, 1280 channels); the stage maps are TensorFlow's `block_N` endpoints and
    /// its `reduction_1…5` endpoints are those of stages 0, 1, 2, 4 and 6.
    public func featureMaps(_ x: Tensor) -> [FeatureMap] { trunkMaps(x) }

    public func outputAndFeatureMaps(_ x: Tensor) -> (output: Tensor, featureMaps: [FeatureMap]) { run(x, collect: true) }

    func classify(_ pooled: Tensor) -> Tensor? { fc.map { $0(dropout(pooled)) } }

    /// Stem, blocks and head: the `[N, 1280, H/32, W/32]` map and, when `collect`, the intermediate maps.
    func trunk(_ x: Tensor, collect: Bool) -> (map: Tensor, maps: [FeatureMap]) {
        var maps: [FeatureMap] = []
        var stride = 2
        // The int8 residual stream: the stem's and each block's output in its consumer's input quantisation when
        // both run int8 (never when the maps are collected: they are fp32 feature maps).
        let stream = collect ? nil : int8StreamPlan()
        let int8Outputs = stream?.blocks
        var h: Tensor
        if let q = stream?.stem, let stem = convStem as? Conv2d, let bn = bn0 as? BatchNorm2d {
            h = stem(x, batchNorm: bn, activation: .relu6, int8Output: q)
        } else {
            h = convStem(x, batchNorm: bn0, activation: .relu6)
        }
        if collect { maps.append(FeatureMap(name: "stem", stride: stride, tensor: h)) }
        let blocks = blockList
        for (i, r) in stageBlocks.enumerated() {
            for b in r {
                if let int8Outputs, let block = blocks[b] as? MBConvBlock {
                    h = block(h, int8Output: int8Outputs[b])
                } else {
                    h = blocks[b](h)
                }
            }
            stride *= stages[i].stride
            if collect { maps.append(FeatureMap(name: "stage\(i)", stride: stride, tensor: h)) }
        }
        h = convHead(h, batchNorm: bn1, activation: .relu6)
        if collect { maps.append(FeatureMap(name: "head", stride: stride, tensor: h)) }
        return (h, maps)
    }
}

/// The mobile inverted bottleneck block of EfficientNet-Lite (lukemelas `MBConvBlock` without squeeze-excitation;
/// Sandler et al. 2018, MobileNetV2): `[_expand_conv 1×1, _bn0, ReLU6]` when the expansion ratio is not 1, then
/// `_depthwise_conv` k×k (stride on the first block of a stage), `_bn1`, ReLU6, `_project_conv` 1×1, `_bn2`, plus the
/// input when the stride is 1 and the channel counts agree. All convolutions have no bias and TF "SAME" padding.
///
/// Every layer is replaceable (``Module/replaceModule(at:with:)``); the fused inference paths fuse only the layers
/// that are still the original ``Conv2d``s and ``BatchNorm2d``s.
public final class MBConvBlock: Module, UnaryLayer {
    private let expandConvSlot: Child<any UnaryLayer>?
    private let bn0Slot: Child<any UnaryLayer>?
    /// `_depthwise_conv`: a ``Conv2d`` unless replaced.
    @Child public private(set) var depthwiseConv: any UnaryLayer
    /// `_bn1`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn1: any UnaryLayer
    /// `_project_conv`: a ``Conv2d`` unless replaced.
    @Child public private(set) var projectConv: any UnaryLayer
    /// `_bn2`: a ``BatchNorm2d`` unless replaced.
    @Child public private(set) var bn2: any UnaryLayer
    /// `_expand_conv`: a ``Conv2d`` unless replaced; nil when the expansion ratio is 1.
    public var expandConv: (any UnaryLayer)? { expandConvSlot?.wrappedValue }
    /// `_bn0`: a ``BatchNorm2d`` unless replaced; nil when the expansion ratio is 1.
    public var bn0: (any UnaryLayer)? { bn0Slot?.wrappedValue }
    /// Whether the block adds its input (stride 1 and equal input and output channels).
    public let hasResidual: Bool
    /// Per-sample probability of dropping the residual branch in train mode (set by ``EfficientNetLite``).
    public internal(set) var dropConnectRate: Float = 0
    private var generator: SeededGenerator

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, expandRatio: Int, seed: UInt64 = 0) {
        let mid = inChannels * expandRatio
        let eps = EfficientNetLite.batchNormEps, momentum = EfficientNetLite.batchNormMomentum
        if expandRatio != 1 {
            let expand = Conv2d(inChannels, mid, kernel: (1, 1), padding: .same, bias: false,
                                initializer: fanOutNormal(outChannels: mid, kernel: 1))
            expandConvSlot = Child<any UnaryLayer>(wrappedValue: expand)
            bn0Slot = Child<any UnaryLayer>(wrappedValue: BatchNorm2d(mid, eps: eps, momentum: momentum))
        } else {
            expandConvSlot = nil
            bn0Slot = nil
        }
        depthwiseConv = Conv2d(mid, mid, kernel: (kernel, kernel), stride: (stride, stride), padding: .same, groups: mid,
                               bias: false, initializer: fanOutNormal(outChannels: mid, kernel: kernel, groups: mid))
        bn1 = BatchNorm2d(mid, eps: eps, momentum: momentum)
        projectConv = Conv2d(mid, outChannels, kernel: (1, 1), padding: .same, bias: false,
                             initializer: fanOutNormal(outChannels: outChannels, kernel: 1))
        bn2 = BatchNorm2d(outChannels, eps: eps, momentum: momentum)
        hasResidual = stride == 1 && inChannels == outChannels
        generator = SeededGenerator(seed: seed)
        super.init()
        if let expandConvSlot, let bn0Slot {
            child("_expand_conv", expandConvSlot)
            child("_bn0", bn0Slot)
        }
        child("_depthwise_conv", $depthwiseConv)
        child("_bn1", $bn1)
        child("_project_conv", $projectConv)
        child("_bn2", $bn2)
    }

    public override func reseedOwnRandomness(_ seed: UInt64) { generator = SeededGenerator(seed: seed) }

    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, int8Output: nil) }

    /// The block, its result as integers in `int8Output` when its int8 chain can write them (the residual stream of
    /// a quantised trunk, see ``int8Input(writing:)``), fp32 otherwise.
    public func callAsFunction(_ x: Tensor, int8Output: Int8InputQuantization?) -> Tensor {
        let dropping = hasResidual && isTraining && dropConnectRate > 0 && !isFrozen
        if let units = int8Units, !dropping {
            return units.expand(x, batchNorm: units.bn0, activation: .relu6, thenDepthwise: units.depthwise,
                                batchNorm: units.bn1, activation: .relu6, thenProject: units.project, batchNorm: units.bn2,
                                residual: hasResidual ? x : nil, output: int8Output)
        }
        if expandConv == nil, !hasResidual, let d = depthwiseConv as? Conv2d, let b1 = bn1 as? BatchNorm2d,
           let p = projectConv as? Conv2d, let b2 = bn2 as? BatchNorm2d {
            return d(x, batchNorm: b1, activation: .relu6, then: p, batchNorm: b2, activation: nil, residual: nil,
                     output: int8Output)
        }
        if let expandConv, let bn0, !dropping {
            return expandConv(x, batchNorm: bn0, activation: .relu6, thenDepthwise: depthwiseConv, batchNorm: bn1,
                              activation: .relu6, thenProject: projectConv, batchNorm: bn2, residual: hasResidual ? x : nil)
        }
        let h: Tensor
        if let expandConv, let bn0 {
            h = expandConv(x, batchNorm: bn0, activation: .relu6, thenDepthwise: depthwiseConv, batchNorm: bn1,
                           activation: .relu6)
        } else {
            h = depthwiseConv(x, batchNorm: bn1, activation: .relu6)
        }
        guard hasResidual else { return projectConv(h, batchNorm: bn2, activation: nil) }
        // A frozen block runs as in inference, like frozen batch norm: fine-tuning the top keeps the bottom exact.
        if isTraining && dropConnectRate > 0 && !isFrozen {
            return dropConnect(projectConv(h, batchNorm: bn2, activation: nil)) + x
        }
        return projectConv(h, batchNorm: bn2, activation: nil, residual: x)
    }

    /// lukemelas `drop_connect`: each sample's branch is kept with probability 1 − p and then scaled by 1 / (1 − p).
    private func dropConnect(_ h: Tensor) -> Tensor {
        let keep = 1 - dropConnectRate
        let n = h.shape[0]
        let mask = (0..<n).map { _ in generator.nextFloat() < keep ? 1 / keep : 0 }
        return h * Tensor(shape: [n, 1, 1, 1], data: mask)
    }
}
