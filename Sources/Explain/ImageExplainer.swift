import Datasets
import Foundation
import Tensors
import TransferKit

/// One explained image: the picture the model saw, the overlay and the figures.
public struct ImageExplanation: Sendable {
    /// The file as the user gave it.
    public let source: String
    /// The model's input picture (resized and centre-cropped as the model's evaluation pipeline does).
    public let image: RGBImage
    /// The class-activation map at the picture's size, in [0, 1].
    public let map: [Float]
    /// The overlay (``CAMOverlay/overlay(_:on:imageWeight:)``).
    public let overlay: RGBImage
    public let classIndex: Int
    public let label: String
    public let probability: Float
    /// Deletion areas (most salient first, random order); nil when the deletion metric was not asked for.
    public let deletionAUC: Double?
    public let randomDeletionAUC: Double?
}

/// Grad-CAM over image files, in batches: decode and prepare each file with the model's evaluation pipeline, compute
/// the maps, draw the overlays and (optionally) measure the deletion curve.
public enum ImageExplainer {
    /// Explains `files` (each failure is returned with its reason, the others go on).
    ///
    /// - Parameters:
    ///   - classLabel: a class name or index to explain in every image; nil explains each image's predicted class.
    ///   - deletionSteps: steps of the deletion curve (0: not measured); `deletionPatch`, `deletionFill`: see
    ///     ``DeletionCurve/measure(_:images:maps:steps:patch:fill:randomOrders:seed:)``.
    public static func explain(_ model: ImageClassifier, files: [String], method: CAMMethod = .gradcam,
                               classLabel: String? = nil, layer: CAMLayer? = nil, deletionSteps: Int = 10, deletionPatch: Int = 32,
                               deletionFill: DeletionCurve.Fill = .blur, batchSize: Int = 8,
                               progress: ((Int, Int) -> Void)? = nil) throws(ExplainError)
        -> (explanations: [ImageExplanation], failed: [(String, String)]) {
        var cls: Int?
        if let classLabel { cls = try model.classIndex(classLabel) }
        let pipeline = model.preprocessing.evaluationPipeline
        var results: [ImageExplanation] = [], failed: [(String, String)] = []
        for start in stride(from: 0, to: files.count, by: batchSize) {
            progress?(start, files.count)
            var images: [RGBImage] = [], inputs: [Tensor] = [], names: [String] = []
            for file in files[start..<Swift.min(files.count, start + batchSize)] {
                do {
                    var options = DecodeOptions()
                    options.target = pipeline.decodeTarget
                    var g = SeededGenerator(seed: 0)
                    let picture = pipeline.applyImageTransforms(try ImageDecoder.decode(contentsOf: file, options: options), generator: &g)
                    images.append(picture)
                    inputs.append(picture.normalized(pipeline.normalization).tensor())
                    names.append(file)
                } catch { failed.append((file, error.description)) }
            }
            guard !inputs.isEmpty else { continue }
            let x = Tensor.stack(inputs)
            let maps = try GradCAM.maps(model, images: x, classes: cls.map { [Int](repeating: $0, count: inputs.count) },
                                        layer: layer, method: method)
            var deletion: DeletionCurve?
            if deletionSteps > 0 { deletion = try DeletionCurve.measure(model, images: x, maps: maps, steps: deletionSteps, patch: deletionPatch, fill: deletionFill) }
            for i in names.indices {
                results.append(ImageExplanation(
                    source: names[i], image: images[i], map: maps.maps[i], overlay: CAMOverlay.overlay(maps.maps[i], on: images[i]),
                    classIndex: maps.classes[i], label: model.classNames[maps.classes[i]], probability: maps.probabilities[i],
                    deletionAUC: deletion?.salientAUC[i], randomDeletionAUC: deletion?.randomAUC[i]))
            }
        }
        progress?(files.count, files.count)
        return (results, failed)
    }
}
