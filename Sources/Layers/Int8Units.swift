import Tensors

/// Int8 inverted bottlenecks (MobileNetV2, EfficientNet): when the expansion, depthwise and projection convolutions
/// all run int8 (``Conv2d/int8``), each passes its activation to the next in that layer's input quantisation
/// (`u8` after ReLU6), written once by the producing convolution (``Int8Layer/conv2d(_:weight:bias:stride:padding:dilation:groups:residual:activation:output:)``)
/// instead of in fp32 and quantised again by a separate pass; only the block's output is fp32. The integer
/// intermediates never leave these functions.
extension Conv2d {
    /// `project(depthwise(self(x)))` with their BatchNorms and activations and the residual sum, the whole inverted
    /// bottleneck: chained in int8 when all three convolutions are int8 (and nothing needs a gradient, and the
    /// BatchNorms use their running statistics), otherwise
    /// ``callAsFunction(_:batchNorm:activation:thenDepthwise:batchNorm:activation:)`` then the projection unit.
    ///
    /// `output` asks for the block's result as integers in that quantisation (the next int8 consumer's input; see
    /// ``int8BottleneckInput(batchNorm:thenDepthwise:batchNorm:thenProject:batchNorm:)``): the residual stream of
    /// chained blocks. It is honoured when the chain runs and the residual is absent or is the block's input as
    /// integers in this expansion's input quantisation (then added by the projection's `sum` post-op in real units)
    /// of the same signedness; otherwise the result is fp32, which every consumer also reads. An integer `x` needs
    /// the chain (and, with a residual, `output`).
    public func callAsFunction(_ x: Tensor, batchNorm bn: BatchNorm2d, activation: FusedActivation?,
                               thenDepthwise depthwise: Conv2d, batchNorm depthwiseBN: BatchNorm2d,
                               activation depthwiseActivation: FusedActivation?,
                               thenProject project: Conv2d, batchNorm projectBN: BatchNorm2d, residual: Tensor?,
                               output: Int8InputQuantization? = nil) -> Tensor {
        if let p = project.int8, projectBN.usesBatchStatistics == false,
           !GradMode.records([project.weight, project.bias, projectBN.weight, projectBN.bias, residual]),
           let h = int8Chain(x, batchNorm: bn, activation: activation, thenDepthwise: depthwise, batchNorm: depthwiseBN,
                             activation: depthwiseActivation, output: p.input) {
            let f = project.foldedWeights(batchNorm: projectBN)
            let integerResidual = residual?.holdsIntegers == true
            let streamed = int8!.input
            let out = residual == nil || (integerResidual && output?.signed == streamed.signed) ? output : nil
            require(!integerResidual || out != nil,
                    "inverted bottleneck (int8): an integer residual needs an integer output of its signedness")
            return p.conv2d(h, weight: f.weight, bias: f.bias, stride: project.stride, padding: project.padding,
                            dilation: project.dilation, groups: project.groups, residual: residual, activation: nil,
                            output: out, residualQuantization: integerResidual ? streamed : nil)
        }
        require(!x.holdsIntegers, "inverted bottleneck: an integer input reached the fp32 path")
        let h = self(x, batchNorm: bn, activation: activation, thenDepthwise: depthwise, batchNorm: depthwiseBN,
                     activation: depthwiseActivation)
        return project(h, batchNorm: projectBN, activation: nil, residual: residual)
    }

    /// The quantisation in which the inverted bottleneck `project(depthwise(self(x)))` reads an integer input (its
    /// expansion's input quantisation) when all three convolutions are int8 and it runs their chain now
    /// (inference, BatchNorms on running statistics, no gradient, no calibration); nil otherwise.
    public func int8BottleneckInput(batchNorm bn: BatchNorm2d, thenDepthwise depthwise: Conv2d,
                                    batchNorm depthwiseBN: BatchNorm2d, thenProject project: Conv2d,
                                    batchNorm projectBN: BatchNorm2d) -> Int8InputQuantization? {
        guard let q = int8UnitInput(batchNorm: bn), depthwise.int8UnitInput(batchNorm: depthwiseBN) != nil,
              project.int8UnitInput(batchNorm: projectBN) != nil
        else { return nil }
        return q
    }

    /// The quantisation in which this convolution unit (``callAsFunction(_:batchNorm:activation:residual:)``) reads
    /// an integer input when it runs int8 now (inference, `bn` on running statistics, no gradient, no
    /// calibration); nil otherwise.
    public func int8UnitInput(batchNorm bn: BatchNorm2d?) -> Int8InputQuantization? {
        guard let q = int8, InputObservation.current == nil, bn?.usesBatchStatistics != true,
              !GradMode.records([weight, bias, bn?.weight, bn?.bias])
        else { return nil }
        return q.input
    }

    /// The int8 expansion and depthwise pair, the expanded activation passed in the depthwise's input quantisation;
    /// the depthwise's result in `output` (an integer tensor for the next int8 layer) or fp32. Nil when the pair
    /// does not run int8 (a layer without ``int8``, calibration, training, gradients).
    func int8Chain(_ x: Tensor, batchNorm bn: BatchNorm2d, activation: FusedActivation?, thenDepthwise depthwise: Conv2d,
                   batchNorm depthwiseBN: BatchNorm2d, activation depthwiseActivation: FusedActivation?,
                   output: Int8InputQuantization? = nil) -> Tensor? {
        guard let expand = int8, let dw = depthwise.int8, int8UnitInput(batchNorm: bn) != nil,
              depthwise.int8UnitInput(batchNorm: depthwiseBN) != nil, !GradMode.records([x])
        else { return nil }
        let f = foldedWeights(batchNorm: bn), d = depthwise.foldedWeights(batchNorm: depthwiseBN)
        let h = expand.conv2d(x, weight: f.weight, bias: f.bias, stride: stride, padding: padding, dilation: dilation,
                              groups: groups, residual: nil, activation: activation, output: dw.input)
        return dw.conv2d(h, weight: d.weight, bias: d.bias, stride: depthwise.stride, padding: depthwise.padding,
                         dilation: depthwise.dilation, groups: depthwise.groups, residual: nil, activation: depthwiseActivation,
                         output: output)
    }
}

extension Conv2d {
    /// `next(self(x))` with their BatchNorms and activations and `next`'s residual sum: two convolution units one
    /// after the other (ResNet's basic block, an inverted bottleneck without expansion). When both run int8 now
    /// (``int8UnitInput(batchNorm:)``), this one writes its result once, as integers in `next`'s input
    /// quantisation, and `next` reads it as it is; without a residual `next` then writes integers in `output` when
    /// asked (the next int8 consumer's input quantisation), fp32 otherwise. An integer `x` needs the int8 pair.
    public func callAsFunction(_ x: Tensor, batchNorm bn: BatchNorm2d, activation: FusedActivation?,
                               then next: Conv2d, batchNorm nextBN: BatchNorm2d, activation nextActivation: FusedActivation?,
                               residual: Tensor?, output: Int8InputQuantization? = nil) -> Tensor {
        if next.int8UnitInput(batchNorm: nextBN) != nil, let nextInt8 = next.int8, int8UnitInput(batchNorm: bn) != nil,
           !GradMode.records([x, residual]) {
            let h = self(x, batchNorm: bn, activation: activation, int8Output: nextInt8.input)
            let f = next.foldedWeights(batchNorm: nextBN)
            return nextInt8.conv2d(h, weight: f.weight, bias: f.bias, stride: next.stride, padding: next.padding,
                                   dilation: next.dilation, groups: next.groups, residual: residual,
                                   activation: nextActivation, output: residual == nil ? output : nil)
        }
        require(!x.holdsIntegers, "convolution pair: an integer input reached the fp32 path")
        return next(self(x, batchNorm: bn, activation: activation), batchNorm: nextBN, activation: nextActivation,
                    residual: residual)
    }

    /// The convolution unit ``callAsFunction(_:batchNorm:activation:residual:)`` with its result as integers in
    /// `int8Output` (the next int8 layer's input quantisation) when it runs int8 now (``int8UnitInput(batchNorm:)``)
    /// and one is asked for; fp32 otherwise.
    public func callAsFunction(_ x: Tensor, batchNorm bn: BatchNorm2d, activation: FusedActivation?,
                               int8Output: Int8InputQuantization?) -> Tensor {
        guard let int8Output, let mine = int8, int8UnitInput(batchNorm: bn) != nil, !GradMode.records([x]) else {
            return self(x, batchNorm: bn, activation: activation)
        }
        let f = foldedWeights(batchNorm: bn)
        return mine.conv2d(x, weight: f.weight, bias: f.bias, stride: stride, padding: padding, dilation: dilation,
                           groups: groups, residual: nil, activation: activation, output: int8Output)
    }
}

extension UnaryLayer {
    /// The whole inverted bottleneck, `project(depthwise(self(x)))` with BatchNorms, activations and the residual
    /// sum: when all six layers are the original ``Conv2d``s and ``BatchNorm2d``s,
    /// ``Conv2d/callAsFunction(_:batchNorm:activation:thenDepthwise:batchNorm:activation:thenProject:batchNorm:residual:)``
    /// (chained in int8 when quantised); otherwise the expansion–depthwise pair and the projection unit.
    public func callAsFunction(_ x: Tensor, batchNorm: any UnaryLayer, activation: FusedActivation?,
                               thenDepthwise depthwise: any UnaryLayer, batchNorm depthwiseBN: any UnaryLayer,
                               activation depthwiseActivation: FusedActivation?,
                               thenProject project: any UnaryLayer, batchNorm projectBN: any UnaryLayer, residual: Tensor?) -> Tensor {
        if let conv = self as? Conv2d, let bn = batchNorm as? BatchNorm2d, let dw = depthwise as? Conv2d,
           let dwBN = depthwiseBN as? BatchNorm2d, let p = project as? Conv2d, let pBN = projectBN as? BatchNorm2d {
            return conv(x, batchNorm: bn, activation: activation, thenDepthwise: dw, batchNorm: dwBN,
                        activation: depthwiseActivation, thenProject: p, batchNorm: pBN, residual: residual)
        }
        let h = self(x, batchNorm: batchNorm, activation: activation, thenDepthwise: depthwise, batchNorm: depthwiseBN,
                     activation: depthwiseActivation)
        return project(h, batchNorm: projectBN, activation: nil, residual: residual)
    }
}
