import Foundation
import TransferKit

/// The models being served, by name: each a ``ModelHost`` actor with its ``MicroBatcher``. Adding a model under a
/// name already served replaces it: new requests go to the new model while the old one answers every request it
/// had accepted, so no request is dropped by a reload.
public actor ServingRegistry {
    struct Entry {
        let host: ModelHost
        let batcher: MicroBatcher
    }

    private var entries: [String: Entry] = [:]
    private var versions: [String: Int] = [:]
    private var workers: [ObjectIdentifier: Task<Void, Never>] = [:]
    let metrics: ServingMetrics
    let queue: Int, window: Duration, maxBatch: Int

    public init(metrics: ServingMetrics, queue: Int, window: Duration, maxBatch: Int) {
        self.metrics = metrics; self.queue = queue; self.window = window; self.maxBatch = maxBatch
    }

    /// Resolves, loads and serves `model` (a bundle directory or a registry name) under `name`; replaces a model
    /// already served under that name. The load runs off the registry, so requests keep flowing meanwhile.
    @discardableResult
    public nonisolated func load(_ model: String, name: String? = nil) async throws(ServingError) -> ServedModelInfo {
        var source = try await ModelSource.resolve(model, name: name)
        source.info.version = await nextVersion(source.info.name)
        let host = try ModelHost(source)
        await install(host)
        return source.info
    }

    private func nextVersion(_ name: String) -> Int { (versions[name] ?? 0) + 1 }

    private func install(_ host: ModelHost) {
        let batcher = MicroBatcher(capacity: queue, window: window, maxBatch: maxBatch)
        let old = entries[host.info.name]
        entries[host.info.name] = Entry(host: host, batcher: batcher)
        versions[host.info.name] = host.info.version
        start(batcher, host)
        old?.batcher.close()
        metrics.setModels(entries.count)
        metrics.countReload()
    }

    private func start(_ batcher: MicroBatcher, _ host: ModelHost) {
        let id = ObjectIdentifier(batcher), metrics = metrics
        workers[id] = Task { [weak self] in
            await batcher.run(host, metrics: metrics)
            await self?.finished(id)
        }
    }

    private func finished(_ id: ObjectIdentifier) { workers[id] = nil }

    /// Stops serving `name`; requests it had accepted are still answered. False when no such model is served.
    @discardableResult
    public func remove(_ name: String) -> Bool {
        guard let e = entries.removeValue(forKey: name) else { return false }
        e.batcher.close()
        metrics.setModels(entries.count)
        return true
    }

    /// The served models, by name.
    public var models: [ServedModelInfo] { entries.values.map(\.host.info).sorted { $0.name < $1.name } }

    func entry(_ name: String) throws(ServingError) -> Entry {
        guard let e = entries[name] else { throw ServingError.unknownModel(name, served: entries.keys.sorted()) }
        return e
    }

    /// Predictions for `inputs` under model `name`, in input order (through the model's micro-batcher). A request
    /// that meets a batcher closed by a reload goes to the model now served under the name.
    public nonisolated func predict(_ name: String, _ inputs: [ServingInput], topK: Int) async throws -> [Result<Prediction, ServingError>] {
        while true {
            let e = try await entry(name)
            do { return try await e.batcher.submit(inputs, topK: topK) } catch is MicroBatcher.Closed { continue }
        }
    }

    /// The served model `name`'s host (for explanations).
    public func host(_ name: String) throws(ServingError) -> ModelHost { try entry(name).host }

    /// Closes every batcher and waits for the accepted requests.
    public func shutdown() async {
        for e in entries.values { e.batcher.close() }
        entries.removeAll()
        for w in workers.values { await w.value }
    }
}
