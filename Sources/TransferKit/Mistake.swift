import Datasets
import Foundation

/// A misclassified sample to show in the report: a thumbnail for images or an excerpt for texts.
public struct Mistake: Sendable, Equatable {
    /// PNG bytes of a small picture of the input (see ``thumbnail(of:maxSide:)``), or nil.
    public let thumbnailPNG: [UInt8]?
    /// The input text (the report shows its first few hundred characters), or nil.
    public let text: String?
    /// Where the sample came from (a file path, or "row N of FILE").
    public let source: String
    public let trueLabel: String
    public let predictedLabel: String
    /// The probability the model gave the predicted label.
    public let confidence: Float

    public init(thumbnailPNG: [UInt8]? = nil, text: String? = nil, source: String, trueLabel: String,
                predictedLabel: String, confidence: Float) {
        self.thumbnailPNG = thumbnailPNG
        self.text = text
        self.source = source
        self.trueLabel = trueLabel
        self.predictedLabel = predictedLabel
        self.confidence = confidence
    }

    /// PNG bytes of `image` shrunk (bilinear, antialiased as Pillow does) so that its longer side is at most
    /// `maxSide` pixels; smaller images are kept as they are (the report scales them up without smoothing).
    public static func thumbnail(of image: RGBImage, maxSide: Int = 160) -> [UInt8] {
        let longer = max(image.width, image.height)
        guard longer > maxSide else { return PNGEncoder.encode(image) }
        let scale = Double(maxSide) / Double(longer)
        let w = max(1, Int((Double(image.width) * scale).rounded())), h = max(1, Int((Double(image.height) * scale).rounded()))
        return PNGEncoder.encode(image.resize(width: w, height: h, filter: .bilinear))
    }
}
