import Foundation
import HeadFitting
import Tensors

/// Zero-shot text classification by embedding similarity: each label is put into one or more templates
/// ("This article is about {}."), embedded by a sentence encoder and averaged; a text goes to the label whose
/// embedding is nearest by cosine (the embedding-similarity approach of SetFit's zero-shot baseline and of
/// sentence-transformers, instead of the NLI entailment of the transformers `zero-shot-classification` pipeline).
public struct ZeroShotClassifier {
    /// SetFit's default template (`get_templated_dataset`: "This sentence is {}").
    public static let defaultTemplate = "This sentence is {}."

    public let labels: [String]
    public let templates: [String]
    /// `[labels, dimension]`, L2-normalised.
    public let labelEmbeddings: FeatureMatrix

    /// The templated sentences of `label`.
    public static func sentences(label: String, templates: [String]) -> [String] {
        templates.map { $0.replacingOccurrences(of: "{}", with: label) }
    }

    /// Checks the labels (at least two, none empty, no repeats) and templates (each with one `{}`).
    public static func validate(labels: [String], templates: [String]) throws(FewShotError) {
        guard labels.count >= 2 else {
            throw .invalidOption(name: "--labels", value: labels.joined(separator: ","), accepted: "at least two comma-separated labels")
        }
        if let bad = labels.first(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw .invalidOption(name: "--labels", value: "'\(bad)'", accepted: "non-empty labels")
        }
        guard Set(labels).count == labels.count else {
            throw .invalidOption(name: "--labels", value: labels.joined(separator: ","), accepted: "distinct labels")
        }
        for t in templates where t.components(separatedBy: "{}").count != 2 {
            throw .invalidOption(name: "--template", value: "'\(t)'", accepted: "a template with exactly one {} where the label goes")
        }
    }

    /// Embeds the templated labels with `embed` (texts → `[n, dimension]`).
    public init(labels: [String], templates: [String] = [defaultTemplate], embed: ([String]) -> Tensor) throws(FewShotError) {
        try Self.validate(labels: labels, templates: templates)
        self.labels = labels; self.templates = templates
        let all = labels.flatMap { Self.sentences(label: $0, templates: templates) }
        let e = FeatureMatrix(embed(all)).l2Normalized()
        var means = [Double](repeating: 0, count: labels.count * e.columns)
        for l in labels.indices {
            for t in templates.indices { for j in 0..<e.columns { means[l * e.columns + j] += e.values[(l * templates.count + t) * e.columns + j] } }
        }
        labelEmbeddings = FeatureMatrix(values: means, rows: labels.count, columns: e.columns).l2Normalized()
    }

    /// Cosine similarities `[texts, labels]` of text embeddings.
    public func scores(_ embeddings: FeatureMatrix) -> [Double] {
        Prototypes(centres: labelEmbeddings, metric: .cosine).scores(embeddings)
    }

    /// The label index of each text embedding.
    public func predict(_ embeddings: FeatureMatrix) -> [Int] { argmaxRows(scores(embeddings), classes: labels.count) }
}
