import Tensors

/// Wraps a layer and keeps its last output: the feature map that Grad-CAM weighs by its gradient, an intermediate
/// activation to inspect or to feed a decoder.
///
/// Put it in place of a layer with ``Module/replaceModule(at:with:)``; as a ``WrappingModule`` it keeps the layer's
/// parameter keys, and its forward pass is the layer's, unchanged (fused inference paths of the parent see a tap
/// instead of a convolution and run the convolution on its own, then the rest unfused):
///
/// ```swift
/// let tap = ActivationTap(resnet.layers[3], requireGradient: true)
/// try resnet.replaceModule(at: "layer4", with: tap)
/// let score = resnet(images).sliced(axis: 1, start: cls, end: cls + 1).sum()
/// score.backward()
/// let map = tap.output, gradient = tap.output?.grad   // [N, C, H, W] each
/// ```
///
/// With ``requireGradient`` the output is differentiable even when every parameter below the tap is frozen (or the
/// model is fully frozen): an output that no recorded operation produced is replaced by a leaf that shares its data
/// and requires a gradient, so the operations after the tap record and `backward()` leaves d(loss)/d(output) in
/// `output.grad`. When the output is already recorded (a layer below trains), the tap keeps that tensor on the tape
/// (cutting it would stop the gradients of the layers below) and marks it with ``Tensors/Tensor/retainGrad()``, so
/// `output.grad` holds d(loss)/d(output) after `backward()` in both cases (``Tensors/Tensor/gradients(of:wrt:inputs:seed:retainGraph:)``
/// gives it without touching any `.grad`).
///
/// The tap holds its last output (and so its memory) until the next call or ``clear()``.
public final class ActivationTap: WrappingModule, UnaryLayer {
    /// The tapped layer (the same module as ``WrappingModule/wrapped``).
    public let layer: any UnaryLayer
    /// Whether an unrecorded output is made a leaf that requires a gradient (only while gradients are on, i.e.
    /// outside `withNoGrad`).
    public var requireGradient: Bool
    /// The layer's output in the last call; nil before the first call and after ``clear()``.
    public private(set) var output: Tensor?

    /// Taps `layer`.
    public init(_ layer: any UnaryLayer, requireGradient: Bool = false) {
        self.layer = layer
        self.requireGradient = requireGradient
        super.init(wrapping: layer)
    }

    /// The layer's output, kept in ``output``.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = layer(x)
        if requireGradient && GradMode.isEnabled {
            if y.requiresGrad {
                y.retainGrad()
            } else {
                y = y.detached()  // a new leaf on the same data: the caller's tensors are left as they are
                y.requiresGrad = true
            }
        }
        output = y
        return y
    }

    /// Drops the kept output.
    public func clear() { output = nil }
}
