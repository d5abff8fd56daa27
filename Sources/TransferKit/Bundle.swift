import Assets
import Checkpoints
import Datasets
import Foundation
import Layers
import Models
import Tensors

/// A trained model on disk: `NAME.transferkit/manifest.json` + `weights.safetensors`, loadable for prediction
/// without the training data.
///
/// Integrity: the manifest records `weights_sha256` (of weights.safetensors) and `manifest_sha256`, the SHA-256 of a
/// canonical encoding of every other manifest field (``Manifest/canonicalEncoding``), so an edit of the task, labels,
/// thresholds or any other field is refused at load as "edited or damaged" instead of reinterpreting the outputs.
/// Loading checks, in order: the files are regular files of bounded size; manifest.json is JSON with exactly the
/// format's keys and types (``Manifest/decode(_:file:)``); every value is in range (``validate(_:file:)``); the
/// manifest hash; the weights hash; the weights' keys, dtypes and shapes against the manifest; that every weight is
/// finite. Format 2 added `manifest_sha256`; format 1 bundles are refused with a message saying why (their
/// manifest cannot be verified): train them again.
public struct ModelBundle {
    /// The bundle format this TransferKit writes and reads.
    public static let formatVersion = 2
    /// The `training` entry that marks a bundle whose backbone was adapted before training (``AdaptedBackbone``).
    public static let adaptedBackboneKey = "adapted_backbone"
    /// `training` keys of a text bundle that reads long texts by windows (``Models/LongTextPolicy``); absent: the
    /// texts were truncated.
    public static let longTextsKey = "long_texts", maxWindowsKey = "max_windows"

    /// Writes `model` to `directory` (created; files replaced atomically). Refuses, before writing anything, a model
    /// whose manifest would not load (see ``validate(_:file:)``) or whose weights are not finite.
    public static func save(_ model: TransferModel, to directory: URL, training: [String: String], metrics: [String: Double]) throws {
        let manifestFile = directory.appendingPathComponent("manifest.json")
        let weights = directory.appendingPathComponent("weights.safetensors")
        var tensors: [String: Tensor] = [:]
        for (k, t) in model.head.stateDict() { tensors["head." + k] = t }
        // A backbone adapted without labels (AdaptedBackbone) is not the registry's: the bundle stores it whatever the
        // strategy, and says so in `training` so that the manifest check accepts a features bundle with a backbone.
        let includesBackbone = model.strategy.trainsBackboneWeights || (model.strategy == .lora && model.adapter == nil)
            || model.backbone.hasAdaptedWeights
        var training = training
        if model.backbone.hasAdaptedWeights { training[ModelBundle.adaptedBackboneKey] = "true" }
        if let l = model.backbone.longTexts, l.policy != .truncate {
            training[ModelBundle.longTextsKey] = l.policy.rawValue
            training[ModelBundle.maxWindowsKey] = String(l.maxWindows)
        }
        if includesBackbone { for (k, t) in model.backbone.module.stateDict() { tensors["backbone." + k] = t } }
        var manifest = Manifest(
            formatVersion: formatVersion, toolVersion: TransferKitVersion.string, createdAt: ISO8601DateFormatter().string(from: Date()),
            backbone: model.backbone.spec.name, backboneWeightsSha256: model.backbone.weightsSHA, task: model.task.reportName,
            strategy: model.strategy.rawValue, head: model.head.kind.rawValue, headInputs: model.head.inputs,
            headOutputs: model.head.outputs, headHidden: model.head.hidden, labels: model.classNames,
            thresholds: model.thresholds, targetScaling: model.scaling,
            preprocessing: model.backbone.spec.preprocessing, weightsSha256: String(repeating: "0", count: 64),
            includesBackbone: includesBackbone, training: training, metrics: metrics, precision: Precision.current.rawValue,
            manifestSha256: String(repeating: "0", count: 64))
        _ = try validate(manifest, file: manifestFile.path)
        try requireFinite(tensors, file: weights.path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw BundleError.notADirectory(path: directory.path)
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let adapterFile = directory.appendingPathComponent(adapterFileName)
        try? FileManager.default.removeItem(at: adapterFile)
        if let adapter = model.adapter, model.strategy == .lora {
            try adapter.write(to: adapterFile, backbone: model.backbone)
            manifest.training["adapter_sha256"] = try SHA256.hex(fileAt: adapterFile.path)
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "transferkit-bundle"], to: weights.path)
        manifest.weightsSha256 = try SHA256.hex(fileAt: weights.path)
        try sealedEncoding(manifest, file: manifestFile.path).write(to: manifestFile, options: .atomic)
    }

    /// manifest.json's bytes for `manifest`, with `manifest_sha256` computed over the fields exactly as they read
    /// back (JSON numbers and key spellings included): encoded, decoded, sealed, encoded again until reading the
    /// bytes gives the sealed manifest.
    static func sealedEncoding(_ manifest: Manifest, file: String) throws -> Data {
        var current = manifest
        for _ in 0..<4 {
            let sealed = current.sealed()
            let data = try encoded(sealed)
            let back = try Manifest.decode(data, file: file)
            if back.canonicalSha256 == sealed.manifestSha256 { return data }
            current = back
        }
        throw BundleError.invalidValue(file: file, key: "(manifest)", value: "fields that change each time they are written",
                                       accepted: "values that read back as written")
    }

    /// manifest.json's bytes for `manifest` (snake_case keys, sorted, non-finite metrics as "nan", "inf", "-inf").
    static func encoded(_ manifest: Manifest) throws -> Data {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try enc.encode(manifest)
    }

    /// The manifest of the bundle at `directory`, fully checked: decoded strictly (``Manifest/decode(_:file:)``),
    /// every field validated (``validate(_:file:)``), and its `manifest_sha256` verified. Throws ``BundleError``.
    public static func manifest(at directory: URL) throws -> Manifest {
        let data = try readRegularFile("manifest.json", in: directory, limit: maxManifestBytes)
        return try manifest(from: data, file: directory.appendingPathComponent("manifest.json").path)
    }

    /// The manifest in manifest.json bytes `data` (`file` names it in errors): decoded strictly, validated, and its
    /// `manifest_sha256` verified — ``manifest(at:)`` without the file access.
    public static func manifest(from data: Data, file: String) throws(BundleError) -> Manifest {
        let m = try Manifest.decode(data, file: file)
        _ = try validate(m, file: file)
        let actual = m.canonicalSha256
        guard actual == m.manifestSha256 else { throw .manifestEdited(file: file, recorded: m.manifestSha256, actual: actual) }
        return m
    }

    /// The file beside the head that holds a ``Strategy/lora`` bundle's adapter.
    public static let adapterFileName = "adapter.safetensors"

    /// Loads a bundle; `backboneWeights` is the registry model's weights path (fetched by the caller). The head's
    /// weights are checked (keys, shapes, finiteness) before the backbone is built. A bundle holding an adapter
    /// (``Strategy/lora``, not merged) needs `adapterLoader`; its file must hash to the manifest's
    /// `training.adapter_sha256`.
    ///
    /// An int8-quantised bundle (the manifest records `training.quantization_sha256`) needs `quantizationLoader`,
    /// which puts its quantisation in place on the loaded model (the Quantization target's `QuantizedBundle.load`
    /// passes it); without one it is refused with ``BundleError/quantizedBundle(directory:)`` rather than run in fp32.
    public static func load(_ directory: URL, backboneWeights: String, adapterLoader: BackboneAdapterLoader? = nil,
                            quantizationLoader: BundleQuantizationLoader? = nil) throws -> TransferModel {
        let m = try manifest(at: directory)
        if m.training[quantizationHashKey] != nil && quantizationLoader == nil {
            throw BundleError.quantizedBundle(directory: directory.path)
        }
        let v = try validate(m, file: directory.appendingPathComponent("manifest.json").path)
        let weightsPath = try regularFilePath("weights.safetensors", in: directory, limit: maxWeightsBytes)
        let shown = directory.appendingPathComponent("weights.safetensors").path
        let actual: String
        do { actual = try SHA256.hex(fileAt: weightsPath) } catch { throw BundleError.unreadable(path: shown, reason: "\(error)") }
        guard actual == m.weightsSha256 else { throw BundleError.weightsHash(file: shown, expected: m.weightsSha256, actual: actual) }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: weightsPath) } catch { throw BundleError.weights(file: shown, key: nil, reason: error.description) }
        let headTensors = try headState(file, manifest: m, kind: v.head)

        let reading = try longTexts(m, file: directory.appendingPathComponent("manifest.json").path)
        let backbone = try FeatureBackbone(spec: v.spec, weightsPath: backboneWeights, longTexts: reading.policy, maxWindows: reading.maxWindows)
        if !m.includesBackbone && backbone.weightsSHA != m.backboneWeightsSha256 {
            throw BundleError.backboneHash(model: m.backbone, expected: m.backboneWeightsSha256, actual: backbone.weightsSHA)
        }
        guard backbone.dimension == m.headInputs else {
            throw BundleError.invalidValue(file: directory.appendingPathComponent("manifest.json").path, key: "head_inputs",
                                           value: "\(m.headInputs)", accepted: "\(backbone.dimension), the feature dimension of \(m.backbone)")
        }
        let head = Head(v.head, inputs: m.headInputs, outputs: m.headOutputs, hidden: m.headHidden)
        do { try head.load(headTensors) } catch { throw BundleError.weights(file: shown, key: nil, reason: error.description) }
        if m.includesBackbone {
            let state = try backboneState(file, backbone: backbone)
            do { try backbone.module.load(state) } catch { throw BundleError.weights(file: shown, key: nil, reason: error.description) }
        }
        let model = TransferModel(backbone: backbone, head: head, task: v.task, classNames: m.labels, strategy: v.strategy,
                                  thresholds: m.thresholds, scaling: m.targetScaling)
        if v.strategy == .lora && !m.includesBackbone {
            model.adapter = try loadAdapter(directory, manifest: m, backbone: backbone, loader: adapterLoader)
        }
        model.eval()
        try quantizationLoader?(directory, m, model)
        return model
    }
}

/// Puts the int8 quantisation of the bundle at `directory` (manifest `manifest`) in place on its loaded `model`
/// (see ``ModelBundle/load(_:backboneWeights:adapterLoader:quantizationLoader:)``).
public typealias BundleQuantizationLoader = (_ directory: URL, _ manifest: ModelBundle.Manifest, _ model: TransferModel) throws -> Void

extension ModelBundle {
    /// The manifest `training` key that records the SHA-256 of an int8 bundle's `quantization.json`.
    public static let quantizationHashKey = "quantization_sha256"
}

/// The file of an int8 bundle's quantisation plan.
let quantizationPlanFile = "quantization.json"

extension ModelBundle {
    /// The adapter of a LoRA bundle, its file checked against the manifest's `training.adapter_sha256` and attached
    /// to `backbone` by `loader`.
    static func loadAdapter(_ directory: URL, manifest m: Manifest, backbone: FeatureBackbone,
                            loader: BackboneAdapterLoader?) throws -> BackboneAdapter {
        let shown = directory.appendingPathComponent(adapterFileName).path
        guard let loader else { throw BundleError.adapterNeeded(file: shown, strategy: m.strategy) }
        let path = try regularFilePath(adapterFileName, in: directory, limit: maxWeightsBytes)
        let actual: String
        do { actual = try SHA256.hex(fileAt: path) } catch { throw BundleError.unreadable(path: shown, reason: "\(error)") }
        guard let expected = m.training["adapter_sha256"] else { throw BundleError.missingKey(file: directory.appendingPathComponent("manifest.json").path, key: "training.adapter_sha256") }
        guard actual == expected else { throw BundleError.weightsHash(file: shown, expected: expected, actual: actual) }
        return try loader(URL(fileURLWithPath: path), backbone)
    }
}

extension TaskKind {
    /// The name in manifests and metrics reports: classification, multilabel, regression.
    public var reportName: String {
        switch self {
        case .classification: "classification"
        case .multiLabel: "multilabel"
        case .regression: "regression"
        }
    }

    public init?(reportName: String) {
        guard let t = [TaskKind.classification, .multiLabel, .regression].first(where: { $0.reportName == reportName }) else { return nil }
        self = t
    }
}
