import Foundation
import Testing
@testable import Models
import Tensors

private let config = BertConfig(vocabSize: 30, hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 16,
                                maxPositionEmbeddings: 16)
private let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"] + (7..<30).map { "w\($0)" }

/// `--long-texts windows`: a long text read as consecutive windows whose tokens are pooled together.
@Suite struct LongTextTests {
    /// A random tiny encoder in eval mode (no dropout), so that every path computes the same function.
    private func embedder(_ policy: LongTextPolicy, maxWindows: Int = 16) throws -> SentenceEmbedder {
        let bert = try BertModel(config: config)
        bert.eval()
        return SentenceEmbedder(bert: bert, tokenizer: try WordPieceTokenizer(vocabulary: vocabulary), maxLength: 8,
                         longTexts: policy, maxWindows: maxWindows)
    }

    private func words(_ n: Int) -> String { (0..<n).map { "w\(7 + $0 % 23)" }.joined(separator: " ") }

    @Test func windowsCoverEveryPieceInOrderEachFramedByClsAndSep() throws {
        let t = try WordPieceTokenizer(vocabulary: vocabulary)
        let text = words(20)
        let w = t.windows(text, maxLength: 8, maxWindows: 16)
        #expect(w.count == 4)                                   // 20 pieces, 6 per window
        #expect(w.allSatisfy { $0.count <= 8 && $0.ids.first == t.classifierId && $0.ids.last == t.separatorId })
        #expect(w.flatMap { $0.ids.dropFirst().dropLast() } == t.pieces(text))
        #expect(t.windows(text, maxLength: 8, maxWindows: 2).count == 2)
        #expect(t.windows("", maxLength: 8, maxWindows: 3).map(\.ids) == [[t.classifierId, t.separatorId]])
    }

    @Test func aShortTextEmbedsExactlyAsWhenTruncated() throws {
        let w = try embedder(.windows)
        let t = w.readingLongTexts(.truncate)
        let texts = ["hello world", "w9 w12 w7"]
        #expect(w.embed(texts).toArray() == t.embed(texts).toArray())
        #expect(w.encode(texts).owners == nil)
    }

    @Test func aLongTextPoolsEveryWindowsTokensWeightedByTheirCount() throws {
        let e = try embedder(.windows)
        let long = words(15)                                    // windows of 6, 6 and 3 pieces: 8, 8 and 5 tokens
        let windows = e.tokenizer.windows(long, maxLength: 8, maxWindows: 16)
        #expect(windows.map(\.count) == [8, 8, 5])
        // Each window's own mean-pooled vector, before normalisation.
        let plain = SentenceEmbedder(bert: e.bert, tokenizer: e.tokenizer, normalize: false, maxLength: 8)
        var expected = [Float](repeating: 0, count: 8)
        for win in windows {
            let v = plain.forward(e.tokenizer.pad([win])).toArray()
            for j in 0..<8 { expected[j] += v[j] * Float(win.count) / 21 }
        }
        let norm = expected.map { $0 * $0 }.reduce(0, +).squareRoot()
        let got = e.embed([long]).toArray()
        #expect(zip(got, expected.map { $0 / norm }).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(got != e.readingLongTexts(.truncate).embed([long]).toArray())
        // Capped: with two windows the third is not read.
        let two = e.readingLongTexts(.windows, maxWindows: 2)
        #expect(two.embed([long]).toArray() == two.embed([words(12)]).toArray())
    }

    @Test func theDifferentiableForwardGivesTheEmbeddingsOfEmbedOnePerText() throws {
        let e = try embedder(.windows)
        let texts = [words(15), "hello world", words(7)]
        let batch = e.encode(texts)
        #expect(batch.owners == [0, 0, 0, 1, 2, 2])
        #expect(batch.textCount == 3)
        let f = e.forward(batch)
        #expect(f.shape == [3, 8])
        #expect(zip(f.toArray(), e.embed(texts, batchSize: 2).toArray()).allSatisfy { abs($0 - $1) < 1e-5 })
        f.sum().backward()
        #expect(e.bert.namedParameters().contains { $0.1.grad != nil })
    }
}
