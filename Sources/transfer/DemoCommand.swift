import ArgumentParser
import Datasets
import Foundation
import Models
import Tensors
import Reports
import TransferKit

/// `transfer demo`: the main job on real weights and data, end to end.
///
/// Fetches EfficientNet-Lite0, exports a stratified subset of Fashion-MNIST (training images from the official
/// train split, test images from the official test split) as PNG class folders, trains with the fine-tune
/// strategy, evaluates on the test images, and writes a bundle.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Fine-tune EfficientNet-Lite0 on a Fashion-MNIST sample (real weights, real data).")

    @Option(name: .long, help: "Working directory for the exported images and the bundle.")
    var out = "demo-output"
    @Option(name: .long, help: "Training images per class (from the official train split), 1…6000.")
    var perClass = 100
    @Option(name: .long, help: "Test images per class (from the official test split), 1…1000.")
    var testPerClass = 100
    @Option(name: .long, help: "Fine-tuning epochs, 1…100000.")
    var epochs = 10
    @Option(name: .long, help: "Random seed, 0…18446744073709551615.")
    var seed: UInt64 = 0
    @Flag(name: .long, help: "Print one JSON object at the end.")
    var json = false

    func validate() throws {
        // Fashion-MNIST has 6000 training and 1000 test images per class.
        try requireWhole("--per-class", perClass, in: 1...6000)
        try requireWhole("--test-per-class", testPerClass, in: 1...1000)
        try requireWhole("--epochs", epochs, in: 1...TrainOptions.epochRange.upperBound)
        guard !out.isEmpty else { throw ValidationError("--out must be a directory path (received an empty string)") }
        try requireDirectoryPath("--out", out, holds: "the demo's output")
    }

    func run() async throws {
        let start = Date()
        let root = URL(fileURLWithPath: out)
        // Only a previous demo's output is replaced: never a folder that holds anything else.
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        if !entries.isEmpty && !Set(entries).isSubset(of: ["train", "test", "fashion-mnist.transferkit", "report"]) {
            throw RuntimeError("--out \(out) holds other files than a demo's output (\(entries.count) entries); choose a new or empty directory")
        }
        try? FileManager.default.removeItem(at: root)
        let spec = try DatasetRegistry.spec(named: "fashion-mnist")
        say("exporting Fashion-MNIST: \(perClass) train + \(testPerClass) test images per class into \(out)/")
        do {
            _ = try DatasetRegistry.export(spec, split: "train", perClass: perClass, to: root.appendingPathComponent("train").path, seed: seed)
            _ = try DatasetRegistry.export(spec, split: "test", perClass: testPerClass, to: root.appendingPathComponent("test").path, seed: seed)
        } catch { throw RuntimeError(error.description) }
        let model = try ModelRegistry.spec(named: "efficientnet-lite0")
        say("fetching \(model.name) weights")
        let weights = try await backboneWeights(model)
        let backbone = try FeatureBackbone(spec: model, weightsPath: weights)
        var options = TrainOptions()
        options.strategy = .fineTune
        options.unfreeze = backbone.defaultUnfreeze
        options.fineTuneEpochs = epochs
        options.seed = seed
        options.progress = !json
        let all = try LabeledData.load(root.appendingPathComponent("train").path)
        let (train, valid) = try all.split(validation: 0.1, seed: seed)
        say("training: \(train.inputs.count) images, \(valid.inputs.count) for validation; strategy fine-tune (head, then the last two stages)")
        let result = try TransferTrainer(backbone: backbone, options: options).train(train, validation: valid)
        let test = try LabeledData.load(root.appendingPathComponent("test").path)
        let (report, _, mistakes) = try result.model.evaluateWithMistakes(test, mistakes: 12)
        guard case .classification(let metrics) = report else { throw RuntimeError("the demo's Fashion-MNIST evaluation did not classify") }
        let bundle = root.appendingPathComponent("fashion-mnist.transferkit")
        try ModelBundle.save(result.model, to: bundle, training: ["demo": "fashion-mnist", "seed": String(seed)],
                             metrics: ["test_accuracy": metrics.accuracy, "test_macro_f1": metrics.macroF1])
        let seconds = Date().timeIntervalSince(start)
        let reportDir = root.appendingPathComponent("report")
        try HTMLReport.write(to: reportDir, title: "Demo: EfficientNet-Lite0 fine-tuned on Fashion-MNIST",
                             history: TrainingHistory(epochs: result.history), validation: nil, test: .classification(metrics),
                             mistakes: mistakes, config: ["model": "efficientnet-lite0", "strategy": "fine-tune", "train_per_class": String(perClass),
                                                          "test_per_class": String(testPerClass), "seed": String(seed)],
                             skippedFiles: result.skipped)
        if json {
            print(try jsonString(["bundle": bundle.path, "report": reportDir.path + "/report.html", "seconds": seconds, "test": try metricsObject(metrics)]))
        } else {
            print("\nFashion-MNIST test images (\(testPerClass) per class):")
            print(metrics.terminalSummary())
            print(String(format: "bundle: %@\nreport: %@/report.html\ntotal time: %.0f s", bundle.path, reportDir.path, seconds))
        }
    }

    func say(_ s: String) { if !json { printErr(s) } }
}
