import Datasets
import Foundation
import Layers
import Optimizers
import Tensors
import TransferKit

extension DomainAdaptation {
    /// A trained head with the validator's per-epoch scores and chosen epoch, and the learner's history.
    struct TrainedHead {
        var head: Head
        var scores: [Double]
        var chosen: Int?
        var history: [EpochRecord]
    }

    /// The objective of ``options``'s method on `network` (source cross-entropy alone without a target stream), with
    /// the modules it trains beside the head and the callbacks it needs.
    func objective(_ network: AdaptationNetwork, featureDimension: Int, hasTarget: Bool) -> (TrainingObjective, [(String, Module)], [Callback]) {
        guard hasTarget else { return (ClassificationObjective(), [], []) }
        switch options.method {
        case .deepCoral: return (DeepCORALObjective(network: network, tradeoff: options.tradeoff), [], [])
        case .mcc: return (MCCObjective(network: network, tradeoff: options.tradeoff), [], [])
        case .selfTraining: return (SelfTrainingObjective(network: network, threshold: options.threshold, tradeoff: options.tradeoff), [], [])
        case .dann:
            let discriminator = DomainDiscriminator(inputs: featureDimension, hidden: 256, seed: options.seed)
            let reversal = GradientReversal(coefficient: 0)
            return (DANNObjective(network: network, discriminator: discriminator, reversal: reversal, tradeoff: options.tradeoff),
                    [("discriminator", discriminator)], [GradientReversalSchedule(reversal: reversal)])
        case .adabn, .coral: return (ClassificationObjective(), [], [])
        }
    }

    /// Trains a new MLP head on source rows `x`/`y` (standardised on `x`), with ``options``'s method when `target` is
    /// given (else source cross-entropy alone), AdamW with a one-cycle schedule, and keeps the epoch `validator` scores
    /// best. With `initial` (an MLP head of the same size), training starts from a copy of its weights.
    func trainHead(x: Tensor, y: [Int], classes: Int, validX: Tensor, validY: [Int], target: TargetFeatureSource?, sample: Tensor,
                   validator: Validator, startingFrom initial: Head? = nil) throws -> TrainedHead {
        let head = Head(.mlp, inputs: x.shape[1], outputs: classes, hidden: options.hidden, dropout: options.dropout, seed: options.seed)
        if let initial {
            try head.load(Dictionary(uniqueKeysWithValues: initial.stateDict().map { ($0.key, $0.tensor.copy()) }))
        } else {
            head.standardize(using: x)
        }
        let network = AdaptationNetwork(head: head)
        let model = Module()
        model.child("head", head)
        let (objective, extra, methodCallbacks) = self.objective(network, featureDimension: head.featureDimension, hasTarget: target != nil)
        for (name, m) in extra { model.child(name, m) }
        let selection = ValidatorSelection(validator: validator, network: network, sourceFeatures: validX, sourceLabels: validY, targetFeatures: sample)
        var callbacks: [Callback] = methodCallbacks + [selection] + self.callbacks
        if options.progress { callbacks.append(ProgressBar()) }
        let opt = AdamW(parameters: model.namedParameters().map { (name: $0.0, tensor: $0.1) }, learningRate: options.learningRate, weightDecay: 1e-4)
        let steps = options.epochs * ((x.shape[0] + options.batchSize - 1) / options.batchSize)
        opt.setSchedule(OneCycleSchedule(), totalSteps: Swift.max(steps, 1))
        let primary = TensorBatchSource(inputs: x, targets: .classes(y), batchSize: options.batchSize, shuffle: true, seed: options.seed)
        let trainData: BatchSource = target.map { ZippedBatchSource(primary: primary, others: [(name: DomainStreams.target, source: $0)]) } ?? primary
        let validData = validY.isEmpty ? nil : TensorBatchSource(inputs: validX, targets: .classes(validY), batchSize: 256, shuffle: false)
        let learner = Learner(model: model, forward: { network.classify(network.features($0)) }, objective: objective, optimizer: opt,
                              trainData: trainData, validData: validData, callbacks: callbacks)
        learner.phase = target == nil ? "source-only" : options.method.rawValue
        learner.seed = options.seed
        try learner.fit(epochs: options.epochs)
        model.eval()
        return TrainedHead(head: head, scores: selection.scores, chosen: selection.bestEpoch, history: learner.history)
    }

    /// Self-training's strong views of the target inputs at `kept`: features of images through the `strong`
    /// augmentation policy, or of texts through ``TextAugmentation/strong(_:seed:view:deletion:swaps:)``; view `v` is
    /// the same in every run (augmentation seed 0), so its features are computed once and cached.
    func strongViews(_ target: [LabeledInput], kept: [Int], cache: FeatureCache?) throws -> [Tensor] {
        let inputs = kept.map { target[$0] }
        return try (1...options.strongViews).map { view -> Tensor in
            let t0 = Date()
            let progress: ((Int, Int) -> Void)? = options.progress ? { ProgressLine.draw("strong view \(view)", done: $0, total: $1, start: t0) } : nil
            let r: (features: Tensor, kept: [Int], failed: [(String, String)], computed: Int)
            if let image = backbone.encoder as? ImageEncoder {
                let viewCache = cache.map { _ in
                    FeatureCache(root: options.featureCacheRoot, key: backbone.cacheKey + "|strong|seed 0|view \(view)", dimension: backbone.dimension)
                }
                r = backbone.features(inputs, cache: viewCache, batchSize: 32,
                                      augmentation: (image.preprocessing.trainingPipeline(.strong), 0, view), progress: progress)
            } else {
                let texts = inputs.map { input -> LabeledInput in
                    guard case .text(let t, let s) = input else { return input }
                    return .text(TextAugmentation.strong(t, seed: 0, view: view), source: s)
                }
                r = backbone.features(texts, cache: cache, batchSize: 32, progress: progress)
            }
            guard r.kept.count == inputs.count else {
                throw TrainError.nothingToTrain("\(inputs.count - r.kept.count) target inputs could not be augmented (strong view \(view)): "
                                                + (r.failed.first.map { "\($0.0): \($0.1)" } ?? ""))
            }
            return r.features
        }
    }
}
