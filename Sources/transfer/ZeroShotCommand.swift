import ArgumentParser
import FewShot
import Foundation
import HeadFitting
import TransferKit

/// `transfer zeroshot`: text classification from label names alone (templated label embeddings, cosine).
struct ZeroShotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zeroshot",
        abstract: "Classify texts with no examples: cosine between each text and its templated label names' embeddings.")

    @Option(name: .long, help: "A sentence-embedding registry model.") var model = "minilm-l6"
    @Option(name: .long, help: "Comma-separated labels (names or short descriptions), at least two.") var labels: String
    @Option(name: .long, help: "A template with {} where the label goes (repeat to average several).")
    var template: [String] = []
    @Option(name: .long, help: "A text to classify (repeatable).") var text: [String] = []
    @Option(name: .long, help: "A labelled folder or table: accuracy when its class names are the labels.") var data: String?
    @Option(name: .long, help: "Truncate texts to this many tokens.") var maxTokens: Int?
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    var labelList: [String] { labels.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
    var templates: [String] { template.isEmpty ? [ZeroShotClassifier.defaultTemplate] : template }

    func validate() throws {
        do { try ZeroShotClassifier.validate(labels: labelList, templates: templates) } catch { throw ValidationError("\(error)") }
        guard text.isEmpty != (data == nil) else { throw ValidationError("give either --text (one or more) or --data, not both and not neither") }
        if let data, data.isEmpty { throw ValidationError("--data must be a path (received an empty string)") }
        if let maxTokens { try requireWhole("--max-tokens", maxTokens, atLeast: 2) }
    }

    func run() async throws {
        let f = try await fewShotFeatures(model: model, maxTokens: maxTokens)
        guard let embedder = f.embedder else { throw ValidationError("--model \(model) is not a text model") }
        let zs = try ZeroShotClassifier(labels: labelList, templates: templates) { embedder.embed($0) }
        if let data {
            let labelled = try loadData(data, task: .classification)
            let r = f.features(labelled.inputs, progress: progressLine("features", json: json))
            let predicted = zs.predict(r.features)
            // A data class counts when one label has its name (case-insensitive).
            let lower = labelList.map { $0.lowercased() }
            let mapping = labelled.classNames.map { lower.firstIndex(of: $0.lowercased()) }
            var out: [String: Any] = ["model": model, "data": data, "labels": labelList, "templates": templates, "texts": r.kept.count,
                                      "predicted_counts": Dictionary(uniqueKeysWithValues: labelList.indices.map { l in (labelList[l], predicted.filter { $0 == l }.count) })]
            if mapping.allSatisfy({ $0 != nil }) {
                let truth = r.kept.map { mapping[labelled.labels[$0]]! }
                out["accuracy"] = Double(zip(predicted, truth).filter { $0 == $1 }.count) / Double(Swift.max(truth.count, 1))
            } else if !json {
                printErr("no accuracy: the data's classes (\(labelled.classNames.joined(separator: ", "))) are not all among --labels")
            }
            if json { print(try jsonString(out)) } else {
                if let a = out["accuracy"] as? Double { print(String(format: "zero-shot accuracy %.2f%% on %d texts", a * 100, r.kept.count)) }
                for l in labelList.indices { print("\(labelList[l]): \(predicted.filter { $0 == l }.count)") }
            }
            return
        }
        let x = FeatureMatrix(embedder.embed(text))
        let scores = zs.scores(x), k = labelList.count
        let rows = text.indices.map { i -> [String: Any] in
            let s = Array(scores[(i * k)..<((i + 1) * k)])
            let best = s.indices.max { s[$0] < s[$1] }!
            return ["text": text[i], "label": labelList[best], "scores": Dictionary(uniqueKeysWithValues: labelList.indices.map { (labelList[$0], s[$0]) })]
        }
        if json { print(try jsonString(["model": model, "templates": templates, "predictions": rows] as [String: Any])) } else {
            for r in rows { print("\(r["label"]!)\t\(r["text"]!)") }
        }
    }
}
