import Foundation

/// How a sentence encoder reads a text longer than its window of `maxLength` tokens.
///
/// sentence-transformers' `encode` truncates; reading every window and pooling all of the text's tokens is the usual
/// remedy for documents (on BBC News, 20 articles per class, MiniLM-L6 features with a logistic head: 94.4% truncated
/// to 256 tokens, 95.6% with windows; `docs/heads-and-tuning.md` §4).
public enum LongTextPolicy: String, Sendable, CaseIterable, Codable {
    /// Only the first `maxLength` tokens, `[CLS]` and `[SEP]` included.
    case truncate
    /// Consecutive windows of `maxLength − 2` word pieces, each read as `[CLS] … [SEP]`, at most `maxWindows` of
    /// them; the text's vector pools every window's tokens (the windows' pooled vectors averaged with weights
    /// proportional to their token counts).
    case windows
}

extension WordPieceTokenizer {
    /// The windows of `text`: consecutive runs of `maxLength − 2` word pieces, each encoded `[CLS] … [SEP]`; at
    /// most `maxWindows` (the rest of the text is dropped), and one window for an empty text.
    public func windows(_ text: String, maxLength: Int, maxWindows: Int) -> [Encoding] {
        precondition(maxLength >= 3 && maxWindows >= 1, "WordPieceTokenizer.windows: maxLength \(maxLength) (≥ 3), maxWindows \(maxWindows) (≥ 1)")
        let all = pieces(text), width = maxLength - 2
        let starts = Array(stride(from: 0, to: Swift.max(all.count, 1), by: width).prefix(maxWindows))
        return starts.map { s in
            let ids = [classifierId] + all[s..<Swift.min(all.count, s + width)] + [separatorId]
            return Encoding(ids: ids, tokens: ids.map { vocabulary[$0] }, typeIds: [Int](repeating: 0, count: ids.count),
                            attentionMask: [Int](repeating: 1, count: ids.count))
        }
    }
}

extension SentenceEmbedder {
    /// This encoder (the same weights, tokenizer and pooling) reading long texts by `policy`.
    public func readingLongTexts(_ policy: LongTextPolicy, maxWindows: Int = 16) -> SentenceEmbedder {
        SentenceEmbedder(bert: bert, tokenizer: tokenizer, pooling: pooling, normalize: normalize, maxLength: maxLength,
                         lowercaseInput: lowercaseInput, longTexts: policy, maxWindows: maxWindows)
    }
}
