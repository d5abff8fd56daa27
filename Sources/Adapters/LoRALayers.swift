import Layers
import Tensors

/// A low-rank adapter around a layer: `y = base(x) + (α / r) · B(A(dropout(x)))` with `A` of rank `r` initialised
/// Kaiming-uniform and `B` initialised to zero, so a new adapter leaves the layer's output exactly as it was
/// (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"; Hugging Face PEFT
/// `peft/tuners/lora/layer.py`).
///
/// The adapter is a ``WrappingModule``: put in the base layer's slot (``Module/replaceModule(at:with:)``), the base's
/// keys stay its checkpoint keys (`…query.weight`) and the adapter's factors sit beside them as `…query.lora_A` and
/// `…query.lora_B`.
public protocol LoRALayer: WrappingModule, UnaryLayer {
    /// The down-projection `A` (`[r, in]` for a linear layer, `[r, in, kH, kW]` for a convolution).
    var loraA: Tensor { get }
    /// The up-projection `B` (`[out, r]`, or `[out, r, 1, 1]`), zero when the adapter is new.
    var loraB: Tensor { get }
    /// `α / r` (PEFT's `scaling`).
    var scale: Float { get }
    /// Whether `scale · B·A` has been added to the base weight (``merge()``): the forward pass is then the base's alone.
    var isMerged: Bool { get }
    /// The base weight's update `scale · B·A`, in the base weight's shape.
    func delta() -> Tensor
    /// Adds ``delta()`` to the base weight (PEFT `merge`); the output is unchanged up to rounding.
    func merge()
    /// Subtracts ``delta()`` from the base weight again (PEFT `unmerge`).
    func unmerge()
}

/// The one shape of the base layer's weight update, shared by the two adapters.
extension LoRALayer {
    /// The base layer's weight.
    var baseWeight: Tensor {
        switch wrapped {
        case let l as Linear: l.weight
        case let c as Conv2d: c.weight
        default: preconditionFailure("a LoRA layer wraps a Linear or a Conv2d")
        }
    }

    /// Adds `sign · delta()` to the base weight through the base layer's ``Module/load(_:strict:)`` (the one
    /// mutation path of weights).
    func shiftBase(by sign: Float) {
        let update = withNoGrad { baseWeight + delta() * sign }
        var state: [String: Tensor] = [:]
        for (k, t) in wrapped.stateDict() { state[k] = t }
        state["weight"] = update
        do { try wrapped.load(state) } catch { preconditionFailure("LoRA merge: \(error)") }
    }
}

/// LoRA around a ``Linear`` layer (PEFT `lora.Linear`).
public final class LoRALinear: WrappingModule, LoRALayer {
    public let loraA: Tensor
    public let loraB: Tensor
    public let scale: Float
    /// Dropout probability on the adapter's input in train mode.
    public let dropout: Float
    public private(set) var isMerged = false
    private var generator: SeededGenerator
    private let linear: Linear

    /// Wraps `base` with an adapter of rank `rank` and scale `alpha / rank`.
    public init(wrapping base: Linear, rank: Int, alpha: Float, dropout: Float = 0, seed: UInt64 = 0) {
        precondition(rank >= 1 && (0..<1).contains(dropout), "LoRALinear: rank \(rank), dropout \(dropout)")
        let (out, inp) = (base.weight.shape[0], base.weight.shape[1])
        loraA = Initializer.pytorchDefault.make([rank, inp])
        loraB = Tensor.zeros([out, rank])
        scale = alpha / Float(rank)
        self.dropout = dropout
        generator = SeededGenerator(seed: seed)
        linear = base
        super.init(wrapping: base)
        parameter("lora_A", loraA)
        parameter("lora_B", loraB)
    }

    public override func reseedOwnRandomness(_ seed: UInt64) { generator = SeededGenerator(seed: seed) }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let base = linear(x)
        if isMerged { return base }
        let h = dropout > 0 ? x.dropout(p: dropout, training: isTraining, generator: &generator) : x
        return base + Tensor.linear(Tensor.linear(h, weight: loraA), weight: loraB) * scale
    }

    public func delta() -> Tensor { withNoGrad { loraB.matmul(loraA) * scale } }

    public func merge() {
        guard !isMerged else { return }
        shiftBase(by: 1)
        isMerged = true
    }

    public func unmerge() {
        guard isMerged else { return }
        shiftBase(by: -1)
        isMerged = false
    }
}

/// LoRA around a ``Conv2d`` (PEFT `lora.Conv2d`): `A` is a convolution with the base's kernel, stride, padding and
/// dilation into `r` channels, `B` a 1×1 convolution from `r` channels to the base's outputs; merged, the update of
/// the base kernel is `scale · B·A` over the `r` channels (PEFT's `get_delta_weight`). Grouped convolutions are
/// not adapted (``LoRAError/unsupportedModule(path:type:)``).
public final class LoRAConv2d: WrappingModule, LoRALayer {
    public let loraA: Tensor
    public let loraB: Tensor
    public let scale: Float
    /// Dropout probability on the adapter's input in train mode.
    public let dropout: Float
    public private(set) var isMerged = false
    private var generator: SeededGenerator
    private let conv: Conv2d

    /// Wraps `base` (with `groups == 1`) with an adapter of rank `rank` and scale `alpha / rank`.
    public init(wrapping base: Conv2d, rank: Int, alpha: Float, dropout: Float = 0, seed: UInt64 = 0) {
        precondition(rank >= 1 && (0..<1).contains(dropout) && base.groups == 1, "LoRAConv2d: rank \(rank), dropout \(dropout), groups \(base.groups)")
        let w = base.weight.shape
        loraA = Initializer.pytorchDefault.make([rank, w[1], w[2], w[3]])
        loraB = Tensor.zeros([w[0], rank, 1, 1])
        scale = alpha / Float(rank)
        self.dropout = dropout
        generator = SeededGenerator(seed: seed)
        conv = base
        super.init(wrapping: base)
        parameter("lora_A", loraA)
        parameter("lora_B", loraB)
    }

    public override func reseedOwnRandomness(_ seed: UInt64) { generator = SeededGenerator(seed: seed) }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let base = conv(x)
        if isMerged { return base }
        let h = dropout > 0 ? x.dropout(p: dropout, training: isTraining, generator: &generator) : x
        let down = Tensor.conv2d(h, weight: loraA, stride: conv.stride, padding: conv.padding, dilation: conv.dilation)
        return base + Tensor.conv2d(down, weight: loraB) * scale
    }

    public func delta() -> Tensor {
        let a = loraA.shape, b = loraB.shape
        return withNoGrad {
            (loraB.reshaped(b[0], b[1]).matmul(loraA.reshaped(a[0], a[1] * a[2] * a[3])) * scale)
                .reshaped(b[0], a[1], a[2], a[3])
        }
    }

    public func merge() {
        guard !isMerged else { return }
        shiftBase(by: 1)
        isMerged = true
    }

    public func unmerge() {
        guard isMerged else { return }
        shiftBase(by: -1)
        isMerged = false
    }
}
