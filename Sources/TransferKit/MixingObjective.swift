import Datasets
import Foundation
import Tensors

/// Mixup / cutmix as an objective (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"; Yun et al. 2019,
/// "CutMix"): each training batch is mixed with itself rolled by one (torchvision.transforms.v2 `MixUp`/`CutMix`,
/// ``Datasets/BatchMixing``), its class targets become the same mixture of one-hot rows, and the loss is
/// cross-entropy against those soft targets. Validation batches are not mixed.
///
/// The mixing draw of a batch is a function of the seed and the batch's sample indices, so a resumed run mixes as an
/// uninterrupted one did.
public final class MixingObjective: TrainingObjective {
    public let mixing: BatchMixing
    public let classCount: Int
    public let seed: UInt64
    let base: ClassificationObjective

    public init(mixing: BatchMixing, classCount: Int, seed: UInt64 = 0, labelSmoothing: Float = 0) {
        self.mixing = mixing; self.classCount = classCount; self.seed = seed
        base = ClassificationObjective(labelSmoothing: labelSmoothing)
    }

    public func prepare(_ batch: Batch, training: Bool) -> Batch {
        guard training, case .tensor(let x) = batch.inputs, case .classes(let c) = batch.targets, batch.count > 1 else { return batch }
        if x.rank != 4, mixing.pastesBoxes { return batch }
        var h: UInt64 = seed ^ 0x51_7CC1_B727_220A
        for i in batch.indices { h = (h ^ UInt64(truncatingIfNeeded: i)) &* 0x100_0000_01B3 }
        var g = SeededGenerator(seed: h)
        let mixed = mixing.apply(images: x, targets: BatchMixing.oneHot(c, classCount: classCount), generator: &g)
        var out = batch
        out.inputs = .tensor(mixed.images)
        out.targets = .soft(mixed.targets)
        return out
    }

    public func loss(_ outputs: Outputs, batch: Batch) -> Tensor { base.loss(outputs, batch: batch) }
}

extension BatchMixing {
    /// Whether this mixing may paste boxes (cutmix), which needs `[N, C, H, W]` images.
    var pastesBoxes: Bool {
        switch self {
        case .mixup: false
        case .cutmix, .mixupOrCutmix: true
        }
    }
}
