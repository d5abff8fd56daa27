import Foundation
import Hummingbird
import TransferKit

/// `POST /v1/models/{name}/predict`: images as `multipart/form-data` (every file part) or a raw `image/jpeg` /
/// `image/png` / `application/octet-stream` body; texts as JSON `{"texts": [...]}` or `{"text": "..."}`. Answers
/// the JSON array `transfer predict --json` prints for the same inputs; with `?explain=1` (image models) an object
/// `{"predictions": [...], "explanations": [...]}` whose explanations carry the Grad-CAM overlay as base64 PNG.
struct PredictRoute: Sendable {
    let registry: ServingRegistry
    let maxBodyBytes: Int
    let scratch: URL

    func handle(_ request: Request, name: String) async throws -> Response {
        let info = try await registry.host(name).info
        let query = request.uri.queryParameters
        let topK = try Self.topK(query["top_k"].map(String.init))
        let explain = query["explain"].map { $0 == "1" || $0 == "true" } ?? false
        if explain && info.modality != "image" {
            throw ServingError(.badRequest, "explain_unsupported", "explain=1 applies to image models; \(name) takes texts")
        }
        let body = try await BodyReader.read(request, limit: maxBodyBytes)
        let contentType = request.headers[.contentType] ?? ""
        let dir = scratch.appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputs: [ServingInput]
        if info.modality == "image" {
            let uploads = try ImageUploads.parse(body, contentType: contentType, defaultName: query["name"].map(String.init) ?? "upload")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            inputs = try uploads.enumerated().map { (i, u) -> ServingInput in
                let file = dir.appendingPathComponent("\(i).\(u.format)")
                try u.data.write(to: file)
                return .imageFile(path: file.path, name: u.name)
            }
        } else {
            inputs = try TextInputs.parse(body, contentType: contentType, model: name).map { ServingInput.text($0) }
        }
        let results = try await registry.predict(name, inputs, topK: topK)
        var predictions: [Prediction] = []
        for r in results { predictions.append(try r.get()) }
        let encoder = MetricsReport.jsonEncoder(pretty: true)
        guard explain else { return .json(try encoder.encode(predictions)) }
        let host = try await registry.host(name)
        var explanations: [[String: Any]] = []
        for input in inputs {
            guard case .imageFile(let path, let inputName) = input else { continue }
            let e = try await host.explain(path, name: inputName)
            explanations.append(["input": inputName, "method": "gradcam", "class": e.classIndex, "label": e.label,
                                 "probability": Double(e.probability), "overlay_png": Data(e.overlayPNG).base64EncodedString()])
        }
        let object: [String: Any] = ["predictions": try JSONSerialization.jsonObject(with: try encoder.encode(predictions)),
                                     "explanations": explanations]
        return .json(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    static func topK(_ value: String?) throws(ServingError) -> Int {
        guard let value else { return 5 }
        guard let k = Int(value), (1...1000).contains(k) else {
            throw ServingError(.badRequest, "bad_top_k", "top_k '\(value)' must be a whole number in 1…1000")
        }
        return k
    }
}

/// Reads a request body up to the limit, refusing a larger one (by its Content-Length, before reading) with 413.
enum BodyReader {
    static func read(_ request: Request, limit: Int) async throws -> Data {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw ServingError.bodyTooLarge(limit: limit) }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch let e as HTTPError where e.status == .contentTooLarge {
            throw ServingError.bodyTooLarge(limit: limit)
        } catch {
            throw ServingError(.badRequest, "truncated_upload", "the request body could not be read to its end (\(error))")
        }
        guard buffer.readableBytes > 0 else { throw ServingError(.badRequest, "empty_body", "the request body is empty") }
        return Data(buffer.readableBytesView)
    }
}
