import Foundation
import Hummingbird

/// A request the server refuses, with the HTTP status and a message naming the problem. Every refusal is answered
/// as JSON `{"error": {"status": N, "code": "...", "message": "..."}}`; nothing a client sends crashes the server.
public struct ServingError: Error, Sendable, CustomStringConvertible, HTTPResponseError {
    public let status: HTTPResponse.Status
    /// A stable machine-readable name: `unknown_model`, `not_an_image`, `body_too_large`, …
    public let code: String
    public let message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status; self.code = code; self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// The JSON body of the refusal.
    public var json: Data {
        let object: [String: Any] = ["error": ["status": status.code, "code": code, "message": message]]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response.json(json, status: status)
    }

    static func unknownModel(_ name: String, served: [String]) -> ServingError {
        ServingError(.notFound, "unknown_model", "no model named '\(name)' is served (served: \(served.isEmpty ? "none" : served.joined(separator: ", ")))")
    }

    static func bodyTooLarge(limit: Int) -> ServingError {
        ServingError(.contentTooLarge, "body_too_large", "the request body is larger than the limit of \(limit) bytes (--max-body-bytes)")
    }

    static let queueFull = ServingError(.serviceUnavailable, "queue_full", "the model's request queue is full; retry later")
}

extension Response {
    /// A response with a JSON body.
    static func json(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A response with an HTML page.
    static func html(_ page: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
    }

    /// A response with a text body of the given content type.
    static func text(_ text: String, contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
