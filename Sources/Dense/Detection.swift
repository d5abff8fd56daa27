import Datasets
import Foundation
import Layers
import Models
import Optimizers
import Tensors

/// A single-stage anchor-free detector: a pretrained ``VisionBackbone`` (`encoder.*`), a ``FeaturePyramid``
/// (`fpn.*`) and a ``CenterNetHead`` (`head.*`) on its stride-4 map.
public final class DetectionModel: Module {
    @Child public private(set) var encoder: any VisionBackbone
    @Child public private(set) var fpn: FeaturePyramid
    @Child public private(set) var head: CenterNetHead
    public let classes: Int
    public private(set) var encoderFrozen = false

    public init(encoder: any VisionBackbone, classes: Int, pyramidChannels: Int = 64) {
        self.encoder = encoder
        fpn = FeaturePyramid(encoderChannels: encoder.pyramidShape().map(\.channels), channels: pyramidChannels)
        head = CenterNetHead(inChannels: pyramidChannels, classes: classes)
        self.classes = classes
        super.init()
        child("encoder", $encoder)
        child("fpn", $fpn)
        child("head", $head)
    }

    public func setEncoderFrozen(_ frozen: Bool) {
        encoderFrozen = frozen
        if frozen { freeze(prefix: "encoder") } else { unfreeze(prefix: "encoder") }
    }

    /// Heatmap logits `[N, classes, H/4, W/4]`, log sizes and offsets `[N, 2, H/4, W/4]` for `[N, 3, H, W]` (H, W
    /// multiples of 32).
    public func callAsFunction(_ x: Tensor) -> (heatmap: Tensor, size: Tensor, offset: Tensor) {
        guard x.shape[2] % 32 == 0 && x.shape[3] % 32 == 0 else { fatalError("DetectionModel: input \(x.shape) needs sides that are multiples of 32") }
        let pyramid: [Tensor]
        if encoderFrozen {
            let wasTraining = encoder.isTraining
            encoder.eval()
            pyramid = withNoGrad { encoder.pyramid(x).map(\.tensor) }
            encoder.train(wasTraining)
        } else {
            pyramid = encoder.pyramid(x).map(\.tensor)
        }
        return head(fpn(pyramid))
    }
}

/// One annotated image.
public struct DetectionSample: Sendable {
    public let name: String
    public let image: RGBImage
    public let boxes: [DetectionBox]

    public init(name: String, image: RGBImage, boxes: [DetectionBox]) {
        self.name = name
        self.image = image
        self.boxes = boxes
    }
}

/// Tiling of large images (as DeepForest's `predict_tile`): square tiles of side `tile` with `overlap` pixels
/// shared by neighbours, the last row and column aligned with the image's edge; smaller images give one tile
/// padded with black.
public enum Tiling {
    /// Top-left corners of the tiles along one axis of length `length`.
    public static func starts(length: Int, tile: Int, overlap: Int) -> [Int] {
        guard length > tile else { return [0] }
        let step = Swift.max(1, tile - overlap)
        var s = Array(Swift.stride(from: 0, to: length - tile, by: step))
        s.append(length - tile)
        return s
    }

    /// The `tile × tile` crop of `image` at `(x, y)`, black outside the image.
    public static func crop(_ image: RGBImage, x: Int, y: Int, tile: Int) -> RGBImage {
        var out = RGBImage(width: tile, height: tile)
        for row in 0..<tile where y + row < image.height {
            let n = Swift.min(tile, image.width - x)
            guard n > 0 else { continue }
            let src = ((y + row) * image.width + x) * 3
            out.pixels.replaceSubrange((row * tile * 3)..<(row * tile * 3 + n * 3), with: image.pixels[src..<(src + n * 3)])
        }
        return out
    }

    /// The boxes whose centre lies in the tile at `(x, y)`, in tile coordinates, clipped to the tile.
    public static func boxes(_ boxes: [DetectionBox], x: Int, y: Int, tile: Int) -> [DetectionBox] {
        let t = Float(tile), fx = Float(x), fy = Float(y)
        return boxes.compactMap { b in
            let cx = (b.x0 + b.x1) / 2 - fx, cy = (b.y0 + b.y1) / 2 - fy
            guard cx >= 0 && cx < t && cy >= 0 && cy < t else { return nil }
            let s = b.shifted(-fx, -fy)
            return DetectionBox(x0: Swift.max(0, s.x0), y0: Swift.max(0, s.y0), x1: Swift.min(t, s.x1), y1: Swift.min(t, s.y1),
                                label: b.label, score: b.score)
        }
    }
}
