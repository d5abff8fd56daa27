import Layers
import Tensors

/// One U-Net decoder block as segmentation_models.pytorch builds it (`smp/decoders/unet/decoder.py`,
/// `DecoderBlock`; Ronneberger et al., "U-Net", MICCAI 2015): nearest ×2 upsampling, concatenation of the encoder's
/// skip map along channels when there is one, then two ``ConvBNReLU`` units (`conv1`, `conv2`).
public final class UNetDecoderBlock: Module {
    @Child public private(set) var conv1: ConvBNReLU
    @Child public private(set) var conv2: ConvBNReLU

    public init(inChannels: Int, skipChannels: Int, outChannels: Int) {
        conv1 = ConvBNReLU(inChannels + skipChannels, outChannels)
        conv2 = ConvBNReLU(outChannels, outChannels)
        super.init()
        child("conv1", $conv1)
        child("conv2", $conv2)
    }

    public func callAsFunction(_ x: Tensor, skip: Tensor?) -> Tensor {
        var h = x.upsample(scaleFactor: 2, mode: .nearest)
        if let skip { h = Tensor.concat([h, skip], axis: 1) }
        return conv2(conv1(h))
    }
}

/// The U-Net decoder of segmentation_models.pytorch (`UnetDecoder` with `center=False`) over an encoder pyramid
/// of strides 2, 4, …, 2^L: the coarsest map is upsampled ×2 by each ``UNetDecoderBlock`` (`blocks.0` …), joined with
/// the next finer map, until the last block, which has no skip, brings it to the input's resolution.
public final class UNetDecoder: Module, DenseDecoder {
    @Child private var blockList: Sequential
    private let blocks: [UNetDecoderBlock]
    public let outChannels: Int
    /// The decoder has run at stride 1: the head's output needs no upsampling.
    public var outputStride: Int { 1 }

    /// - Parameters:
    ///   - encoderChannels: channels of the pyramid levels, finest (stride 2) first.
    ///   - decoderChannels: output channels of each block, one per level (smp's default is 256, 128, 64, 32, 16).
    public init(encoderChannels: [Int], decoderChannels: [Int]) {
        precondition(decoderChannels.count == encoderChannels.count,
                     "UNetDecoder: \(decoderChannels.count) decoder widths for \(encoderChannels.count) pyramid levels")
        let reversed = Array(encoderChannels.reversed())
        let inputs = [reversed[0]] + decoderChannels.dropLast()
        let skips = Array(reversed.dropFirst()) + [0]
        blocks = (0..<decoderChannels.count).map {
            UNetDecoderBlock(inChannels: inputs[$0], skipChannels: skips[$0], outChannels: decoderChannels[$0])
        }
        outChannels = decoderChannels.last!
        blockList = Sequential(blocks.map { $0 as any UnaryLayer })
        super.init()
        child("blocks", $blockList)
    }

    public func callAsFunction(_ pyramid: [Tensor]) -> Tensor {
        let reversed = Array(pyramid.reversed())
        var x = reversed[0]
        for (i, block) in blocks.enumerated() {
            x = block(x, skip: i + 1 < reversed.count ? reversed[i + 1] : nil)
        }
        return x
    }
}

extension UNetDecoderBlock: UnaryLayer {
    /// The block without a skip connection.
    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, skip: nil) }
}
