import Foundation

/// How `transfer serve` runs.
public struct ServingOptions: Sendable {
    /// The address to listen on (default loopback only).
    public var host = "127.0.0.1"
    /// The port (0: any free port, printed when listening).
    public var port = 8080
    /// A bearer token every request but `/healthz` must carry; nil: none.
    public var token: String?
    /// The largest request body accepted, bytes.
    public var maxBodyBytes = 16 << 20
    /// How long an idle model's first request waits for others to batch with (0: every request runs alone).
    public var batchWindowMilliseconds = 5
    /// The most requests waiting per model before 503.
    public var queue = 64
    /// The most inputs in one forward pass.
    public var maxBatch = 32
    /// A directory whose bundles are served, added, replaced and removed as they change.
    public var watch: String?
    /// The run database the dashboard shows (nil: none).
    public var runDatabase: URL?

    public init() {}

    /// Every option's accepted range; the first one out of range is named.
    public func validate() throws(ServingError) {
        func bad(_ option: String, _ value: Any, _ accepted: String) -> ServingError {
            ServingError(.badRequest, "invalid_option", "\(option) \(value) is out of range: accepted \(accepted)")
        }
        guard !host.isEmpty else { throw bad("--host", "''", "an IP address or host name") }
        guard (0...65535).contains(port) else { throw bad("--port", port, "0…65535") }
        guard (1024...(1 << 30)).contains(maxBodyBytes) else { throw bad("--max-body-bytes", maxBodyBytes, "1024…1073741824") }
        guard (0...1000).contains(batchWindowMilliseconds) else { throw bad("--batch-window-ms", batchWindowMilliseconds, "0…1000") }
        guard (1...100_000).contains(queue) else { throw bad("--queue", queue, "1…100000") }
        guard (1...1024).contains(maxBatch) else { throw bad("--max-batch", maxBatch, "1…1024") }
        if let token, token.isEmpty || token.contains(where: { $0.isWhitespace || !$0.isASCII }) {
            throw bad("--token", "'\(token)'", "a non-empty token of printable ASCII without spaces")
        }
    }
}
