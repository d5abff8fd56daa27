import Datasets
import TransferKit

/// Grad-CAM overlays for a report's mistakes gallery.
public enum MistakeOverlays {
    /// `mistakes` with each image's thumbnail replaced by its Grad-CAM overlay for the predicted (wrong) class: where
    /// the model looked when it erred. Texts, and images that cannot be explained (unreadable by now), keep their
    /// entry as it was; a text bundle returns `mistakes` unchanged.
    public static func overlaid(_ mistakes: [Mistake], model: TransferModel, method: CAMMethod = .gradcam) -> [Mistake] {
        guard let classifier = ImageClassifier(bundle: model) else { return mistakes }
        return mistakes.map { m in
            guard m.thumbnailPNG != nil,
                  let e = try? ImageExplainer.explain(classifier, files: [m.source], method: method, classLabel: m.predictedLabel,
                                                      deletionSteps: 0).explanations.first
            else { return m }
            return Mistake(thumbnailPNG: Mistake.thumbnail(of: e.overlay), text: m.text, source: m.source, trueLabel: m.trueLabel,
                           predictedLabel: m.predictedLabel, confidence: m.confidence)
        }
    }
}
