import Layers
import Tensors
import TransferKit

/// Shared by the adaptation objectives: source cross-entropy on the primary output, and the target stream's
/// features when the batch carries one.
protocol DomainObjective: TrainingObjective {
    var network: AdaptationNetwork { get }
}

extension DomainObjective {
    /// Source logits, plus `features` (source) and, in training with a target stream, `target_features` and
    /// `target_output`.
    func domainOutputs(_ batch: Batch, training: Bool) -> Outputs {
        let hs = network.features(batch.inputs)
        var out = Outputs(network.classify(hs), extra: ["features": hs])
        if training, let t = batch.streams[DomainStreams.target] {
            let ht = network.features(t.inputs)
            out["target_features"] = ht
            out["target_output"] = network.classify(ht)
        }
        return out
    }

    func sourceLoss(_ outputs: Outputs, _ batch: Batch) -> Tensor {
        guard case .classes(let c) = batch.targets else { preconditionFailure("domain adaptation objectives need class targets") }
        return Tensor.crossEntropy(logits: outputs.primary, targets: c)
    }
}

/// Deep CORAL (Sun & Saenko 2016): source cross-entropy + `tradeoff` · ``CORAL/loss(source:target:)`` between the
/// source and target batches' features.
public final class DeepCORALObjective: DomainObjective {
    public let network: AdaptationNetwork
    public let tradeoff: Float
    public init(network: AdaptationNetwork, tradeoff: Float = 1) { self.network = network; self.tradeoff = tradeoff }

    public func outputs(_ batch: Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs { domainOutputs(batch, training: training) }

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor {
        let ce = sourceLoss(outputs, batch)
        guard let hs = outputs["features"], let ht = outputs["target_features"], hs.shape[0] > 1, ht.shape[0] > 1 else { return ce }
        return ce + CORAL.loss(source: hs, target: ht) * tradeoff
    }
}

/// A domain classifier on features (TLlib `DomainDiscriminator` without BatchNorm): Linear → ReLU → Linear → ReLU →
/// Linear(1), logits of "this row is from the source domain".
public final class DomainDiscriminator: Module, UnaryLayer {
    let body: Sequential
    public init(inputs: Int, hidden: Int = 256, seed: UInt64 = 0) {
        Initializer.seed(seed ^ 0xD15C)
        body = Sequential(Linear(inputs, hidden), Activation(.relu), Linear(hidden, hidden), Activation(.relu), Linear(hidden, 1))
        super.init()
        child("body", body)
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { body(x) }
}

/// DANN (Ganin & Lempitsky 2015; TLlib `DomainAdversarialLoss`): source cross-entropy + `tradeoff` ·
/// ½ (BCE(D(R(f_s)), 1) + BCE(D(R(f_t)), 0)), where R is the ``GradientReversal`` layer whose coefficient a
/// ``GradientReversalSchedule`` callback raises along ``GaninSchedule``.
public final class DANNObjective: DomainObjective {
    public let network: AdaptationNetwork
    public let discriminator: DomainDiscriminator
    public let reversal: GradientReversal
    public let tradeoff: Float

    public init(network: AdaptationNetwork, discriminator: DomainDiscriminator, reversal: GradientReversal = GradientReversal(coefficient: 0),
                tradeoff: Float = 1) {
        self.network = network; self.discriminator = discriminator; self.reversal = reversal; self.tradeoff = tradeoff
    }

    public func outputs(_ batch: Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs { domainOutputs(batch, training: training) }

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor {
        let ce = sourceLoss(outputs, batch)
        guard let hs = outputs["features"], let ht = outputs["target_features"] else { return ce }
        let ds = discriminator(reversal(hs)), dt = discriminator(reversal(ht))
        let adv = (Tensor.binaryCrossEntropyWithLogits(logits: ds, targets: .ones(ds.shape))
            + Tensor.binaryCrossEntropyWithLogits(logits: dt, targets: .zeros(dt.shape))) * 0.5
        return ce + adv * tradeoff
    }
}

/// MCC (Jin et al. 2020): source cross-entropy + `tradeoff` · ``MinimumClassConfusion/loss(logits:temperature:)`` of
/// the target batch's logits.
public final class MCCObjective: DomainObjective {
    public let network: AdaptationNetwork
    public let tradeoff: Float
    public let temperature: Float
    public init(network: AdaptationNetwork, tradeoff: Float = 1, temperature: Float = MinimumClassConfusion.defaultTemperature) {
        self.network = network; self.tradeoff = tradeoff; self.temperature = temperature
    }

    public func outputs(_ batch: Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs { domainOutputs(batch, training: training) }

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor {
        let ce = sourceLoss(outputs, batch)
        guard let lt = outputs["target_output"] else { return ce }
        return ce + MinimumClassConfusion.loss(logits: lt, temperature: temperature) * tradeoff
    }
}

/// FixMatch-style self-training (Sohn et al. 2020) across domains: the target stream's weakly augmented inputs give
/// pseudo-labels (argmax, not differentiated) where the top probability reaches `threshold`; the loss adds
/// `tradeoff` · cross-entropy of the *strongly* augmented view (the target batch's tensor ``DomainStreams/strongView``,
/// or its inputs again when absent) against them, averaged over the whole target batch.
///
/// With `alignsDistribution` (the default) the weak predictions are first divided by the running mean target
/// prediction and renormalised (distribution alignment, Berthelot et al. 2020 "ReMixMatch", towards a uniform class
/// prior): a source model that is confidently wrong on the target tends to pseudo-label everything as one class, and
/// self-training then collapses onto it; alignment counters that drift.
public final class SelfTrainingObjective: DomainObjective {
    public let network: AdaptationNetwork
    public let threshold: Float
    public let tradeoff: Float
    public let alignsDistribution: Bool
    /// Fraction of target rows that passed the threshold in the last training batch.
    public private(set) var lastMaskRate: Float = 0
    /// The running mean of the weak target predictions (momentum 0.99), for distribution alignment.
    public private(set) var meanPrediction: [Float]?

    public init(network: AdaptationNetwork, threshold: Float = 0.9, tradeoff: Float = 1, alignsDistribution: Bool = true) {
        precondition(threshold > 0 && threshold <= 1, "SelfTrainingObjective: threshold \(threshold) outside (0, 1]")
        self.network = network; self.threshold = threshold; self.tradeoff = tradeoff; self.alignsDistribution = alignsDistribution
    }

    /// Weak predictions divided by the running mean prediction (updated with this batch) and renormalised.
    func aligned(_ probabilities: Tensor) -> Tensor {
        let n = probabilities.shape[0], c = probabilities.shape[1]
        var p = probabilities.toArray()
        var batchMean = [Float](repeating: 0, count: c)
        for r in 0..<n { for k in 0..<c { batchMean[k] += p[r * c + k] / Float(n) } }
        let mean = meanPrediction.map { old in zip(old, batchMean).map { 0.99 * $0 + 0.01 * $1 } } ?? batchMean
        meanPrediction = mean
        for r in 0..<n {
            var z: Float = 0
            for k in 0..<c { p[r * c + k] /= Swift.max(mean[k], 1e-6); z += p[r * c + k] }
            for k in 0..<c { p[r * c + k] /= Swift.max(z, 1e-12) }
        }
        return Tensor(shape: [n, c], data: p)
    }

    public func outputs(_ batch: Batch, forward: (BatchInputs) -> Tensor, training: Bool) -> Outputs {
        var out = Outputs(network.classify(network.features(batch.inputs)))
        guard training, let t = batch.streams[DomainStreams.target] else { return out }
        let raw = withNoGrad { network.classify(network.features(t.inputs)).softmax(axis: 1) }
        let weak = alignsDistribution ? aligned(raw) : raw
        let strongInputs = t.tensors[DomainStreams.strongView].map { BatchInputs.tensor($0) } ?? t.inputs
        out["target_output"] = network.classify(network.features(strongInputs))
        out["pseudo_targets"] = Self.pseudoTargets(weak, threshold: threshold)
        return out
    }

    /// One-hot rows of the argmax where the top probability reaches `threshold`, zero rows elsewhere.
    static func pseudoTargets(_ probabilities: Tensor, threshold: Float) -> Tensor {
        let n = probabilities.shape[0], c = probabilities.shape[1], p = probabilities.toArray()
        var t = [Float](repeating: 0, count: n * c)
        for r in 0..<n {
            let row = p[(r * c)..<((r + 1) * c)]
            if let m = row.max(), m >= threshold, let k = row.firstIndex(of: m) { t[r * c + (k - r * c)] = 1 }
        }
        return Tensor(shape: [n, c], data: t)
    }

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor {
        let ce = sourceLoss(outputs, batch)
        guard let strong = outputs["target_output"], let pseudo = outputs["pseudo_targets"] else { return ce }
        let n = Float(strong.shape[0])
        lastMaskRate = pseudo.sum().item() / n
        return ce - (pseudo * strong.logSoftmax(axis: 1)).sum() * (tradeoff / n)
    }
}
