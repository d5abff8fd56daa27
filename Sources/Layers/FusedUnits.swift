import Tensors

/// The fused convolution units for children read through ``Child`` slots: they fuse only the layers that are still
/// the original ``Conv2d`` and ``BatchNorm2d``; a replaced layer (an adapter, an ``ActivationTap``) runs its own
/// forward pass and the rest of the unit runs unfused, so surgery is never bypassed.
extension UnaryLayer {
    /// `activation(batchNorm(self(x)) + residual)`: when this layer is a ``Conv2d`` and `batchNorm` a
    /// ``BatchNorm2d`` (or nil), ``Conv2d/callAsFunction(_:batchNorm:activation:residual:)`` (BatchNorm folded into the
    /// convolution for inference); otherwise the layers one after the other.
    public func callAsFunction(_ x: Tensor, batchNorm: (any UnaryLayer)?, activation: FusedActivation?,
                               residual: Tensor? = nil) -> Tensor {
        if let conv = self as? Conv2d {
            if batchNorm == nil || batchNorm is BatchNorm2d {
                return conv(x, batchNorm: batchNorm as? BatchNorm2d, activation: activation, residual: residual)
            }
        }
        var y = self(x)
        if let batchNorm { y = batchNorm(y) }
        if let residual { y = y + residual }
        return activation?.apply(y) ?? y
    }

    /// `depthwiseActivation(depthwiseBN(depthwise(activation(batchNorm(self(x))))))`, the expansion and depthwise
    /// stage of an inverted bottleneck: when all four layers are the original ``Conv2d``s and ``BatchNorm2d``s,
    /// ``Conv2d/callAsFunction(_:batchNorm:activation:thenDepthwise:batchNorm:activation:)`` (one oneDNN
    /// convolution with a depthwise post-op where that pays); otherwise the two units of
    /// ``callAsFunction(_:batchNorm:activation:residual:)``, each fused as far as its own layers allow.
    public func callAsFunction(_ x: Tensor, batchNorm: any UnaryLayer, activation: FusedActivation?,
                               thenDepthwise depthwise: any UnaryLayer, batchNorm depthwiseBN: any UnaryLayer,
                               activation depthwiseActivation: FusedActivation?) -> Tensor {
        if let conv = self as? Conv2d, let bn = batchNorm as? BatchNorm2d, let dw = depthwise as? Conv2d,
           let dwBN = depthwiseBN as? BatchNorm2d {
            return conv(x, batchNorm: bn, activation: activation, thenDepthwise: dw, batchNorm: dwBN,
                        activation: depthwiseActivation)
        }
        let h = self(x, batchNorm: batchNorm, activation: activation)
        return depthwise(h, batchNorm: depthwiseBN, activation: depthwiseActivation)
    }
}
