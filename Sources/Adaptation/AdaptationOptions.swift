import Assets
import Foundation
import TransferKit

/// The adaptation techniques of ``DomainAdaptation``.
public enum AdaptationMethod: String, CaseIterable, Sendable, Codable {
    /// ``AdaBN``: a head trained on source features under the source's own BatchNorm statistics, then the statistics
    /// re-estimated on the target (each domain normalised by its own, as Li et al. do).
    case adabn
    /// Closed-form CORAL on the backbone features (``CORALTransform``), then a head trained on the recoloured source.
    case coral
    /// Deep CORAL: the head trained with ``DeepCORALObjective``.
    case deepCoral = "deep-coral"
    /// DANN: ``DANNObjective`` with a gradient reversal layer and a domain classifier.
    case dann
    /// MCC: ``MCCObjective``.
    case mcc
    /// FixMatch-style self-training: ``SelfTrainingObjective`` on weak and strong target views, starting from the
    /// source-only head (its pseudo-labels are the source model's).
    case selfTraining = "self-training"
}

/// Options of a ``DomainAdaptation`` run (the `transfer adapt` flags).
public struct AdaptationOptions: Sendable {
    public var method: AdaptationMethod
    /// The model-selection criterion without target labels.
    public var validator: Validator = .im
    /// Epochs of every head training (source-only and adapted).
    public var epochs = 20
    public var batchSize = 64
    public var learningRate: Float = 1e-3
    /// Width of the head's hidden layer: the features the methods align.
    public var hidden = 256
    /// Dropout after the head's hidden layer, in [0, 1) (0: none; a data-parallel run equals one process only without
    /// it, since each rank draws its own masks).
    public var dropout: Float = 0.2
    /// Weight of the adaptation loss against the source cross-entropy (DANN, Deep CORAL, MCC, self-training).
    public var tradeoff: Float = 1
    /// Self-training's pseudo-label confidence threshold.
    public var threshold: Float = 0.9
    /// Strongly augmented views of every target input whose features are computed (cached) for self-training.
    public var strongViews = 2
    /// Fraction of the source data held out for validation (and the source-accuracy validator).
    public var validationFraction = 0.1
    /// At most this many target rows are scored by the validator and drawn in the feature maps.
    public var validatorSample = 600
    /// AdaBN estimates each domain's statistics on at most this many of its inputs (drawn with the seed; the
    /// estimates settle after a few hundred images).
    public var adabnSamples = 1_000
    public var seed: UInt64 = 0
    public var progress = false
    public var featureCacheRoot: URL = AssetStore.cacheRoot.appendingPathComponent("features")

    public init(method: AdaptationMethod) { self.method = method }

    public static let epochRange = 1...10_000
    public static let hiddenRange = 2...16_384
    public static let viewsRange = 1...16

    /// Checks every number against its accepted range before any work.
    /// - Throws: ``TransferKit/TrainOptionsError`` naming the field, the value and the accepted range.
    public func validate() throws(TrainOptionsError) {
        func fail(_ f: String, _ v: Any, _ a: String) -> TrainOptionsError { TrainOptionsError(field: f, value: "\(v)", accepted: a) }
        guard Self.epochRange.contains(epochs) else { throw fail("epochs", epochs, "a whole number in 1…10000") }
        guard TrainOptions.batchSizeRange.contains(batchSize), batchSize >= 2 else { throw fail("batchSize", batchSize, "a whole number in 2…65536") }
        guard learningRate > 0 && learningRate <= TrainOptions.maxLearningRate else {
            throw fail("learningRate", learningRate, "a number in (0, \(TrainOptions.maxLearningRate)]")
        }
        guard Self.hiddenRange.contains(hidden) else { throw fail("hidden", hidden, "a whole number in 2…16384") }
        guard dropout.isFinite && dropout >= 0 && dropout < 1 else { throw fail("dropout", dropout, "a number in [0, 1)") }
        guard tradeoff >= 0 && tradeoff <= 100 else { throw fail("tradeoff", tradeoff, "a number in [0, 100]") }
        guard threshold > 0 && threshold <= 1 else { throw fail("threshold", threshold, "a number in (0, 1]") }
        guard Self.viewsRange.contains(strongViews) else { throw fail("strongViews", strongViews, "a whole number in 1…16") }
        guard validationFraction > 0 && validationFraction < 1 else { throw fail("validationFraction", validationFraction, "a fraction in (0, 1)") }
        guard validatorSample >= 10 && validatorSample <= 5_000 else { throw fail("validatorSample", validatorSample, "a whole number in 10…5000") }
        guard adabnSamples >= 2 else { throw fail("adabnSamples", adabnSamples, "a whole number ≥ 2") }
    }
}
