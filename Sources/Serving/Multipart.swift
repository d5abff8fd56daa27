import Foundation

/// One part of a `multipart/form-data` body (RFC 7578).
public struct MultipartPart: Sendable {
    public let name: String?
    public let filename: String?
    public let contentType: String?
    public let body: Data
}

/// Parses `multipart/form-data` bodies; a body without its closing boundary (a truncated upload) or without the
/// boundary the header names is refused with a ``ServingError`` naming the problem.
public enum Multipart {
    /// The `boundary` parameter of a `multipart/form-data` content type, or nil when the type is another.
    public static func boundary(contentType: String) throws(ServingError) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for p in parts.dropFirst() where p.lowercased().hasPrefix("boundary=") {
            let b = String(p.dropFirst("boundary=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if !b.isEmpty && b.count <= 70 { return b }
        }
        throw ServingError(.badRequest, "bad_multipart", "multipart/form-data without a boundary parameter (1…70 characters)")
    }

    /// The parts of `body`, split at `--boundary`.
    public static func parse(_ body: Data, boundary: String) throws(ServingError) -> [MultipartPart] {
        let delimiter = Data("--\(boundary)".utf8), crlf = Data("\r\n".utf8), headerEnd = Data("\r\n\r\n".utf8)
        guard let first = body.range(of: delimiter) else {
            throw ServingError(.badRequest, "bad_multipart", "the multipart body does not contain its boundary '\(boundary)'")
        }
        var parts: [MultipartPart] = []
        var cursor = first.upperBound
        let next = Data("\r\n--\(boundary)".utf8)
        while true {
            // After a delimiter: "--" closes the body, CRLF starts a part.
            if body[cursor...].starts(with: Data("--".utf8)) { return parts }
            guard body[cursor...].starts(with: crlf) else {
                throw ServingError(.badRequest, "truncated_upload", "the multipart body ends inside a boundary line (truncated upload?)")
            }
            let start = cursor + crlf.count
            guard let headersEnd = body.range(of: headerEnd, in: start..<body.endIndex) else {
                throw ServingError(.badRequest, "truncated_upload", "multipart part \(parts.count + 1) ends inside its headers (truncated upload?)")
            }
            guard let end = body.range(of: next, in: headersEnd.upperBound..<body.endIndex) else {
                throw ServingError(.badRequest, "truncated_upload", "multipart part \(parts.count + 1) has no closing boundary '--\(boundary)--' (truncated upload?)")
            }
            let headers = String(decoding: body[start..<headersEnd.lowerBound], as: UTF8.self)
            parts.append(part(headers: headers, body: Data(body[headersEnd.upperBound..<end.lowerBound])))
            cursor = end.upperBound
        }
    }

    static func part(headers: String, body: Data) -> MultipartPart {
        var name: String?, filename: String?, type: String?
        for line in headers.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].lowercased(), value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if key == "content-type" { type = value }
            if key == "content-disposition" {
                for p in value.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                    if p.hasPrefix("name=") { name = unquote(p.dropFirst(5)) }
                    if p.hasPrefix("filename=") { filename = unquote(p.dropFirst(9)) }
                }
            }
        }
        return MultipartPart(name: name, filename: filename, contentType: type, body: body)
    }

    static func unquote(_ s: Substring) -> String {
        s.hasPrefix("\"") && s.hasSuffix("\"") && s.count >= 2 ? String(s.dropFirst().dropLast()) : String(s)
    }
}
