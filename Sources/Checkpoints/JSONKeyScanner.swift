/// Finds a key that appears twice in one object of a JSON text.
///
/// Foundation's `JSONSerialization` and `JSONDecoder` keep one of two equal keys without a word, so a safetensors
/// header could name a tensor twice (or give one tensor two `data_offsets`) and be read differently by different
/// readers. This scanner walks the text once, iteratively (no recursion, so nesting depth cannot exhaust the
/// stack), keeping the keys seen in each open object; keys are compared after decoding their escapes, so `"a"` and
/// `"\u0061"` are the same key. It does not validate the text: on anything it does not understand it stops and
/// returns nil, leaving the error to the JSON parser that reads the header afterwards. Work and memory are linear
/// in the length of the text.
enum JSONKeyScanner {
    /// One open container.
    private struct Frame {
        /// Keys seen so far; nil for an array.
        var keys: Set<String>?
        /// The key whose value is being read (for the dotted path in the result).
        var current: String?
        /// In an object: whether the next string is a key.
        var expectingKey: Bool
    }

    /// The dotted path of the first key that repeats within its object (`"w"`, `"w.dtype"`), or nil when there is
    /// none or the text is not JSON.
    static func firstDuplicateKey(_ text: UnsafeRawBufferPointer) -> String? {
        var stack: [Frame] = []
        var i = 0
        let n = text.count
        while i < n {
            let c = text[i]
            switch c {
            case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ":"):
                i += 1
            case UInt8(ascii: "{"):
                stack.append(Frame(keys: [], current: nil, expectingKey: true))
                i += 1
            case UInt8(ascii: "["):
                stack.append(Frame(keys: nil, current: nil, expectingKey: false))
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard stack.popLast() != nil else { return nil }
                i += 1
            case UInt8(ascii: ","):
                if !stack.isEmpty && stack[stack.count - 1].keys != nil { stack[stack.count - 1].expectingKey = true }
                i += 1
            case UInt8(ascii: "\""):
                guard let parsed = string(text, from: i) else { return nil }
                let value = parsed.0
                i = parsed.1
                guard let top = stack.last, top.keys != nil, top.expectingKey else { continue }
                let t = stack.count - 1
                if stack[t].keys?.insert(value).inserted == false {
                    let outer = stack.dropLast().compactMap(\.current)
                    return (outer + [value]).joined(separator: ".")
                }
                stack[t].current = value
                stack[t].expectingKey = false
            default:
                // A number or a literal (true, false, null): skip to the next structural character.
                i += 1
                while i < n {
                    let d = text[i]
                    if d == UInt8(ascii: ",") || d == UInt8(ascii: "}") || d == UInt8(ascii: "]") || d == 0x20
                        || d == 0x09 || d == 0x0A || d == 0x0D { break }
                    if d == UInt8(ascii: "\"") || d == UInt8(ascii: "{") || d == UInt8(ascii: "[") { return nil }
                    i += 1
                }
            }
        }
        return nil
    }

    /// The decoded JSON string starting with the quote at `start`, and the index after its closing quote; nil when
    /// it is not terminated or has a malformed escape.
    private static func string(_ t: UnsafeRawBufferPointer, from start: Int) -> (String, Int)? {
        var bytes: [UInt8] = []
        var i = start + 1
        let n = t.count
        var pendingHigh: UInt32?
        func appendScalar(_ v: UInt32) {
            let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
            bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
        }
        while i < n {
            let c = t[i]
            if c == UInt8(ascii: "\"") {
                if pendingHigh != nil { appendScalar(0xFFFD) }
                return (String(decoding: bytes, as: UTF8.self), i + 1)
            }
            if c != UInt8(ascii: "\\") {
                if pendingHigh != nil { appendScalar(0xFFFD); pendingHigh = nil }
                bytes.append(c)
                i += 1
                continue
            }
            guard i + 1 < n else { return nil }
            let e = t[i + 1]
            i += 2
            if e == UInt8(ascii: "u") {
                guard i + 4 <= n else { return nil }
                var v: UInt32 = 0
                for k in 0..<4 {
                    let h = t[i + k]
                    let digit: UInt32
                    switch h {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(h - UInt8(ascii: "0"))
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(h - UInt8(ascii: "a") + 10)
                    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(h - UInt8(ascii: "A") + 10)
                    default: return nil
                    }
                    v = v << 4 | digit
                }
                i += 4
                if let high = pendingHigh {
                    pendingHigh = nil
                    if (0xDC00...0xDFFF).contains(v) {
                        appendScalar(0x10000 + ((high - 0xD800) << 10) + (v - 0xDC00))
                        continue
                    }
                    appendScalar(0xFFFD)
                }
                if (0xD800...0xDBFF).contains(v) { pendingHigh = v } else { appendScalar(v) }
                continue
            }
            if pendingHigh != nil { appendScalar(0xFFFD); pendingHigh = nil }
            switch e {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): bytes.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            default: return nil
            }
        }
        return nil
    }
}
