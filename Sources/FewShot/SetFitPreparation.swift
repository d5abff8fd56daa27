import Foundation
import TransferKit

/// SetFit's contrastive phase as the ``TransferKit/BackbonePreparation`` of `transfer train --strategy setfit`: the
/// sentence encoder is fine-tuned on pairs of the training texts (``SetFit/fineTune(_:texts:labels:labelNames:options:progress:)``),
/// single- or multi-label, and the trainer then fits the head on its new embeddings.
public final class SetFitPreparation: BackbonePreparation {
    public var options: SetFitOptions
    public var progress: ((_ step: Int, _ steps: Int, _ loss: Double) -> Void)?

    public init(options: SetFitOptions) { self.options = options }

    public func prepare(_ backbone: FeatureBackbone, train: LabeledData) throws -> [String: String] {
        try options.validate()
        guard let text = backbone.encoder as? TextEncoder else {
            throw TrainError.unsupportedTask("the setfit strategy fine-tunes a sentence encoder; \(backbone.spec.name) is an image model")
        }
        var texts: [String] = [], labels: [[Int]] = []
        for (input, target) in zip(train.inputs, train.targets) {
            guard case .text(let t, _) = input else { continue }
            switch target {
            case .classIndex(let c): labels.append([c])
            case .multiLabel(let ls): labels.append(ls)
            case .regression: throw TrainError.unsupportedTask("the setfit strategy needs class or label-set targets (SetFit pairs texts by label); the data holds values")
            }
            texts.append(t)
        }
        let losses = SetFit.fineTune(text.embedder, texts: texts, labels: labels, labelNames: train.classNames, options: options,
                                     progress: progress)
        return ["setfit_iterations": "\(options.iterations)", "setfit_pairs_per_epoch": "\(PairSampler.pairs(labels: labels, iterations: options.iterations, maxPairs: options.maxPairs, seed: options.seed).count)",
                "setfit_loss": losses.map { String(format: "%.5f", $0) }.joined(separator: ","), "setfit_learning_rate": "\(options.learningRate)"]
    }
}
