import Foundation

/// Character classes of BERT's text normalisation, exactly as the Hugging Face fast tokenizer (Rust `tokenizers`)
/// computes them.
///
/// References: `tokenizers/src/normalizers/bert.rs` (`is_whitespace`, `is_control`, `is_chinese_char`,
/// `BertNormalizer`), `tokenizers/src/pre_tokenizers/bert.rs` (`is_bert_punc`), and the Python twins in
/// `transformers/models/bert/tokenization_bert.py` (`_is_whitespace`, `_is_control`, `_is_punctuation`,
/// `_run_strip_accents`, `_tokenize_chinese_chars`).
///
/// The Rust crate answers "is this a control character / punctuation / non-spacing mark" from the tables of the
/// `unicode_categories` crate, which are Unicode 8.0, and decomposes with tables that predate Unicode 13. Swift's
/// tables are much newer, so a code point assigned after Unicode 8.0 is *unassigned* for the reference: not a
/// control character, not punctuation, not a mark, and not decomposed. Seven older code points changed general
/// category since 8.0; their 8.0 category is hard-coded below. `Tests/ModelsTests/WordPieceTests.swift` checks
/// every code point against the reference's own answers (`Fixtures/wordpiece_unicode.json`).
enum BertUnicode {
    /// Whether `s` was assigned in Unicode 8.0 or earlier (the version of the reference's category tables).
    @inline(__always)
    static func inUnicode8(_ s: Unicode.Scalar) -> Bool {
        guard let age = s.properties.age else { return false }
        return age.major < 8 || (age.major == 8 && age.minor == 0)
    }

    /// Removed by `clean_text`: NUL, U+FFFD, and categories Cc, Cf, Co except tab, newline and carriage return.
    static func isRemovedControl(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v == 0 || v == 0xFFFD { return true }
        if v == 0x09 || v == 0x0A || v == 0x0D { return false }
        if v < 0x20 || v == 0x7F { return true }
        if v < 0x80 { return false }
        switch s.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate: return inUnicode8(s)
        default: return false
        }
    }

    /// Whitespace (Rust `char::is_whitespace`, the Unicode White_Space property; tab, newline and CR included).
    @inline(__always)
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        return s.properties.isWhitespace
    }

    /// BERT punctuation: the ASCII ranges 33–47, 58–64, 91–96, 123–126 (which include symbols such as `$`, `+`,
    /// `^`) and every code point of a Unicode 8.0 punctuation category (Pc, Pd, Ps, Pe, Pi, Pf, Po).
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v)
        }
        switch v {
        case 0x166D, 0x111C9: return true  // Po in Unicode 8.0 (now So and Mn)
        default: break
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation:
            return inUnicode8(s)
        default:
            return false
        }
    }

    /// A non-spacing mark (Mn) in Unicode 8.0: what accent stripping removes after the NFD.
    static func isStrippedMark(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x300 { return false }
        switch v {
        case 0x1734, 0x1171E: return true  // Mn in Unicode 8.0 (now Mc)
        case 0x1885, 0x1886, 0xA9BD, 0x111C9: return false  // Lo, Lo, Mc, Po in Unicode 8.0 (now Mn)
        default: break
        }
        return s.properties.generalCategory == .nonspacingMark && inUnicode8(s)
    }

    /// A "Chinese character" (CJK ideograph block) in the reference's ranges; note its 0x2B920 where the Python
    /// tokenizer has 0x2B820.
    @inline(__always)
    static func isChinese(_ v: UInt32) -> Bool {
        switch v {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// Appends the canonical (NFD) decomposition of `s` to `out`, without the final canonical reordering (see
    /// ``nfd(_:)``). Code points assigned after Unicode 8.0 are kept as they are, like the reference.
    static func appendDecomposition(_ s: Unicode.Scalar, to out: inout [Unicode.Scalar]) {
        let v = s.value
        if v < 0xC0 || (0x3400...0x9FFF).contains(v) {
            out.append(s)
            return
        }
        if (0xAC00...0xD7A3).contains(v) {
            // Hangul syllables decompose algorithmically (Unicode §3.12).
            let index = v - 0xAC00
            out.append(Unicode.Scalar(0x1100 + index / 588)!)
            out.append(Unicode.Scalar(0x1161 + (index % 588) / 28)!)
            if index % 28 != 0 { out.append(Unicode.Scalar(0x11A7 + index % 28)!) }
            return
        }
        guard inUnicode8(s) else {
            out.append(s)
            return
        }
        let decomposed = String(s).decomposedStringWithCanonicalMapping.unicodeScalars
        out.append(contentsOf: decomposed)
    }

    /// Canonical decomposition (NFD) of `scalars`: full decomposition, then marks sorted by canonical combining
    /// class within each run of non-starters (stable).
    static func nfd(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(scalars.count + 8)
        var needsOrdering = false
        for s in scalars {
            if s.value < 0xC0 {
                out.append(s)
                continue
            }
            let start = out.count
            appendDecomposition(s, to: &out)
            if !needsOrdering {
                needsOrdering = out[start...].contains { $0.properties.canonicalCombiningClass.rawValue != 0 }
            }
        }
        guard needsOrdering else { return out }
        var i = 0
        while i < out.count {
            guard out[i].properties.canonicalCombiningClass.rawValue != 0 else { i += 1; continue }
            var j = i
            while j < out.count && out[j].properties.canonicalCombiningClass.rawValue != 0 { j += 1 }
            if j - i > 1 {
                let run = out[i..<j].enumerated().sorted {
                    let a = $0.element.properties.canonicalCombiningClass.rawValue
                    let b = $1.element.properties.canonicalCombiningClass.rawValue
                    return a != b ? a < b : $0.offset < $1.offset
                }
                for (k, e) in run.enumerated() { out[i + k] = e.element }
            }
            i = j
        }
        return out
    }

    /// Appends the full lower-case mapping of `s` (Rust `char::to_lowercase`, one scalar at a time: no
    /// context-dependent rules such as the Greek final sigma).
    @inline(__always)
    static func appendLowercase(_ s: Unicode.Scalar, to out: inout [Unicode.Scalar]) {
        let v = s.value
        if v < 0x80 {
            out.append((0x41...0x5A).contains(v) ? Unicode.Scalar(v + 32)! : s)
            return
        }
        if !s.properties.changesWhenLowercased {
            out.append(s)
            return
        }
        out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
    }
}
