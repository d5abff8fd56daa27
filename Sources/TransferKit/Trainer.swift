import Assets
import Checkpoints
import Datasets
import Foundation
import Layers
import Models
import Optimizers
import Tensors

/// How much of the pretrained network is trained.
public enum Strategy: String, Codable, Sendable, CaseIterable {
    /// Backbone frozen in eval mode; features computed once (cached) and a new head trained on them.
    case features
    /// Phase 1 as `features`; phase 2 unfreezes the top blocks with discriminative learning rates (fastai
    /// `fine_tune`); frozen BatchNorm stays in inference mode.
    case fineTune = "fine-tune"
    /// Every layer trainable from the start (after the head warm-up of phase 1).
    case full
}

/// Options of a training run (the `transfer train` flags).
public struct TrainOptions: Sendable {
    public var strategy: Strategy = .fineTune
    /// Block groups to unfreeze in phase 2 (nil: all).
    public var unfreeze: Int? = 2
    public var headEpochs = 30
    public var fineTuneEpochs = 5
    public var learningRate: Float = 1e-3
    public var batchSize = 32
    public var head: HeadKind = .linear
    public var validationFraction = 0.1
    public var earlyStoppingPatience: Int? = 5
    public var augment: Bool = true
    public var seed: UInt64 = 0
    public var progress = true
    public var featureCacheRoot: URL = AssetStore.cacheRoot.appendingPathComponent("features")
    public init() {}
}

/// A labelled input: an image file or a text.
public enum LabeledInput: Sendable {
    case image(path: String)
    case text(String, source: String)

    var name: String {
        switch self {
        case .image(let p): p
        case .text(_, let s): s
        }
    }
}

/// Inputs and class labels of a classification dataset, loaded from a folder or a CSV.
public struct LabeledData: Sendable {
    public var inputs: [LabeledInput]
    public var labels: [Int]
    public var classNames: [String]

    public init(inputs: [LabeledInput], labels: [Int], classNames: [String]) {
        self.inputs = inputs; self.labels = labels; self.classNames = classNames
    }

    /// Reads an image folder, a text folder, a `path,label` CSV or a `text,label` CSV/TSV/JSONL.
    public static func load(_ path: String) throws -> LabeledData {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw DatasetError.unreadable(path: path, reason: "no such file or directory") }
        if isDir.boolValue {
            if let images = try? ImageFolderDataset(root: path), !images.samples.isEmpty {
                return try fromSamples(images.samples, images.classNames) { s in
                    if case .path(let p) = s.source { return .image(path: p) }
                    return nil
                }
            }
            let texts = try TextFolderDataset(root: path)
            var inputs: [LabeledInput] = []
            for (i, s) in texts.samples.enumerated() {
                guard case .path(let p) = s.source else { continue }
                inputs.append(.text(try texts.load(i), source: p))
            }
            return try fromSamples(texts.samples, texts.classNames, inputs: inputs)
        }
        if let manifest = try? CSVManifestDataset(path: path), manifest.task == .classification {
            return try fromSamples(manifest.samples, manifest.classNames) { s in
                if case .path(let p) = s.source { return .image(path: p) }
                return nil
            }
        }
        let table = try TextTableDataset(path: path)
        let inputs = table.texts.enumerated().map { LabeledInput.text($1, source: "\(path):\($0 + 2)") }
        return try fromSamples(table.samples, table.classNames, inputs: inputs)
    }

    static func fromSamples(_ samples: [Sample], _ classes: [String], inputs: [LabeledInput]? = nil,
                            _ make: ((Sample) -> LabeledInput?)? = nil) throws -> LabeledData {
        var ins: [LabeledInput] = [], labels: [Int] = []
        for (i, s) in samples.enumerated() {
            guard case .classIndex(let c) = s.target else { throw TrainError.unsupportedTask("only single-label classification is supported by this trainer") }
            guard let input = inputs?[i] ?? make?(s) else { continue }
            ins.append(input); labels.append(c)
        }
        return LabeledData(inputs: ins, labels: labels, classNames: classes)
    }

    public var isText: Bool { if case .text? = inputs.first { return true } else { return false } }

    public func subset(_ idx: [Int]) -> LabeledData {
        LabeledData(inputs: idx.map { inputs[$0] }, labels: idx.map { labels[$0] }, classNames: classNames)
    }
}

public enum TrainError: Error, CustomStringConvertible {
    case unsupportedTask(String)
    case labelsDiffer(train: [String], test: [String])
    case nothingToTrain(String)

    public var description: String {
        switch self {
        case .unsupportedTask(let s): s
        case .labelsDiffer(let a, let b): "test classes \(b) differ from training classes \(a)"
        case .nothingToTrain(let s): s
        }
    }
}

/// A backbone that turns inputs into feature vectors: an image CNN or a sentence encoder.
public final class FeatureBackbone {
    public let spec: ModelSpec
    public let weightsSHA: String
    public let vision: (any VisionBackbone)?
    public let text: SentenceEmbedder?
    public let pipeline: ImagePipeline?

    public init(spec: ModelSpec, weightsPath: String) throws {
        self.spec = spec
        weightsSHA = try SHA256.hex(fileAt: spec.task == .sentenceEmbedding ? weightsPath + "/model.safetensors" : weightsPath)
        if spec.task == .sentenceEmbedding {
            text = try SentenceEmbedder(directory: weightsPath)
            vision = nil; pipeline = nil
        } else {
            vision = try Pretrained.loadVision(spec, weights: weightsPath, includeTop: false)
            text = nil
            pipeline = ImagePipeline(spec.preprocessing!)
        }
    }

    public var dimension: Int { vision?.featureDimension ?? text!.dimension }
    public var module: Module { vision ?? text!.bert }

    var cacheKey: String {
        "\(spec.name)|\(weightsSHA)|" + (spec.preprocessing.map { "\($0.inputSize)/\($0.resizeShorterTo)/\($0.normalization.rawValue)" } ?? "tokens\(spec.maxTokens ?? 0)")
    }

    /// Pooled features `[N, dimension]` of prepared inputs (eval mode, no gradients).
    func features(images: [Tensor]) -> Tensor {
        vision!.eval()
        return withNoGrad { vision!.features(Tensor.stack(images)) }
    }
}

/// What a training run produced.
public struct TrainResult {
    public var history: [EpochRecord]
    public var validationAccuracy: Float?
    public var skipped: [(path: String, reason: String)]
    public var featureSeconds: Double
    public var backboneForwards: Int
    public var seconds: Double
    public var model: TransferModel
}

/// A backbone plus a trained head: what a bundle stores and `predict` runs.
public final class TransferModel: Module {
    public let backbone: FeatureBackbone
    public let head: Head
    public let classNames: [String]
    public let strategy: Strategy

    public init(backbone: FeatureBackbone, head: Head, classNames: [String], strategy: Strategy) {
        self.backbone = backbone; self.head = head; self.classNames = classNames; self.strategy = strategy
        super.init()
        child("backbone", backbone.module)
        child("head", head)
    }
}

/// Runs the strategies of ``Strategy`` on ``LabeledData``.
public final class TransferTrainer {
    public let backbone: FeatureBackbone
    public let options: TrainOptions
    public private(set) var skipped: [(path: String, reason: String)] = []
    public private(set) var backboneForwards = 0

    public init(backbone: FeatureBackbone, options: TrainOptions) {
        self.backbone = backbone; self.options = options
    }

    /// SHA-256 of an input's content (file bytes or text), the feature cache's key.
    static func contentHash(_ input: LabeledInput) -> String? {
        switch input {
        case .image(let p): try? SHA256.hex(fileAt: p)
        case .text(let t, _): SHA256.hex(Data(t.utf8))
        }
    }

    /// Features of every input (cached); inputs that cannot be read are skipped and listed. Returns the rows that
    /// survived, as indices into `data.inputs`.
    public func features(_ data: LabeledData) throws -> (features: Tensor, kept: [Int]) {
        let cache = FeatureCache(root: options.featureCacheRoot, key: backbone.cacheKey, dimension: backbone.dimension)
        var rows = [[Float]?](repeating: nil, count: data.inputs.count)
        var hashes = [String?](repeating: nil, count: data.inputs.count)
        var missing: [Int] = []
        for (i, input) in data.inputs.enumerated() {
            hashes[i] = Self.contentHash(input)
            if let h = hashes[i], let v = cache.lookup(h) { rows[i] = v } else { missing.append(i) }
        }
        let start = Date()
        for chunk in stride(from: 0, to: missing.count, by: options.batchSize).map({ Array(missing[$0..<Swift.min(missing.count, $0 + options.batchSize)]) }) {
            if options.progress { progress("features", done: missing.firstIndex(of: chunk[0])!, total: missing.count, start: start) }
            var ok: [Int] = []
            var out: Tensor
            if backbone.text != nil {
                let texts = chunk.map { i -> String in if case .text(let t, _) = data.inputs[i] { return t } else { return "" } }
                ok = chunk
                out = withNoGrad { backbone.text!.embed(texts, batchSize: options.batchSize) }
            } else {
                var xs: [Tensor] = []
                for i in chunk {
                    guard case .image(let p) = data.inputs[i] else { continue }
                    do { xs.append(try backbone.pipeline!.tensor(contentsOf: p)); ok.append(i) } catch {
                        skipped.append((p, error.description))
                    }
                }
                guard !xs.isEmpty else { continue }
                out = backbone.features(images: xs)
            }
            backboneForwards += ok.count
            let v = out.toArray(), d = backbone.dimension
            for (j, i) in ok.enumerated() {
                let row = Array(v[(j * d)..<((j + 1) * d)])
                rows[i] = row
                if let h = hashes[i] { try? cache.store(h, row) }
            }
        }
        if options.progress && !missing.isEmpty { progress("features", done: missing.count, total: missing.count, start: start, final: true) }
        let kept = rows.indices.filter { rows[$0] != nil }
        let flat = kept.flatMap { rows[$0]! }
        return (Tensor(shape: [kept.count, backbone.dimension], data: flat), kept)
    }

    func progress(_ what: String, done: Int, total: Int, start: Date, final: Bool = false) {
        guard isatty(STDERR_FILENO) != 0, ProcessInfo.processInfo.environment["CI"] == nil else { return }
        let el = Date().timeIntervalSince(start), rate = Double(done) / Swift.max(el, 1e-6)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "\r%@ %d/%d  %.1f items/s  ETA %.0fs ", what, done, total, rate, eta)
        FileHandle.standardError.write(Data((line + (final ? "\n" : "")).utf8))
    }

    /// Trains per ``TrainOptions/strategy`` on `train`, validating on `validation`.
    public func train(_ train: LabeledData, validation: LabeledData) throws -> TrainResult {
        let t0 = Date()
        let (trainX, trainKept) = try features(train)
        let (validX, validKept) = try features(validation)
        let featureSeconds = Date().timeIntervalSince(t0)
        let trainY = trainKept.map { train.labels[$0] }, validY = validKept.map { validation.labels[$0] }
        guard !trainY.isEmpty else { throw TrainError.nothingToTrain("no readable training inputs") }
        let head = Head(options.head, inputs: backbone.dimension, outputs: train.classNames.count, seed: options.seed)

        // Phase 1: the head on cached features.
        let opt1 = AdamW(parameters: head.namedParameters().map { ($0.0, $0.1) }, learningRate: options.learningRate * 10, weightDecay: 1e-4)
        let steps = options.headEpochs * ((trainY.count + options.batchSize - 1) / options.batchSize)
        opt1.setSchedule(OneCycleSchedule(), totalSteps: Swift.max(steps, 1))
        var callbacks: [Callback] = []
        let stopper = options.earlyStoppingPatience.map { EarlyStopping(monitor: .validLoss, patience: $0) }
        if let stopper { callbacks.append(stopper) }
        if options.progress { callbacks.append(ProgressBar()) }
        let learner = Learner(model: head, forward: { head($0) }, loss: Learner.defaultLoss(), optimizer: opt1,
                              trainData: TensorBatchSource(inputs: trainX, targets: .classes(trainY), batchSize: options.batchSize, shuffle: true, seed: options.seed),
                              validData: validY.isEmpty ? nil : TensorBatchSource(inputs: validX, targets: .classes(validY), batchSize: 256, shuffle: false),
                              callbacks: callbacks)
        learner.phase = "head"
        try learner.fit(epochs: options.headEpochs)
        var history = learner.history
        var validAccuracy: Float? = validY.isEmpty ? nil : try learner.predict(learner.validData!).outputs.argmax(axis: 1).enumerated().filter { validY[$0.offset] == $0.element }.count.asFraction(of: validY.count)

        if options.strategy != .features, let vision = backbone.vision {
            let r = try fineTune(vision: vision, head: head, train: train.subset(trainKept), validation: validation.subset(validKept))
            history += r
            validAccuracy = r.last?.validMetric ?? validAccuracy
        }
        let model = TransferModel(backbone: backbone, head: head, classNames: train.classNames, strategy: options.strategy)
        return TrainResult(history: history, validationAccuracy: validAccuracy, skipped: skipped, featureSeconds: featureSeconds,
                           backboneForwards: backboneForwards, seconds: Date().timeIntervalSince(t0), model: model)
    }

    /// Phase 2: unfreeze the top block groups and train backbone + head on images with discriminative learning
    /// rates (each lower group gets a tenth… of the top rate, fastai `slice(lr/10, lr)`); frozen BatchNorm layers
    /// keep their running statistics.
    func fineTune(vision: any VisionBackbone, head: Head, train: LabeledData, validation: LabeledData) throws -> [EpochRecord] {
        let groups = vision.blockGroups
        let n = Swift.min(options.unfreeze ?? groups.count, groups.count)
        vision.freeze(allButTop: options.strategy == .full ? groups.count : n)
        let trainable = Array(groups.suffix(options.strategy == .full ? groups.count : n))
        let rates = evenlySpacedRates(maxLR: options.learningRate, count: trainable.count + 1)
        var paramGroups: [ParameterGroup] = []
        let named = vision.trainableParameters()
        for (gi, g) in trainable.enumerated() {
            let ps = named.filter { g.contains($0.0) }.map { (name: "backbone." + $0.0, tensor: $0.1) }
            if !ps.isEmpty { paramGroups.append(ParameterGroup(name: g.name, parameters: ps, learningRate: rates[gi], weightDecay: 1e-2)) }
        }
        paramGroups.append(ParameterGroup(name: "head", parameters: head.namedParameters().map { (name: "head." + $0.0, tensor: $0.1) },
                                          learningRate: rates.last!, weightDecay: 1e-2))
        let opt = AdamW(groups: paramGroups)
        let source = ImageBatchSource(data: train, pipeline: backbone.pipeline!, batchSize: options.batchSize, augment: options.augment,
                                      seed: options.seed)
        let steps = options.fineTuneEpochs * ((source.sampleCount + options.batchSize - 1) / options.batchSize)
        opt.setSchedule(OneCycleSchedule(), totalSteps: Swift.max(steps, 1))
        var callbacks: [Callback] = []
        if let p = options.earlyStoppingPatience { callbacks.append(EarlyStopping(monitor: .validLoss, patience: p)) }
        if options.progress { callbacks.append(ProgressBar()) }
        let composite = Sequential([vision as any UnaryLayer, head])
        let learner = Learner(model: composite, forward: { head(vision.features($0)) }, loss: Learner.defaultLoss(), optimizer: opt,
                              trainData: source,
                              validData: validation.inputs.isEmpty ? nil : ImageBatchSource(data: validation, pipeline: backbone.pipeline!, batchSize: options.batchSize, augment: false, seed: 0),
                              callbacks: callbacks)
        learner.phase = "fine-tune"
        try learner.fit(epochs: options.fineTuneEpochs)
        vision.eval()
        return learner.history
    }
}

extension Int {
    func asFraction(of n: Int) -> Float { n == 0 ? .nan : Float(self) / Float(n) }
}

/// Images decoded, augmented (random crop of the resized image + horizontal flip) and normalised per epoch.
public struct ImageBatchSource: BatchSource {
    public let data: LabeledData
    public let pipeline: ImagePipeline
    public let batchSize: Int
    public let augment: Bool
    public let seed: UInt64

    public var sampleCount: Int { data.inputs.count }

    public func batches(epoch: Int) throws -> [Batch] {
        var order = Array(0..<sampleCount)
        if augment {
            var g = SeededGenerator(seed: seed &+ UInt64(epoch) &* 7919)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        }
        let p = pipeline.preprocessing
        return try stride(from: 0, to: order.count, by: batchSize).map { start in
            let idx = Array(order[start..<Swift.min(order.count, start + batchSize)])
            let xs = try idx.map { i -> Tensor in
                guard case .image(let path) = data.inputs[i] else { throw TrainError.unsupportedTask("image source expected") }
                var opts = DecodeOptions()
                opts.target = .shorterSide(p.resizeShorterTo)
                let img = try ImageDecoder.decode(contentsOf: path, options: opts).resizeShorter(to: p.resizeShorterTo)
                guard augment else { return pipeline.tensor(img) }
                var g = SeededGenerator(seed: seed &+ UInt64(epoch) &* 1_000_003 &+ UInt64(i))
                let x0 = Int(g.next() % UInt64(img.width - p.inputSize + 1)), y0 = Int(g.next() % UInt64(img.height - p.inputSize + 1))
                var crop = [UInt8](repeating: 0, count: p.inputSize * p.inputSize * 3)
                let flip = g.next() & 1 == 1
                for y in 0..<p.inputSize {
                    for x in 0..<p.inputSize {
                        let sx = flip ? x0 + p.inputSize - 1 - x : x0 + x
                        for c in 0..<3 { crop[(y * p.inputSize + x) * 3 + c] = img.pixels[((y0 + y) * img.width + sx) * 3 + c] }
                    }
                }
                return pipeline.normalization.tensor(RGBImage(width: p.inputSize, height: p.inputSize, pixels: crop))
            }
            return Batch(inputs: Tensor.stack(xs), targets: .classes(idx.map { data.labels[$0] }), indices: idx)
        }
    }
}
