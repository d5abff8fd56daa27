import Foundation
import Layers
import Tensors
import TransferKit

/// One linear head per task on shared features (each a core ``TransferKit/Head`` with its own input
/// standardisation, under the task's name: `class.0.weight`), plus `log_var`, the learned `log σₜ²` of
/// ``LossWeighting/uncertainty``.
public final class MultiTaskHeads: Module {
    public let tasks: [TaskHead]
    public let heads: [Head]
    /// `sₜ = log σₜ²` per task (uncertainty weighting), else nil.
    public let logVariance: Tensor?

    public init(tasks: [TaskHead], inputs: Int, weighting: LossWeighting, seed: UInt64 = 0) {
        self.tasks = tasks
        heads = tasks.enumerated().map { Head(.linear, inputs: inputs, outputs: $1.outputs, seed: seed &+ UInt64($0)) }
        logVariance = weighting == .uncertainty ? Tensor.zeros([tasks.count]) : nil
        super.init()
        for (t, h) in zip(tasks, heads) { child(t.spec.name, h) }
        if let logVariance { parameter("log_var", logVariance) }
    }

    /// Standardises every head's inputs with the training features (``TransferKit/Head/standardize(using:)``).
    public func standardize(using features: Tensor) { for h in heads { h.standardize(using: features) } }

    /// Each task's outputs (logits or standardised values), in task order.
    public func callAsFunction(_ features: Tensor) -> [Tensor] { heads.map { $0(features) } }
}

/// A ``TransferKit/TrainingObjective`` over several tasks: the heads run on the features the learner's forward pass
/// returns (named outputs `task.<name>`; the primary output is their concatenation), each task's loss is computed on
/// the samples labelled for it only (masked: a missing label adds neither loss nor gradient), and the losses are
/// combined per ``LossWeighting``.
///
/// Targets are ``TransferKit/Targets/values(_:)`` holding ``MultiTaskData/targetMatrix(_:rows:)`` (NaN = missing).
public final class MultiTaskObjective: TrainingObjective {
    public let heads: MultiTaskHeads
    public let weighting: LossWeighting
    /// DWA's temperature τ.
    public let temperature: Float = 2
    /// The last batch's loss of each task (nil: no labelled sample in it).
    public private(set) var taskLosses: [Float?] = []
    /// Each finished training epoch's mean loss per task.
    public internal(set) var epochLosses: [[Float]] = []
    private var sums: [Double], counts: [Int]
    private var training = false

    public init(heads: MultiTaskHeads, weighting: LossWeighting) {
        self.heads = heads; self.weighting = weighting
        sums = Array(repeating: 0, count: heads.tasks.count)
        counts = Array(repeating: 0, count: heads.tasks.count)
    }

    public func outputs(_ batch: Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs {
        self.training = training
        let outs = heads(forward(batch.inputs))
        var named: [String: Tensor] = [:]
        for (t, o) in zip(heads.tasks, outs) { named["task." + t.spec.name] = o }
        return Outputs(Tensor.concat(outs, axis: 1), extra: named)
    }

    /// Task `t`'s loss on the rows of `targets` labelled for it, or nil when none is.
    public func maskedLoss(task t: Int, output: Tensor, targets: Tensor) -> Tensor? {
        let width = targets.shape[1], values = targets.toArray()
        let offset = heads.tasks[..<t].reduce(0) { $0 + $1.columns }, head = heads.tasks[t]
        let rows = (0..<targets.shape[0]).filter { !values[$0 * width + offset].isNaN }
        guard !rows.isEmpty else { return nil }
        let out = rows.count == targets.shape[0] ? output : output.indexSelect(axis: 0, indices: rows)
        func columns() -> Tensor {
            Tensor(shape: [rows.count, head.columns], data: rows.flatMap { r in (0..<head.columns).map { values[r * width + offset + $0] } })
        }
        switch head.spec.kind {
        case .classification: return Tensor.crossEntropy(logits: out, targets: rows.map { Int(values[$0 * width + offset]) })
        case .multilabel: return Tensor.binaryCrossEntropyWithLogits(logits: out, targets: columns())
        case .regression: return Tensor.mseLoss(out, columns())
        }
    }

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor {
        guard case .values(let targets) = batch.targets else { preconditionFailure("MultiTaskObjective: the batch holds no target matrix") }
        let losses = heads.tasks.indices.map { t in
            outputs["task." + heads.tasks[t].spec.name].flatMap { maskedLoss(task: t, output: $0, targets: targets) }
        }
        taskLosses = losses.map { l in l.map { t in withNoGrad { t.item() } } }
        if training {
            for (t, l) in taskLosses.enumerated() { if let l { sums[t] += Double(l); counts[t] += 1 } }
        }
        let weights = currentWeights()
        var total: Tensor?
        for (t, l) in losses.enumerated() {
            guard let l else { continue }
            let term: Tensor
            if let s = heads.logVariance?.sliced(axis: 0, start: t, end: t + 1) {
                term = (l * (s * -1).exp() * 0.5 + s * 0.5).sum()
            } else {
                term = l * weights[t]
            }
            total = total.map { $0 + term } ?? term
        }
        return total ?? (outputs.primary.sum() * 0)
    }

    /// The weights of ``LossWeighting/fixed`` (each task's) and ``LossWeighting/dwa`` (from the last two epochs); 1
    /// for ``LossWeighting/uncertainty``, whose weighting is learned.
    public func currentWeights() -> [Float] {
        let n = heads.tasks.count
        switch weighting {
        case .fixed: return heads.tasks.map { $0.spec.weight ?? 1 }
        case .uncertainty: return Array(repeating: 1, count: n)
        case .dwa:
            guard epochLosses.count >= 2 else { return Array(repeating: 1, count: n) }
            let last = epochLosses[epochLosses.count - 1], before = epochLosses[epochLosses.count - 2]
            let r = (0..<n).map { before[$0] > 0 ? last[$0] / before[$0] : 1 }
            let e = r.map { Foundation.exp(Double($0 / temperature)) }
            let z = e.reduce(0, +)
            return e.map { Float(Double(n) * $0 / z) }
        }
    }

    /// Closes a training epoch: records each task's mean loss (DWA's input).
    public func endEpoch() {
        guard counts.contains(where: { $0 > 0 }) else { return }
        epochLosses.append((0..<sums.count).map { counts[$0] > 0 ? Float(sums[$0] / Double(counts[$0])) : 0 })
        sums = Array(repeating: 0, count: sums.count)
        counts = Array(repeating: 0, count: counts.count)
    }

    /// The callback that calls ``endEpoch()`` after each training epoch (add it to the learner).
    public var epochCallback: Callback { EpochEnd(self) }

    private final class EpochEnd: Callback {
        let objective: MultiTaskObjective
        init(_ o: MultiTaskObjective) { objective = o }
        override func on(_ event: LearnerEvent, learner: Learner) throws {
            if case .afterTrain = event { objective.endEpoch() }
        }
    }

    /// The mean over tasks of each task's score on its labelled rows: accuracy, micro-F1 at 0.5, or −MAE in
    /// standard deviations (higher is better).
    public func metric(_ outputs: Tensor, targets: Targets) -> Float {
        guard case .values(let m) = targets else { return .nan }
        let scores = MultiTaskScores.compute(outputs: outputs, targets: m, tasks: heads.tasks)
        let finite = scores.map(\.score).filter(\.isFinite)
        return finite.isEmpty ? .nan : finite.reduce(0, +) / Float(finite.count)
    }
}
