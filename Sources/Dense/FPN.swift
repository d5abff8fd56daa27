import Layers
import Tensors

/// A feature-pyramid top-down step as segmentation_models.pytorch builds it (`smp/decoders/fpn/decoder.py`,
/// `FPNBlock`; Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017): the coarser pyramid map
/// upsampled ×2 (nearest) plus a 1×1 convolution (`skip_conv`, with bias) of the encoder's map.
public final class FPNBlock: Module {
    @Child public private(set) var skipConv: Conv2d

    public init(pyramidChannels: Int, skipChannels: Int) {
        skipConv = Conv2d(skipChannels, pyramidChannels, kernel: (1, 1))
        super.init()
        child("skip_conv", $skipConv)
    }

    public func callAsFunction(_ x: Tensor, skip: Tensor) -> Tensor {
        x.upsample(scaleFactor: 2, mode: .nearest) + skipConv(skip)
    }
}

/// smp's `SegmentationBlock`: `n` units of 3×3 convolution, normalisation and ReLU, each followed by a bilinear ×2
/// upsampling with `align_corners=True` (one unit and no upsampling when `n` is 0). smp normalises with
/// `GroupNorm(32)`; here it is batch norm (``ConvBNReLU``), the normalisation this engine has.
public final class FPNSegmentationBlock: Module, UnaryLayer {
    @Child private var units: Sequential
    public let upsamples: Int

    public init(inChannels: Int, outChannels: Int, upsamples: Int) {
        let count = Swift.max(1, upsamples)
        units = Sequential((0..<count).map { ConvBNReLU($0 == 0 ? inChannels : outChannels, outChannels) as any UnaryLayer })
        self.upsamples = upsamples
        super.init()
        child("block", $units)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for unit in units.layers {
            h = unit(h)
            if upsamples > 0 { h = h.upsample(scaleFactor: 2, mode: .bilinear, alignCorners: true) }
        }
        return h
    }
}

/// The FPN decoder of segmentation_models.pytorch (`FPNDecoder`, merge policy "add", no dropout) over the four
/// coarsest pyramid levels (strides 4, 8, 16, 32): `p5` is a 1×1 convolution of the stride-32 map, `p4`, `p3`, `p2`
/// are ``FPNBlock``s, each is brought to stride 4 by an ``FPNSegmentationBlock`` (3, 2, 1, 0 upsamplings) and the
/// four are summed. The head's output is upsampled ×4 (bilinear, `align_corners=True`) as smp's head does.
public final class FPNDecoder: Module, DenseDecoder {
    @Child public private(set) var p5: Conv2d
    @Child public private(set) var p4: FPNBlock
    @Child public private(set) var p3: FPNBlock
    @Child public private(set) var p2: FPNBlock
    @Child private var segBlocks: Sequential
    public let outChannels: Int
    public var outputStride: Int { 4 }

    /// - Parameters:
    ///   - encoderChannels: channels of the pyramid levels, finest (stride 2) first; the last four are used.
    ///   - pyramidChannels: width of `p2…p5` (smp: 256).
    ///   - segmentationChannels: width of the merged map (smp: 128).
    public init(encoderChannels: [Int], pyramidChannels: Int, segmentationChannels: Int) {
        precondition(encoderChannels.count >= 4, "FPNDecoder: needs 4 pyramid levels, got \(encoderChannels.count)")
        let c = Array(encoderChannels.suffix(4))  // c2, c3, c4, c5
        p5 = Conv2d(c[3], pyramidChannels, kernel: (1, 1))
        p4 = FPNBlock(pyramidChannels: pyramidChannels, skipChannels: c[2])
        p3 = FPNBlock(pyramidChannels: pyramidChannels, skipChannels: c[1])
        p2 = FPNBlock(pyramidChannels: pyramidChannels, skipChannels: c[0])
        segBlocks = Sequential([3, 2, 1, 0].map {
            FPNSegmentationBlock(inChannels: pyramidChannels, outChannels: segmentationChannels, upsamples: $0) as any UnaryLayer
        })
        outChannels = segmentationChannels
        super.init()
        child("p5", $p5)
        child("p4", $p4)
        child("p3", $p3)
        child("p2", $p2)
        child("seg_blocks", $segBlocks)
    }

    public func callAsFunction(_ pyramid: [Tensor]) -> Tensor {
        let c = Array(pyramid.suffix(4))
        let q5 = p5(c[3])
        let q4 = p4(q5, skip: c[2])
        let q3 = p3(q4, skip: c[1])
        let q2 = p2(q3, skip: c[0])
        let merged = zip(segBlocks.layers, [q5, q4, q3, q2]).map { $0.0($0.1) }
        return merged.dropFirst().reduce(merged[0], +)
    }

    /// The pyramid maps `p2…p5` (strides 4…32), for a detection head.
    public func pyramidMaps(_ pyramid: [Tensor]) -> [Tensor] {
        let c = Array(pyramid.suffix(4))
        let q5 = p5(c[3])
        let q4 = p4(q5, skip: c[2])
        let q3 = p3(q4, skip: c[1])
        return [p2(q3, skip: c[0]), q3, q4, q5]
    }
}

/// A decoder from an encoder pyramid (finest level first) to one feature map at ``outputStride``.
public protocol DenseDecoder: Module {
    var outChannels: Int { get }
    /// The input size over the decoder's output size.
    var outputStride: Int { get }
    func callAsFunction(_ pyramid: [Tensor]) -> Tensor
}
