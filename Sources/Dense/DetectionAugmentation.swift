import Datasets
import Foundation
import Tensors

/// Photometric and scale augmentation of detection training crops, on top of the random place and flips every crop
/// gets (``DetectionTraining``).
///
/// - Colour: torchvision's `ColorJitter(brightness: c, contrast: c, saturation: c, hue: h)` (``ColorJitter``, the
///   PIL-exact adjustments, random order); boxes are unchanged.
/// - Scale: each crop is cut as a square window of side `w = round(tile / z)` with `z` uniform in `[1 − s, 1 + s]`
///   and resized to `tile × tile` (Pillow bilinear, as ``RGBImage/resize(width:height:filter:)``); its boxes are
///   taken from the window as the plain crop takes them (``Tiling/boxes(_:x:y:tile:)``: kept when their centre
///   lies inside, clipped to it) and multiplied by `tile / w`, the factor the pixels were resized by. Random
///   rescaling is the usual scale augmentation of single-stage detectors (Zhou et al. 2019, CenterNet: random
///   scaling in [0.6, 1.4] and colour jittering).
public struct DetectionAugmentation: Sendable, Equatable, Codable {
    /// Brightness, contrast and saturation factors uniform in `[1 − c, 1 + c]`; 0…1 (0: off).
    public var colorJitter: Double = 0
    /// Hue shift uniform in `[−h, h]` of a full turn; 0…0.5 (0: off).
    public var hueJitter: Double = 0
    /// Rescale factor uniform in `[1 − s, 1 + s]`; 0…0.9 (0: off).
    public var scaleJitter: Double = 0

    public init(colorJitter: Double = 0, hueJitter: Double = 0, scaleJitter: Double = 0) {
        self.colorJitter = colorJitter
        self.hueJitter = hueJitter
        self.scaleJitter = scaleJitter
    }

    /// No colour or scale change (crops are placed and flipped only).
    public static let none = DetectionAugmentation()

    public var isColorOn: Bool { colorJitter > 0 || hueJitter > 0 }

    public func validate() throws(DenseError) {
        guard (0...1).contains(colorJitter) else { throw .invalidOption(name: "--color-jitter", value: "\(colorJitter)", accepted: "0…1") }
        guard (0...0.5).contains(hueJitter) else { throw .invalidOption(name: "--hue-jitter", value: "\(hueJitter)", accepted: "0…0.5") }
        guard (0...0.9).contains(scaleJitter) else { throw .invalidOption(name: "--scale-jitter", value: "\(scaleJitter)", accepted: "0…0.9") }
    }

    /// The side of the window a crop is cut from: `tile` when scale jitter is off (no draw), else `round(tile / z)`.
    func window(tile: Int, generator g: inout SeededGenerator) -> Int {
        guard scaleJitter > 0 else { return tile }
        let z = g.uniform(1 - scaleJitter, 1 + scaleJitter)
        return Swift.max(1, Int((Double(tile) / z).rounded()))
    }

    /// `image` recoloured (a no-op without a draw when colour jitter is off).
    func recolor(_ image: RGBImage, generator g: inout SeededGenerator) -> RGBImage {
        guard isColorOn else { return image }
        return ColorJitter(brightness: colorJitter, contrast: colorJitter, saturation: colorJitter, hue: hueJitter).apply(image, generator: &g)
    }
}

extension DetectionTraining {
    /// The `window × window` square of `image` at `(x, y)` (black outside the image) resized to `tile × tile`, and
    /// its boxes (``Tiling/boxes(_:x:y:tile:)`` of the window) scaled by `tile / window`.
    public static func scaledCrop(_ image: RGBImage, _ boxes: [DetectionBox], x: Int, y: Int, window: Int, tile: Int)
        -> (RGBImage, [DetectionBox]) {
        let cut = Tiling.crop(image, x: x, y: y, tile: window)
        let kept = Tiling.boxes(boxes, x: x, y: y, tile: window)
        guard window != tile else { return (cut, kept) }
        let f = Float(tile) / Float(window)
        return (cut.resize(width: tile, height: tile),
                kept.map { DetectionBox(x0: $0.x0 * f, y0: $0.y0 * f, x1: $0.x1 * f, y1: $0.y1 * f, label: $0.label, score: $0.score) })
    }
}
