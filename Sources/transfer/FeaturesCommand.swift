import ArgumentParser
import Assets
import Foundation
import HeadFitting
import Models
import Tensors
import TransferKit

/// `transfer features`: export a backbone's cached features of a dataset, split as `transfer train` splits it.
struct FeaturesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Export a pretrained model's features of labelled data as CSV (split as `transfer train` splits it).")

    @Option(name: .long, help: "Pretrained model (see `transfer models`).") var model: String
    @Option(name: .long, help: "An image folder, a text folder, or a CSV (classification).") var data: String
    @Option(name: .long, help: "Separate test data (rows with split 'test').") var test: String?
    @Option(name: .long, help: "Validation fraction of --data, in [0, 1) (as `transfer train --val-split`; default 0, as train with its default logistic head).") var valSplit = 0.0
    @Option(name: .long, help: "Random seed of the split, as `transfer train --seed`.") var seed: UInt64 = 0
    @Option(name: .long, help: "The CSV file to write (columns split,label,input,f0,…).") var out: String
    @Flag(name: .long, help: "Print one JSON object at the end.") var json = false

    @OptionGroup var precisionOption: PrecisionOption
    @OptionGroup var longText: LongTextOption

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("--model must name a pretrained model (received an empty string; see `transfer models`)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a folder or a CSV (received an empty string)") }
        if let test, test.isEmpty { throw ValidationError("--test must be a folder or a CSV (received an empty string)") }
        guard (0..<1).contains(valSplit) else { throw ValidationError("--val-split must be a fraction in [0, 1) (received \(valSplit))") }
        guard out.hasSuffix(".csv") else { throw ValidationError("--out must be a .csv file path (received \(out.isEmpty ? "an empty string" : out))") }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDir), isDir.boolValue {
            throw ValidationError("--out \(out) is a directory; give a .csv file path")
        }
    }

    func run() async throws {
        try await withPrecision(try precisionOption.effective(model: model)) { try await execute() }
    }

    func execute() async throws {
        let start = Date()
        let spec = try pretrainedSpec(model)
        let all = try loadData(data, task: .classification)
        let testData = try test.map { try loadData($0, task: .classification) }
        try TrainingRun.checkData(all, dataName: data, test: testData, testName: test, modelName: model, modelTakesImages: takesImages(spec))
        let backbone = try FeatureBackbone(spec: spec, weightsPath: try await backboneWeights(spec), longTexts: longText.longTexts, maxWindows: longText.maxWindows)
        let table = try FeatureTable(backbone: backbone, data: all, test: testData, validationFraction: valSplit, seed: seed,
                                     cacheRoot: AssetStore.cacheRoot.appendingPathComponent("features"),
                                     progress: json ? nil : { name, done, total in ProgressLine.draw(name, done: done, total: total, start: start) })
        do { try Data(table.csv().utf8).write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
            throw RuntimeError("--out \(out): cannot write the file: \(FileErrors.reason(error))")
        }
        let seconds = Date().timeIntervalSince(start)
        if json {
            print(try jsonString(["file": out, "dimension": table.dimension, "rows": table.counts, "seconds": seconds,
                                  "skipped_files": table.skipped.map { ["path": $0.path, "reason": $0.reason] }]))
        } else {
            let counts = table.counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print(String(format: "%@: %d features per input (%@) in %.1f s", out, table.dimension, counts, seconds))
            for s in table.skipped { print("skipped \(s.path): \(s.reason)") }
        }
    }
}
