import Layers
import Tensors
import TransferKit

/// Adaptive Batch Normalization (Li, Wang, Shi, Liu & Hou 2016, "Revisiting Batch Normalization For Practical
/// Domain Adaptation"): every BatchNorm layer's running mean and variance are re-estimated on target-domain data as
/// the cumulative average over the target batches (PyTorch `momentum=None`), while every weight stays as it was.
public enum AdaBN {
    /// Re-estimates the statistics of every ``Layers/BatchNorm2d`` in `module` from `batches` (forward passes only,
    /// no gradients; the weights and biases are not changed). Returns the number of BatchNorm layers updated (0 for
    /// a network without any, e.g. a transformer: AdaBN does not apply). The module is left in eval mode.
    @discardableResult
    public static func adapt(_ module: Module, batches: [Tensor], forward: (Tensor) -> Tensor) -> Int {
        var i = 0
        return adapt(module, next: { () -> Tensor? in defer { i += 1 }; return i < batches.count ? batches[i] : nil }, forward: forward)
    }

    /// ``adapt(_:batches:forward:)`` with the batches produced one at a time by `next` (nil ends), so a large target
    /// set never sits in memory whole. Batches of one sample are skipped (no variance).
    @discardableResult
    public static func adapt(_ module: Module, next: () -> Tensor?, forward: (Tensor) -> Tensor) -> Int {
        let norms = module.namedModules().compactMap { $0.1 as? BatchNorm2d }
        guard !norms.isEmpty else { return 0 }
        let trainable = module.namedParameters().map { ($0.1, $0.1.requiresGrad) }
        let keeps = norms.map(\.keepsRunningStatistics)
        module.eval()
        for bn in norms {
            bn.train(true)
            bn.averagesCumulatively = true
            bn.keepsRunningStatistics = false
            // A batch-statistics call needs the layer's weights unfrozen; nothing is recorded (no gradients below).
            bn.weight.requiresGrad = true
            bn.bias.requiresGrad = true
            withNoGrad { bn.numBatchesTracked.assign(.zeros([])) }
        }
        defer {
            for (p, r) in trainable { p.requiresGrad = r }
            for (bn, k) in zip(norms, keeps) { bn.averagesCumulatively = false; bn.keepsRunningStatistics = k }
            module.eval()
        }
        withNoGrad { while let x = next() { if x.shape[0] > 1 { _ = forward(x) } } }
        return norms.count
    }

    /// ``adapt(_:next:forward:)`` for a backbone over `inputs` (prepared with its evaluation pipeline, `batchSize`
    /// at a time). Unreadable inputs are skipped.
    @discardableResult
    public static func adapt(_ backbone: FeatureBackbone, inputs: [LabeledInput], batchSize: Int = 64) -> Int {
        var start = 0
        return adapt(backbone.module, next: { () -> Tensor? in
            while start < inputs.count {
                let chunk = Array(inputs[start..<Swift.min(inputs.count, start + batchSize)])
                start += batchSize
                if let x = backbone.encoder.prepare(chunk).inputs?.tensor { return x }
            }
            return nil
        }, forward: { backbone.forward(.tensor($0)) })
    }
}
