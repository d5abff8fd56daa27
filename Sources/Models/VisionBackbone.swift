import Layers
import Tensors

/// One intermediate activation of a convolutional backbone, for dense heads (segmentation, detection) and
/// class-activation maps (Grad-CAM).
public struct FeatureMap {
    /// Where it was taken: `"stem"`, `"stage3"`, `"head"` (EfficientNet-Lite) or `"stem"`, `"layer2"` (ResNet).
    public let name: String
    /// The input size divided by the map size (2, 4, 8, 16 or 32; rounded up for odd inputs under TF "SAME").
    public let stride: Int
    /// `[N, C, H, W]`, possibly in a oneDNN blocked layout (``Tensor/contiguous()`` gives plain NCHW).
    public let tensor: Tensor

    public init(name: String, stride: Int, tensor: Tensor) {
        self.name = name
        self.stride = stride
        self.tensor = tensor
    }

    /// The number of channels `C`.
    public var channels: Int { tensor.shape[1] }
}

/// A contiguous group of layers of a backbone, named and given by the parameter path prefixes it covers.
/// A model's ``VisionBackbone/blockGroups`` list them from the input to the output, so fine-tuning "all but the top
/// N groups" freezes a prefix of that list (Keras fine-tuning guide; Howard & Ruder 2018, gradual unfreezing).
public struct BlockGroup: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    /// Dotted parameter path prefixes (`"_blocks.3"` covers `_blocks.3.*`, not `_blocks.30.*`).
    public let prefixes: [String]

    public init(name: String, prefixes: [String]) {
        self.name = name
        self.prefixes = prefixes
    }

    /// Whether the parameter or buffer path `key` belongs to this group.
    public func contains(_ key: String) -> Bool {
        prefixes.contains { key == $0 || key.hasPrefix($0 + ".") }
    }

    public var description: String { "\(name) [\(prefixes.joined(separator: ", "))]" }
}

/// An image backbone with PyTorch parameter names, an optional ImageNet classifier, pooled features, intermediate
/// feature maps and layer groups for fine-tuning. Implemented by ``EfficientNetLite`` and ``ResNet``.
///
/// Calling the model (``UnaryLayer/callAsFunction(_:)``) gives the classifier's logits `[N, classes]` when
/// ``includeTop`` is true and the pooled features `[N, featureDimension]` otherwise. Inference belongs in
/// ``Module/eval()`` mode inside `withNoGrad { … }`.
public protocol VisionBackbone: UnaryLayer {
    /// The model's name as in its paper, e.g. "EfficientNet-Lite0", "ResNet-50" (used in error messages).
    var modelName: String { get }
    /// Whether the classifier is part of the model.
    var includeTop: Bool { get }
    /// The parameter path of the classifier (`"_fc"`, `"fc"`), whether or not the model includes it.
    var classifierPath: String { get }
    /// The size of the pooled feature vector that ``features(_:)`` returns (the classifier's input).
    var featureDimension: Int { get }
    /// The layer groups from input to output: the stem, each stage, the head where there is one, and the classifier
    /// when ``includeTop`` is true. Every parameter belongs to exactly one group.
    var blockGroups: [BlockGroup] { get }
    /// Global-average-pooled features `[N, featureDimension]`, before any dropout and classifier.
    func features(_ x: Tensor) -> Tensor
    /// The feature maps at the end of the stem, of every stage, and of the head, in forward order.
    func featureMaps(_ x: Tensor) -> [FeatureMap]
    /// One forward pass that returns the model's output (as ``UnaryLayer/callAsFunction(_:)``) and the feature maps
    /// of ``featureMaps(_:)`` it went through (what Grad-CAM needs: the maps and the logits of the same pass).
    func outputAndFeatureMaps(_ x: Tensor) -> (output: Tensor, featureMaps: [FeatureMap])
}

extension VisionBackbone {
    /// Freezes every parameter outside the top `n` groups of ``blockGroups`` and unfreezes the top `n`:
    /// `freeze(allButTop: 1)` trains only the classifier (or the last group of a headless model), `0` freezes all.
    public func freeze(allButTop n: Int) {
        let groups = blockGroups
        guard n >= 0 && n <= groups.count else {
            fatalError("\(modelName): freeze(allButTop: \(n)) needs 0…\(groups.count) (groups: \(groups.map(\.name).joined(separator: ", ")))")
        }
        let trainable = groups.suffix(n)
        unfreeze()
        freeze(where: { key in !trainable.contains { $0.contains(key) } })
    }

    /// The index in ``blockGroups`` of the group that holds parameter or buffer `key`, or nil.
    public func blockGroupIndex(of key: String) -> Int? {
        blockGroups.firstIndex { $0.contains(key) }
    }

    /// Loads pretrained weights into everything but the classifier, for transfer learning: strict for the backbone
    /// (a missing, unexpected or misshapen backbone key throws ``StateDictError`` and nothing changes), while the
    /// classifier keys of `state` (those under ``classifierPath``) are skipped, so a model built with another number of
    /// classes, or without a top, keeps its own classifier. Use ``Module/load(_:strict:)`` to load a whole
    /// checkpoint, classifier included.
    /// - Returns: the report of the load; `unexpected` lists the classifier keys that were skipped.
    @discardableResult
    public func loadBackbone(_ state: [String: Tensor]) throws(StateDictError) -> StateDictReport {
        let prefix = classifierPath
        let isClassifier = { (k: String) in k == prefix || k.hasPrefix(prefix + ".") }
        var backbone = state.filter { !isClassifier($0.key) }
        let skipped = state.keys.filter(isClassifier).sorted()
        if includeTop {
            // Keep the model's own classifier values: feed them back so the strict load sees every key.
            for (k, t) in stateDict() where isClassifier(k) { backbone[k] = t.copy() }
        }
        var report = try load(backbone, strict: true)
        report.unexpected = skipped
        return report
    }

    /// The input channels of the first convolution (the first layer of the first ``blockGroups`` entry): 3 for the
    /// pretrained models, another count after that convolution was replaced (e.g. for greyscale or multispectral
    /// inputs).
    public var inputChannels: Int {
        guard let first = blockGroups.first?.prefixes.first, let conv = try? module(at: first) as? Conv2d else { return 3 }
        return conv.weight.shape[1] * conv.groups
    }

    /// Stops with a message naming the model when `x` is not a batch of images `[N, C, H, W]` with C =
    /// ``inputChannels``. (`fatalError`, not `precondition`: a release build drops a precondition's message.)
    func checkInput(_ x: Tensor) {
        let c = inputChannels
        guard x.rank == 4 && x.shape[1] == c && x.shape[0] >= 1 && x.shape[2] >= 1 && x.shape[3] >= 1 else {
            fatalError("\(modelName): input \(x.shape) must be a batch of \(c == 3 ? "RGB" : "\(c)-channel") images [N, \(c), H, W] with N, H, W ≥ 1")
        }
    }
}

/// TensorFlow's and timm's convolution initialisation: normal with std √(2 / fanOut), fanOut = outChannels · kH · kW /
/// groups (`conv_kernel_initializer` in tensorflow/tpu efficientnet_model.py; torchvision ResNet's
/// `kaiming_normal_(mode="fan_out", nonlinearity="relu")` for groups = 1).
func fanOutNormal(outChannels: Int, kernel: Int, groups: Int = 1) -> Initializer {
    .normal(std: (2 / Float(outChannels * kernel * kernel / groups)).squareRoot())
}
