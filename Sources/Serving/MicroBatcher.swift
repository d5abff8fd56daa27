import Foundation
import Synchronization
import TransferKit

/// Adaptive micro-batching in front of one ``ModelHost`` (as in TorchServe's `batch_size`/`max_batch_delay` and
/// Clipper's adaptive batching, Crankshaw et al., NSDI 2017): when the model is idle, the first request waits up to
/// `window` for others and they run as one batch; requests that queue while a batch runs go in the next batch at
/// once. The queue holds at most `capacity` requests: one more is refused with ``ServingError/queueFull`` (503),
/// so the queue never grows without bound. A closed batcher (its model replaced or removed) refuses new requests
/// with ``Closed`` and finishes every request it accepted.
public final class MicroBatcher: Sendable {
    /// Thrown by ``submit(_:topK:)`` once the batcher is closed: the caller looks the model up again.
    public struct Closed: Error {}

    struct Job {
        let inputs: [ServingInput]
        let topK: Int
        let continuation: CheckedContinuation<[Result<Prediction, ServingError>], any Error>
    }

    struct State {
        var jobs: [Job] = []
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    public let capacity: Int
    public let window: Duration
    public let maxBatch: Int
    private let state = Mutex(State())

    /// - Parameters:
    ///   - capacity: the most requests waiting (at least 1).
    ///   - window: how long the first request waits for others; zero runs every request alone.
    ///   - maxBatch: the most inputs in one batch (a request with more runs alone).
    public init(capacity: Int, window: Duration, maxBatch: Int) {
        self.capacity = max(1, capacity); self.window = window; self.maxBatch = max(1, maxBatch)
    }

    /// Queues a request and waits for its batch; the results are in input order.
    public func submit(_ inputs: [ServingInput], topK: Int) async throws -> [Result<Prediction, ServingError>] {
        try await withCheckedThrowingContinuation { continuation in
            enum Outcome { case queued(CheckedContinuation<Void, Never>?), closed, full }
            let outcome = state.withLock { s -> Outcome in
                if s.closed { return .closed }
                if s.jobs.count >= capacity { return .full }
                s.jobs.append(Job(inputs: inputs, topK: topK, continuation: continuation))
                defer { s.waiter = nil }
                return .queued(s.waiter)
            }
            switch outcome {
            case .queued(let waiter): waiter?.resume()
            case .closed: continuation.resume(throwing: Closed())
            case .full: continuation.resume(throwing: ServingError.queueFull)
            }
        }
    }

    /// Stops accepting requests; ``run(_:metrics:)`` returns once the accepted ones are answered.
    public func close() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.closed = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// The worker: runs batches on `host` until closed and drained.
    public func run(_ host: ModelHost, metrics: ServingMetrics) async {
        while let idle = await waitForWork() {
            if idle && window > .zero { try? await Task.sleep(for: window) }
            let batch = takeBatch()
            guard !batch.isEmpty else { continue }
            let inputs = batch.flatMap(\.inputs)
            metrics.observeBatch(size: inputs.count)
            let results = await host.predict(inputs, topK: batch.map(\.topK).max() ?? 5)
            var offset = 0
            for job in batch {
                let slice = results[offset..<(offset + job.inputs.count)].map { r in
                    r.map { p in host.info.task == "classification" ? Prediction(input: p.input, top: Array(p.top.prefix(job.topK)), labels: p.labels, value: p.value) : p }
                }
                offset += job.inputs.count
                job.continuation.resume(returning: slice)
            }
        }
    }

    /// Waits until a request is queued: true when the model was idle (the wait suspended), false when requests
    /// were already waiting; nil once closed with nothing left.
    private func waitForWork() async -> Bool? {
        enum Ready { case backlog, idle, done }
        var ready = state.withLock { s -> Ready in s.jobs.isEmpty ? (s.closed ? .done : .idle) : .backlog }
        if ready == .backlog { return false }
        if ready == .done { return nil }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if !s.jobs.isEmpty || s.closed { return true }
                s.waiter = c
                return false
            }
            if resumeNow { c.resume() }
        }
        ready = state.withLock { s -> Ready in s.jobs.isEmpty ? (s.closed ? .done : .idle) : .backlog }
        return ready == .done ? nil : true
    }

    /// The oldest requests whose inputs fit in ``maxBatch`` (at least one request).
    private func takeBatch() -> [Job] {
        state.withLock { s -> [Job] in
            var count = 0, taken = 0
            for job in s.jobs {
                if taken > 0 && (window == .zero || count + job.inputs.count > maxBatch) { break }
                count += job.inputs.count; taken += 1
            }
            let batch = Array(s.jobs.prefix(taken))
            s.jobs.removeFirst(taken)
            return batch
        }
    }
}
