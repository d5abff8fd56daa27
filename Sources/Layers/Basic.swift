import Tensors

/// `y = x Wᵀ + b` with PyTorch's `[out, in]` weight (`nn.Linear`).
public final class Linear: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, initializer: Initializer = .pytorchDefault) {
        weight = initializer.make([outFeatures, inFeatures])
        self.bias = bias ? Initializer.pytorchDefault.make([outFeatures], fanIn: inFeatures) : nil
        super.init()
        parameter("weight", weight)
        if let b = self.bias { parameter("bias", b) }
    }

    /// The weight in the bf16 matmul's layout, kept between inference calls while the weight and the precision
    /// are unchanged.
    var prepared: FoldedWeights?

    /// When set, inference runs as an int8 matmul with this input quantisation (the `Quantization` target sets it).
    public var int8: Int8Layer?

    public func callAsFunction(_ x: Tensor) -> Tensor {
        if GradMode.records([x, weight, bias]) { return Tensor.linear(x, weight: weight, bias: bias) }
        return self(x, activation: nil)
    }

    /// `activation(self(x)) + residual`. When nothing needs a gradient it is one oneDNN matmul (activation and sum
    /// as post-ops), and with `keepsPrecision` under ``withPrecision(_:_:)`` `.bf16` its output stays bf16 for a
    /// consumer that is itself a linear layer (see
    /// ``Tensor/linear(_:weight:bias:activation:residual:output:preparedWeight:)``); otherwise the ops run one by
    /// one and are recorded.
    ///
    /// `int8Output` applies when this layer runs int8 (``int8``): the result is written in that quantisation, for a
    /// consumer that is an int8 layer with that input quantisation and the only reader (see
    /// ``Int8LinearOutput/integers(_:)``).
    public func callAsFunction(_ x: Tensor, activation: FusedActivation?, residual: Tensor? = nil,
                               keepsPrecision: Bool = false, int8Output: Int8InputQuantization? = nil) -> Tensor {
        if GradMode.records([x, weight, bias, residual]) {
            let y = Tensor.linear(x, weight: weight, bias: bias)
            let activated = activation?.apply(y) ?? y
            return residual.map { activated + $0 } ?? activated
        }
        InputObservation.current?.observe(ObjectIdentifier(self), input: x)
        if let int8 {
            return int8.linear(x, weight: weight, bias: bias, activation: activation, residual: residual,
                               output: int8Output.map { .integers($0) } ?? .fp32)
        }
        let key = FoldedWeights.Key(sources: [weight], precision: Precision.current)
        if prepared?.key != key { prepared = FoldedWeights(key: key, weight: weight, bias: bias, prepared: nil) }
        var cached = prepared!.prepared
        let y = Tensor.linear(x, weight: weight, bias: bias, activation: activation, residual: residual,
                              output: keepsPrecision ? Precision.current : .fp32, preparedWeight: &cached)
        prepared!.prepared = cached
        return y
    }
}

/// 2-D convolution over NCHW input with PyTorch's `[out, in/groups, kH, kW]` weight (`nn.Conv2d`), plus
/// TensorFlow "SAME" padding (``Padding/same``) for ports of TF models such as EfficientNet.
public final class Conv2d: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int)
    public let padding: Padding
    public let dilation: (Int, Int)
    public let groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: Padding = .symmetric(0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                initializer: Initializer = .pytorchDefault) {
        require(inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv2d: channels \(inChannels)→\(outChannels) not divisible by groups \(groups)")
        weight = initializer.make([outChannels, inChannels / groups, kernel.0, kernel.1])
        let fanIn = inChannels / groups * kernel.0 * kernel.1
        self.bias = bias ? Initializer.pytorchDefault.make([outChannels], fanIn: fanIn) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        super.init()
        parameter("weight", weight)
        if let b = self.bias { parameter("bias", b) }
    }

    public convenience init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Padding = .symmetric(0, 0),
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true) {
        self.init(inChannels, outChannels, kernel: (kernel, kernel), stride: (stride, stride), padding: padding,
                  dilation: (dilation, dilation), groups: groups, bias: bias)
    }

    /// The fused inference path's reusable weights (see ``callAsFunction(_:batchNorm:activation:residual:)``).
    var folded: FoldedWeights?

    /// When set, inference runs as an int8 convolution with this input quantisation (the `Quantization` target
    /// sets it).
    public var int8: Int8Layer?

    public func callAsFunction(_ x: Tensor) -> Tensor {
        if int8 != nil || InputObservation.current != nil, !GradMode.records([x, weight, bias]) {
            return self(x, batchNorm: nil, activation: nil)
        }
        return Tensor.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

extension Conv2d {
    /// `activation(batchNorm(conv(x)) + residual)`: the convolution–BatchNorm–activation unit of ResNet and
    /// EfficientNet.
    ///
    /// When nothing needs a gradient (inference, feature extraction, the frozen blocks of a fine-tune) and the
    /// BatchNorm normalises with its running statistics, the BatchNorm folds into the convolution
    /// (`w·γ/√(σ²+ε)`, `β + (b − μ)·γ/√(σ²+ε)`, computed per call so it always reflects the current weights) and the
    /// residual sum and activation run as oneDNN post-ops of that one convolution: no separate BatchNorm, add or
    /// activation pass over the activations. Otherwise the ops run one by one and are recorded for autograd.
    public func callAsFunction(_ x: Tensor, batchNorm bn: BatchNorm2d?, activation: FusedActivation?,
                               residual: Tensor? = nil) -> Tensor {
        if GradMode.records([x, weight, bias, bn?.weight, bn?.bias, residual]) || bn?.usesBatchStatistics == true {
            var y = self(x)
            if let bn { y = bn(y) }
            if let residual { y = y + residual }
            return activation?.apply(y) ?? y
        }
        InputObservation.current?.observe(ObjectIdentifier(self), input: x)
        let f = foldedWeights(batchNorm: bn)
        if let int8 {
            return int8.conv2d(x, weight: f.weight, bias: f.bias, stride: stride, padding: padding, dilation: dilation,
                               groups: groups, residual: residual, activation: activation)
        }
        var prepared = f.prepared
        let y = Tensor.conv2d(x, weight: f.weight, bias: f.bias, stride: stride, padding: padding,
                              dilation: dilation, groups: groups, residual: residual, activation: activation,
                              preparedWeight: &prepared)
        folded!.prepared = prepared
        return y
    }

    /// The weight and bias with `bn` folded in, for inference. They, and the weight in the primitive's layout, are
    /// kept while their sources (this layer's and the BatchNorm's tensors, compared by identity and data version)
    /// and the precision stay the same.
    func foldedWeights(batchNorm bn: BatchNorm2d?) -> FoldedWeights {
        let sources = [weight, bias, bn?.weight, bn?.bias, bn?.runningMean, bn?.runningVar].compactMap { $0 }
        let key = FoldedWeights.Key(sources: sources, precision: Precision.current)
        if let folded, folded.key == key { return folded }
        var w = weight, b = bias
        if let bn {
            withNoGrad {
                let scale = bn.weight / (bn.runningVar + bn.eps).sqrt()
                w = weight * scale.reshaped(weight.shape[0], 1, 1, 1)
                b = bn.bias + ((bias ?? Tensor.zeros([weight.shape[0]])) - bn.runningMean) * scale
            }
        }
        folded = FoldedWeights(key: key, weight: w, bias: b, prepared: nil)
        return folded!
    }

    /// `depthwiseActivation(depthwiseBN(depthwise(activation(batchNorm(self(x))))))`: the expansion and depthwise
    /// stage of an inverted-bottleneck block (MobileNetV2, EfficientNet).
    ///
    /// For inference with this layer a 1×1 convolution and `depthwise` a 3×3 one, and the expanded activation at
    /// least ``depthwiseFusionMinBytes``, the pair runs as one oneDNN convolution with a depthwise post-op
    /// (``Tensor/conv2dThenDepthwise(_:weight:bias:activation:depthwiseWeight:depthwiseBias:stride:padding:depthwiseActivation:preparedWeight:preparedDepthwiseWeight:)``),
    /// so the expanded activation is never written to memory. Otherwise the two fused units run one after the other.
    public func callAsFunction(_ x: Tensor, batchNorm bn: BatchNorm2d, activation: FusedActivation?,
                               thenDepthwise depthwise: Conv2d, batchNorm depthwiseBN: BatchNorm2d,
                               activation depthwiseActivation: FusedActivation?) -> Tensor {
        func separately() -> Tensor {
            depthwise(self(x, batchNorm: bn, activation: activation), batchNorm: depthwiseBN, activation: depthwiseActivation)
        }
        if let y = int8Chain(x, batchNorm: bn, activation: activation, thenDepthwise: depthwise, batchNorm: depthwiseBN,
                             activation: depthwiseActivation) { return y }
        let cout = weight.shape[0]
        let pointwise = weight.shape[2] == 1 && weight.shape[3] == 1 && stride == (1, 1) && groups == 1
            && padding.amounts(input: (1, 1), kernel: (1, 1), stride: (1, 1)) == (0, 0, 0, 0)
        let depthwise3x3 = depthwise.groups == cout && depthwise.weight.shape == [cout, 1, 3, 3]
            && depthwise.stride.0 == depthwise.stride.1 && depthwise.dilation == (1, 1)
        let expandedBytes = x.rank == 4 ? x.shape[0] * cout * x.shape[2] * x.shape[3] * 4 : 0
        guard pointwise, depthwise3x3, expandedBytes >= Self.depthwiseFusionMinBytes,
              int8 == nil, depthwise.int8 == nil, InputObservation.current == nil,
              !bn.usesBatchStatistics, !depthwiseBN.usesBatchStatistics,
              !GradMode.records([x, weight, bias, bn.weight, bn.bias, depthwise.weight, depthwise.bias,
                                 depthwiseBN.weight, depthwiseBN.bias])
        else { return separately() }
        let f = foldedWeights(batchNorm: bn), d = depthwise.foldedWeights(batchNorm: depthwiseBN)
        var prepared = f.prepared, preparedDepthwise = d.prepared
        let y = Tensor.conv2dThenDepthwise(x, weight: f.weight, bias: f.bias, activation: activation,
                                           depthwiseWeight: d.weight, depthwiseBias: d.bias ?? Tensor.zeros([cout]),
                                           stride: depthwise.stride.0, padding: depthwise.padding,
                                           depthwiseActivation: depthwiseActivation, preparedWeight: &prepared,
                                           preparedDepthwiseWeight: &preparedDepthwise)
        folded!.prepared = prepared
        depthwise.folded!.prepared = preparedDepthwise
        return y ?? separately()
    }

    /// The smallest expanded activation (bytes) for which the depthwise fusion pays. Measured with raw oneDNN 2.6
    /// primitives, batch 32, 2 cores (expansion + depthwise separately → fused): 16→96 channels at 112², stride 2:
    /// 12.5 → 9.2 ms; 24→144 at 56²: 7.6 → 7.1 ms; 80→480 at 14²: 2.58 → 2.69 ms (slower).
    static let depthwiseFusionMinBytes = 32 << 20
}

/// What a layer's fused inference path reuses between calls: weights derived from its parameters (a ``Conv2d``'s
/// with BatchNorm folded in, attention's packed query/key/value) and that weight reordered for oneDNN, valid while
/// ``Key`` (every source tensor's identity and data version, and the precision) is unchanged.
struct FoldedWeights {
    struct Key: Equatable {
        let sources: [Tensor]
        let versions: [UInt64]
        let precision: Precision

        init(sources: [Tensor], precision: Precision) {
            self.sources = sources
            versions = sources.map(\.dataVersion)
            self.precision = precision
        }

        static func == (a: Key, b: Key) -> Bool {
            a.precision == b.precision && a.versions == b.versions && a.sources.count == b.sources.count
                && zip(a.sources, b.sources).allSatisfy { $0 === $1 }
        }
    }

    let key: Key
    let weight: Tensor
    let bias: Tensor?
    var prepared: Tensor?
}

/// Batch normalisation over NCHW (`nn.BatchNorm2d`): batch statistics and a momentum update of the running
/// statistics in train mode, running statistics in eval mode.
///
/// A frozen BatchNorm (its weight and bias frozen, see ``Module/freeze(where:)``) always uses its running
/// statistics and never updates them, even in train mode — fine-tuning keeps pretrained statistics intact (the
/// trap Keras documents for `BatchNormalization` with `trainable = False`).
public final class BatchNorm2d: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor
    public let runningMean: Tensor
    public let runningVar: Tensor
    public let numBatchesTracked: Tensor
    public let eps: Float
    public let momentum: Float

    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) {
        weight = .ones([channels]); bias = .zeros([channels])
        runningMean = .zeros([channels]); runningVar = .ones([channels])
        numBatchesTracked = .zeros([])
        self.eps = eps
        self.momentum = momentum
        super.init()
        parameter("weight", weight)
        parameter("bias", bias)
        buffer("running_mean", runningMean)
        buffer("running_var", runningVar)
        buffer("num_batches_tracked", numBatchesTracked)
    }

    /// Normalise with the running statistics even in train mode, while weight and bias may still train (Keras
    /// `BatchNormalization` called with `training=False` on a trainable layer): the safe choice when fine-tuning on
    /// a few hundred images, whose batch statistics are far from the pretrained ones.
    public var keepsRunningStatistics = false

    /// Whether this call normalises with batch statistics (train mode, not frozen, not keeping running statistics).
    public var usesBatchStatistics: Bool { isTraining && !isFrozen && !keepsRunningStatistics }

    /// Update the running statistics as the cumulative average of every batch since ``numBatchesTracked`` was
    /// last zero instead of an exponential one (PyTorch `momentum=None`: the factor is 1 / batches tracked), e.g.
    /// to re-estimate them on another domain (AdaBN, Li et al. 2016).
    public var averagesCumulatively = false

    /// Where batch statistics are used, normalise with those of the global batch of a data-parallel job, summed over
    /// its replicas by this reducer (PyTorch's `SyncBatchNorm`); nil: this process's batch alone.
    public var statisticsReducer: BatchStatisticsReducer?

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let batchStats = usesBatchStatistics
        var factor = momentum
        if batchStats {
            withNoGrad { numBatchesTracked.assign(numBatchesTracked + 1) }
            if averagesCumulatively { factor = 1 / Swift.max(numBatchesTracked.item(), 1) }
        }
        if batchStats, let statisticsReducer {
            return Tensor.batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                      momentum: factor, eps: eps, reducer: statisticsReducer)
        }
        return Tensor.batchNorm2d(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                                  training: batchStats, momentum: factor, eps: eps)
    }
}

/// Layer normalisation over the last dimension (`nn.LayerNorm(dim)`).
public final class LayerNorm: Module, UnaryLayer {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(_ dim: Int, eps: Float = 1e-5) {
        weight = .ones([dim]); bias = .zeros([dim])
        self.eps = eps
        super.init()
        parameter("weight", weight)
        parameter("bias", bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// A lookup table of `count` vectors of size `dim` (`nn.Embedding`).
public final class Embedding: Module {
    public let weight: Tensor

    public init(_ count: Int, _ dim: Int, initializer: Initializer = .normal(std: 1)) {
        weight = initializer.make([count, dim])
        super.init()
        parameter("weight", weight)
    }

    /// Looks up `ids` (row-major, of shape `shape`) → `shape + [dim]`.
    public func callAsFunction(_ ids: [Int], shape: Shape) -> Tensor {
        require(ids.count == shape.count, "Embedding: \(ids.count) ids for shape \(shape)")
        return weight.indexSelect(axis: 0, indices: ids).reshaped(Shape(shape.dims + [weight.shape[1]]))
    }
}

/// Inverted dropout with its own seeded generator (`nn.Dropout`); identity in eval mode.
public final class Dropout: Module, UnaryLayer {
    public let p: Float
    private var generator: SeededGenerator

    public init(_ p: Float, seed: UInt64? = nil) {
        self.p = p
        generator = SeededGenerator(seed: seed ?? Initializer.nextSeed())
        super.init()
    }

    public override func reseedOwnRandomness(_ seed: UInt64) { generator = SeededGenerator(seed: seed) }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.dropout(p: p, training: isTraining, generator: &generator) }

    /// True when this dropout passes its input through unchanged (eval mode, or `p` = 0).
    public var isIdentity: Bool { !isTraining || p == 0 }
}

/// Children applied in order, named "0", "1", … as in `nn.Sequential`; each may be replaced by any unary layer
/// (``Module/replaceModule(at:with:)``).
public final class Sequential: Module, UnaryLayer {
    private let slots: [Child<any UnaryLayer>]

    public init(_ layers: [any UnaryLayer]) {
        slots = layers.map { Child(wrappedValue: $0) }
        super.init()
        for (i, slot) in slots.enumerated() { child(String(i), slot) }
    }

    public convenience init(_ layers: any UnaryLayer...) { self.init(layers) }

    /// The layers in order, as the registry holds them now.
    public var layers: [any UnaryLayer] { slots.map(\.wrappedValue) }

    /// The number of layers.
    public var count: Int { slots.count }

    /// The layer at `index` (`0..<count`).
    public subscript(index: Int) -> any UnaryLayer { slots[index].wrappedValue }

    public func callAsFunction(_ x: Tensor) -> Tensor { slots.reduce(x) { $1.wrappedValue($0) } }
}

/// A parameter-free activation as a layer.
public final class Activation: Module, UnaryLayer {
    public enum Kind: Sendable {
        case relu, relu6, gelu, geluTanh, silu, sigmoid, tanh

        /// The same activation as a oneDNN post-op, where one exists.
        public var fused: FusedActivation? {
            switch self {
            case .relu: .relu
            case .relu6: .relu6
            case .gelu: .gelu
            case .geluTanh: .geluTanh
            case .silu, .sigmoid, .tanh: nil
            }
        }
    }
    public let kind: Kind

    public init(_ kind: Kind) {
        self.kind = kind
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch kind {
        case .relu: x.relu()
        case .relu6: x.relu6()
        case .gelu: x.gelu()
        case .geluTanh: x.gelu(approximate: true)
        case .silu: x.silu()
        case .sigmoid: x.sigmoid()
        case .tanh: x.tanh()
        }
    }
}

/// [N, C, H, W] → [N, C] by averaging over H and W.
public final class GlobalAvgPool: Module, UnaryLayer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.globalAvgPool2d(x) }
}

/// Flattens all dimensions after the first.
public final class Flatten: Module, UnaryLayer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.flattened(from: 1) }
}
