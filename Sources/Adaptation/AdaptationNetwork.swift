import Layers
import Tensors
import TransferKit

/// The name of the unlabelled target domain's stream in a ``TransferKit/Batch`` (``TransferKit/ZippedBatchSource``).
public enum DomainStreams {
    public static let target = "target"
    /// The strongly augmented view of a target batch (``SelfTrainingObjective``), a tensor of the target stream.
    public static let strongView = "strong"
}

/// The two halves of a classifier that adaptation objectives need: the features they align (TLlib's bottleneck
/// output) and the classifier on top. `classify(features(x))` is the model's prediction.
public struct AdaptationNetwork {
    public let features: (BatchInputs) -> Tensor
    public let classify: (Tensor) -> Tensor

    public init(features: @escaping (BatchInputs) -> Tensor, classify: @escaping (Tensor) -> Tensor) {
        self.features = features; self.classify = classify
    }

    /// A ``TransferKit/Head`` on cached backbone features: its penultimate layer and its last linear layer.
    public init(head: Head) {
        self.init(features: { inputs in
            guard let x = inputs.tensor else { preconditionFailure("AdaptationNetwork(head:) takes feature tensors, not tokenized texts") }
            return head.features(x)
        }, classify: { head.classify($0) })
    }

    /// A backbone and a head trained together (fine-tuning): the head's penultimate features of the backbone's.
    public init(backbone: FeatureBackbone, head: Head) {
        self.init(features: { head.features(backbone.forward($0)) }, classify: { head.classify($0) })
    }
}
