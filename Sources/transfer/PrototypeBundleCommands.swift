import ArgumentParser
import Assets
import FewShot
import Foundation
import HeadFitting
import Models
import TransferKit

/// `transfer bundle`: prototype bundles — nearest-class-mean classifiers that grow by a class without training.
struct PrototypeBundleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Prototype bundles: create from labelled data, add a class from a few examples (no training), predict.",
        subcommands: [BundleCreateCommand.self, BundleAddClassCommand.self, BundlePredictCommand.self])
}

/// Examples given on the command line: image files for an image model, text files (read whole) for a text model.
func exampleInputs(_ paths: [String], textModel: Bool) throws -> [LabeledInput] {
    try paths.map { p in
        guard FileManager.default.isReadableFile(atPath: p) else { throw RuntimeError("\(p): no such readable file") }
        guard textModel else { return .image(path: p) }
        do { return .text(try String(contentsOfFile: p, encoding: .utf8), source: p) } catch {
            throw RuntimeError("\(p): \(FileErrors.reason(error))")
        }
    }
}

/// The bundle at `path` and its backbone, checked to be the bundle's.
func loadPrototypeBundle(_ path: String) async throws -> (PrototypeBundle, FewShotFeatures) {
    let bundle: PrototypeBundle
    do { bundle = try PrototypeBundle.load(path) } catch { throw RuntimeError("\(error)") }
    let f = try await fewShotFeatures(model: bundle.info.backbone, maxTokens: nil)
    guard f.backbone.weightsSHA == bundle.info.backboneWeightsSha256 else {
        throw RuntimeError("\(path): made with \(bundle.info.backbone) weights \(bundle.info.backboneWeightsSha256.prefix(12))…, these are \(f.backbone.weightsSHA.prefix(12))…")
    }
    return (bundle, f)
}

struct BundleCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a prototype bundle from a labelled folder or table.")
    @Option(name: .long, help: "A registry model.") var model: String
    @Option(name: .long, help: "A folder of class folders, or a labelled table.") var data: String
    @Option(name: .long, help: "The bundle directory to write.") var output: String
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("--model must name a registry model (received an empty string)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a path (received an empty string)") }
        try requireDirectoryPath("--output", output, holds: "the bundle")
    }

    func run() async throws {
        let labelled = try loadData(data, task: .classification)
        let f = try await fewShotFeatures(model: model, maxTokens: nil)
        let r = f.features(labelled.inputs, progress: progressLine("features", json: json))
        for (p, why) in r.failed { printErr("skipped \(p): \(why)") }
        var bundle = try PrototypeBundle(backbone: model, weightsSha256: f.backbone.weightsSHA, features: r.features,
                                         labels: r.kept.map { labelled.labels[$0] }, labelNames: labelled.classNames)
        try bundle.save(to: URL(fileURLWithPath: output))
        let counts = Dictionary(uniqueKeysWithValues: zip(bundle.labels, bundle.info.counts))
        if json { print(try jsonString(["bundle": output, "model": model, "classes": counts] as [String: Any])) } else {
            print("prototype bundle \(output): \(bundle.labels.count) classes from \(r.kept.count) examples")
        }
    }
}

struct BundleAddClassCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-class", abstract: "Add a class to a prototype bundle from a few examples, without training.")
    @Argument(help: "The prototype bundle directory.") var bundle: String
    @Option(name: .long, help: "The new class's name.") var label: String
    @Argument(help: "Example files of the new class (images, or .txt files for a text model).") var examples: [String]
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard !label.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--label must be a class name (received an empty string)") }
        guard !examples.isEmpty else { throw ValidationError("give at least one example file of the new class") }
    }

    func run() async throws {
        var (b, f) = try await loadPrototypeBundle(bundle)
        let r = f.features(try exampleInputs(examples, textModel: f.embedder != nil))
        for (p, why) in r.failed { printErr("skipped \(p): \(why)") }
        do { try b.addClass(label, features: r.features) } catch { throw RuntimeError("\(bundle): \(error)") }
        try b.save(to: URL(fileURLWithPath: bundle))
        if json { print(try jsonString(["bundle": bundle, "label": label, "examples": r.kept.count, "classes": b.labels] as [String: Any])) } else {
            print("added \(label) (\(r.kept.count) examples): \(b.labels.count) classes")
        }
    }
}

struct BundlePredictCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predict", abstract: "Predict the class of inputs with a prototype bundle.")
    @Argument(help: "The prototype bundle directory.") var bundle: String
    @Argument(help: "Input files (images, or .txt files for a text model).") var inputs: [String]
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws { guard !inputs.isEmpty else { throw ValidationError("give at least one input file") } }

    func run() async throws {
        let (b, f) = try await loadPrototypeBundle(bundle)
        let ins = try exampleInputs(inputs, textModel: f.embedder != nil)
        let r = f.features(ins)
        for (p, why) in r.failed { printErr("skipped \(p): \(why)") }
        let p = b.predict(r.features), k = b.labels.count
        let rows = r.kept.enumerated().map { j, i -> [String: Any] in
            ["input": inputs[i], "label": b.labels[p.classes[j]], "similarity": p.scores[j * k + p.classes[j]]]
        }
        if json { print(try jsonString(["bundle": bundle, "predictions": rows] as [String: Any])) } else {
            for row in rows { print("\(row["label"]!)\t\(row["input"]!)") }
        }
    }
}
