import Assets
import Datasets
import Foundation
import Layers
import Models
import Tensors

/// A pretrained network that turns one kind of input (images or texts) into feature vectors: what
/// ``FeatureBackbone`` holds, whatever the modality.
public protocol FeatureEncoder: AnyObject {
    /// The network (its parameter keys are the checkpoint's).
    var module: Module { get }
    /// Length of a feature vector.
    var dimension: Int { get }
    /// Layer groups from input to output, the unit of freezing and of discriminative learning rates.
    var blockGroups: [BlockGroup] { get }
    /// The groups fine-tuning unfreezes by default.
    var defaultUnfreeze: Int { get }
    /// The top group's peak learning rate in fine-tuning.
    var defaultFineTuneLearningRate: Float { get }
    /// What the feature cache's key says of the inputs' preparation (geometry and normalisation, or tokenization).
    var inputSignature: String { get }
    /// The pooled features of a batch, differentiable.
    func forward(_ inputs: BatchInputs) -> Tensor
    /// Model inputs of `inputs` (no augmentation), with the positions that could be prepared and the failures.
    func prepare(_ inputs: [LabeledInput]) -> (inputs: BatchInputs?, kept: [Int], failed: [(String, String)])
    /// Pooled features of `inputs` in eval mode without gradients, with the positions that could be prepared and the
    /// failures (the default prepares one batch and runs ``forward(_:)``).
    func pooledFeatures(_ inputs: [LabeledInput], batchSize: Int) -> (features: Tensor?, kept: [Int], failed: [(String, String)])
    /// Batches of `data` for training or validation (images decoded and augmented per epoch, texts tokenized).
    func batchSource(_ data: LabeledData, augment: AugmentationPolicy, batchSize: Int, shuffle: Bool, seed: UInt64,
                     scaling: TargetScaling?, workers: Int) throws -> BatchSource
}

extension FeatureEncoder {
    public func pooledFeatures(_ inputs: [LabeledInput], batchSize: Int) -> (features: Tensor?, kept: [Int], failed: [(String, String)]) {
        let p = prepare(inputs)
        return (p.inputs.map { batch in withNoGrad { forward(batch) } }, p.kept, p.failed)
    }
}

/// An image CNN with its evaluation pipeline.
public final class ImageEncoder: FeatureEncoder {
    public let model: any VisionBackbone
    public let preprocessing: ImagePreprocessing

    public init(model: any VisionBackbone, preprocessing: ImagePreprocessing) {
        self.model = model; self.preprocessing = preprocessing
    }

    public var module: Module { model }
    public var dimension: Int { model.featureDimension }
    public var blockGroups: [BlockGroup] { model.blockGroups }
    /// The last two stages and the head convolution.
    public var defaultUnfreeze: Int { 3 }
    public var defaultFineTuneLearningRate: Float { 1e-3 }
    public var inputSignature: String {
        "\(preprocessing.inputSize)/\(preprocessing.resizeShorterTo)/\(preprocessing.normalization.rawValue)"
    }

    public func forward(_ inputs: BatchInputs) -> Tensor {
        guard let x = inputs.tensor else { preconditionFailure("an image backbone was given tokenized texts") }
        return model.features(x)
    }

    public func prepare(_ inputs: [LabeledInput]) -> (inputs: BatchInputs?, kept: [Int], failed: [(String, String)]) {
        var xs: [Tensor] = [], kept: [Int] = [], failed: [(String, String)] = []
        for (i, input) in inputs.enumerated() {
            guard case .image(let p) = input else { failed.append((input.name, "not an image")); continue }
            do {
                xs.append(try preprocessing.evaluationPipeline.tensor(contentsOf: p))
                kept.append(i)
            } catch { failed.append((p, error.description)) }
        }
        return (xs.isEmpty ? nil : .tensor(Tensor.stack(xs)), kept, failed)
    }

    public func batchSource(_ data: LabeledData, augment: AugmentationPolicy, batchSize: Int, shuffle: Bool, seed: UInt64,
                            scaling: TargetScaling?, workers: Int) throws -> BatchSource {
        try ImageBatchSource(data: data, pipeline: preprocessing.trainingPipeline(augment), batchSize: batchSize,
                             shuffle: shuffle, seed: seed, scaling: scaling, workers: workers)
    }
}

/// A sentence encoder (BERT/MiniLM + mean pooling + L2 normalisation).
public final class TextEncoder: FeatureEncoder {
    public let embedder: SentenceEmbedder

    public init(embedder: SentenceEmbedder) { self.embedder = embedder }

    public var module: Module { embedder.bert }
    public var dimension: Int { embedder.dimension }
    /// The embeddings, then each transformer layer (`encoder.layer.i`).
    public var blockGroups: [BlockGroup] {
        [BlockGroup(name: "embeddings", prefixes: ["embeddings"])]
            + (0..<embedder.bert.config.numHiddenLayers).map { BlockGroup(name: "layer\($0)", prefixes: ["encoder.layer.\($0)"]) }
    }
    /// The top two transformer layers.
    public var defaultUnfreeze: Int { 2 }
    /// BERT-style encoders diverge at CNN rates (Devlin et al. 2019 fine-tune at 2e-5…5e-5, every layer trainable).
    public var defaultFineTuneLearningRate: Float { 1e-4 }
    /// `tokensN` for texts truncated to N tokens (as before windows existed, so those caches stay valid),
    /// `tokensNxW` for up to W windows of N tokens.
    public var inputSignature: String {
        "tokens\(embedder.maxLength)" + (embedder.longTexts == .windows ? "x\(embedder.maxWindows)" : "")
    }

    public func forward(_ inputs: BatchInputs) -> Tensor {
        guard case .tokens(let t) = inputs else { preconditionFailure("a text backbone was given a tensor") }
        return embedder.forward(t)
    }

    public func prepare(_ inputs: [LabeledInput]) -> (inputs: BatchInputs?, kept: [Int], failed: [(String, String)]) {
        var texts: [String] = [], kept: [Int] = [], failed: [(String, String)] = []
        for (i, input) in inputs.enumerated() {
            guard case .text(let t, _) = input else { failed.append((input.name, "not a text")); continue }
            texts.append(t)
            kept.append(i)
        }
        return (texts.isEmpty ? nil : .tokens(embedder.encode(texts)), kept, failed)
    }

    public func batchSource(_ data: LabeledData, augment: AugmentationPolicy, batchSize: Int, shuffle: Bool, seed: UInt64,
                            scaling: TargetScaling?, workers: Int) throws -> BatchSource {
        TextBatchSource(data: data, embedder: embedder, batchSize: batchSize, shuffle: shuffle, seed: seed, scaling: scaling)
    }

    /// Sentence embeddings, sorted by length and padded per sub-batch (``Models/SentenceEmbedder/embed(_:batchSize:)``):
    /// the same vectors as one padded batch, less work.
    public func pooledFeatures(_ inputs: [LabeledInput], batchSize: Int) -> (features: Tensor?, kept: [Int], failed: [(String, String)]) {
        var texts: [String] = [], kept: [Int] = [], failed: [(String, String)] = []
        for (i, input) in inputs.enumerated() {
            if case .text(let t, _) = input { texts.append(t); kept.append(i) } else { failed.append((input.name, "not a text")) }
        }
        return (texts.isEmpty ? nil : embedder.embed(texts, batchSize: batchSize), kept, failed)
    }
}

/// A registry model loaded as a feature extractor: its spec, the hash of its weights, and its ``FeatureEncoder``.
public final class FeatureBackbone {
    public let spec: ModelSpec
    public let weightsSHA: String
    public let encoder: any FeatureEncoder
    /// What changed the weights in this process after loading (e.g. a ``BackbonePreparation``, with a hash of the
    /// new weights); nil: as loaded. Part of ``cacheKey``, so features of changed weights never come from the cache
    /// of the loaded ones.
    public var adaptation: String?

    /// Loads the registry model `spec` from `weightsPath`; a text model reads texts longer than its window by
    /// `longTexts` (at most `maxWindows` windows; images ignore both).
    public init(spec: ModelSpec, weightsPath: String, longTexts: LongTextPolicy = .truncate, maxWindows: Int = 16) throws {
        self.spec = spec
        if spec.task == .sentenceEmbedding {
            weightsSHA = try SHA256.hex(fileAt: weightsPath + "/model.safetensors")
            let embedder = try SentenceEmbedder(directory: weightsPath).readingLongTexts(longTexts, maxWindows: maxWindows)
            encoder = TextEncoder(embedder: try spec.keptLayers.map { try embedder.keepingLayers($0) } ?? embedder)
        } else {
            weightsSHA = try SHA256.hex(fileAt: weightsPath)
            guard let prep = spec.preprocessing else { throw TrainError.unsupportedTask("\(spec.name) has no image preprocessing") }
            encoder = ImageEncoder(model: try Pretrained.loadVision(spec, weights: weightsPath, includeTop: false), preprocessing: prep)
        }
    }

    public var dimension: Int { encoder.dimension }
    /// How a text model reads long texts; nil for an image model.
    public var longTexts: (policy: LongTextPolicy, maxWindows: Int)? {
        (encoder as? TextEncoder).map { ($0.embedder.longTexts, $0.embedder.maxWindows) }
    }
    public var module: Module { encoder.module }
    public var blockGroups: [BlockGroup] { encoder.blockGroups }
    public var defaultUnfreeze: Int { encoder.defaultUnfreeze }
    public var defaultFineTuneLearningRate: Float { encoder.defaultFineTuneLearningRate }
    /// Whether the inputs are images (augmented views, thumbnails) rather than texts.
    public var takesImages: Bool { encoder is ImageEncoder }

    /// Freezes every parameter outside the top `n` block groups (BatchNorm layers in frozen groups keep their
    /// running statistics).
    public func freeze(allButTop n: Int) {
        let trainable = blockGroups.suffix(n)
        module.unfreeze()
        module.freeze(where: { key in !trainable.contains { $0.contains(key) } })
    }

    /// The pooled features of a batch, differentiable (fine-tuning).
    public func forward(_ inputs: BatchInputs) -> Tensor { encoder.forward(inputs) }

    /// The feature cache's key: backbone, weights, input preparation, and the precision when it is not fp32 (bf16
    /// features are not fp32 features).
    public var cacheKey: String {
        "\(spec.name)|\(weightsSHA)|\(encoder.inputSignature)" + (Precision.current == .fp32 ? "" : "|\(Precision.current)")
            + (adaptation.map { "|adapted \($0)" } ?? "")
    }

    /// The on-disk cache of this backbone's pretrained features.
    public func featureCache(root: URL) -> FeatureCache {
        FeatureCache(root: root, key: cacheKey, dimension: dimension)
    }

    /// SHA-256 of an input's content (file bytes or text), the feature cache's key.
    static func contentHash(_ input: LabeledInput) -> String? {
        switch input {
        case .image(let p): try? SHA256.hex(fileAt: p)
        case .text(let t, _): SHA256.hex(Data(t.utf8))
        }
    }
}
