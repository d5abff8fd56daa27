import Foundation
import Testing
@testable import Models
import Tensors

/// Fixtures written by tools/make_text_fixtures.py, and the real all-MiniLM-L6-v2 directory in the cache
/// (`transfer fetch minilm-l6` puts it at `${TRANSFERKIT_CACHE:-~/.cache/transferkit}/minilm-l6/`).
enum TextFixtures {
    static func path(_ name: String, _ ext: String) throws -> String {
        try #require(Bundle.module.path(forResource: name, ofType: ext, inDirectory: "Fixtures"),
                     "fixture Fixtures/\(name).\(ext) is missing; run tools/make_text_fixtures.py")
    }

    static var miniLMDirectory: String {
        let env = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"] ?? ""
        let root = env.isEmpty ? (NSHomeDirectory() as NSString).appendingPathComponent(".cache/transferkit") : env
        return (root as NSString).appendingPathComponent("minilm-l6")
    }

    /// Whether the real model directory is present (tests that need it are skipped otherwise).
    static var miniLMAvailable: Bool {
        ["model.safetensors", "vocab.txt", "config.json", "tokenizer.json", "1_Pooling/config.json"].allSatisfy {
            FileManager.default.fileExists(atPath: (miniLMDirectory as NSString).appendingPathComponent($0))
        }
    }

    static let skipNote: Comment = "needs the all-MiniLM-L6-v2 directory: run `transfer fetch minilm-l6`"

    /// A temporary directory removed when `body` returns.
    static func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("tk-text-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(dir)
    }
}

/// A small vocabulary for tokenizer behaviour that does not need the real model.
private func tinyTokenizer(_ extra: [String] = [], options: WordPieceTokenizer.Options = .init()) throws -> WordPieceTokenizer {
    let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cafe", "naive", "angstrom", "un", "##aff", "##able",
                 "!", ",", ".", "?", "$", "[", "]", "中", "文", "hello", "world", "a", "##a", "mask", "é", "e"] + extra
    return try WordPieceTokenizer(vocabulary: vocab, options: options)
}

@Suite struct WordPieceBehaviourTests {
    @Test func accentsAreStrippedAndTextLowerCased() throws {
        let t = try tinyTokenizer()
        #expect(t.tokenize("Café NAÏVE Ångström") == ["cafe", "naive", "angstrom"])
        #expect(t.tokenize("CAFE\u{301}") == ["cafe"])
    }

    @Test func chineseCharactersBecomeSeparateWords() throws {
        let t = try tinyTokenizer()
        #expect(t.tokenize("中文") == ["中", "文"])
        #expect(t.tokenize("hello中world文") == ["hello", "中", "world", "文"])
    }

    @Test func punctuationIsSplitOffIncludingAsciiSymbols() throws {
        let t = try tinyTokenizer()
        #expect(t.tokenize("hello,world!?") == ["hello", ",", "world", "!", "?"])
        #expect(t.tokenize("$hello.") == ["$", "hello", "."])
        #expect(t.tokenize("hello+world") == ["hello", "[UNK]", "world"])  // '+' is ASCII punctuation, not in the vocabulary
    }

    @Test func wordsSplitIntoLongestVocabularyPieces() throws {
        let t = try tinyTokenizer()
        #expect(t.tokenize("unaffable") == ["un", "##aff", "##able"])
        #expect(t.tokenize("unaffablex") == ["[UNK]"])  // one unknown piece makes the whole word unknown
    }

    @Test func wordsOverOneHundredCharactersAreUnknown() throws {
        let t = try tinyTokenizer()
        #expect(t.tokenize(String(repeating: "a", count: 101)) == ["[UNK]"])
        #expect(t.tokenize(String(repeating: "a", count: 100)) == ["a"] + Array(repeating: "##a", count: 99))
        // The limit counts scalars after accent stripping: 60 × (a + U+0301) is 120 scalars before, 60 after.
        #expect(t.tokenize(String(repeating: "a\u{301}", count: 60)) == ["a"] + Array(repeating: "##a", count: 59))
        #expect(t.tokenize(String(repeating: "á", count: 101)) == ["[UNK]"])
    }

    @Test func controlCharactersAreRemovedAndWhitespaceOnlyTextIsEmpty() throws {
        let t = try tinyTokenizer()
        #expect(t.tokenize("\u{0}hel\u{200B}lo\u{FFFD}\tworld\u{7}") == ["hello", "world"])
        #expect(t.tokenize(" \t\n\u{3000}\u{A0}").isEmpty)
        #expect(t.encode("").tokens == ["[CLS]", "[SEP]"])
    }

    @Test func specialTokensWrittenInTheTextKeepTheirIds() throws {
        let t = try tinyTokenizer()
        #expect(t.tokenize("hello [MASK] world") == ["hello", "[MASK]", "world"])
        #expect(t.tokenize("hello[MASK]world") == ["hello", "[MASK]", "world"])
        #expect(t.tokenize("[mask]") == ["[", "mask", "]"])  // matched case-sensitively, before lower-casing
    }

    @Test func vocabularyIsComparedByBytesNotCanonicalEquivalence() throws {
        var o = WordPieceTokenizer.Options()
        o.lowercase = false
        o.stripAccents = false
        let t = try tinyTokenizer(options: o)
        #expect(t.tokenize("é") == ["é"])  // U+00E9
        #expect(t.tokenize("e\u{301}") == ["[UNK]"])  // e + combining acute: equal as Swift Strings, not as tokens
    }

    @Test func encodeAddsClassifierAndSeparatorAndTruncates() throws {
        let t = try tinyTokenizer()
        let e = t.encode("hello world hello world", maxLength: 4)
        #expect(e.tokens == ["[CLS]", "hello", "world", "[SEP]"])
        #expect(e.ids == [2, 20, 21, 3])
        #expect(e.typeIds == [0, 0, 0, 0])
        #expect(e.attentionMask == [1, 1, 1, 1])
        #expect(t.encode("hello world", maxLength: nil).count == 4)
        #expect(t.encode("hello", maxLength: 2).tokens == ["[CLS]", "[SEP]"])
    }

    @Test func pairsAreTruncatedLongestFirstWithSegmentIds() throws {
        let t = try tinyTokenizer()
        let e = t.encode("hello world hello world hello", pair: "a", maxLength: 7)
        #expect(e.tokens == ["[CLS]", "hello", "world", "hello", "[SEP]", "a", "[SEP]"])
        #expect(e.typeIds == [0, 0, 0, 0, 0, 1, 1])
        let both = t.encode("hello world hello world", pair: "world hello world hello", maxLength: 8)
        #expect(both.tokens == ["[CLS]", "hello", "world", "[SEP]", "world", "hello", "world", "[SEP]"])
    }

    @Test func batchesArePaddedToTheLongestWithAMask() throws {
        let t = try tinyTokenizer()
        let b = t.encodeBatch(["hello", "hello world !"])
        #expect(b.shape == [2, 5])
        #expect(b.ids == [2, 20, 3, 0, 0, 2, 20, 21, 11, 3])
        #expect(b.mask == [1, 1, 1, 0, 0, 1, 1, 1, 1, 1])
        #expect(b.typeIds == [Int](repeating: 0, count: 10))
        #expect(b.lengths == [3, 5])
    }

    @Test func missingVocabularyFileIsNamedInTheError() throws {
        try TextFixtures.withTemporaryDirectory { dir in
            let expected = (dir as NSString).appendingPathComponent("vocab.txt")
            #expect(throws: TextModelError.fileNotFound(file: expected)) { try WordPieceTokenizer(directory: dir) }
        }
    }

    @Test func vocabularyWithoutUnknownTokenIsRejected() throws {
        try TextFixtures.withTemporaryDirectory { dir in
            let path = (dir as NSString).appendingPathComponent("vocab.txt")
            try "[PAD]\n[CLS]\n[SEP]\nhello\n".write(toFile: path, atomically: true, encoding: .utf8)
            do {
                _ = try WordPieceTokenizer(vocabularyFile: path)
                Issue.record("expected an error")
            } catch let error as TextModelError {
                guard case .badVocabulary(let file, let reason) = error else { Issue.record("\(error)"); return }
                #expect(file == path)
                #expect(reason.contains("[UNK]"))
            }
        }
    }

    @Test func malformedTokenizerConfigNamesTheKey() throws {
        try TextFixtures.withTemporaryDirectory { dir in
            try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n".write(toFile: (dir as NSString).appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
            let config = (dir as NSString).appendingPathComponent("tokenizer_config.json")
            try #"{"do_lower_case": "yes"}"#.write(toFile: config, atomically: true, encoding: .utf8)
            #expect(throws: TextModelError.malformedJSON(file: config, key: "do_lower_case", reason: "expected true, false or null")) {
                try WordPieceTokenizer(directory: dir)
            }
            try #"{"do_lower_case": false}"#.write(toFile: config, atomically: true, encoding: .utf8)
            #expect(try WordPieceTokenizer(directory: dir).options.lowercase == false)
        }
    }
}

/// Character classes against the reference's own answers for every code point.
@Suite struct WordPieceUnicodeTests {
    struct Reference: Decodable {
        let removed, whitespace, splitWhitespace, punctuation, chinese, strippedMarks: [[UInt32]]
        let stripAccents, lowercase: [String: [UInt32]]
    }

    static func contains(_ ranges: [[UInt32]], _ v: UInt32) -> Bool {
        var lo = 0, hi = ranges.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if v < ranges[mid][0] { hi = mid - 1 } else if v > ranges[mid][1] { lo = mid + 1 } else { return true }
        }
        return false
    }

    @Test func everyCodePointIsClassifiedAsTheRustTokenizerDoes() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: try TextFixtures.path("wordpiece_unicode", "json")))
        let ref = try JSONDecoder().decode(Reference.self, from: data)
        var failures: [String] = []
        func fail(_ v: UInt32, _ what: String) { if failures.count < 40 { failures.append("U+\(String(v, radix: 16, uppercase: true)) \(what)") } }
        for v in UInt32(0)..<0x110000 {
            guard let s = Unicode.Scalar(v) else { continue }
            let removed = BertUnicode.isRemovedControl(s)
            if v != 0x61 && removed != Self.contains(ref.removed, v) { fail(v, "removed by clean_text: \(removed)") }
            let toSpace = !removed && BertUnicode.isWhitespace(s) && v != 0x20
            if v != 0x61 && toSpace != Self.contains(ref.whitespace, v) { fail(v, "whitespace in clean_text: \(toSpace)") }
            if v != 0x61 && BertUnicode.isWhitespace(s) != Self.contains(ref.splitWhitespace, v) { fail(v, "pre-tokenizer whitespace") }
            if v != 0x61 && BertUnicode.isPunctuation(s) != Self.contains(ref.punctuation, v) { fail(v, "punctuation: \(BertUnicode.isPunctuation(s))") }
            if v != 1 && BertUnicode.isChinese(v) != Self.contains(ref.chinese, v) { fail(v, "chinese") }
            guard v != 1 else { continue }
            let stripped = BertUnicode.nfd([s]).filter { !BertUnicode.isStrippedMark($0) }.map(\.value)
            if (0xAC00...0xD7A3).contains(v) {
                let nfd = String(s).decomposedStringWithCanonicalMapping.unicodeScalars.map(\.value)
                if stripped != nfd { fail(v, "Hangul decomposition \(stripped)") }
            } else if Self.contains(ref.strippedMarks, v) {
                if !stripped.isEmpty { fail(v, "should be stripped, got \(stripped)") }
            } else if let expected = ref.stripAccents[String(v)] {
                if stripped != expected { fail(v, "strip accents → \(stripped), expected \(expected)") }
            } else if stripped != [v] {
                fail(v, "strip accents → \(stripped), expected unchanged")
            }
            var lower: [Unicode.Scalar] = []
            BertUnicode.appendLowercase(s, to: &lower)
            let expectedLower = ref.lowercase[String(v)] ?? [v]
            if lower.map(\.value) != expectedLower { fail(v, "lowercase → \(lower.map(\.value)), expected \(expectedLower)") }
        }
        #expect(failures.isEmpty, "\(failures.count)+ code points differ:\n\(failures.joined(separator: "\n"))")
    }
}

/// Token ids against the Hugging Face fast tokenizer (tokenizer.json of all-MiniLM-L6-v2).
@Suite struct WordPieceHuggingFaceTests {
    struct Line {
        let text: String
        let pair: String?
        let ids: [Int]
        let typeIds: [Int]?
        let maxLength: Int
    }

    static func lines() throws -> [Line] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try TextFixtures.path("wordpiece_hf_ids", "jsonl")))
        return try data.split(separator: UInt8(ascii: "\n")).map { raw in
            let o = try #require(try JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any])
            return Line(text: try #require(o["text"] as? String), pair: o["pair"] as? String, ids: try #require(o["ids"] as? [Int]),
                        typeIds: o["type_ids"] as? [Int], maxLength: o["max_length"] as? Int ?? 256)
        }
    }

    @Test(.enabled(if: TextFixtures.miniLMAvailable, TextFixtures.skipNote))
    func tokenIdsMatchTheHuggingFaceFastTokenizerForEveryFixtureText() throws {
        let tokenizer = try WordPieceTokenizer(directory: TextFixtures.miniLMDirectory)
        let lines = try Self.lines()
        #expect(lines.count >= 1000)
        var mismatches: [String] = []
        for line in lines {
            let e = tokenizer.encode(line.text, pair: line.pair, maxLength: line.maxLength)
            if e.ids != line.ids || (line.typeIds != nil && e.typeIds != line.typeIds) {
                let expected = line.ids.map { tokenizer.vocabulary[$0] }
                mismatches.append("""
                    text \(line.text.debugDescription)\(line.pair.map { " pair \($0.debugDescription)" } ?? "") max \(line.maxLength)
                      swift: \(e.tokens)
                      hf:    \(expected)
                    """)
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(lines.count) encodings differ:\n\(mismatches.prefix(20).joined(separator: "\n"))")
    }

    @Test(.enabled(if: TextFixtures.miniLMAvailable, TextFixtures.skipNote))
    func realVocabularyAndSettingsAreReadFromTheDirectory() throws {
        let t = try WordPieceTokenizer(directory: TextFixtures.miniLMDirectory)
        #expect(t.vocabulary.count == 30522)
        #expect(t.options.lowercase && t.options.stripAccents == nil && t.options.tokenizeChineseChars)
        let specialIds: [Int] = [t.paddingId, t.unknownId, t.classifierId, t.separatorId]
        #expect(specialIds == [0, 100, 101, 102])
        #expect(t.addedTokens.map(\.content) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        #expect(t.encode("Hello, world!").tokens == ["[CLS]", "hello", ",", "world", "!", "[SEP]"])
        let vocabOnly = try WordPieceTokenizer(vocabularyFile: (TextFixtures.miniLMDirectory as NSString).appendingPathComponent("vocab.txt"))
        #expect(vocabOnly.encode("Ångström naïve café 中文 [MASK]").ids == t.encode("Ångström naïve café 中文 [MASK]").ids)
    }
}
