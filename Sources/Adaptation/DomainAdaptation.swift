import Datasets
import Foundation
import Layers
import Optimizers
import Tensors
import TransferKit

/// Unsupervised domain adaptation as a library call: labelled source data, unlabelled target inputs, one
/// ``AdaptationMethod``; returns the source-only model and the adapted one (both ordinary ``TransferKit/TransferModel``s
/// that predict, evaluate and save as bundles), each evaluated on labelled target test data when given (used for
/// evaluation only), the ``Validator``'s scores and choice, and PCA maps of the features before and after.
///
/// The backbone's weights stay frozen: its pooled features are computed once and cached; the methods train an MLP
/// head (its hidden layer is the aligned representation, TLlib's bottleneck) on them. AdaBN changes the backbone's
/// BatchNorm statistics: the head learns on source features under the source's statistics, and the adapted model
/// normalises with the target's (its bundle stores the backbone). Every head is trained by a
/// ``TransferKit/Learner`` with a ``TransferKit/TrainingObjective`` over a ``TransferKit/ZippedBatchSource`` of source and
/// target batches; the reversal schedule and the model selection are callbacks.
public struct DomainAdaptation {
    public let backbone: FeatureBackbone
    public var options: AdaptationOptions
    /// A trained source model (a bundle on this backbone) to start from: it is the source-only model.
    public var sourceModel: TransferModel?
    /// Added to the learner of every head this run trains (e.g. MPIDistributed's `DataParallel`, which joins the
    /// ranks of an `mpirun` job into one data-parallel training).
    public var callbacks: [Callback] = []

    public init(backbone: FeatureBackbone, options: AdaptationOptions, sourceModel: TransferModel? = nil) {
        self.backbone = backbone; self.options = options; self.sourceModel = sourceModel
    }

    /// What a run produced.
    public struct Outcome {
        public var method: AdaptationMethod
        /// The source-only model, evaluated before any adaptation. After AdaBN it shares the backbone object, whose
        /// BatchNorm statistics are then the target's: use ``adapted`` (or a fresh backbone) from there on.
        public var sourceOnly: TransferModel
        public var adapted: TransferModel
        /// Metrics on the target test data (when given).
        public var sourceOnlyTest: MetricsReport?
        public var adaptedTest: MetricsReport?
        /// A head trained on labelled target data (the `oracle` of ``run(source:target:test:oracle:)``), on the test data.
        public var oracleTest: MetricsReport?
        public var validator: Validator
        /// The validator's score of every epoch of the adapted training (one entry for AdaBN and a given source model).
        public var validatorScores: [Double]
        /// The epoch (0-based) whose weights were kept, when there were epochs to choose from.
        public var chosenEpoch: Int?
        /// The validator's score of the source-only model and of the adapted one.
        public var sourceOnlyScore: Double
        public var adaptedScore: Double
        public var history: [EpochRecord]
        /// PCA maps of the features the classifier reads: source-only model (before) and adapted (after).
        public var before: FeatureMap
        public var after: FeatureMap
        public var skipped: [(path: String, reason: String)]
        public var seconds: Double

        /// True when target test metrics exist and the adapted model's accuracy is below the source-only one's.
        public var lostToSourceOnly: Bool {
            guard case .classification(let a)? = adaptedTest, case .classification(let s)? = sourceOnlyTest else { return false }
            return a.accuracy < s.accuracy
        }
    }

    /// Whether the backbone's features are read through the feature cache (a pretrained backbone, or a source model
    /// trained with the `features` strategy).
    public var readsFeatureCache: Bool { sourceModel.map { $0.strategy == .features } ?? true }

    /// Rows of cached features with their input positions.
    struct Rows {
        var x: Tensor
        var kept: [Int]
    }

    /// Runs ``options``'s method. `source` must be classification data with the same classes as `test`. With
    /// `oracle` (labelled target-domain training data) the outcome also holds a target-trained oracle: the same head,
    /// trained the same way on the oracle's features and labels, evaluated on `test`.
    public func run(source: LabeledData, target: [LabeledInput], test: LabeledData?, oracle: LabeledData? = nil) throws -> Outcome {
        let start = Date()
        try options.validate()
        guard source.task == .classification else { throw TrainError.unsupportedTask("domain adaptation needs classification data") }
        guard !target.isEmpty else { throw TrainError.nothingToTrain("no target inputs") }
        if options.method == .adabn && !backbone.takesImages {
            throw TrainError.unsupportedTask("AdaBN re-estimates BatchNorm statistics; \(backbone.spec.name) has no BatchNorm layers (use coral, dann or self-training)")
        }
        let (train, valid) = try source.split(validation: options.validationFraction, seed: options.seed)
        var skipped: [(path: String, reason: String)] = []
        let cache = readsFeatureCache ? backbone.featureCache(root: options.featureCacheRoot) : nil
        func features(_ inputs: [LabeledInput], _ label: String, cached: Bool = true) -> Rows {
            let t0 = Date()
            let r = backbone.features(inputs, cache: cached ? cache : nil, batchSize: 32,
                                      progress: options.progress ? { ProgressLine.draw(label, done: $0, total: $1, start: t0) } : nil)
            skipped += r.failed.map { (path: $0.0, reason: $0.1) }
            return Rows(x: r.features, kept: r.kept)
        }
        let fs = features(train.inputs, "source features"), fv = features(valid.inputs, "validation features")
        let ft = features(target, "target features")
        guard !fs.kept.isEmpty, ft.kept.count > 1 else { throw TrainError.nothingToTrain("no readable source or target inputs") }
        let ys = fs.kept.map { train.labels[$0] }, yv = fv.kept.map { valid.labels[$0] }
        let sampleRows = Self.sampleRows(ft.x.shape[0], count: options.validatorSample, seed: options.seed)
        let sample = ft.x.indexSelect(axis: 0, indices: sampleRows)

        // Source-only: the given model, or a head trained on the source features alone.
        let sourceHead = try sourceModel?.head ?? trainHead(x: fs.x, y: ys, classes: source.classNames.count, validX: fv.x, validY: yv, target: nil, sample: sample,
                                                                      validator: .sourceAccuracy).head
        let sourceOnly = sourceModel ?? makeModel(head: sourceHead, classNames: source.classNames, strategy: .features, cache: cache)
        let sourceNet = AdaptationNetwork(head: sourceHead)
        let sourceOnlyTest = try test.map { try sourceOnly.evaluate($0).metrics }
        // The oracle first: AdaBN below changes the backbone.
        var oracleTest: MetricsReport?
        if let oracle, let test {
            let (ot, ov) = try oracle.split(validation: options.validationFraction, seed: options.seed)
            let fo = features(ot.inputs, "oracle features"), fov = features(ov.inputs, "oracle validation features")
            let r = try trainHead(x: fo.x, y: fo.kept.map { ot.labels[$0] }, classes: source.classNames.count, validX: fov.x,
                                  validY: fov.kept.map { ov.labels[$0] }, target: nil, sample: sample, validator: .sourceAccuracy)
            oracleTest = try makeModel(head: r.head, classNames: source.classNames, strategy: .features, cache: cache).evaluate(test).metrics
        }
        let selection = ValidatorSelection(validator: options.validator, network: sourceNet, sourceFeatures: fv.x, sourceLabels: yv, targetFeatures: sample)
        let sourceOnlyScore = selection.currentScore(model: sourceHead)
        let mapSource = fs.x.indexSelect(axis: 0, indices: Self.sampleRows(fs.x.shape[0], count: options.validatorSample / 2, seed: options.seed &+ 7))
        let before = withNoGrad { FeatureMap(source: sourceNet.features(.tensor(mapSource)), target: sourceNet.features(.tensor(sample))) }

        var adapted: TransferModel, scores: [Double], chosen: Int?, history: [EpochRecord] = [], after: FeatureMap
        switch options.method {
        case .adabn:
            // Li et al.: each domain normalised by its own statistics. The head learns on source features under the
            // source's statistics; the backbone then takes the target's.
            let sourceInputs = fs.kept.map { train.inputs[$0] }, validInputs = fv.kept.map { valid.inputs[$0] }
            AdaBN.adapt(backbone, inputs: Self.sampleRows(sourceInputs.count, count: options.adabnSamples, seed: options.seed).map { sourceInputs[$0] },
                        batchSize: options.batchSize)
            let fsA = features(sourceInputs, "source features (source statistics)", cached: false)
            let fvA = features(validInputs, "validation features (source statistics)", cached: false)
            guard fsA.kept.count == fs.kept.count, fvA.kept.count == fv.kept.count else {
                throw TrainError.nothingToTrain("source inputs that were readable before AdaBN could not be read again")
            }
            let r = try trainHead(x: fsA.x, y: ys, classes: source.classNames.count, validX: fvA.x, validY: yv, target: nil, sample: sample,
                                  validator: .sourceAccuracy)
            AdaBN.adapt(backbone, inputs: Self.sampleRows(ft.kept.count, count: options.adabnSamples, seed: options.seed).map { target[ft.kept[$0]] },
                        batchSize: options.batchSize)
            adapted = makeModel(head: r.head, classNames: source.classNames, strategy: .fineTune, cache: nil)
            let adaptedTarget = features(sampleRows.map { target[ft.kept[$0]] }, "adapted target features", cached: false).x
            let net = AdaptationNetwork(head: r.head)
            let s = ValidatorSelection(validator: options.validator, network: net, sourceFeatures: fvA.x, sourceLabels: yv, targetFeatures: adaptedTarget)
            scores = [s.currentScore(model: r.head)]
            history = r.history
            let mapRows = Self.sampleRows(fsA.x.shape[0], count: options.validatorSample / 2, seed: options.seed &+ 7)
            after = withNoGrad { FeatureMap(source: net.features(.tensor(fsA.x.indexSelect(axis: 0, indices: mapRows))), target: net.features(.tensor(adaptedTarget))) }
        case .coral:
            let transform = CORALTransform(source: fs.x, target: ft.x)
            let r = try trainHead(x: transform.apply(fs.x), y: ys, classes: source.classNames.count, validX: transform.apply(fv.x), validY: yv, target: nil,
                                  sample: sample, validator: options.validator)
            adapted = makeModel(head: r.head, classNames: source.classNames, strategy: .features, cache: cache)
            (scores, chosen, history) = (r.scores, r.chosen, r.history)
            let net = AdaptationNetwork(head: r.head)
            after = withNoGrad { FeatureMap(source: net.features(.tensor(transform.apply(mapSource))), target: net.features(.tensor(sample))) }
        case .deepCoral, .dann, .mcc, .selfTraining:
            let views = options.method == .selfTraining ? try strongViews(target, kept: ft.kept, cache: cache) : []
            let r = try trainHead(x: fs.x, y: ys, classes: source.classNames.count, validX: fv.x, validY: yv,
                                  target: TargetFeatureSource(weak: ft.x, strongViews: views, batchSize: options.batchSize, seed: options.seed &+ 1),
                                  sample: sample, validator: options.validator,
                                  startingFrom: options.method == .selfTraining && sourceHead.kind == .mlp && sourceHead.hidden == options.hidden
                                      && sourceHead.inputs == fs.x.shape[1] ? sourceHead : nil)
            adapted = makeModel(head: r.head, classNames: source.classNames, strategy: .features, cache: cache)
            (scores, chosen, history) = (r.scores, r.chosen, r.history)
            let net = AdaptationNetwork(head: r.head)
            after = withNoGrad { FeatureMap(source: net.features(.tensor(mapSource)), target: net.features(.tensor(sample))) }
        }
        let adaptedTest = try test.map { try adapted.evaluate($0).metrics }
        return Outcome(method: options.method, sourceOnly: sourceOnly, adapted: adapted, sourceOnlyTest: sourceOnlyTest, adaptedTest: adaptedTest, oracleTest: oracleTest,
                       validator: options.validator, validatorScores: scores, chosenEpoch: chosen, sourceOnlyScore: sourceOnlyScore,
                       adaptedScore: chosen.map { scores[$0] } ?? scores.last ?? .nan, history: history, before: before, after: after,
                       skipped: skipped, seconds: Date().timeIntervalSince(start))
    }

    func makeModel(head: Head, classNames: [String], strategy: Strategy, cache: FeatureCache?) -> TransferModel {
        let m = TransferModel(backbone: backbone, head: head, task: .classification, classNames: classNames, strategy: strategy)
        if strategy == .features { m.featureCache = cache }
        return m
    }

    /// At most `count` of `n` row indices, drawn with the seed, increasing (all rows when there are no more).
    static func sampleRows(_ n: Int, count: Int, seed: UInt64) -> [Int] {
        guard n > count else { return Array(0..<n) }
        var g = SeededGenerator(seed: seed ^ 0x5A5A)
        return Array(g.permutation(n).prefix(count)).sorted()
    }
}
