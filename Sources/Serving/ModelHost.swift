import Adapters
import Datasets
import Explain
import Foundation
import Models
import Tensors
import TransferKit

/// A Grad-CAM explanation of one uploaded image (Selvaraju et al., 2017, "Grad-CAM: Visual Explanations from Deep
/// Networks via Gradient-based Localization"), computed by ``Explain/ImageExplainer``.
public struct ServedExplanation: Sendable {
    public let classIndex: Int
    public let label: String
    public let probability: Float
    /// The heat map over the image, as a PNG.
    public let overlayPNG: [UInt8]
}

/// One served model behind an actor: the modules (not `Sendable`) never leave it, and it computes one batch at a
/// time. Every host also takes ``computeLock`` around its forward passes, so two models never run at once on the
/// machine's cores (the tensor engine's threads are shared).
public actor ModelHost {
    public let info: ServedModelInfo
    private let bundle: TransferModel?
    private let network: (any VisionBackbone)?
    private let preprocessing: ImagePreprocessing?

    /// Serialises the forward passes of all hosts.
    static let computeLock = NSLock()

    /// Loads the model of `source` (the backbone weights are already resolved).
    public init(_ source: ModelSource) throws(ServingError) {
        info = source.info
        if let url = source.bundle {
            do { bundle = try LoRABundle.load(url, backboneWeights: source.weights) } catch {
                throw ServingError(.unprocessableContent, "bundle_unreadable", "\(url.path): \(error)")
            }
            network = nil; preprocessing = nil
        } else {
            do { network = try Pretrained.loadVision(source.spec, weights: source.weights) } catch {
                throw ServingError(.unprocessableContent, "weights_unreadable", "\(source.spec.name): \(error.description)")
            }
            preprocessing = source.spec.preprocessing
            bundle = nil
        }
    }

    /// Predictions of a batch, in input order: each input's prediction as `transfer predict --json` prints it for
    /// `topK` classes, or the reason it failed.
    public func predict(_ inputs: [ServingInput], topK: Int) -> [Result<Prediction, ServingError>] {
        let keys = inputs.indices.map { String($0) }
        var predictions: [Prediction] = [], failed: [(String, String)] = []
        Self.computeLock.withLock {
            if let bundle {
                let items: [LabeledInput] = inputs.enumerated().map { i, input in
                    switch input {
                    case .imageFile(let path, _): .image(path: path)
                    case .text(let t): .text(t, source: "text \(i)")
                    }
                }
                (predictions, failed) = bundle.predictions(items, names: keys, topK: topK)
            } else if let network, let preprocessing {
                let files = inputs.map { inputFile($0) ?? "" }
                (predictions, failed) = Pretrained.predictions(network, preprocessing: preprocessing, files: files, names: keys,
                                                               labels: ImageNetClasses.names, topK: topK)
            }
        }
        var out = [Result<Prediction, ServingError>](repeating: .failure(ServingError(.internalServerError, "no_output", "the model gave no output")), count: inputs.count)
        for p in predictions {
            guard let i = Int(p.input), inputs.indices.contains(i) else { continue }
            out[i] = .success(Prediction(input: inputs[i].name, top: p.top, labels: p.labels, value: p.value))
        }
        for (key, reason) in failed {
            guard let i = Int(key), inputs.indices.contains(i) else { continue }
            let message = reason.replacingOccurrences(of: inputFile(inputs[i]) ?? "\u{0}", with: inputs[i].name)
            out[i] = .failure(ServingError(.unprocessableContent, isImage ? "not_an_image" : "unreadable_input", "\(inputs[i].name): \(message)"))
        }
        return out
    }

    /// The Grad-CAM overlay of the image at `path` for its predicted class.
    public func explain(_ path: String, name: String) throws(ServingError) -> ServedExplanation {
        let classifier: ImageClassifier
        if let bundle {
            guard let c = ImageClassifier(bundle: bundle) else {
                throw ServingError(.badRequest, "explain_unsupported", "explain=1 applies to image models; \(info.name) takes texts")
            }
            classifier = c
        } else if let network, let preprocessing {
            classifier = ImageClassifier(network: network, head: nil, classNames: ImageNetClasses.names, preprocessing: preprocessing)
        } else {
            throw ServingError(.internalServerError, "no_model", "\(info.name) holds no model")
        }
        let result: (explanations: [ImageExplanation], failed: [(String, String)])
        Self.computeLock.lock()
        defer { Self.computeLock.unlock() }
        do {
            result = try ImageExplainer.explain(classifier, files: [path], deletionSteps: 0)
        } catch { throw ServingError(.unprocessableContent, "explain_failed", "\(name): \(error.description)") }
        guard let e = result.explanations.first else {
            let reason = result.failed.first?.1.replacingOccurrences(of: path, with: name) ?? "no explanation"
            throw ServingError(.unprocessableContent, "not_an_image", "\(name): \(reason)")
        }
        return ServedExplanation(classIndex: e.classIndex, label: e.label, probability: e.probability, overlayPNG: PNGEncoder.encode(e.overlay))
    }

    private var isImage: Bool { info.modality == "image" }

    private func inputFile(_ input: ServingInput) -> String? {
        if case .imageFile(let path, _) = input { return path }
        return nil
    }
}
