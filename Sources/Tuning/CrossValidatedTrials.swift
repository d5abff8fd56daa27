import HeadFitting
import Tensors
import TransferKit

/// Head trials scored by stratified k-fold cross-validation on the training rows, for a search with no validation
/// split (`transfer tune --val-split 0`, the default of the head space): every labelled example trains the final
/// bundle, as `transfer train`'s cross-validated logistic head does, instead of 10% of a small set being held out
/// to score trials. Each fold trains a fresh head on the other folds' cached features and scores its own rows; the
/// trial's value is the mean over folds, and the running mean is reported after every fold so the pruner can stop a
/// weak trial early (Optuna's pattern for pruning cross-validated objectives: one step per fold).
extension TransferTuner {
    /// The folds of `labels` grouped by `groups` (an input and its augmented views share a fold), or a typed error
    /// when a class has fewer than 2 inputs.
    func crossValidationSplits(labels: [Int], groups: [Int]) throws -> [(train: [Int], test: [Int])] {
        var seen = Set<Int>(), groupLabels: [Int] = []
        for (i, g) in groups.enumerated() where seen.insert(g).inserted { groupLabels.append(labels[i]) }
        guard let k = StratifiedKFold.folds(preferred: options.folds, labels: groupLabels) else {
            throw TuningError.invalidOption(name: "--data", value: "a class with fewer than 2 examples",
                                            accepted: "at least 2 examples per class for cross-validated trials (or a --val-split > 0)")
        }
        return try StratifiedKFold(folds: k).splits(labels, groups: groups)
    }

    /// A head trial scored by cross-validation over `splits` of the prepared training rows.
    func crossValidatedHeadTrial(_ config: TrialConfiguration, trial: TrialHandle, prepared p: PreparedFeatures, labels: [Int],
                                 splits: [(train: [Int], test: [Int])], train: LabeledData) throws -> Double {
        let o = config.options
        var scores: [Double] = []
        for (f, s) in splits.enumerated() {
            let fold = p.fold(train: s.train, test: s.test)
            let head = Head(o.head, inputs: backbone.dimension, outputs: p.outputs, seed: o.seed)
            head.standardize(using: fold.trainX)
            if o.head == .logistic {
                let x = FeatureMatrix(head.standardized(fold.trainX))
                LogisticRegression(c: config.logisticC ?? 1).fit(x, s.train.map { labels[$0] }, classes: p.outputs).assign(to: head)
            } else {
                let learner = TransferTrainer(backbone: backbone, options: o)
                    .headLearner(fold, head: head, train: train, validation: train, learningRate: o.headLearningRate ?? 1e-3)
                try learner.fit(epochs: o.headEpochs)
            }
            head.eval()
            scores.append(withNoGrad { score(head(fold.validX), s.test.map { labels[$0] }, classes: p.outputs) })
            if f + 1 < splits.count {
                trial.report(scores.reduce(0, +) / Double(scores.count), step: f + 1)
                if trial.shouldPrune() { throw TrialPruned() }
            }
        }
        return scores.reduce(0, +) / Double(scores.count)
    }
}
