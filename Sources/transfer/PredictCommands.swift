import Adapters
import Assets
import ArgumentParser
import Dense
import Foundation
import Quantization
import Models
import MultiTask
import Tensors
import TransferKit

/// The weights file of an image model: `--weights`, else the registry's cache (fetched on demand).
func resolveVisionWeights(_ spec: ModelSpec, weights: String?) async throws -> String {
    if let weights { return weights }
    do { return try await ModelRegistry.fetch(spec) { printErr($0) }.path } catch { throw RuntimeError(error.description) }
}

/// `transfer predict`: ImageNet predictions of a pretrained model for image files.
struct PredictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predict", abstract: "Classify images with a pretrained model.")

    @Option(name: .long, help: "A model name (see `transfer models`) or a bundle written by `transfer train`.")
    var model: String

    @Option(name: .long, help: "Weights file for models without a registry source (resnet*), or to override it.")
    var weights: String?

    @Option(name: .long, help: "How many classes to show per input (at least 1).")
    var topK = 5

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Flag(name: .long, help: "Inputs are texts (for a bundle trained on text).")
    var text = false

    @Option(name: .long, help: "Folder for the mask PNGs and overlays of a segmentation bundle, or the boxes JSON and drawings of a detection bundle.")
    var output: String?

    @Argument(help: "JPEG or PNG files (or texts with --text).")
    var inputs: [String]

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one image file (or texts with --text)") }
        try requireWhole("--top-k", topK, atLeast: 1)
        guard !model.isEmpty else { throw ValidationError("--model must name a model or a bundle (received an empty string)") }
        if let weights, weights.isEmpty { throw ValidationError("--weights must be a file path (received an empty string)") }
    }

    @OptionGroup var precisionOption: PrecisionOption

    func run() async throws {
        try await withPrecision(try precisionOption.effective(model: model)) { try await execute() }
    }

    func execute() async throws {
        if SegmentationBundle.isBundle(model) { return try executeSegmentation() }
        if DetectionBundle.isBundle(model) { return try executeDetection() }
        if MultiTaskBundle.isBundle(URL(fileURLWithPath: model)) { return try await runMultiTaskBundle() }
        switch modelPathKind(model) {
        case .bundle: return try await runBundle()
        case .notADirectory: break
        case let kind: throw notABundleError(model, kind)
        }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
        guard let prep = spec.preprocessing else { throw ValidationError("\(model) is not an image model; use `transfer embed`") }
        if text {
            throw ValidationError("--text applies to bundles trained on texts; \(model) is a pretrained image model: give image files")
        }
        let path = try await resolveVisionWeights(spec, weights: weights)
        let net: any VisionBackbone
        do { net = try Pretrained.loadVision(spec, weights: path) } catch { throw RuntimeError(error.description) }
        let (predictions, failures) = Pretrained.predictions(net, preprocessing: prep, files: inputs, names: inputs,
                                                             labels: ImageNetClasses.names, topK: topK)
        for f in failures { printErr("error: \(f.1)") }
        let failed = !failures.isEmpty
        if json {
            print(try encodeJSON(predictions))
        } else {
            for p in predictions {
                print(p.input)
                for t in p.top { print(String(format: "  %6.2f%%  %@ (%d)", t.probability * 100, t.label, t.index)) }
            }
        }
        if failed { throw ExitCode.failure }
    }
}

extension PredictCommand {
    /// Predictions of a bundle written by `transfer train` (images, or texts with `--text`).
    func runBundle() async throws {
        let url = URL(fileURLWithPath: model)
        // The inputs must be of the bundle's modality: a text bundle classifies the arguments as texts only with
        // --text (without it they are file names, and answering them would mislead), an image bundle reads files.
        if let backbone = bundleBackbone(model), let spec = try? ModelRegistry.spec(named: backbone) {
            if !takesImages(spec) && !text {
                let files = inputs.filter { FileManager.default.fileExists(atPath: $0) || $0.contains("/") || $0.contains(".") }
                let hint = files.isEmpty ? "" : " (\(echo(files[0])) looks like a file name; a text bundle classifies the arguments themselves)"
                throw ValidationError("\(model) was trained on texts (\(backbone)): pass --text to classify the arguments as texts\(hint)")
            }
            if takesImages(spec) && text {
                throw ValidationError("\(model) was trained on images (\(backbone)); --text applies to bundles trained on texts: give image files")
            }
        }
        let manifest: ModelBundle.Manifest
        do { manifest = try ModelBundle.manifest(at: url) } catch { throw RuntimeError("\(error)") }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch { throw RuntimeError("\(model): \(error.description)") }
        let (bundle, _) = try QuantizedBundle.load(url, backboneWeights: try await backboneWeights(spec))
        let items: [LabeledInput] = text ? inputs.enumerated().map { .text($1, source: "text \($0)") } : inputs.map { .image(path: $0) }
        let (predictions, failed) = bundle.predictions(items, names: inputs, topK: topK)
        for f in failed { printErr("error: \(f.0): \(f.1)") }
        if json {
            print(try encodeJSON(predictions))
        } else {
            for p in predictions {
                print(p.input)
                if let v = p.value { print("  \(v)") }
                if let l = p.labels { print("  labels: \(l.joined(separator: ", "))") }
                for t in p.top { print(String(format: "  %6.2f%%  %@", t.probability * 100, t.label)) }
            }
        }
        if !failed.isEmpty { throw ExitCode.failure }
    }
}

/// `transfer embed`: sentence embeddings.
struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "embed", abstract: "Embed sentences with a text model.")

    @Option(name: .long, help: "A text model name (see `transfer models`) or a Hugging Face-style directory.")
    var model = "minilm-l6"

    @Option(name: .long, help: "A file with one text per line ('-' for stdin; a pipe such as <(…) is read to its end; at most 64 MiB of UTF-8).")
    var file: String?

    @Flag(name: .long, help: "Print JSON (the default output).")
    var json = false

    @Argument(help: "Texts to embed.")
    var texts: [String] = []

    @OptionGroup var precisionOption: PrecisionOption

    func run() async throws {
        try await withPrecision(try precisionOption.effective(model: model)) { try await execute() }
    }

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("--model must name a text model or a directory (received an empty string)") }
        if let file, file.isEmpty { throw ValidationError("--file must be a file path or - for stdin (received an empty string)") }
    }

    func execute() async throws {
        var all = texts
        if let file {
            let s = try readTextFile(file)
            all += s.split(whereSeparator: \.isNewline).map(String.init)
        }
        guard !all.isEmpty else { throw ValidationError("give texts as arguments or --file LINES.txt") }
        let directory: String
        switch modelPathKind(model) {
        case .bundle: throw ValidationError("--model \(model) is a trained bundle; embed takes a text model (see `transfer models`) or a Hugging Face-style directory")
        case .incompleteBundle: throw notABundleError(model, modelPathKind(model))
        case .otherDirectory, .notADirectory: break
        }
        if FileManager.default.fileExists(atPath: model) {
            directory = model
        } else if let url = URL(string: model), url.scheme == "http" || url.scheme == "https" {
            // A Hugging Face-style directory served over HTTP (sentence-transformers layout).
            let dest = AssetStore.directoryCache(for: url)
            do {
                try await AssetStore.downloadDirectory(
                    base: url, required: ["config.json", "vocab.txt", "model.safetensors"],
                    optional: ["tokenizer.json", "tokenizer_config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"],
                    into: dest)
            } catch { throw RuntimeError(error.description) }
            directory = dest.path
        } else {
            let spec: ModelSpec
            do { spec = try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
            guard spec.task == .sentenceEmbedding else { throw ValidationError("\(model) is not a text model; use `transfer predict`") }
            do { directory = try await ModelRegistry.fetch(spec) { printErr($0) }.path } catch { throw RuntimeError(error.description) }
        }
        let embedder: SentenceEmbedder
        do { embedder = try SentenceEmbedder(directory: directory) } catch { throw RuntimeError(error.description) }
        let e = withNoGrad { embedder.embed(all) }
        let d = e.shape[1], v = e.toArray()
        let rows: [[String: Any]] = all.enumerated().map { i, t in
            ["text": t, "embedding": v[(i * d)..<((i + 1) * d)].map { Double($0) }]
        }
        let data = try JSONSerialization.data(withJSONObject: jsonSafe(rows), options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
