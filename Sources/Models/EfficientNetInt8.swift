import Layers
import Tensors

// The int8 residual stream of EfficientNet-Lite (docs/int8.md): which block writes its output as integers for its
// consumer, planned from the head back.

extension EfficientNetLite {
    /// For the stem and each block, the quantisation its output is written in (its consumer's integer input: the
    /// next block or the head convolution), nil where the consumer does not run int8 now; walked from the head back,
    /// since a block that adds its input reads it as integers only when it writes integers itself. Nil when nothing
    /// would stream integers.
    func int8StreamPlan() -> (stem: Int8InputQuantization?, blocks: [Int8InputQuantization?])? {
        let list = blocks
        var consumer: Int8InputQuantization?
        if let head = convHead as? Conv2d, let bn = bn1 as? BatchNorm2d { consumer = head.int8UnitInput(batchNorm: bn) }
        var plan = [Int8InputQuantization?](repeating: nil, count: list.count)
        for b in list.indices.reversed() {
            plan[b] = consumer
            consumer = (list[b] as? MBConvBlock)?.int8Input(writing: consumer)
        }
        return plan.contains { $0 != nil } || consumer != nil ? (consumer, plan) : nil
    }
}

extension MBConvBlock {
    /// The original layers when the block has an expansion and none was replaced.
    var int8Units: (expand: Conv2d, bn0: BatchNorm2d, depthwise: Conv2d, bn1: BatchNorm2d, project: Conv2d,
                     bn2: BatchNorm2d)? {
        guard let e = expandConv as? Conv2d, let b0 = bn0 as? BatchNorm2d, let d = depthwiseConv as? Conv2d,
              let b1 = bn1 as? BatchNorm2d, let p = projectConv as? Conv2d, let b2 = bn2 as? BatchNorm2d else { return nil }
        return (e, b0, d, b1, p, b2)
    }

    /// The quantisation in which this block reads its input as integers (its expansion's input quantisation): when
    /// its three convolutions run their int8 chain now and, if it adds its input, it writes its own result as
    /// integers in `output` of the same signedness (the sum then adds the integer input in real units). A block
    /// without expansion (EfficientNet's first) reads integers in its depthwise convolution's input quantisation
    /// when it adds no input and its depthwise and projection units both run int8. Nil otherwise.
    public func int8Input(writing output: Int8InputQuantization?) -> Int8InputQuantization? {
        if expandConv == nil {
            // Depthwise then projection, without a residual: the pair of convolution units.
            guard !hasResidual, let d = depthwiseConv as? Conv2d, let b1 = bn1 as? BatchNorm2d,
                  let p = projectConv as? Conv2d, let b2 = bn2 as? BatchNorm2d, p.int8UnitInput(batchNorm: b2) != nil
            else { return nil }
            return d.int8UnitInput(batchNorm: b1)
        }
        guard let u = int8Units, !(hasResidual && isTraining && dropConnectRate > 0 && !isFrozen),
              let q = u.expand.int8BottleneckInput(batchNorm: u.bn0, thenDepthwise: u.depthwise, batchNorm: u.bn1,
                                                   thenProject: u.project, batchNorm: u.bn2)
        else { return nil }
        if hasResidual { guard let output, output.signed == q.signed else { return nil } }
        return q
    }
}
