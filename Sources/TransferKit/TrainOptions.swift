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
}

