import Assets
import Datasets
import Foundation
import Tensors
import TransferKit

/// The settings of a distillation: Hinton's temperature and mixing weight, the optional FitNets hint, where teacher
/// outputs are cached, and the student's training recipe (``TransferKit/TrainOptions``: strategy, epochs, rates).
public struct DistillationOptions: Sendable {
    /// Softmax temperature T of the soft targets (RepDistiller's default 4).
    public var temperature: Float = 4
    /// Weight α of the soft-target loss on labelled rows; 1 − α weights cross-entropy (RepDistiller's `-b 0.9`).
    public var alpha: Float = 0.9
    /// Weight of the FitNets hint on pooled features in fine-tuning; nil: no hint.
    public var hintWeight: Float?
    /// Where teacher outputs are cached.
    public var teacherCacheRoot: URL = AssetStore.cacheRoot.appendingPathComponent("teacher-outputs")
    /// The student's recipe; the same one trains the student alone for comparison.
    public var train = TrainOptions()

    public init() {}

    public static let temperatureRange: ClosedRange<Float> = 0.05...100
    public static let hintWeightRange: ClosedRange<Float> = 0...1000

    /// Every setting against its accepted range.
    public func validate() throws(DistillationError) {
        guard temperature.isFinite, Self.temperatureRange.contains(temperature) else {
            throw .option(name: "temperature", value: "\(temperature)", accepted: "in [\(Self.temperatureRange.lowerBound), \(Self.temperatureRange.upperBound)]")
        }
        guard alpha.isFinite, (0...1).contains(alpha) else { throw .option(name: "alpha", value: "\(alpha)", accepted: "in [0, 1]") }
        if let h = hintWeight, !(h.isFinite && Self.hintWeightRange.contains(h)) {
            throw .option(name: "hint weight", value: "\(h)", accepted: "in [0, \(Self.hintWeightRange.upperBound)]")
        }
        do { try train.validate() } catch { throw .option(name: "TrainOptions.\(error.field)", value: error.value, accepted: error.accepted) }
    }
}

/// What a distillation produced.
public struct DistillationResult {
    public var model: TransferModel
    public var history: [EpochRecord]
    /// Labelled and unlabelled training inputs the teacher and student both read.
    public var labelledCount: Int
    public var unlabelledCount: Int
    /// Inputs the teacher ran on (the rest came from its cache).
    public var teacherComputed: Int
    public var skipped: [(path: String, reason: String)]
    public var seconds: Double
}

/// Trains a student backbone + head from a ``Teacher`` on labelled and unlabelled inputs with the Learner of
/// ``TransferKit/TransferTrainer`` and a ``DistillationObjective`` in both phases: the head on cached student features,
/// then (unless the strategy is `features`) fine-tuning of the student's top groups, where the optional FitNets
/// hint also trains. Unlabelled inputs learn from the teacher's soft labels only.
public final class Distiller {
    public let teacher: Teacher
    public let options: DistillationOptions
    /// Added to the student's learners in both phases (e.g. MPIDistributed's `DataParallel`).
    public var callbacks: [Callback] = []

    public init(teacher: Teacher, options: DistillationOptions) throws {
        try options.validate()
        self.teacher = teacher; self.options = options
    }

    /// Distils the teacher into `student` on `labelled` (classes as the teacher's) and `unlabelled` inputs,
    /// validating on `validation`.
    public func distill(student: FeatureBackbone, labelled: LabeledData, unlabelled: [LabeledInput],
                        validation: LabeledData) throws -> DistillationResult {
        let t0 = Date()
        guard labelled.task == .classification, labelled.classNames == teacher.model.classNames else {
            throw DistillationError.data("the labelled data's classes \(labelled.classNames) are not the teacher's \(teacher.model.classNames)")
        }
        let inputs = labelled.inputs + unlabelled
        let start = Date()
        let t = teacher.outputs(inputs, cacheRoot: options.teacherCacheRoot, featureCacheRoot: options.train.featureCacheRoot,
                                batchSize: options.train.batchSize,
                                progress: options.train.progress ? { ProgressLine.draw("teacher", done: $0, total: $1, start: start) } : nil)
        guard !t.kept.isEmpty else { throw DistillationError.data("the teacher could read none of the \(inputs.count) training inputs") }
        let teacherLabels = t.logits.argmax(axis: 1)
        let isLabelled = t.kept.map { $0 < labelled.inputs.count }
        let data = LabeledData(inputs: t.kept.map { inputs[$0] },
                               labels: zip(t.kept, teacherLabels).map { $0 < labelled.inputs.count ? labelled.labels[$0] : $1 },
                               classNames: labelled.classNames)
        let trainer = TransferTrainer(backbone: student, options: options.train)
        trainer.callbacks = callbacks
        let p = try trainer.prepare(data, validation)
        guard p.trainKept.count == data.inputs.count else {
            throw DistillationError.data("the student could not read \(data.inputs.count - p.trainKept.count) input(s) the teacher read")
        }
        let headTeacher = t.logits.indexSelect(axis: 0, indices: p.headRows)
        trainer.objective = { [options] _, _, _ in
            DistillationObjective(teacherLogits: headTeacher, labelled: p.headRows.map { isLabelled[$0] },
                                  temperature: options.temperature, alpha: options.alpha)
        }
        let (head, _, headLearner) = try trainer.makeHead(p, train: data, validation: validation)
        try trainer.fit(headLearner, epochs: options.train.headEpochs)
        var history = headLearner.history
        if options.train.strategy != .features {
            let hint = options.hintWeight.map { w in
                FeatureHint(studentDimension: student.dimension, teacherFeatures: t.features, weight: w, head: head,
                            seed: options.train.seed, studentFeatures: { student.forward($0) })
            }
            if let hint { trainer.callbacks.append(hint.optimizerCallback(learningRate: options.train.learningRate)) }
            trainer.objective = { [options] _, _, _ in
                DistillationObjective(teacherLogits: t.logits, labelled: isLabelled, temperature: options.temperature,
                                      alpha: options.alpha, hint: hint)
            }
            let ft = try trainer.fineTuneLearner(head: head, prepared: p, train: data, validation: validation.subset(p.validKept))
            try trainer.fit(ft, epochs: options.train.fineTuneEpochs)
            student.module.eval()
            history += ft.history
        }
        let model = trainer.finish(head: head, prepared: p, classNames: data.classNames, validation: validation)
        return DistillationResult(model: model, history: history, labelledCount: isLabelled.filter { $0 }.count,
                                  unlabelledCount: isLabelled.filter { !$0 }.count, teacherComputed: t.computed,
                                  skipped: t.failed.map { (path: $0.0, reason: $0.1) } + trainer.skipped,
                                  seconds: Date().timeIntervalSince(t0))
    }

    /// The same recipe without a teacher: ``TransferKit/TransferTrainer/train(_:validation:)`` on the labelled data
    /// alone (what the gain of distillation is measured against), with `callbacks` added to its learners.
    public static func trainAlone(student: FeatureBackbone, labelled: LabeledData, validation: LabeledData,
                                  options: TrainOptions, callbacks: [Callback] = []) throws -> TransferModel {
        let trainer = TransferTrainer(backbone: student, options: options)
        trainer.callbacks = callbacks
        return try trainer.train(labelled, validation: validation).model
    }
}
