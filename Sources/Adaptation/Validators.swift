import Foundation
import Layers
import Tensors
import TransferKit

/// A way to choose among adapted models without target labels (pytorch-adapt's validators; Saito et al. 2021,
/// "Tune it the Right Way: Unsupervised Validation of Domain Adaptation via Soft Neighborhood Density"). Every score
/// is "higher is better".
public enum Validator: String, CaseIterable, Sendable, Codable {
    /// Accuracy on held-out labelled source data.
    case sourceAccuracy = "source-accuracy"
    /// Minus the mean entropy of the target predictions (confident predictions score higher).
    case entropy
    /// Soft neighbourhood density of the target predictions (SND, τ = 0.05): high when target samples form tight
    /// clusters in prediction space. Near-uniform predictions (an untrained head) also score high: choose among
    /// trained models only.
    case snd
    /// Information maximisation (pytorch-adapt's `IMValidator`; Shi & Sha 2012): the entropy of the mean target
    /// prediction minus the mean entropy of the predictions — confident *and* diverse; a model that puts every
    /// target sample in one class scores 0.
    case im

    /// The score of a model from its logits on the source validation rows (with their labels) and on target rows.
    public func score(sourceLogits: Tensor, sourceLabels: [Int], targetLogits: Tensor) -> Double {
        switch self {
        case .sourceAccuracy:
            guard !sourceLabels.isEmpty else { return .nan }
            let pred = sourceLogits.argmax(axis: 1)
            return Double(zip(pred, sourceLabels).filter { $0 == $1 }.count) / Double(sourceLabels.count)
        case .entropy:
            let p = targetLogits.softmax(axis: 1).toArray(), n = targetLogits.shape[0]
            var h = 0.0
            for v in p where v > 0 { h -= Double(v) * Foundation.log(Double(v)) }
            return -h / Double(Swift.max(n, 1))
        case .snd:
            return Self.softNeighborhoodDensity(targetLogits.softmax(axis: 1), temperature: 0.05)
        case .im:
            let p = targetLogits.softmax(axis: 1).toArray(), n = targetLogits.shape[0], c = targetLogits.shape[1]
            guard n > 0 else { return .nan }
            var mean = [Double](repeating: 0, count: c), h = 0.0
            for r in 0..<n { for k in 0..<c { let v = Double(p[r * c + k]); mean[k] += v / Double(n); if v > 0 { h -= v * Foundation.log(v) } } }
            let diversity = mean.reduce(0.0) { $0 - ($1 > 0 ? $1 * Foundation.log($1) : 0) }
            return diversity - h / Double(n)
        }
    }

    /// SND of probability rows `[n, C]`: rows L2-normalised, cosine similarities with the diagonal excluded,
    /// a softmax over each row at temperature τ, the mean entropy of those rows (Saito et al. 2021, Eq. 3–4).
    public static func softNeighborhoodDensity(_ probabilities: Tensor, temperature: Double) -> Double {
        let n = probabilities.shape[0], c = probabilities.shape[1]
        guard n > 1 else { return .nan }
        var p = probabilities.toArray().map(Double.init)
        for r in 0..<n {
            let norm = (0..<c).reduce(0.0) { $0 + p[r * c + $1] * p[r * c + $1] }.squareRoot()
            for k in 0..<c { p[r * c + k] /= Swift.max(norm, 1e-12) }
        }
        var total = 0.0
        var row = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var m = -Double.infinity
            for j in 0..<n where j != i {
                var s = 0.0
                for k in 0..<c { s += p[i * c + k] * p[j * c + k] }
                row[j] = s / temperature
                m = Swift.max(m, row[j])
            }
            var z = 0.0
            for j in 0..<n where j != i { row[j] = Foundation.exp(row[j] - m); z += row[j] }
            var h = 0.0
            for j in 0..<n where j != i { let q = row[j] / z; if q > 0 { h -= q * Foundation.log(q) } }
            total += h
        }
        return total / Double(n)
    }
}

/// Scores the model with a ``Validator`` after every epoch, on cached source validation features (with labels) and
/// target features (no labels), and puts back the weights of the best-scoring epoch when the fit ends: model
/// selection without target labels.
public final class ValidatorSelection: Callback {
    public let validator: Validator
    let network: AdaptationNetwork
    let sourceFeatures: Tensor, sourceLabels: [Int], targetFeatures: Tensor
    /// The score of every epoch, in order.
    public private(set) var scores: [Double] = []
    public private(set) var bestEpoch: Int?
    private var bestState: [String: Tensor]?

    /// `targetFeatures` should be a sample of at most a few thousand rows (SND is quadratic in them).
    public init(validator: Validator, network: AdaptationNetwork, sourceFeatures: Tensor, sourceLabels: [Int], targetFeatures: Tensor) {
        self.validator = validator; self.network = network
        self.sourceFeatures = sourceFeatures; self.sourceLabels = sourceLabels; self.targetFeatures = targetFeatures
    }

    public override var order: Int { 55 }

    /// The validator's score of the network as it is now (eval mode, no gradients).
    public func currentScore(model: Module) -> Double {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        return withNoGrad {
            let s = sourceLabels.isEmpty ? Tensor.zeros([0, 1]) : network.classify(network.features(.tensor(sourceFeatures)))
            let t = network.classify(network.features(.tensor(targetFeatures)))
            return validator.score(sourceLogits: s, sourceLabels: sourceLabels, targetLogits: t)
        }
    }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        switch event {
        case .beforeFit:
            scores = []; bestEpoch = nil; bestState = nil
        case .afterEpoch:
            let s = currentScore(model: l.model)
            scores.append(s)
            if s.isFinite, bestEpoch.map({ s > scores[$0] }) ?? true {
                bestEpoch = scores.count - 1
                bestState = Dictionary(uniqueKeysWithValues: l.model.stateDict().map { ($0.key, $0.tensor.copy()) })
            }
        case .afterFit:
            if let bestState { try l.model.load(bestState) }
        default: break
        }
    }
}

/// Raises the ``GradientReversal`` coefficient along a ``GaninSchedule`` of the fit's progress before every batch.
public final class GradientReversalSchedule: Callback {
    public let reversal: GradientReversal
    public let schedule: GaninSchedule
    public init(reversal: GradientReversal, schedule: GaninSchedule = GaninSchedule()) { self.reversal = reversal; self.schedule = schedule }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        guard event == .beforeBatch else { return }
        let total = Swift.max(l.epochs * l.iterationsPerEpoch, 1)
        reversal.coefficient = schedule.coefficient(progress: Float(l.iteration) / Float(total))
    }
}
