import Foundation
import Tensors
import TransferKit

/// A ``TransferKit/HeadSolver`` for the gradient-trained heads (``TransferKit/HeadKind/linear``,
/// ``TransferKit/HeadKind/mlp``): chooses AdamW's weight decay from ``weightDecays`` and the number of epochs (up to
/// ``TransferKit/TrainOptions/headEpochs``) by stratified k-fold cross-validation on the cached training features —
/// for each weight decay, every fold trains a head for the full epochs and records its held-out loss after each
/// epoch; the (weight decay, epoch) with the lowest mean held-out loss wins — then trains the head on all training
/// rows with them (a one-cycle schedule over the chosen epochs). Nothing touches the backbone.
public struct GradientHeadCV: HeadSolver {
    public var weightDecays: [Float] = [1e-4, 1e-3, 1e-2, 1e-1, 1]
    public var folds = 5

    public init() {}

    public func solves(_ kind: HeadKind) -> Bool { kind == .linear || kind == .mlp }

    public func train(_ head: Head, prepared p: PreparedFeatures, labels: [Int], train: LabeledData, validation: LabeledData,
                      trainer: TransferTrainer) throws -> (notes: [String: String], history: [EpochRecord]) {
        let base = trainer.options
        var quiet = base
        quiet.progress = false; quiet.checkpointDirectory = nil; quiet.logDirectory = nil; quiet.earlyStoppingPatience = nil
        let lr = try base.headLearningRate ?? trainer.suggestedHeadLearningRate(p, head: head, train: train, validation: validation)
        var chosen = (decay: base.headWeightDecay, epochs: base.headEpochs), cvFolds = 0
        if base.augmentedViews == 0, let k = StratifiedKFold.folds(preferred: folds, labels: labels) {
            let splits = try StratifiedKFold(folds: k).splits(labels)
            var best = Float.infinity
            for decay in weightDecays {
                var o = quiet
                o.headWeightDecay = decay
                var curve = [Float](repeating: 0, count: base.headEpochs)
                for s in splits {
                    let fp = p.fold(train: s.train, test: s.test)
                    let h = Head(head.kind, inputs: head.inputs, outputs: head.outputs, hidden: head.hidden, seed: base.seed)
                    h.standardize(using: fp.trainX)
                    let learner = TransferTrainer(backbone: trainer.backbone, options: o).headLearner(fp, head: h, train: train, validation: train, learningRate: lr)
                    try learner.fit(epochs: base.headEpochs)
                    for (e, r) in learner.history.enumerated() where e < curve.count { curve[e] += (r.validLoss ?? .infinity) / Float(splits.count) }
                }
                for (e, loss) in curve.enumerated() where loss < best { best = loss; chosen = (decay, e + 1) }
            }
            cvFolds = k
        }
        var o = base
        o.headWeightDecay = chosen.decay; o.headEpochs = chosen.epochs
        let final = TransferTrainer(backbone: trainer.backbone, options: o)
        let learner = final.headLearner(p, head: head, train: train, validation: validation, learningRate: lr)
        try final.fit(learner, epochs: chosen.epochs)
        return (["head_cv_weight_decay": String(chosen.decay), "head_cv_epochs": String(chosen.epochs), "head_cv_folds": String(cvFolds),
                 "head_lr": String(lr)], learner.history)
    }
}
