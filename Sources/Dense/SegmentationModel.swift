import Layers
import Models
import Tensors

/// The decoders a ``SegmentationModel`` can have.
public enum SegmentationArchitecture: String, Sendable, Codable, CaseIterable {
    /// ``UNetDecoder`` with widths 128, 64, 32, 16, 16 (smp's U-Net halved) and a 3×3 head at full resolution.
    case unet
    /// ``FPNDecoder`` with 128 pyramid and 64 segmentation channels (smp's FPN halved), a 1×1 head and ×4 bilinear
    /// upsampling.
    case fpn
}

/// An encoder–decoder segmentation network (segmentation_models.pytorch's `Unet` / `FPN`): a pretrained
/// ``VisionBackbone`` (`encoder.*`, its checkpoint keys unchanged under that prefix), a ``DenseDecoder``
/// (`decoder.*`) and a convolution to class logits (`segmentation_head.0.*`). Calling it maps `[N, 3, H, W]` (H and
/// W multiples of 32) to logits `[N, classes, H, W]`.
public final class SegmentationModel: Module, UnaryLayer {
    @Child public private(set) var encoder: any VisionBackbone
    @Child public private(set) var decoder: any DenseDecoder
    @Child private var head: Sequential
    public let architecture: SegmentationArchitecture
    public let classes: Int
    /// Whether the encoder is frozen: it runs in inference mode (running batch-norm statistics) and records nothing.
    public private(set) var encoderFrozen = false

    public init(encoder: any VisionBackbone, architecture: SegmentationArchitecture, classes: Int) {
        precondition(classes >= 2, "SegmentationModel: classes \(classes) must be ≥ 2 (background and one class)")
        let levels = encoder.pyramidShape().map(\.channels)
        self.encoder = encoder
        switch architecture {
        case .unet:
            let widths = Array([128, 64, 32, 16, 16].suffix(levels.count))
            decoder = UNetDecoder(encoderChannels: levels, decoderChannels: widths)
            head = Sequential(Conv2d(widths.last!, classes, kernel: (3, 3), padding: .symmetric(1, 1)))
        case .fpn:
            decoder = FPNDecoder(encoderChannels: levels, pyramidChannels: 128, segmentationChannels: 64)
            head = Sequential(Conv2d(64, classes, kernel: (1, 1)))
        }
        self.architecture = architecture
        self.classes = classes
        super.init()
        child("encoder", $encoder)
        child("decoder", $decoder)
        child("segmentation_head", $head)
    }

    /// Freezes (`true`) or unfreezes the encoder's parameters.
    public func setEncoderFrozen(_ frozen: Bool) {
        encoderFrozen = frozen
        if frozen { freeze(prefix: "encoder") } else { unfreeze(prefix: "encoder") }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = x.shape[2], w = x.shape[3]
        guard h % 32 == 0 && w % 32 == 0 else {
            fatalError("SegmentationModel: input \(x.shape) needs a height and width that are multiples of 32")
        }
        let pyramid: [Tensor]
        if encoderFrozen {
            let wasTraining = encoder.isTraining
            encoder.eval()
            pyramid = withNoGrad { encoder.pyramid(x).map { $0.tensor } }
            encoder.train(wasTraining)
        } else {
            pyramid = encoder.pyramid(x).map(\.tensor)
        }
        var logits = head(decoder(pyramid))
        if decoder.outputStride > 1 {
            logits = logits.upsample(size: (h, w), mode: .bilinear, alignCorners: true)
        }
        return logits
    }
}
