import Layers

/// Scoped control of how the ``BatchNorm2d`` layers of a tree normalise while it trains.
extension Module {
    /// Every ``BatchNorm2d`` of this tree (this module included), in ``namedModules()`` order.
    public var batchNormLayers: [BatchNorm2d] {
        namedModules().compactMap { $0.1 as? BatchNorm2d }
    }

    /// Runs `body` with ``BatchNorm2d/keepsRunningStatistics`` set to `keep` on every BatchNorm of this tree, then
    /// restores each layer's previous setting (also when `body` throws).
    ///
    /// With `keep == true` a trainable BatchNorm normalises with its pretrained running statistics and leaves them
    /// untouched while its weight and bias train (Keras' `BatchNormalization(training=False)` advice for
    /// fine-tuning): the choice for training on small, shifted batches such as few-shot episodes, whose batch
    /// statistics differ from those the network sees at inference.
    public func withBatchNorm<R>(keepingRunningStatistics keep: Bool, _ body: () throws -> R) rethrows -> R {
        let layers = batchNormLayers
        let previous = layers.map(\.keepsRunningStatistics)
        for bn in layers { bn.keepsRunningStatistics = keep }
        defer { for (bn, p) in zip(layers, previous) { bn.keepsRunningStatistics = p } }
        return try body()
    }
}
