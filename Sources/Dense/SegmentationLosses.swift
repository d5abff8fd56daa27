import Tensors

/// The segmentation losses, over logits `[N, C, H, W]` and a label per pixel (`N·H·W` values, row-major like the
/// logits; ``SegmentationLoss/ignoreIndex`` marks pixels that count in none of them).
public enum SegmentationLoss: String, Sendable, Codable, CaseIterable {
    /// Per-pixel cross-entropy, averaged over the labelled pixels (PyTorch `F.cross_entropy` on `[N, C, H, W]`).
    case crossEntropy = "ce"
    /// Soft Dice loss (Milletari et al., "V-Net", 3DV 2016) as smp's `DiceLoss(mode="multiclass")`: per class
    /// `1 − 2·Σ p·y / max(Σ p + Σ y, ε)` with `p` the softmax, classes absent from the batch's labels count 0, mean
    /// over classes.
    case dice
    /// Focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017), multi-class: the mean over
    /// labelled pixels of `−(1 − p_t)^γ · log p_t` with γ = 2.
    case focal
    /// Cross-entropy plus Dice (the usual pairing for unbalanced masks).
    case ceDice = "ce+dice"

    /// The label of pixels that belong to no class (PASCAL VOC's border value).
    public static let ignoreIndex = 255
    /// γ of ``focal``.
    public static let focalGamma: Float = 2

    /// The loss of `logits` against `labels`.
    public func callAsFunction(_ logits: Tensor, labels: [Int]) -> Tensor {
        switch self {
        case .crossEntropy: Self.crossEntropy(logits, labels: labels)
        case .dice: Self.dice(logits, labels: labels)
        case .focal: Self.focal(logits, labels: labels, gamma: Self.focalGamma)
        case .ceDice: Self.crossEntropy(logits, labels: labels) + Self.dice(logits, labels: labels)
        }
    }

    /// `[N, C, H, W]` → `[N·H·W, C]`, one row per pixel in the order of the labels.
    static func pixelRows(_ logits: Tensor) -> Tensor {
        let c = logits.shape[1]
        return logits.permuted([0, 2, 3, 1]).reshaped(dims: [-1, c])
    }

    static func checkLabels(_ logits: Tensor, _ labels: [Int]) {
        let s = logits.shape
        guard logits.rank == 4, labels.count == s[0] * s[2] * s[3] else {
            fatalError("SegmentationLoss: \(labels.count) labels for logits \(s) (need N·H·W)")
        }
    }

    /// Mean per-pixel cross-entropy over the pixels not labelled ``ignoreIndex``.
    public static func crossEntropy(_ logits: Tensor, labels: [Int]) -> Tensor {
        checkLabels(logits, labels)
        return Tensor.crossEntropy(logits: pixelRows(logits), targets: labels, ignoreIndex: ignoreIndex)
    }

    /// One-hot rows `[N·H·W, C]` of `labels` (all zero for ignored pixels) and a `[N·H·W, 1]` mask of labelled pixels.
    static func oneHot(_ labels: [Int], classes c: Int) -> (Tensor, Tensor) {
        var hot = [Float](repeating: 0, count: labels.count * c)
        var valid = [Float](repeating: 0, count: labels.count)
        for (i, l) in labels.enumerated() where l != ignoreIndex {
            guard l >= 0 && l < c else { fatalError("SegmentationLoss: label \(l) outside 0..<\(c)") }
            hot[i * c + l] = 1
            valid[i] = 1
        }
        return (Tensor(shape: [labels.count, c], data: hot), Tensor(shape: [labels.count, 1], data: valid))
    }

    /// smp's multi-class soft Dice loss (``dice``), ignored pixels excluded from both sums.
    public static func dice(_ logits: Tensor, labels: [Int], eps: Float = 1e-7) -> Tensor {
        checkLabels(logits, labels)
        let c = logits.shape[1]
        let (y, valid) = oneHot(labels, classes: c)
        let p = pixelRows(logits).softmax(axis: 1) * valid
        let intersection = (p * y).sum(axis: 0)
        let cardinality = p.sum(axis: 0) + y.sum(axis: 0)
        let score = (intersection * 2) / Tensor.maximum(cardinality, Tensor(scalar: eps))
        let present = y.sum(axis: 0).toArray().map { $0 > 0 ? Float(1) : 0 }
        return ((1 - score) * Tensor(shape: [c], data: present)).mean()
    }

    /// Multi-class focal loss (``focal``) with exponent `gamma` ≥ 0 (0 gives cross-entropy).
    public static func focal(_ logits: Tensor, labels: [Int], gamma: Float) -> Tensor {
        checkLabels(logits, labels)
        let c = logits.shape[1]
        let (y, valid) = oneHot(labels, classes: c)
        let count = Float(Swift.max(1, Int(valid.sum().item())))
        let logpt = (pixelRows(logits).logSoftmax(axis: 1) * y).sum(axis: 1, keepDims: true)
        let modulation = (1 - logpt.exp()).clamp(min: 0, max: 1).pow(gamma)
        return -(modulation * logpt).sum() / count
    }
}
