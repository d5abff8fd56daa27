import Foundation

/// An uploaded image checked to be a whole JPEG or PNG.
struct ImageUpload {
    let name: String
    let data: Data
    /// `jpg` or `png`.
    let format: String
}

/// The images of a prediction request: every file part of a `multipart/form-data` body, or the whole body of an
/// `image/jpeg`, `image/png` or `application/octet-stream` request. An upload that is not a JPEG or PNG is refused
/// as `not_an_image`, one cut short (a JPEG without its end-of-image marker, a PNG without its IEND chunk) as
/// `truncated_upload`.
enum ImageUploads {
    static let maxImages = 64
    static let rawTypes: Set<String> = ["image/jpeg", "image/jpg", "image/png", "application/octet-stream"]

    static func parse(_ body: Data, contentType: String, defaultName: String) throws(ServingError) -> [ImageUpload] {
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        var files: [(String, Data)] = []
        if let boundary = try Multipart.boundary(contentType: contentType) {
            let parts = try Multipart.parse(body, boundary: boundary)
            files = parts.filter { $0.filename != nil || ["image", "file", "images"].contains($0.name ?? "") }
                .enumerated().map { i, p in (p.filename.flatMap { $0.isEmpty ? nil : $0 } ?? "\(p.name ?? "image")-\(i)", p.body) }
            guard !files.isEmpty else {
                throw ServingError(.badRequest, "no_image_part", "the multipart body has no file part (send the image as a part with a filename, or named 'image')")
            }
        } else if rawTypes.contains(type) {
            files = [(defaultName, body)]
        } else if type.isEmpty {
            throw ServingError(.unsupportedMediaType, "missing_content_type", "no Content-Type: send multipart/form-data, image/jpeg, image/png or application/octet-stream")
        } else {
            throw ServingError(.unsupportedMediaType, "wrong_content_type", "Content-Type '\(contentType)' is not accepted by an image model: send multipart/form-data, image/jpeg, image/png or application/octet-stream")
        }
        guard files.count <= maxImages else {
            throw ServingError(.badRequest, "too_many_images", "\(files.count) images in one request; at most \(maxImages)")
        }
        var uploads: [ImageUpload] = []
        for (name, data) in files { uploads.append(try check(name, data)) }
        return uploads
    }

    static func check(_ name: String, _ data: Data) throws(ServingError) -> ImageUpload {
        let bytes = [UInt8](data.prefix(8))
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            // The end-of-image marker FF D9 closes every whole JPEG (a few bytes of padding may follow it).
            guard data.suffix(64).range(of: Data([0xFF, 0xD9])) != nil else {
                throw ServingError(.badRequest, "truncated_upload", "\(name): the JPEG has no end-of-image marker (truncated upload; \(data.count) bytes received)")
            }
            return ImageUpload(name: name, data: data, format: "jpg")
        }
        if bytes == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
            guard data.suffix(64).range(of: Data("IEND".utf8)) != nil else {
                throw ServingError(.badRequest, "truncated_upload", "\(name): the PNG has no IEND chunk (truncated upload; \(data.count) bytes received)")
            }
            return ImageUpload(name: name, data: data, format: "png")
        }
        let head = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw ServingError(.unprocessableContent, "not_an_image", "\(name) is not a JPEG or PNG image (it starts with bytes \(head.isEmpty ? "none" : head))")
    }
}

/// The texts of a prediction request to a text model: JSON `{"texts": ["...", ...]}` or `{"text": "..."}`.
enum TextInputs {
    static let maxTexts = 256

    static func parse(_ body: Data, contentType: String, model: String) throws(ServingError) -> [String] {
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard type == "application/json" else {
            throw ServingError(.unsupportedMediaType, type.isEmpty ? "missing_content_type" : "wrong_content_type",
                               "\(model) takes texts: send application/json {\"texts\": [\"...\"]}\(type.isEmpty ? "" : " (received Content-Type '\(contentType)')")")
        }
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw ServingError(.badRequest, "bad_json", "the body is not a JSON object (expected {\"texts\": [\"...\"]})")
        }
        let texts: [String]
        if let list = object["texts"] as? [String] { texts = list } else if let one = object["text"] as? String { texts = [one] } else {
            throw ServingError(.badRequest, "no_texts", "the JSON object needs \"texts\" (an array of strings) or \"text\" (a string)")
        }
        guard !texts.isEmpty, texts.count <= maxTexts else {
            throw ServingError(.badRequest, "bad_texts", "\(texts.count) texts; give 1…\(maxTexts)")
        }
        return texts
    }
}
