import ArgumentParser
import Foundation
import Serving

/// `transfer serve`: the prediction API with micro-batching, hot reload, metrics and the dashboard.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve models over HTTP: predictions with micro-batching, hot reload, Prometheus metrics and a dashboard.")

    @Option(name: .customLong("model"), help: "A bundle or a pretrained model's name to serve (repeatable; NAME=BUNDLE picks the served name).")
    var models: [String] = []

    @Option(name: .long, help: "The address to listen on (default: loopback only).")
    var host = "127.0.0.1"

    @Option(name: .long, help: "The port, 0…65535 (0: a free port, printed).")
    var port = 8080

    @Option(name: .long, help: "A bearer token every request but /healthz must carry.")
    var token: String?

    @Option(name: .long, help: "The largest request body accepted, bytes (1024…1073741824).")
    var maxBodyBytes = 16 << 20

    @Option(name: .long, help: "How long an idle model's first request waits to batch with others, ms (0…1000; 0: no micro-batching).")
    var batchWindowMs = 5

    @Option(name: .long, help: "The most requests waiting per model before answering 503 (1…100000).")
    var queue = 64

    @Option(name: .long, help: "The most inputs in one forward pass (1…1024).")
    var maxBatch = 32

    @Option(name: .long, help: "A directory whose bundles are served, added, replaced and removed as they change.")
    var watch: String?

    @OptionGroup var database: RunsDatabaseOption

    var options: ServingOptions {
        var o = ServingOptions()
        o.host = host; o.port = port; o.token = token; o.maxBodyBytes = maxBodyBytes
        o.batchWindowMilliseconds = batchWindowMs; o.queue = queue; o.maxBatch = maxBatch; o.watch = watch
        o.runDatabase = database.url
        return o
    }

    func validate() throws {
        do { try options.validate() } catch { throw ValidationError(error.message) }
        for m in models where m.isEmpty { throw ValidationError("--model must name a bundle or a model (received an empty string)") }
        if let watch {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: watch, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--watch \(watch) is not a directory")
            }
        }
    }

    func run() async throws {
        let server = TransferServer(options: options)
        do {
            try await server.run(models: models, log: { printErr($0) }, onListening: { port in
                FileHandle.standardOutput.write(Data("serving on http://\(host):\(port)\n".utf8))
            })
        } catch let e as ServingError { throw RuntimeError(e.message) }
    }
}
