import Adapters
import Datasets
import Foundation
import Models
import MultiTask
import TransferKit

/// What a served model is, as `GET /v1/models` lists it.
public struct ServedModelInfo: Codable, Sendable, Equatable {
    /// The `{name}` of `/v1/models/{name}/predict`.
    public let name: String
    /// `bundle` (written by `transfer train`) or `pretrained` (a registry model with its ImageNet classifier).
    public let kind: String
    /// The bundle's directory or the registry name.
    public let source: String
    /// `image` or `text`: what `predict` takes.
    public let modality: String
    public let backbone: String
    /// classification, multi_label or regression.
    public let task: String
    public let labels: Int
    /// When this version was loaded (ISO 8601, UTC).
    public let loadedAt: String
    /// 1 for the first load under this name, then one more per replacement.
    public var version: Int

    enum CodingKeys: String, CodingKey {
        case name, kind, source, modality, backbone, task, labels, version
        case loadedAt = "loaded_at"
    }
}

/// One input of a prediction request: an uploaded image saved to a file, or a text.
public enum ServingInput: Sendable {
    case imageFile(path: String, name: String)
    case text(String)

    var name: String {
        switch self {
        case .imageFile(_, let name): name
        case .text(let t): t
        }
    }
}

/// A model ready to load: the resolved backbone weights file, fetched (and SHA-256 verified) before the load.
public struct ModelSource: Sendable {
    public internal(set) var info: ServedModelInfo
    let weights: String
    let bundle: URL?
    let spec: ModelSpec

    /// Resolves `model`, a bundle directory or a registry name, served under `name` (default: the bundle's directory
    /// name without extension, or the registry name). Fetches the backbone weights when not cached.
    public static func resolve(_ model: String, name: String? = nil) async throws(ServingError) -> ModelSource {
        let url = URL(fileURLWithPath: model)
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory)
        if exists && isDirectory.boolValue {
            if MultiTaskBundle.isBundle(url) {
                throw ServingError(.unprocessableContent, "unsupported_bundle", "\(model) is a multi-task bundle; serve bundles written by `transfer train`")
            }
            let manifest: ModelBundle.Manifest
            do { manifest = try ModelBundle.manifest(at: url) } catch {
                throw ServingError(.unprocessableContent, "not_a_bundle", "\(model) is not a bundle: \(error)")
            }
            let spec: ModelSpec
            do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch {
                throw ServingError(.unprocessableContent, "unknown_backbone", "\(model): \(error.description)")
            }
            let weights = try await fetchWeights(spec)
            let served = name ?? url.deletingPathExtension().lastPathComponent
            let info = ServedModelInfo(name: served, kind: "bundle", source: url.standardizedFileURL.path, modality: takesImages(spec) ? "image" : "text",
                                       backbone: manifest.backbone, task: manifest.task, labels: manifest.labels.count,
                                       loadedAt: ISO8601DateFormatter().string(from: Date()), version: 1)
            return ModelSource(info: info, weights: weights, bundle: url, spec: spec)
        }
        if exists {
            throw ServingError(.unprocessableContent, "not_a_bundle", "\(model) is a file; give a bundle directory or a model name (see `transfer models`)")
        }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: model) } catch {
            throw ServingError(.unprocessableContent, "unknown_model_source", "\(model) is neither a bundle directory nor a model name: \(error.description)")
        }
        guard takesImages(spec) else {
            throw ServingError(.unprocessableContent, "no_classifier", "\(model) is a text model without a classifier; serve a bundle trained on texts")
        }
        let weights = try await fetchWeights(spec)
        let info = ServedModelInfo(name: name ?? model, kind: "pretrained", source: model, modality: "image", backbone: model,
                                   task: "classification", labels: ImageNetClasses.names.count,
                                   loadedAt: ISO8601DateFormatter().string(from: Date()), version: 1)
        return ModelSource(info: info, weights: weights, bundle: nil, spec: spec)
    }

    static func fetchWeights(_ spec: ModelSpec) async throws(ServingError) -> String {
        do { return try await ModelRegistry.fetch(spec).path } catch {
            throw ServingError(.unprocessableContent, "weights_unavailable", "\(spec.name): \(error.description)")
        }
    }

    static func takesImages(_ spec: ModelSpec) -> Bool { spec.task != .sentenceEmbedding && spec.preprocessing != nil }
}
