import Foundation
import Hummingbird

/// `transfer serve`: the prediction API, the model registry, Prometheus metrics and the dashboard on one
/// Hummingbird 2 server.
///
/// Routes: `POST /v1/models/{name}/predict` (see ``PredictRoute``), `GET /v1/models`, `POST /v1/models`
/// (`{"path": BUNDLE_OR_NAME, "name": NAME}`: add or replace), `DELETE /v1/models/{name}`, `GET /healthz`,
/// `GET /metrics`, and the dashboard pages under `/` (see ``Dashboard``).
public struct TransferServer: Sendable {
    public let options: ServingOptions
    public let registry: ServingRegistry
    public let metrics: ServingMetrics
    /// Where uploads are written for the decoder, one folder per request (removed after it).
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("transfer-serve-\(getpid())")

    public init(options: ServingOptions) {
        self.options = options
        metrics = ServingMetrics()
        registry = ServingRegistry(metrics: metrics, queue: options.queue, window: .milliseconds(options.batchWindowMilliseconds),
                                   maxBatch: options.batchWindowMilliseconds == 0 ? 1 : options.maxBatch)
    }

    /// The router of every route.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ServingMiddleware(token: options.token, metrics: metrics))
        let registry = registry, metrics = metrics
        let predict = PredictRoute(registry: registry, maxBodyBytes: options.maxBodyBytes, scratch: scratch)
        router.get("healthz") { _, _ -> Response in
            let count = await registry.models.count
            return Response.json(try JSONSerialization.data(withJSONObject: ["status": "ok", "models": count] as [String: Any], options: [.sortedKeys]))
        }
        router.get("metrics") { _, _ -> Response in Response.text(metrics.exposition(), contentType: "text/plain; version=0.0.4; charset=utf-8") }
        router.get("v1/models") { _, _ -> Response in
            let models = await registry.models
            return Response.json(try JSONEncoder.sorted.encode(["models": models]))
        }
        router.post("v1/models") { request, _ -> Response in
            let body = try await BodyReader.read(request, limit: 64 << 10)
            guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                  let path = (object["path"] ?? object["model"]) as? String, !path.isEmpty else {
                throw ServingError(.badRequest, "bad_json", "POST /v1/models takes JSON {\"path\": \"BUNDLE or model name\", \"name\": \"NAME (optional)\"}")
            }
            let name = object["name"] as? String
            if let name, name.isEmpty || name.contains("/") {
                throw ServingError(.badRequest, "bad_name", "name '\(name)' must be non-empty and without '/'")
            }
            let info = try await registry.load(path, name: name)
            return Response.json(try JSONEncoder.sorted.encode(info), status: info.version == 1 ? .created : .ok)
        }
        router.delete("v1/models/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard await registry.remove(name) else {
                let served = await registry.models.map(\.name)
                throw ServingError.unknownModel(name, served: served)
            }
            return Response.json(try JSONSerialization.data(withJSONObject: ["removed": name]))
        }
        router.post("v1/models/:name/predict") { request, context -> Response in
            try await predict.handle(request, name: try context.parameters.require("name"))
        }
        Dashboard(registry: registry, runDatabase: options.runDatabase).addRoutes(to: router)
        return router
    }

    /// Loads `models` (bundle directories or registry names; `NAME=SOURCE` picks the served name), then serves
    /// until SIGINT or SIGTERM. `onListening` is told the bound port.
    public func run(models: [String], log: @escaping @Sendable (String) -> Void, onListening: @escaping @Sendable (Int) -> Void) async throws {
        try options.validate()
        for m in models {
            let (name, source) = Self.split(m)
            let info = try await registry.load(source, name: name)
            log("loaded \(info.name) (\(info.kind), \(info.modality), \(info.labels) labels) from \(info.source)")
        }
        var watcher: Task<Void, Never>?
        if let watch = options.watch {
            let w = DirectoryWatcher(directory: URL(fileURLWithPath: watch), registry: registry, log: log)
            watcher = Task { await w.run() }
        }
        defer { watcher?.cancel() }
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "transfer"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? -1) })
        try await app.runService()
        await registry.shutdown()
        try? FileManager.default.removeItem(at: scratch)
    }

    /// `NAME=SOURCE` → (NAME, SOURCE); a plain source → (nil, source).
    static func split(_ spec: String) -> (String?, String) {
        guard let eq = spec.firstIndex(of: "="), !spec[..<eq].contains("/") else { return (nil, spec) }
        return (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
