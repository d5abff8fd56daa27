import Foundation
import HeadFitting
import Models
import Testing
import Tensors
import TransferKit
@testable import FewShot

let cacheRoot = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"].map { URL(fileURLWithPath: $0) }
    ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit")
let minilm = cacheRoot.appendingPathComponent("minilm-l6").path
let bbc = cacheRoot.appendingPathComponent("datasets/bbc-news").path
let textAssets = FileManager.default.fileExists(atPath: minilm + "/model.safetensors")
    && FileManager.default.fileExists(atPath: bbc + "/sports/001.txt")
let bbcClasses = ["business", "entertainment", "politics", "sports", "tech"]

/// MiniLM truncated to 64 tokens (enough for a BBC headline and lead; keeps the tests to seconds).
func shortMiniLM() throws -> SentenceEmbedder {
    let e = try SentenceEmbedder(directory: minilm)
    return SentenceEmbedder(bert: e.bert, tokenizer: e.tokenizer, pooling: e.pooling, normalize: e.normalize, maxLength: 64,
                            lowercaseInput: e.lowercaseInput)
}

/// Articles `range` of each class (files 001.txt…).
func articles(_ range: ClosedRange<Int>, classes: [String] = bbcClasses) throws -> (texts: [String], labels: [Int]) {
    var texts: [String] = [], labels: [Int] = []
    for (c, name) in classes.enumerated() {
        for i in range {
            texts.append(try String(contentsOfFile: bbc + "/\(name)/" + String(format: "%03d.txt", i), encoding: .utf8))
            labels.append(c)
        }
    }
    return (texts, labels)
}

@Suite(.serialized) struct RealTextTests {
    @Test(.enabled(if: textAssets, "needs minilm-l6 and bbc-news: transfer fetch minilm-l6; transfer datasets fetch bbc-news"))
    func zeroShotFromClassNamesClassifiesBBCArticles() throws {
        let e = try shortMiniLM()
        let (texts, labels) = try articles(1...6)
        let zs = try ZeroShotClassifier(labels: ["business", "entertainment", "politics", "sport", "technology"],
                                        templates: ["This article is about {}."]) { e.embed($0) }
        let p = zs.predict(FeatureMatrix(e.embed(texts)))
        let accuracy = Double(zip(p, labels).filter { $0 == $1 }.count) / Double(labels.count)
        #expect(accuracy >= 0.6, "zero-shot accuracy \(accuracy) on 30 BBC articles (chance 0.2)")
        #expect(throws: FewShotError.self) { try ZeroShotClassifier(labels: ["a", "b"], templates: ["no slot"]) { e.embed($0) } }
    }

    @Test(.enabled(if: textAssets, "needs minilm-l6 and bbc-news"))
    func prototypeBundleGrowsAClassWithoutTrainingAndPredictsIt() throws {
        let e = try shortMiniLM()
        let four = Array(bbcClasses.prefix(4))
        let (texts, labels) = try articles(1...4, classes: four)
        var bundle = try PrototypeBundle(backbone: "minilm-l6", weightsSha256: "test", features: FeatureMatrix(e.embed(texts)),
                                         labels: labels, labelNames: four)
        let tech = try articles(1...4, classes: ["tech"]).texts
        let heldOut = try articles(5...9, classes: ["tech"]).texts
        #expect(bundle.predict(FeatureMatrix(e.embed(heldOut))).classes.allSatisfy { $0 < 4 })  // no tech class yet
        try bundle.addClass("tech", features: FeatureMatrix(e.embed(tech)))
        let p = bundle.predict(FeatureMatrix(e.embed(heldOut))).classes
        #expect(p.filter { $0 == 4 }.count >= 4, "held-out tech articles predicted \(p.map { bundle.labels[$0] })")
        #expect(throws: FewShotError.self) { try bundle.addClass("tech", features: FeatureMatrix(e.embed(tech))) }

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fewshot-bundle-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try bundle.save(to: dir)
        let back = try PrototypeBundle.load(dir.path)
        #expect(back.labels == bundle.labels && back.info.counts == [4, 4, 4, 4, 4])
        #expect(back.predict(FeatureMatrix(e.embed(heldOut))).classes == p)
        let tensors = dir.appendingPathComponent(PrototypeBundle.tensorsName)
        var bytes = try Data(contentsOf: tensors)
        bytes[bytes.count - 1] ^= 0x40
        try bytes.write(to: tensors)
        #expect(throws: ModelBundle.BundleError.self) { try PrototypeBundle.load(dir.path) }
    }

    @Test(.enabled(if: textAssets, "needs minilm-l6 and bbc-news"))
    func simpleShotAndLogisticEpisodesOnRealEmbeddingsBeatChance() throws {
        let e = try shortMiniLM()
        let (texts, labels) = try articles(1...8)
        let x = FeatureMatrix(e.embed(texts))
        let sampler = try EpisodeSampler(labels: labels, ways: 5, shots: 2, queries: 4)
        for m in [FewShotMethod.simpleshot, .protonet, .logistic] {
            let s = FeatureFewShotClassifier(method: m).evaluate(x, sampler: sampler, episodes: 30, seed: 3).summary
            #expect(s.mean > 0.6 && s.ci95 < 0.1, "\(m): \(s.mean) ± \(s.ci95) on 5-way 2-shot (chance 0.2)")
        }
        let t = FeatureFewShotClassifier(method: .simpleshot, transductive: true).evaluate(x, sampler: sampler, episodes: 30, seed: 3).summary
        #expect(t.mean > 0.6)
    }

    @Test(.enabled(if: textAssets, "needs minilm-l6 and bbc-news"))
    func setFitPullsSameClassPairsTogetherAndRestoresTheEncoder() throws {
        let e = try shortMiniLM()
        let e32 = SentenceEmbedder(bert: e.bert, tokenizer: e.tokenizer, pooling: e.pooling, normalize: e.normalize, maxLength: 32,
                                   lowercaseInput: e.lowercaseInput)
        let (texts, labels) = try articles(1...4, classes: ["business", "tech"])
        let held = try articles(5...8, classes: ["business", "tech"])
        func gap() -> Double {  // mean cosine of same-class minus different-class pairs of held-out articles
            let z = FeatureMatrix(e32.embed(held.texts)).l2Normalized()
            var same = [Double](), diff = [Double]()
            for i in 0..<z.rows { for j in (i + 1)..<z.rows {
                let c = zip(z.row(i), z.row(j)).map(*).reduce(0, +)
                if held.labels[i] == held.labels[j] { same.append(c) } else { diff.append(c) }
            } }
            return same.reduce(0, +) / Double(same.count) - diff.reduce(0, +) / Double(diff.count)
        }
        let before = gap()
        let reference = e32.embed([texts[0]]).toArray()
        var o = SetFitOptions()
        o.iterations = 4; o.batchSize = 16; o.learningRate = 5e-5; o.epochs = 2
        let after = WeightsSnapshot.restoring(e32) { () -> Double in
            let losses = SetFit.fineTune(e32, texts: texts, labels: labels.map { [$0] }, options: o)
            #expect(losses.count == 2 && losses[1] < losses[0], "pair losses \(losses)")
            return gap()
        }
        #expect(after > before + 0.02, "held-out same-class minus cross-class cosine: \(before) → \(after)")
        #expect(e32.embed([texts[0]]).toArray() == reference)
    }
}
