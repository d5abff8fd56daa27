import Assets
import Datasets
import Foundation

/// How much of the pretrained network is trained.
public enum Strategy: String, Codable, Sendable, CaseIterable {
    /// Backbone frozen in eval mode; features computed once (cached) and a new head trained on them.
    case features
    /// Phase 1 as `features`; phase 2 unfreezes the top blocks with discriminative learning rates (fastai
    /// `fine_tune`); frozen BatchNorm stays in inference mode.
    case fineTune = "fine-tune"
    /// Every layer trainable from the start (after the head warm-up of phase 1).
    case full
    /// Phase 1 as `features`; phase 2 trains a ``BackboneAdapter`` (low-rank adapters, LoRA: Hu et al. 2021) and the
    /// head while every backbone weight stays frozen. The bundle holds the head and the adapter, and names the base
    /// weights by hash; merged (`transfer lora merge`) it holds the backbone with the adapter folded in.
    case lora
    /// A ``BackbonePreparation`` changes the backbone's weights from the training data first (SetFit's contrastive
    /// fine-tuning: Tunstall et al. 2022, the FewShot target), then the head is trained on its features as with
    /// `features`; there is no phase 2. The bundle stores the backbone.
    case setfit

    /// Whether the strategy changes the backbone's own weights (what a bundle must then store).
    public var trainsBackboneWeights: Bool { self == .fineTune || self == .full || self == .setfit }
    /// Whether phase 2 (training the backbone with the head on the inputs) runs.
    public var hasFineTunePhase: Bool { self != .features && self != .setfit }
}

/// The loss of a regression head (on standardised targets).
public enum RegressionLoss: String, Codable, Sendable, CaseIterable {
    case mse
    /// Huber with δ = 1 (in standard deviations of the target).
    case huber
}

/// Options of a training run (the `transfer train` flags).
public struct TrainOptions: Sendable {
    public var strategy: Strategy = .fineTune
    /// Block groups to unfreeze in phase 2 (nil: all; see ``FeatureBackbone/defaultUnfreeze``).
    public var unfreeze: Int? = 3
    public var headEpochs = 30
    public var fineTuneEpochs = 10
    /// Peak learning rate of the top backbone group in phase 2; the head phase uses ``headLearningRate``.
    public var learningRate: Float = 1e-3
    /// Peak learning rate of the head phase; nil picks it with a learning-rate sweep on the cached features (the
    /// `valley` of ``Learner/findLearningRate(start:end:iterations:)``, kept within 1e-4…1e-1).
    public var headLearningRate: Float?
    public var batchSize = 32
    public var head: HeadKind = .linear
    /// AdamW's decoupled weight decay in the gradient-trained head phase.
    public var headWeightDecay: Float = 1e-4
    /// Label smoothing of the classification loss in both phases (0: none), in [0, 1).
    public var labelSmoothing: Float = 0
    public var validationFraction = 0.1
    /// Epochs without validation-loss improvement before a phase stops and restores its best weights (nil: off).
    public var earlyStoppingPatience: Int?
    public var augment: AugmentationPolicy = .light
    /// Augmented views (under ``augment``'s policy) of every training image whose features are computed once,
    /// cached, and added to the head phase's training rows (image models; 0: none).
    public var augmentedViews = 0
    public var regressionLoss: RegressionLoss = .mse
    /// Mixup and/or cutmix of the fine-tuning batches (classification; ``MixingObjective``), nil: none.
    public var mixing: BatchMixing?
    public var seed: UInt64 = 0
    public var progress = true
    public var featureCacheRoot: URL = AssetStore.cacheRoot.appendingPathComponent("features")
    /// Where each phase writes an atomic checkpoint after every epoch, and where a run resumes from (nil: none).
    public var checkpointDirectory: URL?
    /// Whether unfrozen BatchNorm layers keep normalising with their pretrained running statistics while their
    /// weight and bias train (Keras' advice for fine-tuning; the default), or switch to batch statistics.
    public var batchNormUsesRunningStatistics = true
    /// Where every epoch is appended to `metrics.csv` and `metrics.jsonl` (nil: no log).
    public var logDirectory: URL?
    /// Image decoding threads beside the training loop.
    public var loaderWorkers = 1
    public init() {}

    /// Epoch counts a phase accepts (``headEpochs``, ``fineTuneEpochs``, ``earlyStoppingPatience``).
    public static let epochRange = 0...100_000
    /// Batch sizes a run accepts (``batchSize``).
    public static let batchSizeRange = 1...65_536
    /// The largest learning rate a run accepts (``learningRate``, ``headLearningRate``); the smallest is any
    /// positive number.
    public static let maxLearningRate: Float = 10
    /// Augmented views of each image a run accepts (``augmentedViews``).
    public static let augmentedViewsRange = 0...64
    /// Mixup / cutmix α a run accepts (``mixing``).
    public static let mixingAlphaRange: ClosedRange<Double> = 0...100
    /// Image decoding threads a run accepts (``loaderWorkers``).
    public static let loaderWorkersRange = 1...64

    /// Checks every number against its accepted range, before any work: a run with zero epochs, a batch of 0, a
    /// NaN or negative learning rate, or a validation fraction outside [0, 1) is refused here rather than crashing
    /// or saving an untrained head later. ``TrainingRun/run(_:test:bundle:)`` calls it first.
    ///
    /// The phase that trains the new head must run at least one epoch: ``headEpochs`` ≥ 1 for
    /// ``Strategy/features``, ``fineTuneEpochs`` ≥ 1 for the strategies that fine-tune.
    ///
    /// - Throws: ``TrainOptionsError`` naming the field, the value and the accepted range.
    public func validate() throws(TrainOptionsError) {
        func fail(_ field: String, _ value: Any, _ accepted: String) -> TrainOptionsError {
            TrainOptionsError(field: field, value: "\(value)", accepted: accepted)
        }
        let epochs = "a whole number in \(Self.epochRange.lowerBound)…\(Self.epochRange.upperBound)"
        guard Self.epochRange.contains(headEpochs) else { throw fail("headEpochs", headEpochs, epochs) }
        guard Self.epochRange.contains(fineTuneEpochs) else { throw fail("fineTuneEpochs", fineTuneEpochs, epochs) }
        if !strategy.hasFineTunePhase {
            guard headEpochs >= 1 else {
                throw fail("headEpochs", headEpochs, "at least 1 with the \(strategy.rawValue) strategy (0 epochs would save an untrained head)")
            }
        } else {
            guard fineTuneEpochs >= 1 else {
                throw fail("fineTuneEpochs", fineTuneEpochs, "at least 1 with the \(strategy.rawValue) strategy (for no fine-tuning use the features strategy)")
            }
        }
        guard Self.batchSizeRange.contains(batchSize) else {
            throw fail("batchSize", batchSize, "a whole number in \(Self.batchSizeRange.lowerBound)…\(Self.batchSizeRange.upperBound)")
        }
        let rate = "a number in (0, \(Self.maxLearningRate)] (greater than 0, finite)"
        guard learningRate > 0 && learningRate <= Self.maxLearningRate else { throw fail("learningRate", learningRate, rate) }
        if let h = headLearningRate, !(h > 0 && h <= Self.maxLearningRate) { throw fail("headLearningRate", h, rate) }
        guard validationFraction >= 0 && validationFraction < 1 else {
            throw fail("validationFraction", validationFraction, "a fraction in [0, 1)")
        }
        if let p = earlyStoppingPatience, !(1...Self.epochRange.upperBound).contains(p) {
            throw fail("earlyStoppingPatience", p, "nil (off) or a whole number in 1…\(Self.epochRange.upperBound)")
        }
        guard Self.augmentedViewsRange.contains(augmentedViews) else {
            throw fail("augmentedViews", augmentedViews, "a whole number in \(Self.augmentedViewsRange.lowerBound)…\(Self.augmentedViewsRange.upperBound)")
        }
        guard Self.loaderWorkersRange.contains(loaderWorkers) else {
            throw fail("loaderWorkers", loaderWorkers, "a whole number in \(Self.loaderWorkersRange.lowerBound)…\(Self.loaderWorkersRange.upperBound)")
        }
        if let mixing {
            let alphas: [(String, Double)]
            switch mixing {
            case .mixup(let a): alphas = [("mixing (mixup α)", a)]
            case .cutmix(let a): alphas = [("mixing (cutmix α)", a)]
            case .mixupOrCutmix(let m, let c): alphas = [("mixing (mixup α)", m), ("mixing (cutmix α)", c)]
            }
            for (field, a) in alphas where !(a > 0 && a <= Self.mixingAlphaRange.upperBound) {
                throw fail(field, a, "a number in (0, \(Self.mixingAlphaRange.upperBound)]")
            }
        }
        guard headWeightDecay >= 0 && headWeightDecay <= 10 else { throw fail("headWeightDecay", headWeightDecay, "a number in [0, 10]") }
        guard labelSmoothing >= 0 && labelSmoothing < 1 else { throw fail("labelSmoothing", labelSmoothing, "a fraction in [0, 1)") }
        if let u = unfreeze, u < 0 { throw fail("unfreeze", u, "nil (all groups) or a whole number ≥ 0") }
    }
}

/// A ``TrainOptions`` field outside its accepted range (``TrainOptions/validate()``).
public struct TrainOptionsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The field of ``TrainOptions``, e.g. `batchSize`.
    public let field: String
    /// The value received, as text.
    public let value: String
    /// The accepted values, in words (e.g. `a whole number in 1…65536`).
    public let accepted: String

    public init(field: String, value: String, accepted: String) {
        self.field = field; self.value = value; self.accepted = accepted
    }

    public var description: String { "TrainOptions.\(field) must be \(accepted) (received \(value))" }
}

