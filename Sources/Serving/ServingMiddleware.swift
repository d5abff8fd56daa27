import Foundation
import Hummingbird

/// Around every request: the bearer token (when set), the conversion of every error into a 4xx/5xx JSON answer
/// naming the problem, and the request counters and latency histogram of ``ServingMetrics``.
struct ServingMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    let metrics: ServingMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            try authorize(request)
            response = try await next(request, context)
            if let token, let cookie = request.uri.queryParameters["token"], String(cookie) == token {
                response.headers[.setCookie] = "transfer_token=\(token); Path=/; HttpOnly; SameSite=Strict"
            }
        } catch let e as ServingError {
            response = .json(e.json, status: e.status)
        } catch let e as HTTPError {
            response = .json(Self.translate(e, request).json, status: e.status)
        } catch {
            let e = ServingError(.internalServerError, "internal", "\(error)")
            response = .json(e.json, status: e.status)
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        metrics.observeRequest(route: context.endpointPath ?? "unmatched", method: request.method.rawValue,
                               status: response.status.code, seconds: seconds)
        return response
    }

    /// Every route but `/healthz` needs the token when one is set: `Authorization: Bearer T`, or (for the
    /// dashboard in a browser) the `transfer_token` cookie that a first `?token=T` sets.
    func authorize(_ request: Request) throws(ServingError) {
        guard let token, request.uri.path != "/healthz" else { return }
        let header = request.headers[.authorization]
        if let header {
            guard header.hasPrefix("Bearer ") else {
                throw ServingError(.unauthorized, "bad_token", "the Authorization header must be 'Bearer TOKEN'")
            }
            guard Self.equal(String(header.dropFirst(7)), token) else { throw ServingError(.unauthorized, "bad_token", "the bearer token is wrong") }
            return
        }
        let cookies = request.headers[values: .cookie].flatMap { $0.split(separator: ";") }.map { $0.trimmingCharacters(in: .whitespaces) }
        if cookies.contains(where: { $0.hasPrefix("transfer_token=") && Self.equal(String($0.dropFirst(15)), token) }) { return }
        if request.method == .get, let q = request.uri.queryParameters["token"], Self.equal(String(q), token) { return }
        throw ServingError(.unauthorized, "missing_token", "this server needs 'Authorization: Bearer TOKEN' (--token)")
    }

    /// Compares in time independent of where the strings differ.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func translate(_ e: HTTPError, _ request: Request) -> ServingError {
        switch e.status {
        case .notFound: ServingError(.notFound, "no_route", "no route \(request.method.rawValue) \(request.uri.path)")
        case .methodNotAllowed: ServingError(.methodNotAllowed, "method_not_allowed", "\(request.method.rawValue) is not allowed on \(request.uri.path)")
        case .contentTooLarge: ServingError(.contentTooLarge, "body_too_large", e.body ?? "the request body is too large")
        default: ServingError(e.status, "http_error", e.body ?? e.status.reasonPhrase)
        }
    }
}
