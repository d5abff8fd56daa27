import Tensors

/// The normalised temperature-scaled cross-entropy of SimCLR (Chen et al., "A Simple Framework for Contrastive
/// Learning of Visual Representations", ICML 2020, eq. 1), as lightly's `NTXentLoss` computes it without a memory
/// bank: the 2N projections of two views of N images are L2-normalised, every one is an anchor whose positive is the
/// other view of its image and whose negatives are the other 2N − 2 projections, and the loss is the mean over the 2N
/// anchors of −log softmax(sim / τ) at the positive, sim the cosine similarity (self-similarity excluded).
public enum NTXent {
    /// The loss of projections `z0`, `z1` `[N, D]` (row i of each: the two views of image i), differentiable.
    public static func loss(_ z0: Tensor, _ z1: Tensor, temperature: Float) -> Tensor {
        precondition(z0.shape == z1.shape && z0.rank == 2 && z0.shape[0] >= 2, "NTXent: views \(z0.shape) and \(z1.shape) must be [N ≥ 2, D]")
        precondition(temperature > 0, "NTXent: temperature \(temperature) must be positive")
        let n = z0.shape[0]
        let z = normalized(Tensor.concat([z0, z1], axis: 0))
        // Self-similarities are pushed to −1e9 / τ so that their softmax weight is exactly 0 in float32.
        var mask = [Float](repeating: 0, count: 4 * n * n)
        for i in 0..<(2 * n) { mask[i * 2 * n + i] = -1e9 }
        let logits = z.matmul(z.transposed(0, 1)) * (1 / temperature) + Tensor(shape: [2 * n, 2 * n], data: mask)
        let positives = (0..<(2 * n)).map { ($0 + n) % (2 * n) }
        return -logits.logSoftmax(axis: 1).gather(axis: 1, indices: positives).mean()
    }

    /// `x / max(‖x‖₂, 1e-12)` per row (`torch.nn.functional.normalize(dim=1)`).
    static func normalized(_ x: Tensor) -> Tensor {
        let norm = (x * x).sum(axis: 1, keepDims: true).sqrt()
        return x / Tensor.maximum(norm, Tensor(scalar: 1e-12))
    }
}
