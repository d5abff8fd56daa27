import Layers
import Tensors

/// segmentation_models.pytorch's `Conv2dReLU` (`smp/base/modules.py`): a 3×3 convolution with padding 1 and no bias
/// (`"0"`), batch norm (`"1"`) and ReLU, with the same parameter keys (`0.weight`, `1.weight`, `1.running_mean`, …).
public final class ConvBNReLU: Module, UnaryLayer {
    @Child public private(set) var conv: Conv2d
    @Child public private(set) var bn: BatchNorm2d

    public init(_ inChannels: Int, _ outChannels: Int) {
        conv = Conv2d(inChannels, outChannels, kernel: (3, 3), padding: .symmetric(1, 1), bias: false,
                      initializer: .kaimingUniform)
        bn = BatchNorm2d(outChannels)
        super.init()
        child("0", $conv)
        child("1", $bn)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { conv(x, batchNorm: bn, activation: .relu) }
}
