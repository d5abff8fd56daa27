import Foundation
import Models
import Tensors
import Testing
import TransferKit
@testable import Explain

let minilmDirectory = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit/minilm-l6").path
let bbcDirectory = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit/datasets/bbc-news").path
let textAssetsPresent = FileManager.default.fileExists(atPath: minilmDirectory + "/model.safetensors")
    && FileManager.default.fileExists(atPath: bbcDirectory + "/sports/001.txt")

@Suite(.serialized) struct IntegratedGradientsTests {
    /// A real text classifier without training: MiniLM features and a nearest-centroid head (weights 20 × the mean
    /// embedding of six BBC News articles per class, business vs sports).
    func centroidBundle() throws -> TransferModel {
        let spec = try ModelRegistry.spec(named: "minilm-l6")
        let backbone = try FeatureBackbone(spec: spec, weightsPath: minilmDirectory)
        let classes = ["business", "sports"]
        var weights: [Float] = []
        for c in classes {
            let texts = try (1...6).map { try String(contentsOfFile: String(format: "%@/%@/%03d.txt", bbcDirectory, c, $0), encoding: .utf8) }
            let e = backbone.features(texts.map { .text($0, source: c) }, cache: nil).features.mean(axis: 0).toArray()
            weights += e.map { 20 * $0 }
        }
        let head = Head(.linear, inputs: backbone.dimension, outputs: 2)
        try head.load(["0.weight": Tensor(shape: [2, backbone.dimension], data: weights), "0.bias": .zeros([2]),
                       "input_mean": .zeros([backbone.dimension]), "input_std": .ones([backbone.dimension])])
        return TransferModel(backbone: backbone, head: head, task: .classification, classNames: classes, strategy: .features)
    }

    @Test(.enabled(if: textAssetsPresent, "needs minilm-l6 and bbc-news: transfer fetch minilm-l6; transfer datasets fetch bbc-news"))
    func attributionsSumToTheOutputDifferenceAndPointAtTheTopicWords() throws {
        let model = try centroidBundle()
        let text = "The striker scored twice as the club won the league title on Saturday."
        let r = try IntegratedGradients.attributions(model, text: text, steps: 48)
        print("IG: \(r.label) p=\(r.probability) baseline=\(r.baselineProbability) Σ=\(r.attributions.reduce(0, +)) gap=\(r.completenessGap)")
        print(zip(r.tokens, r.attributions).map { "\($0.0) \(String(format: "%+.4f", $0.1))" }.joined(separator: ", "))
        #expect(r.label == "sports")
        #expect(r.tokens.first == "[CLS]" && r.tokens.last == "[SEP]")
        #expect(r.attributions.first == 0 && r.attributions.last == 0)  // the baseline keeps [CLS] and [SEP]
        let difference = r.probability - r.baselineProbability
        #expect(abs(difference) > 0.05)
        // Completeness (Sundararajan et al. 2017, Proposition 1) up to the Riemann sum's error: within 5%.
        #expect(r.completenessGap <= 0.05 * abs(difference), "gap \(r.completenessGap) for f(x) − f(x′) = \(difference)")
        // The most positive tokens include a sports word.
        let top = r.attributions.indices.sorted { r.attributions[$0] > r.attributions[$1] }.prefix(4).map { r.tokens[$0] }
        #expect(top.contains { ["striker", "scored", "club", "league", "title", "won"].contains($0) }, "top tokens \(top)")
    }

    @Test(.enabled(if: textAssetsPresent, "needs minilm-l6"))
    func classIndicesOutsideTheBundleAreRefused() throws {
        #expect(throws: ExplainError.self) {
            let backbone = try FeatureBackbone(spec: try ModelRegistry.spec(named: "minilm-l6"), weightsPath: minilmDirectory)
            let model = TransferModel(backbone: backbone, head: Head(.linear, inputs: 384, outputs: 2), task: .classification,
                                      classNames: ["a", "b"], strategy: .features)
            _ = try IntegratedGradients.attributions(model, text: "x", classIndex: 3)
        }
    }
}
