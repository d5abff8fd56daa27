import Foundation
import Tensors
import TransferKit

/// The ``TransferKit/HeadSolver`` of ``TransferKit/HeadKind/logistic``: the head's linear layer becomes the
/// multinomial logistic regression that ``LogisticRegressionCV`` fits on the standardised training features (its
/// L2 strength C chosen by stratified k-fold cross-validation over `logspace(-4, 4, 10)`), all in one full-batch
/// L-BFGS solve per candidate, with no learning rate or epochs to choose.
public struct LogisticHeadSolver: HeadSolver {
    public var cv = LogisticRegressionCV()
    /// A fixed C instead of cross-validation (nil: cross-validate).
    public var c: Double?
    /// Where to leave the out-of-fold logits of the training rows at the chosen C (for calibration without a
    /// validation split); nil: not computed.
    public var heldOut: HeldOutLogits?

    public init(c: Double? = nil, heldOut: HeldOutLogits? = nil) {
        self.c = c; self.heldOut = heldOut
        cv.selection = .oneStandardError
    }

    public func solves(_ kind: HeadKind) -> Bool { kind == .logistic }

    public func train(_ head: Head, prepared p: PreparedFeatures, labels: [Int], train: LabeledData, validation: LabeledData,
                      trainer: TransferTrainer) throws -> (notes: [String: String], history: [EpochRecord]) {
        let x = FeatureMatrix(head.standardized(p.trainX))
        let model: LogisticRegression.Model, chosen: Double, folds: Int
        if let c {
            model = LogisticRegression(c: c, maxIterations: cv.maxIterations, tolerance: cv.tolerance).fit(x, labels, classes: p.outputs)
            chosen = c; folds = 0
        } else {
            let r = try cv.fit(x, labels, classes: p.outputs, groups: p.headRows)
            model = r.model; chosen = r.c; folds = r.folds
        }
        model.assign(to: head)
        if let heldOut, let k = StratifiedKFold.folds(preferred: cv.folds, labels: cv.groupLabels(labels, p.headRows)) {
            heldOut.set(outOfFold(x, labels, groups: p.headRows, classes: p.outputs, c: chosen, folds: k), labels: labels, classes: p.outputs)
        }
        return (["logistic_c": String(chosen), "logistic_cv_folds": String(folds), "logistic_iterations": String(model.iterations),
                 "logistic_converged": String(model.converged)], [])
    }
}

extension LogisticHeadSolver {
    /// Logits of every row from the fold model that did not see it (stratified k-fold over `groups`, C fixed).
    func outOfFold(_ x: FeatureMatrix, _ y: [Int], groups: [Int], classes: Int, c: Double, folds: Int) -> [Double] {
        var logits = [Double](repeating: 0, count: x.rows * classes)
        guard let splits = try? StratifiedKFold(folds: folds).splits(y, groups: groups) else { return logits }
        for s in splits {
            let m = LogisticRegression(c: c, maxIterations: cv.maxIterations, tolerance: cv.tolerance).fit(x.rows(s.train), s.train.map { y[$0] }, classes: classes)
            let z = m.decision(x.rows(s.test))
            for (j, i) in s.test.enumerated() { for c in 0..<classes { logits[i * classes + c] = z[j * classes + c] } }
        }
        return logits
    }
}

/// Held-out logits of the training rows (the logistic head's out-of-fold predictions at its chosen C), shared by a
/// ``LogisticHeadSolver`` that fills them and a ``TemperatureCalibrator`` that fits T on them when a run has no
/// validation split.
public final class HeldOutLogits: @unchecked Sendable {
    public private(set) var logits: [Double] = []
    public private(set) var labels: [Int] = []
    public private(set) var classes = 0
    private let lock = NSLock()

    public init() {}

    func set(_ logits: [Double], labels: [Int], classes: Int) {
        lock.lock(); defer { lock.unlock() }
        self.logits = logits; self.labels = labels; self.classes = classes
    }
}

extension LogisticRegression.Model {
    /// Writes the coefficients and intercepts into `head`'s ``TransferKit/Head/outputLayer`` (a linear or logistic
    /// head, whose output layer reads the standardised features).
    public func assign(to head: Head) {
        precondition(head.outputLayer.weight.shape == [classes, columns], "assign: head output layer \(head.outputLayer.weight.shape), model \([classes, columns])")
        withNoGrad {
            head.outputLayer.weight.assign(Tensor(shape: [classes, columns], data: coefficients.map { Float($0) }))
            head.outputLayer.bias?.assign(Tensor(shape: [classes], data: intercepts.map { Float($0) }))
        }
    }
}

extension FeatureMatrix {
    /// The rows of a rank-2 tensor, in double precision.
    public init(_ t: Tensor) {
        precondition(t.rank == 2, "FeatureMatrix: tensor of shape \(t.shape)")
        self.init(values: t.toArray().map { Double($0) }, rows: t.shape[0], columns: t.shape[1])
    }
}

/// The ``TransferKit/ModelCalibrator`` of temperature scaling: T fitted on the validation split's logits
/// (``TemperatureScaling``) and folded into the head's output layer (``TransferKit/Head/divideLogits(by:)``), so the
/// bundle applies it at predict time.
public struct TemperatureCalibrator: ModelCalibrator {
    /// Out-of-fold logits to fit T on when the run has no validation split (nil: no calibration then).
    public var heldOut: HeldOutLogits?

    public init(heldOut: HeldOutLogits? = nil) { self.heldOut = heldOut }

    public func calibrate(_ model: TransferModel, validation: LabeledData) throws -> [String: Double] {
        let k = model.head.outputs
        let logits: [Double], labels: [Int], source: String
        if !validation.inputs.isEmpty {
            let (probs, kept, _) = model.predict(validation.inputs)
            guard !kept.isEmpty, probs.rank == 2, probs.shape[1] == k else { return [:] }
            logits = probs.toArray().map { log(Swift.max(Double($0), 1e-30)) }
            labels = kept.map { validation.labels[$0] }
            source = "validation"
        } else if let heldOut, heldOut.classes == k, !heldOut.labels.isEmpty {
            (logits, labels, source) = (heldOut.logits, heldOut.labels, "out_of_fold")
        } else {
            return [:]
        }
        let fit = TemperatureScaling().fit(logits: logits, labels: labels, classes: k)
        if fit.temperature != 1 { model.head.divideLogits(by: Float(fit.temperature)) }
        let before = softmaxRows(logits, classes: k), after = softmaxRows(logits.map { $0 / fit.temperature }, classes: k)
        return ["temperature": fit.temperature, "\(source)_nll_before": fit.nllBefore, "\(source)_nll_after": fit.nllAfter,
                "\(source)_ece_before": expectedCalibrationError(probabilities: before, labels: labels, classes: k),
                "\(source)_ece_after": expectedCalibrationError(probabilities: after, labels: labels, classes: k)]
    }
}

/// The solvers of this module as one ``TransferKit/HeadSolver``: ``LogisticHeadSolver`` for the logistic head and,
/// when `crossValidateGradientHeads`, ``GradientHeadCV`` for the linear and MLP heads (else the trainer's own
/// learner trains those).
public struct RegularisedHeads: HeadSolver {
    public var logistic: LogisticHeadSolver
    public var gradient: GradientHeadCV?

    public init(logisticC: Double? = nil, crossValidateGradientHeads: Bool = false, heldOut: HeldOutLogits? = nil) {
        logistic = LogisticHeadSolver(c: logisticC, heldOut: heldOut)
        gradient = crossValidateGradientHeads ? GradientHeadCV() : nil
    }

    public func solves(_ kind: HeadKind) -> Bool { logistic.solves(kind) || (gradient?.solves(kind) ?? false) }

    public func train(_ head: Head, prepared: PreparedFeatures, labels: [Int], train: LabeledData, validation: LabeledData,
                      trainer: TransferTrainer) throws -> (notes: [String: String], history: [EpochRecord]) {
        if logistic.solves(head.kind) {
            return try logistic.train(head, prepared: prepared, labels: labels, train: train, validation: validation, trainer: trainer)
        }
        guard let gradient else { throw HeadFittingError.unsupported("no solver for the \(head.kind.rawValue) head") }
        return try gradient.train(head, prepared: prepared, labels: labels, train: train, validation: validation, trainer: trainer)
    }
}
