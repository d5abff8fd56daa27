import Foundation
import Synchronization

/// The server's counters in the Prometheus text exposition format (version 0.0.4): requests by route and status,
/// a request-latency histogram, a batch-size histogram and the models served.
public final class ServingMetrics: Sendable {
    /// Upper bounds of the latency histogram, seconds.
    public static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Upper bounds of the batch-size histogram, inputs.
    public static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64]

    struct Histogram {
        let bounds: [Double]
        var counts: [Int]
        var sum = 0.0
        var count = 0
        init(_ bounds: [Double]) { self.bounds = bounds; counts = Array(repeating: 0, count: bounds.count) }
        mutating func observe(_ v: Double) {
            for (i, b) in bounds.enumerated() where v <= b { counts[i] += 1 }
            sum += v; count += 1
        }
    }

    struct State {
        var requests: [String: Int] = [:]
        var latency: [String: Histogram] = [:]
        var batches = Histogram(ServingMetrics.batchBuckets)
        var models = 0
        var reloads = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Records one answered request of `route` (a route pattern such as `/v1/models/{name}/predict`).
    public func observeRequest(route: String, method: String, status: Int, seconds: Double) {
        state.withLock { s in
            s.requests["route=\"\(route)\",method=\"\(method)\",status=\"\(status)\"", default: 0] += 1
            s.latency[route, default: Histogram(Self.latencyBuckets)].observe(seconds)
        }
    }

    public func observeBatch(size: Int) { state.withLock { $0.batches.observe(Double(size)) } }

    public func setModels(_ count: Int) { state.withLock { $0.models = count } }

    public func countReload() { state.withLock { $0.reloads += 1 } }

    /// The exposition text served at `/metrics`.
    public func exposition() -> String {
        let s = state.withLock { $0 }
        var out = "# HELP transfer_requests_total HTTP requests answered, by route, method and status.\n# TYPE transfer_requests_total counter\n"
        for (labels, n) in s.requests.sorted(by: { $0.key < $1.key }) { out += "transfer_requests_total{\(labels)} \(n)\n" }
        out += "# HELP transfer_request_duration_seconds Time from request to response, by route.\n# TYPE transfer_request_duration_seconds histogram\n"
        for (route, h) in s.latency.sorted(by: { $0.key < $1.key }) {
            out += Self.histogram("transfer_request_duration_seconds", h, labels: "route=\"\(route)\",")
        }
        out += "# HELP transfer_batch_size Inputs per forward pass of the micro-batcher.\n# TYPE transfer_batch_size histogram\n"
        out += Self.histogram("transfer_batch_size", s.batches, labels: "")
        out += "# HELP transfer_models_served Models being served.\n# TYPE transfer_models_served gauge\ntransfer_models_served \(s.models)\n"
        out += "# HELP transfer_model_loads_total Models added or replaced while serving.\n# TYPE transfer_model_loads_total counter\ntransfer_model_loads_total \(s.reloads)\n"
        return out
    }

    static func histogram(_ name: String, _ h: Histogram, labels: String) -> String {
        var out = ""
        for (b, c) in zip(h.bounds, h.counts) { out += "\(name)_bucket{\(labels)le=\"\(format(b))\"} \(c)\n" }
        out += "\(name)_bucket{\(labels)le=\"+Inf\"} \(h.count)\n"
        let plain = labels.isEmpty ? "" : "{\(labels.dropLast())}"
        out += "\(name)_sum\(plain) \(format(h.sum))\n\(name)_count\(plain) \(h.count)\n"
        return out
    }

    static func format(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
}
