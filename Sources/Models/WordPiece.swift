import Foundation
import Tensors

/// The tokens of one text (or text pair), ready for a BERT model.
public struct Encoding: Sendable, Equatable {
    /// Vocabulary ids, `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`.
    public var ids: [Int]
    /// The token strings of `ids` (word pieces carry their `##` prefix).
    public var tokens: [String]
    /// Segment ids: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    public var typeIds: [Int]
    /// 1 for every token (padding appears only in a ``BatchEncoding``).
    public var attentionMask: [Int]

    public var count: Int { ids.count }
}

/// Several encodings padded to the longest of them, row-major `[batch, length]`.
public struct BatchEncoding: Sendable, Equatable {
    /// Token ids, padded with the pad token's id.
    public var ids: [Int]
    /// Segment ids, padded with 0.
    public var typeIds: [Int]
    /// 1 for a real token, 0 for padding.
    public var mask: [Float]
    /// `[batch, length]`.
    public var shape: Shape
    /// The unpadded length of each row.
    public var lengths: [Int]
    /// The text each row belongs to when a text spans several rows (``LongTextPolicy/windows``), in order and
    /// starting at 0; nil when row `i` is text `i`.
    public var owners: [Int]? = nil

    /// Number of texts (not rows) in the batch.
    public var textCount: Int { owners.map { ($0.last ?? -1) + 1 } ?? shape[0] }
}

/// BERT's tokenizer: basic tokenization (cleaning, CJK splitting, lower-casing, accent stripping, punctuation
/// splitting) followed by greedy longest-match-first WordPiece, producing the same ids as the Hugging Face fast
/// tokenizer.
///
/// References: Hugging Face `tokenizers` (`normalizers/bert.rs` `BertNormalizer`, `pre_tokenizers/bert.rs`
/// `BertPreTokenizer`, `models/wordpiece/mod.rs` `WordPiece::tokenize`, `utils/truncation.rs`,
/// `tokenizer/added_vocabulary.rs`) and `transformers/models/bert/tokenization_bert.py` (`BasicTokenizer`,
/// `WordpieceTokenizer`). Where the two differ, this follows the fast tokenizer (what `AutoTokenizer` loads):
///
/// 1. Special tokens written in the text (`[MASK]`, `[SEP]`, …) are matched first, case-sensitively, on the raw
///    text and become their own ids.
/// 2. Normalisation of the rest: remove NUL, U+FFFD and control/format characters, turn whitespace into spaces;
///    surround CJK ideographs with spaces; strip accents (NFD, then drop non-spacing marks) when `stripAccents`
///    (default: same as `lowercase`); lower-case one scalar at a time.
/// 3. Split on whitespace and isolate every punctuation character.
/// 4. Each word of more than `maxInputCharsPerWord` scalars, or with a piece not in the vocabulary, becomes
///    `[UNK]`; otherwise the longest vocabulary prefix is taken repeatedly, continuing pieces prefixed `##`.
///
/// Vocabulary entries are compared byte for byte (UTF-8), never by Swift `String` equality, which would equate
/// canonically equivalent spellings that the reference treats as different tokens.
public struct WordPieceTokenizer: Sendable {
    /// Normalisation and WordPiece settings (`BertNormalizer` + `WordPiece` in `tokenizer.json`, or
    /// `do_lower_case` / `strip_accents` / `tokenize_chinese_chars` in `tokenizer_config.json`).
    public struct Options: Sendable, Equatable {
        public var cleanText = true
        public var tokenizeChineseChars = true
        /// nil: strip accents exactly when lower-casing (the reference's default).
        public var stripAccents: Bool? = nil
        public var lowercase = true
        public var maxInputCharsPerWord = 100
        public var continuingSubwordPrefix = "##"
        public var unknownToken = "[UNK]"
        public var classifierToken = "[CLS]"
        public var separatorToken = "[SEP]"
        public var paddingToken = "[PAD]"
        public var maskToken = "[MASK]"

        public init() {}
    }

    /// A token matched in the text before normalisation (`added_tokens` of `tokenizer.json`).
    public struct AddedToken: Sendable, Equatable {
        public var content: String
        public var id: Int
        /// Matched in the normalised text (true) or in the raw text (false, the default for special tokens).
        public var normalized: Bool

        public init(content: String, id: Int, normalized: Bool = false) {
            self.content = content
            self.id = id
            self.normalized = normalized
        }
    }

    public let options: Options
    /// Id → token.
    public let vocabulary: [String]
    public let addedTokens: [AddedToken]
    public let unknownId: Int
    public let classifierId: Int
    public let separatorId: Int
    public let paddingId: Int

    private let table: VocabularyTable
    private let prefixBytes: [UInt8]
    private let rawMatcher: TokenMatcher
    private let normalizedMatcher: TokenMatcher

    /// A tokenizer over `vocabulary` (id = index). `addedTokens` nil: the five special tokens that are present in
    /// the vocabulary are matched in raw text, as the fast tokenizer does for a BERT vocabulary.
    public init(vocabulary: [String], options: Options = Options(), addedTokens: [AddedToken]? = nil,
                source: String = "vocabulary") throws(TextModelError) {
        guard !vocabulary.isEmpty else { throw .badVocabulary(file: source, reason: "no tokens") }
        let table = VocabularyTable(vocabulary)
        func id(_ token: String, _ role: String) throws(TextModelError) -> Int {
            guard let i = table.id(of: Array(token.utf8)) else {
                throw .badVocabulary(file: source, reason: "the \(role) token \(token) is not in the vocabulary")
            }
            return i
        }
        unknownId = try id(options.unknownToken, "unknown")
        classifierId = try id(options.classifierToken, "classifier")
        separatorId = try id(options.separatorToken, "separator")
        paddingId = try id(options.paddingToken, "padding")
        let added = addedTokens ?? [options.paddingToken, options.unknownToken, options.classifierToken,
                                    options.separatorToken, options.maskToken].compactMap { t in
            table.id(of: Array(t.utf8)).map { AddedToken(content: t, id: $0) }
        }
        for t in added where t.id < 0 || t.id >= vocabulary.count || t.content.isEmpty {
            throw .badVocabulary(file: source, reason: "added token \(t.content) has id \(t.id) outside the vocabulary of \(vocabulary.count)")
        }
        self.options = options
        self.vocabulary = vocabulary
        self.addedTokens = added
        self.table = table
        prefixBytes = Array(options.continuingSubwordPrefix.utf8)
        rawMatcher = TokenMatcher(added.filter { !$0.normalized }.map { (Array($0.content.unicodeScalars), $0.id) })
        var normalizedPatterns: [([Unicode.Scalar], Int)] = []
        if added.contains(where: \.normalized) {
            for t in added where t.normalized {
                let n = Self.normalize(options, Array(t.content.unicodeScalars))
                if !n.isEmpty { normalizedPatterns.append((n, t.id)) }
            }
        }
        normalizedMatcher = TokenMatcher(normalizedPatterns)
    }

    /// Reads the vocabulary from `vocab.txt` (one token per line, id = line number).
    public init(vocabularyFile path: String, options: Options = Options()) throws(TextModelError) {
        try self.init(vocabulary: Self.readVocabulary(path), options: options, source: path)
    }

    /// Loads the tokenizer of a Hugging Face-style model directory: the vocabulary from `vocab.txt` (or, if
    /// absent, from the WordPiece model of `tokenizer.json`); the settings from `tokenizer.json` when present
    /// (`normalizer`, `model`, `added_tokens`), otherwise from `tokenizer_config.json` (`do_lower_case`,
    /// `strip_accents`, `tokenize_chinese_chars`, special token names), otherwise BERT's defaults.
    public init(directory: String) throws(TextModelError) {
        let vocabPath = (directory as NSString).appendingPathComponent("vocab.txt")
        let fastPath = (directory as NSString).appendingPathComponent("tokenizer.json")
        let configPath = (directory as NSString).appendingPathComponent("tokenizer_config.json")
        let fm = FileManager.default
        var options = Options()
        var added: [AddedToken]?
        var vocabulary: [String]?
        var source = vocabPath
        if fm.fileExists(atPath: fastPath) {
            let fast = try FastTokenizerFile(path: fastPath)
            options = fast.options
            added = fast.addedTokens
            if !fm.fileExists(atPath: vocabPath) {
                vocabulary = fast.vocabulary
                source = fastPath
            }
        } else if fm.fileExists(atPath: configPath) {
            options = try Self.options(fromTokenizerConfig: configPath)
        }
        if vocabulary == nil {
            guard fm.fileExists(atPath: vocabPath) else { throw .fileNotFound(file: vocabPath) }
            vocabulary = try Self.readVocabulary(vocabPath)
        }
        try self.init(vocabulary: vocabulary!, options: options, addedTokens: added, source: source)
    }

    /// The lines of a `vocab.txt` (split on `\n`, a trailing `\r` removed), as `load_vocab` and the Rust
    /// `WordPiece::read_file` read them.
    public static func readVocabulary(_ path: String) throws(TextModelError) -> [String] {
        let data = try TextJSON.read(path)
        guard let text = String(data: data, encoding: .utf8) else {
            throw .badVocabulary(file: path, reason: "not valid UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { throw .badVocabulary(file: path, reason: "the file is empty") }
        return lines
    }

    static func options(fromTokenizerConfig path: String) throws(TextModelError) -> Options {
        let object = try TextJSON.object(from: path)
        var o = Options()
        func bool(_ key: String) throws(TextModelError) -> Bool? {
            guard let v = object[key], !(v is NSNull) else { return nil }
            guard let b = v as? Bool else { throw .malformedJSON(file: path, key: key, reason: "expected true, false or null") }
            return b
        }
        func string(_ key: String) throws(TextModelError) -> String? {
            guard let v = object[key], !(v is NSNull) else { return nil }
            if let s = v as? String { return s }
            if let d = v as? [String: Any], let s = d["content"] as? String { return s }
            throw .malformedJSON(file: path, key: key, reason: "expected a token string")
        }
        if let b = try bool("do_lower_case") { o.lowercase = b }
        o.stripAccents = try bool("strip_accents")
        if let b = try bool("tokenize_chinese_chars") { o.tokenizeChineseChars = b }
        if let s = try string("unk_token") { o.unknownToken = s }
        if let s = try string("cls_token") { o.classifierToken = s }
        if let s = try string("sep_token") { o.separatorToken = s }
        if let s = try string("pad_token") { o.paddingToken = s }
        if let s = try string("mask_token") { o.maskToken = s }
        return o
    }

    // MARK: Tokenizing

    /// The id of `token`, compared byte for byte.
    public func id(of token: String) -> Int? { table.id(of: Array(token.utf8)) }

    /// The word pieces of `text`, without `[CLS]`/`[SEP]` and without truncation.
    public func tokenize(_ text: String) -> [String] { pieces(text).map { vocabulary[$0] } }

    /// The ids of the word pieces of `text` (special tokens in the text included), without `[CLS]`/`[SEP]`.
    public func pieces(_ text: String) -> [Int] {
        var ids: [Int] = []
        let raw = Array(text.unicodeScalars)
        rawMatcher.split(raw[...]) { segment, special in
            if let special { ids.append(special); return }
            let normalized = Self.normalize(options, Array(segment))
            normalizedMatcher.split(normalized[...]) { part, special in
                if let special { ids.append(special); return }
                appendWords(part, to: &ids)
            }
        }
        return ids
    }

    /// Encodes `text` (and optionally a second segment `pair`) as `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]`.
    ///
    /// With `maxLength`, the pieces are truncated so that the result, special tokens included, has at most
    /// `maxLength` tokens: a single text keeps its first `maxLength − 2` pieces; a pair is truncated longest first
    /// (the `longest_first` strategy of `tokenizers/src/utils/truncation.rs`).
    public func encode(_ text: String, pair: String? = nil, maxLength: Int? = 512) -> Encoding {
        var a = pieces(text)
        var b = pair.map(pieces)
        if let maxLength {
            let specials = b == nil ? 2 : 3
            precondition(maxLength >= specials, "WordPieceTokenizer.encode: maxLength \(maxLength) leaves no room for the \(specials) special tokens")
            let budget = maxLength - specials
            if var second = b {
                if a.count + second.count > budget {
                    var n1 = a.count, n2 = second.count
                    let swapped = n1 > n2
                    if swapped { swap(&n1, &n2) }
                    n2 = n1 > budget ? n1 : Swift.max(n1, budget - n1)
                    if n1 + n2 > budget {
                        n1 = budget / 2
                        n2 = n1 + budget % 2
                    }
                    if swapped { swap(&n1, &n2) }
                    a = Array(a.prefix(n1))
                    second = Array(second.prefix(n2))
                }
                b = second
            } else if a.count > budget {
                a = Array(a.prefix(budget))
            }
        }
        var ids = [classifierId] + a + [separatorId]
        var typeIds = [Int](repeating: 0, count: ids.count)
        if let b {
            ids += b + [separatorId]
            typeIds += [Int](repeating: 1, count: b.count + 1)
        }
        return Encoding(ids: ids, tokens: ids.map { vocabulary[$0] }, typeIds: typeIds,
                        attentionMask: [Int](repeating: 1, count: ids.count))
    }

    /// Encodes `texts` and pads them to the longest (ids with the pad id, mask 0, type ids 0).
    public func encodeBatch(_ texts: [String], maxLength: Int? = 512) -> BatchEncoding {
        pad(texts.map { encode($0, maxLength: maxLength) })
    }

    /// Pads encodings to the longest of them.
    public func pad(_ encodings: [Encoding]) -> BatchEncoding {
        let length = encodings.map(\.count).max() ?? 0
        var ids: [Int] = [], types: [Int] = [], mask: [Float] = []
        ids.reserveCapacity(encodings.count * length)
        types.reserveCapacity(encodings.count * length)
        mask.reserveCapacity(encodings.count * length)
        for e in encodings {
            let padding = length - e.count
            ids += e.ids + [Int](repeating: paddingId, count: padding)
            types += e.typeIds + [Int](repeating: 0, count: padding)
            mask += [Float](repeating: 1, count: e.count) + [Float](repeating: 0, count: padding)
        }
        return BatchEncoding(ids: ids, typeIds: types, mask: mask, shape: [encodings.count, length],
                             lengths: encodings.map(\.count))
    }

    // MARK: Normalisation, pre-tokenisation, WordPiece

    /// `BertNormalizer`: clean text, pad CJK ideographs with spaces, strip accents, lower-case (in this order).
    static func normalize(_ o: Options, _ input: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var s: [Unicode.Scalar] = []
        s.reserveCapacity(input.count)
        var ascii = true
        for c in input {
            if o.cleanText {
                if BertUnicode.isRemovedControl(c) { continue }
                if BertUnicode.isWhitespace(c) { s.append(" "); continue }
            }
            if o.tokenizeChineseChars && BertUnicode.isChinese(c.value) {
                s.append(" "); s.append(c); s.append(" ")
                ascii = false
                continue
            }
            if c.value >= 0x80 { ascii = false }
            s.append(c)
        }
        if o.stripAccents ?? o.lowercase, !ascii {
            s = BertUnicode.nfd(s).filter { !BertUnicode.isStrippedMark($0) }
        }
        if o.lowercase {
            var lower: [Unicode.Scalar] = []
            lower.reserveCapacity(s.count)
            for c in s { BertUnicode.appendLowercase(c, to: &lower) }
            s = lower
        }
        return s
    }

    /// `BertPreTokenizer` (split on whitespace, isolate punctuation), then WordPiece on every word.
    private func appendWords(_ text: ArraySlice<Unicode.Scalar>, to ids: inout [Int]) {
        var start = text.startIndex
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if BertUnicode.isWhitespace(c) {
                if start < i { wordPiece(text[start..<i], into: &ids) }
                start = i + 1
            } else if BertUnicode.isPunctuation(c) {
                if start < i { wordPiece(text[start..<i], into: &ids) }
                wordPiece(text[i..<(i + 1)], into: &ids)
                start = i + 1
            }
            i += 1
        }
        if start < text.endIndex { wordPiece(text[start..<text.endIndex], into: &ids) }
    }

    /// Greedy longest-match-first WordPiece (`WordPiece::tokenize` in `models/wordpiece/mod.rs`).
    private func wordPiece(_ word: ArraySlice<Unicode.Scalar>, into ids: inout [Int]) {
        if word.count > options.maxInputCharsPerWord {
            ids.append(unknownId)
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(word.count * 2)
        var offsets: [Int] = [0]  // byte offset of each scalar boundary
        offsets.reserveCapacity(word.count + 1)
        for c in word {
            UTF8.encode(c) { bytes.append($0) }
            offsets.append(bytes.count)
        }
        let n = word.count
        let before = ids.count
        bytes.withUnsafeBufferPointer { buf in
            var start = 0
            while start < n {
                var end = n
                var found: Int?
                while start < end {
                    let piece = UnsafeBufferPointer(rebasing: buf[offsets[start]..<offsets[end]])
                    if let id = table.id(prefix: start > 0 ? prefixBytes : [], piece) {
                        found = id
                        break
                    }
                    end -= 1
                }
                guard let id = found else {
                    ids.removeSubrange(before...)
                    ids.append(unknownId)
                    return
                }
                ids.append(id)
                start = end
            }
        }
    }
}

/// Splits text at occurrences of added tokens, leftmost first and longest first among those starting at the same
/// place (the Aho-Corasick `LeftmostLongest` matching of `added_vocabulary.rs`).
struct TokenMatcher: Sendable {
    private let patterns: [(scalars: [Unicode.Scalar], id: Int)]
    private let firsts: Set<Unicode.Scalar>

    init(_ patterns: [([Unicode.Scalar], Int)]) {
        self.patterns = patterns.filter { !$0.0.isEmpty }.map { (scalars: $0.0, id: $0.1) }
            .sorted { $0.scalars.count > $1.scalars.count }
        firsts = Set(self.patterns.map { $0.scalars[0] })
    }

    /// Calls `body(segment, nil)` for text between matches (non-empty) and `body([], id)` for each match.
    func split(_ text: ArraySlice<Unicode.Scalar>, _ body: (ArraySlice<Unicode.Scalar>, Int?) -> Void) {
        if patterns.isEmpty {
            if !text.isEmpty { body(text, nil) }
            return
        }
        var segmentStart = text.startIndex
        var i = text.startIndex
        while i < text.endIndex {
            if firsts.contains(text[i]), let p = patterns.first(where: { p in
                p.scalars.count <= text.endIndex - i && text[i..<(i + p.scalars.count)].elementsEqual(p.scalars)
            }) {
                if segmentStart < i { body(text[segmentStart..<i], nil) }
                body([], p.id)
                i += p.scalars.count
                segmentStart = i
            } else {
                i += 1
            }
        }
        if segmentStart < text.endIndex { body(text[segmentStart..<text.endIndex], nil) }
    }
}

/// An open-addressing hash table from UTF-8 byte strings to ids, looked up without allocating (a `##` prefix is
/// hashed and compared in place).
struct VocabularyTable: Sendable {
    private let bytes: [UInt8]
    private let starts: [Int]
    private let slots: [Int32]
    private let mask: Int

    init(_ tokens: [String]) {
        var bytes: [UInt8] = []
        var starts: [Int] = [0]
        for t in tokens {
            bytes.append(contentsOf: t.utf8)
            starts.append(bytes.count)
        }
        var capacity = 16
        while capacity < tokens.count * 2 { capacity *= 2 }
        var slots = [Int32](repeating: -1, count: capacity)
        let mask = capacity - 1
        bytes.withUnsafeBufferPointer { buf in
            for id in tokens.indices {
                let key = UnsafeBufferPointer(rebasing: buf[starts[id]..<starts[id + 1]])
                var slot = Int(truncatingIfNeeded: Self.hash([], key)) & mask
                // A later duplicate replaces the earlier id, as the reference's `HashMap::insert` does.
                while slots[slot] >= 0 {
                    let other = Int(slots[slot])
                    if UnsafeBufferPointer(rebasing: buf[starts[other]..<starts[other + 1]]).elementsEqual(key) { break }
                    slot = (slot + 1) & mask
                }
                slots[slot] = Int32(id)
            }
        }
        self.bytes = bytes
        self.starts = starts
        self.slots = slots
        self.mask = mask
    }

    /// FNV-1a over `prefix` then `key`.
    @inline(__always)
    static func hash(_ prefix: [UInt8], _ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in prefix { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        for b in key { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h ^ (h >> 29)
    }

    func id(of key: [UInt8]) -> Int? { key.withUnsafeBufferPointer { id(prefix: [], $0) } }

    func id(prefix: [UInt8], _ key: UnsafeBufferPointer<UInt8>) -> Int? {
        var slot = Int(truncatingIfNeeded: Self.hash(prefix, key)) & mask
        let length = prefix.count + key.count
        return bytes.withUnsafeBufferPointer { buf -> Int? in
            while true {
                let candidate = Int(slots[slot])
                if candidate < 0 { return nil }
                let s = starts[candidate], e = starts[candidate + 1]
                if e - s == length
                    && buf[s..<(s + prefix.count)].elementsEqual(prefix)
                    && buf[(s + prefix.count)..<e].elementsEqual(key) {
                    return candidate
                }
                slot = (slot + 1) & mask
            }
        }
    }
}

/// The parts of a `tokenizer.json` (Hugging Face `tokenizers` serialisation) that a BERT WordPiece tokenizer
/// uses; anything else in it that would change the ids is rejected with ``TextModelError/unsupported(file:key:value:)``.
struct FastTokenizerFile {
    var options = WordPieceTokenizer.Options()
    var addedTokens: [WordPieceTokenizer.AddedToken] = []
    var vocabulary: [String]?

    init(path: String) throws(TextModelError) {
        let root = try TextJSON.object(from: path)
        func object(_ v: Any?, _ key: String) throws(TextModelError) -> [String: Any]? {
            guard let v, !(v is NSNull) else { return nil }
            guard let o = v as? [String: Any] else { throw .malformedJSON(file: path, key: key, reason: "expected an object") }
            return o
        }
        if let n = try object(root["normalizer"], "normalizer") {
            let type = n["type"] as? String ?? "?"
            guard type == "BertNormalizer" else { throw .unsupported(file: path, key: "normalizer.type", value: type) }
            func flag(_ key: String, _ fallback: Bool) throws(TextModelError) -> Bool {
                guard let v = n[key], !(v is NSNull) else { return fallback }
                guard let b = v as? Bool else { throw .malformedJSON(file: path, key: "normalizer." + key, reason: "expected true or false") }
                return b
            }
            options.cleanText = try flag("clean_text", true)
            options.tokenizeChineseChars = try flag("handle_chinese_chars", true)
            options.lowercase = try flag("lowercase", true)
            if let v = n["strip_accents"], !(v is NSNull) {
                guard let b = v as? Bool else { throw .malformedJSON(file: path, key: "normalizer.strip_accents", reason: "expected true, false or null") }
                options.stripAccents = b
            }
        } else {
            options.cleanText = false
            options.tokenizeChineseChars = false
            options.lowercase = false
            options.stripAccents = false
        }
        if let p = try object(root["pre_tokenizer"], "pre_tokenizer") {
            let type = p["type"] as? String ?? "?"
            guard type == "BertPreTokenizer" else { throw .unsupported(file: path, key: "pre_tokenizer.type", value: type) }
        } else {
            throw .unsupported(file: path, key: "pre_tokenizer", value: "null (only BertPreTokenizer)")
        }
        guard let model = try object(root["model"], "model") else {
            throw .malformedJSON(file: path, key: "model", reason: "required key is missing")
        }
        let type = model["type"] as? String ?? "?"
        guard type == "WordPiece" else { throw .unsupported(file: path, key: "model.type", value: type) }
        if let s = model["unk_token"] as? String { options.unknownToken = s }
        if let s = model["continuing_subword_prefix"] as? String { options.continuingSubwordPrefix = s }
        if let n = model["max_input_chars_per_word"] as? Int { options.maxInputCharsPerWord = n }
        if let vocab = try object(model["vocab"], "model.vocab") {
            var tokens = [String?](repeating: nil, count: vocab.count)
            for (token, value) in vocab {
                guard let id = value as? Int, id >= 0, id < vocab.count else {
                    throw .malformedJSON(file: path, key: "model.vocab", reason: "token \(token) has id \(value), expected 0..<\(vocab.count)")
                }
                tokens[id] = token
            }
            guard tokens.allSatisfy({ $0 != nil }) else {
                throw .malformedJSON(file: path, key: "model.vocab", reason: "ids are not 0..<\(vocab.count)")
            }
            vocabulary = tokens.map { $0! }
        }
        if let list = root["added_tokens"], !(list is NSNull) {
            guard let entries = list as? [[String: Any]] else {
                throw .malformedJSON(file: path, key: "added_tokens", reason: "expected a list of objects")
            }
            for (i, e) in entries.enumerated() {
                guard let content = e["content"] as? String, let id = e["id"] as? Int else {
                    throw .malformedJSON(file: path, key: "added_tokens[\(i)]", reason: "expected content and id")
                }
                for flag in ["single_word", "lstrip", "rstrip"] where (e[flag] as? Bool) == true {
                    throw .unsupported(file: path, key: "added_tokens[\(i)].\(flag)", value: "true (token \(content))")
                }
                addedTokens.append(.init(content: content, id: id, normalized: (e["normalized"] as? Bool) ?? false))
            }
        }
        if let post = try object(root["post_processor"], "post_processor") {
            let type = post["type"] as? String ?? "?"
            guard type == "TemplateProcessing" || type == "BertProcessing" else {
                throw .unsupported(file: path, key: "post_processor.type", value: type)
            }
        }
    }
}
