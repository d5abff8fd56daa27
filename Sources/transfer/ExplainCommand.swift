import ArgumentParser
import Datasets
import Explain
import Foundation
import Models
import Reports
import Tensors
import TransferKit

extension CAMMethod: ExpressibleByArgument {}
extension DeletionCurve.Fill: ExpressibleByArgument {}

/// `transfer explain`: Grad-CAM / Grad-CAM++ overlays for images (pretrained models and image bundles), token
/// attributions by integrated gradients for text bundles (`--text`).
struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show what a model looks at: Grad-CAM overlays for images, integrated-gradients token attributions for texts.")

    @Option(name: .long, help: "A model name (see `transfer models`) or a bundle written by `transfer train`.")
    var model: String

    @Option(name: .long, help: "Weights file for models without a registry source (resnet*).")
    var weights: String?

    @Option(name: .long, help: "gradcam or gradcam++ (images).")
    var method: CAMMethod = .gradcam

    @Option(name: .long, help: "The class to explain (a name or an index); default: each input's predicted class.")
    var `class`: String?

    @Option(name: .long, help: "Target layer: a feature map (head, stage5, layer4, …) or a module key path (default: head for EfficientNet-Lite, layer4 for ResNet).")
    var layer: String?

    @Option(name: .long, help: "Steps of the deletion curve (faithfulness; 0 skips it).")
    var deletionSteps = 10

    @Option(name: .long, help: "Side of the square patches the deletion curve removes, 1…64 pixels.")
    var deletionPatch = 32

    @Option(name: .long, help: "What removed pixels become: blur (a Gaussian blur of the image, σ = 10 px) or mean (the image's channel means).")
    var deletionFill: DeletionCurve.Fill = .blur

    @Option(name: .long, help: "Integrated-gradients steps for texts (8…256).")
    var igSteps = 48

    @Option(name: .long, help: "Directory for the overlay PNGs (or the text HTML).")
    var out: String

    @Flag(name: .long, help: "Inputs are texts (for a bundle trained on texts).")
    var text = false

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    @Argument(help: "Image files (or texts with --text).")
    var inputs: [String] = []

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one image file (or texts with --text)") }
        guard !model.isEmpty else { throw ValidationError("--model must name a model or a bundle (received an empty string)") }
        guard !out.isEmpty else { throw ValidationError("--out must be a directory path (received an empty string)") }
        try requireWhole("--deletion-steps", deletionSteps, in: 0...100)
        try requireWhole("--ig-steps", igSteps, in: 8...256)
        try requireWhole("--deletion-patch", deletionPatch, in: 1...64)
        if let layer, layer.isEmpty { throw ValidationError("--layer must be a feature map or module key path (received an empty string)") }
        if let c = `class`, c.isEmpty { throw ValidationError("--class must be a class name or index (received an empty string)") }
        try requireDirectoryPath("--out", out, holds: "the explanations")
    }

    func run() async throws {
        let outURL = URL(fileURLWithPath: out)
        if text { return try await runText(outURL) }
        let classifier = try await loadImageClassifier()
        let target = layer.map { CAMLayer.parse($0, for: classifier.network) }
        let start = Date()
        let result: (explanations: [ImageExplanation], failed: [(String, String)])
        do {
            result = try ImageExplainer.explain(
                classifier, files: inputs, method: method, classLabel: `class`, layer: target, deletionSteps: deletionSteps,
                deletionPatch: deletionPatch, deletionFill: deletionFill,
                progress: json ? nil : { done, total in ProgressLine.draw("explain", done: done, total: total, start: start) })
        } catch { throw ValidationError(error.description) }
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        var rows: [[String: Any]] = []
        for (i, e) in result.explanations.enumerated() {
            let base = ((e.source as NSString).lastPathComponent as NSString).deletingPathExtension
            let file = outURL.appendingPathComponent(String(format: "%03d-%@-%@.png", i, base, method == .gradcam ? "gradcam" : "gradcampp"))
            try Data(PNGEncoder.encode(e.overlay)).write(to: file)
            var row: [String: Any] = ["input": e.source, "class": e.classIndex, "label": e.label,
                                      "probability": Double(e.probability), "overlay": file.path]
            if let d = e.deletionAUC, let r = e.randomDeletionAUC { row["deletion_auc"] = d; row["random_deletion_auc"] = r }
            rows.append(row)
            if !json {
                let faith = e.deletionAUC.map { String(format: "  deletion AUC %.3f (random %.3f)", $0, e.randomDeletionAUC ?? 0) } ?? ""
                print(String(format: "%@  %@ %.1f%%%@  → %@", e.source, e.label, e.probability * 100, faith, file.path))
            }
        }
        for f in result.failed { printErr("error: \(f.0): \(f.1)") }
        let aucs = result.explanations.compactMap(\.deletionAUC), random = result.explanations.compactMap(\.randomDeletionAUC)
        if json {
            var obj: [String: Any] = ["method": method.rawValue, "layer": target?.description ?? CAMLayer.defaultLayer(for: classifier.network).description,
                                      "images": rows, "failed": result.failed.map { ["input": $0.0, "reason": $0.1] }]
            if !aucs.isEmpty {
                obj["mean_deletion_auc"] = aucs.reduce(0, +) / Double(aucs.count)
                obj["mean_random_deletion_auc"] = random.reduce(0, +) / Double(random.count)
                obj["deletion"] = ["steps": deletionSteps, "patch": deletionPatch, "fill": deletionFill.rawValue]
            }
            print(try jsonString(jsonSafe(obj)))
        } else if !aucs.isEmpty {
            print(String(format: "mean deletion AUC %.3f, random order %.3f (lower is more faithful; %d-px patches, %@ fill)",
                         aucs.reduce(0, +) / Double(aucs.count), random.reduce(0, +) / Double(random.count), deletionPatch, deletionFill.rawValue))
        }
        if !result.failed.isEmpty { throw ExitCode.failure }
    }

    /// The image model of `--model`: a pretrained registry model with its ImageNet classifier, or an image bundle.
    func loadImageClassifier() async throws -> ImageClassifier {
        switch modelPathKind(model) {
        case .bundle:
            let bundle = try await loadBundle()
            guard let c = ImageClassifier(bundle: bundle) else {
                throw ValidationError("\(model) was trained on texts (\(bundle.backbone.spec.name)): pass --text and give texts")
            }
            return c
        case .notADirectory: break
        case let kind: throw notABundleError(model, kind)
        }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
        guard let prep = spec.preprocessing, takesImages(spec) else {
            throw ValidationError("\(model) is a text model without a classifier; explain texts with a bundle trained on texts (--text)")
        }
        let path = try await resolveVisionWeights(spec, weights: weights)
        let net: any VisionBackbone
        do { net = try Pretrained.loadVision(spec, weights: path) } catch { throw RuntimeError(error.description) }
        return ImageClassifier(network: net, head: nil, classNames: ImageNetClasses.names, preprocessing: prep)
    }

    func loadBundle() async throws -> TransferModel {
        let manifest: ModelBundle.Manifest
        do { manifest = try ModelBundle.manifest(at: URL(fileURLWithPath: model)) } catch { throw RuntimeError("\(error)") }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch { throw RuntimeError("\(model): \(error.description)") }
        return try ModelBundle.load(URL(fileURLWithPath: model), backboneWeights: try await backboneWeights(spec))
    }
}

extension ExplainCommand {
    /// Integrated-gradients token attributions of texts under a text bundle: printed, and written as highlighted
    /// HTML (`DIR/attributions.html`).
    func runText(_ outURL: URL) async throws {
        guard modelPathKind(model) == .bundle else {
            throw ValidationError("--text explains a bundle trained on texts; \(echo(model)) is not a bundle (a pretrained text model has no classes to explain)")
        }
        let bundle = try await loadBundle()
        guard bundle.backbone.encoder is TextEncoder else {
            throw ValidationError("\(model) was trained on images (\(bundle.backbone.spec.name)); --text applies to bundles trained on texts")
        }
        guard bundle.task == .classification else {
            throw ValidationError("\(model) is a \(bundle.task.reportName) model; token attributions explain a class of a classification bundle")
        }
        var cls: Int?
        if let label = `class` {
            if let i = bundle.classNames.firstIndex(where: { $0.lowercased() == label.lowercased() }) { cls = i }
            else if let i = Int(label), i >= 0, i < bundle.classNames.count { cls = i }
            else { throw ValidationError("--class \(echo(label)): not one of \(bundle.classNames.joined(separator: ", ")) (or an index 0…\(bundle.classNames.count - 1))") }
        }
        var results: [TokenAttributions] = []
        for text in inputs {
            do { results.append(try IntegratedGradients.attributions(bundle, text: text, classIndex: cls, steps: igSteps)) } catch {
                throw ValidationError(error.description)
            }
        }
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        let page = outURL.appendingPathComponent("attributions.html")
        let entries = results.map { r in
            AttributionHTML.Entry(title: "\(r.label) (\(String(format: "%.1f%%", r.probability * 100)))", tokens: r.tokens, scores: r.attributions,
                                  note: String(format: "integrated gradients, %d steps; Σ attributions %.4f vs f(x) − f(baseline) %.4f",
                                               igSteps, r.attributions.reduce(0, +), r.probability - r.baselineProbability))
        }
        try Data(AttributionHTML.html(title: "Token attributions — \((model as NSString).lastPathComponent)", entries: entries).utf8).write(to: page)
        if json {
            let rows: [[String: Any]] = results.map { r in
                ["text": r.text, "label": r.label, "class": r.classIndex, "probability": r.probability,
                 "baseline_probability": r.baselineProbability, "completeness_gap": r.completenessGap,
                 "tokens": zip(r.tokens, r.attributions).map { ["token": $0.0, "attribution": $0.1] }]
            }
            print(try jsonString(jsonSafe(["method": "integrated-gradients", "steps": igSteps, "texts": rows, "html": page.path])))
            return
        }
        for r in results {
            print(String(format: "%@ %.1f%%  (baseline %.1f%%, completeness gap %.4f)", r.label, r.probability * 100,
                         r.baselineProbability * 100, r.completenessGap))
            let order = r.attributions.indices.sorted { Swift.abs(r.attributions[$0]) > Swift.abs(r.attributions[$1]) }.prefix(8)
            print("  " + order.map { String(format: "%@ %+.4f", r.tokens[$0], r.attributions[$0]) }.joined(separator: ", "))
        }
        print("→ \(page.path)")
    }
}
