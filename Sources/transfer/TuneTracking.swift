import Foundation
import TransferKit
import Tracking
import Tuning

/// Records a `transfer tune` run in the run database: the tune run itself, and each trial as a child run (kind
/// `trial`) with its parameters, its per-epoch validation scores and its final score; a pruned trial finishes with
/// `state` = `pruned` in its parameters. A recording failure is warned about once and the search goes on.
final class TuneTracking {
    let store: RunStore
    private(set) var recorder: RunRecorder?
    private let metric: TuneMetric
    private var fingerprint: String?

    init?(store: RunStore?, metric: TuneMetric, parameters: [String: String], data: LabeledData, startedAt: Date) {
        guard let store else { return nil }
        self.store = store
        self.metric = metric
        fingerprint = DataFingerprint.of(data)
        attempt { recorder = try RunRecorder.begin(in: store, kind: .tune, parameters: parameters, dataFingerprint: fingerprint, startedAt: startedAt) }
    }

    /// One finished, pruned or failed trial.
    func record(_ t: FrozenTrial) {
        guard let parent = recorder else { return }
        var params = t.params.mapValues(\.description)
        params["state"] = t.state.rawValue
        params["trial"] = String(t.number)
        attempt {
            let child = try RunRecorder.begin(in: store, kind: .trial, parameters: params, dataFingerprint: fingerprint,
                                              parent: parent.id, startedAt: Date(timeIntervalSinceNow: -t.seconds))
            for step in t.intermediate.keys.sorted() {
                let v = Float(t.intermediate[step] ?? .nan)
                try child.record(EpochRecord(epoch: step, phase: "trial", trainLoss: .nan,
                                             validLoss: metric == .logLoss ? v : nil, validMetric: metric == .accuracy ? v : nil,
                                             learningRate: .nan, seconds: 0))
            }
            if t.state == .failed { try child.fail(t.error ?? "the trial failed") } else {
                try child.finish(metrics: t.value.map { ["valid_" + metric.rawValue: $0] } ?? [:])
            }
        }
    }

    func finish(metrics: [String: Double], bundle: URL) { attempt { try recorder?.finish(metrics: metrics, bundle: bundle) } }
    func fail(_ error: Error) { attempt { try recorder?.fail("\(error)") } }

    private var warned = false
    private func attempt(_ body: () throws -> Void) {
        do { try body() } catch {
            if !warned {
                if let e = error as? RunStoreError { TrackingOption.warn(e) } else { printErr("warning: this run is no longer being recorded: \(error)") }
            }
            warned = true
        }
    }
}
