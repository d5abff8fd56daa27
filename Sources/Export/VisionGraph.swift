import Layers
import Models
import Tensors

/// The ONNX form of the vision backbones: `[N, 3, H, W]` normalised images → `[N, featureDimension]` pooled features,
/// the same computation as their `features(_:)` in eval mode.
extension GraphBuilder {
    /// The pooled features of `backbone` over the image input `x`.
    mutating func visionFeatures(_ x: String, _ backbone: any VisionBackbone) throws(ExportError) -> String {
        switch backbone {
        case let net as ResNet: return try resNetFeatures(x, net)
        case let net as EfficientNetLite: return try efficientNetFeatures(x, net)
        default: throw .unsupportedBackbone(name: backbone.modelName, accepted: "ResNet-18/34/50, EfficientNet-Lite0…4, MiniLM")
        }
    }

    /// torchvision ResNet: stem, max pooling, layer1…layer4 of basic or bottleneck blocks, global average pooling.
    mutating func resNetFeatures(_ x: String, _ net: ResNet) throws(ExportError) -> String {
        var h = try convUnit(x, Self.conv(net.conv1, "conv1"), Self.batchNorm(net.bn1, "bn1"), activation: .relu, path: "conv1")
        h = node("MaxPool", [h], "maxpool", [Attribute.ints("kernel_shape", [3, 3]), Attribute.ints("strides", [2, 2]),
                                             Attribute.ints("pads", [1, 1, 1, 1])])
        for (i, layer) in net.layers.enumerated() {
            guard let blocks = layer as? Sequential else {
                throw .unsupportedLayer(path: "layer\(i + 1)", type: "\(type(of: layer))", accepted: "Sequential")
            }
            for (j, block) in blocks.layers.enumerated() { h = try residualBlock(h, block, path: "layer\(i + 1).\(j)") }
        }
        return globalAveragePool(h)
    }

    private mutating func residualBlock(_ x: String, _ block: any UnaryLayer, path: String) throws(ExportError) -> String {
        func unit(_ conv: any UnaryLayer, _ bn: any UnaryLayer, _ name: String, _ bnName: String) throws(ExportError) -> (Conv2d, BatchNorm2d) {
            (try Self.conv(conv, "\(path).\(name)"), try Self.batchNorm(bn, "\(path).\(bnName)"))
        }
        switch block {
        case let b as BasicBlock:
            let identity = try downsample(x, b.downsample, path: path)
            let (c1, n1) = try unit(b.conv1, b.bn1, "conv1", "bn1"), (c2, n2) = try unit(b.conv2, b.bn2, "conv2", "bn2")
            let h = try convUnit(x, c1, n1, activation: .relu, path: "\(path).conv1")
            return try convUnit(h, c2, n2, activation: .relu, residual: identity, path: "\(path).conv2")
        case let b as Bottleneck:
            let identity = try downsample(x, b.downsample, path: path)
            let (c1, n1) = try unit(b.conv1, b.bn1, "conv1", "bn1"), (c2, n2) = try unit(b.conv2, b.bn2, "conv2", "bn2")
            let (c3, n3) = try unit(b.conv3, b.bn3, "conv3", "bn3")
            var h = try convUnit(x, c1, n1, activation: .relu, path: "\(path).conv1")
            h = try convUnit(h, c2, n2, activation: .relu, path: "\(path).conv2")
            return try convUnit(h, c3, n3, activation: .relu, residual: identity, path: "\(path).conv3")
        default:
            throw .unsupportedLayer(path: path, type: "\(type(of: block))", accepted: "BasicBlock, Bottleneck")
        }
    }

    private mutating func downsample(_ x: String, _ layer: (any UnaryLayer)?, path: String) throws(ExportError) -> String {
        guard let layer else { return x }
        guard let pair = layer as? Sequential, pair.layers.count == 2 else {
            throw .unsupportedLayer(path: "\(path).downsample", type: "\(type(of: layer))", accepted: "Sequential(Conv2d, BatchNorm2d)")
        }
        return try convUnit(x, Self.conv(pair.layers[0], "\(path).downsample.0"), Self.batchNorm(pair.layers[1], "\(path).downsample.1"),
                            activation: nil, path: "\(path).downsample.0")
    }

    /// EfficientNet-Lite: stem, MBConv blocks (expansion, depthwise, projection, identity residual), head
    /// convolution, global average pooling. Dropout and drop-connect are identities in eval mode.
    mutating func efficientNetFeatures(_ x: String, _ net: EfficientNetLite) throws(ExportError) -> String {
        var h = try convUnit(x, Self.conv(net.convStem, "_conv_stem"), Self.batchNorm(net.bn0, "_bn0"), activation: .relu6,
                             path: "_conv_stem")
        for (i, layer) in net.blocks.enumerated() {
            let path = "_blocks.\(i)"
            guard let block = layer as? MBConvBlock else {
                throw .unsupportedLayer(path: path, type: "\(type(of: layer))", accepted: "MBConvBlock")
            }
            var y = h
            if let expand = block.expandConv, let bn0 = block.bn0 {
                y = try convUnit(y, Self.conv(expand, "\(path)._expand_conv"), Self.batchNorm(bn0, "\(path)._bn0"),
                                 activation: .relu6, path: "\(path)._expand_conv")
            }
            y = try convUnit(y, Self.conv(block.depthwiseConv, "\(path)._depthwise_conv"), Self.batchNorm(block.bn1, "\(path)._bn1"),
                             activation: .relu6, path: "\(path)._depthwise_conv")
            h = try convUnit(y, Self.conv(block.projectConv, "\(path)._project_conv"), Self.batchNorm(block.bn2, "\(path)._bn2"),
                             activation: nil, residual: block.hasResidual ? h : nil, path: "\(path)._project_conv")
        }
        h = try convUnit(h, Self.conv(net.convHead, "_conv_head"), Self.batchNorm(net.bn1, "_bn1"), activation: .relu6,
                         path: "_conv_head")
        return globalAveragePool(h)
    }
}
