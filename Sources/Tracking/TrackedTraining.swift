import Foundation
import TransferKit

extension RunRecorder {
    /// Begins recording `run` as a `train` run (or `kind`, e.g. a tune trial with `parent`): its configuration
    /// (``TrainingRun/configuration(task:headLearningRate:)``, before the head's learning rate is swept), `extra`
    /// parameters (the model's name, paths, …), and the fingerprints of `data` (and of `test`, as the parameter
    /// `test_fingerprint`). `dataFingerprint`: `data`'s, when the caller has it already (the trials of a tune run
    /// share one), else computed here.
    public static func begin(training run: TrainingRun, data: LabeledData, test: LabeledData?, in store: RunStore, kind: RunKind = .train,
                             parent: RunID? = nil, extra: [String: String] = [:], dataFingerprint: String? = nil,
                             startedAt: Date = Date()) throws(RunStoreError) -> RunRecorder {
        let t0 = Date()
        var parameters = run.configuration(task: data.task, headLearningRate: run.options.headLearningRate)
        parameters["early_stopping"] = run.options.earlyStoppingPatience.map(String.init) ?? "off"
        parameters["val_split"] = String(run.options.validationFraction)
        parameters["head"] = run.options.head.rawValue
        if let test { parameters["test_fingerprint"] = DataFingerprint.of(test) }
        parameters.merge(extra) { $1 }
        let fingerprint = dataFingerprint ?? DataFingerprint.of(data)
        let fingerprinting = Date().timeIntervalSince(t0)
        let recorder = try begin(in: store, kind: kind, parameters: parameters, dataFingerprint: fingerprint, parent: parent, startedAt: startedAt)
        recorder.secondsRecording += fingerprinting
        return recorder
    }
}

extension TrainingRun {
    /// ``run(_:test:bundle:)`` recorded by `recorder`: every epoch of every phase (through a callback added to
    /// ``callbacks``), then the resolved configuration (the swept head learning rate), the final metrics and the
    /// bundle's path and hash; or, when the run throws, the error (and the error is rethrown).
    ///
    /// A failure to record never costs the run: it is passed to `onTrackingError` and the run goes on (the bundle
    /// is written whatever the database does).
    public func run(_ data: LabeledData, test: LabeledData?, bundle: URL, recorder: RunRecorder?,
                    onTrackingError: @escaping (RunStoreError) -> Void) throws -> Outcome {
        guard let recorder else { return try run(data, test: test, bundle: bundle) }
        var tracked = self
        tracked.callbacks.append(recorder.epochCallback(onError: onTrackingError))
        let outcome: Outcome
        do { outcome = try tracked.run(data, test: test, bundle: bundle) } catch {
            do throws(RunStoreError) { try recorder.fail("\(error)") } catch { onTrackingError(error) }
            throw error
        }
        do throws(RunStoreError) {
            try recorder.addParameters(outcome.configuration)
            try recorder.finish(metrics: outcome.metrics, bundle: bundle)
        } catch {
            onTrackingError(error)
        }
        return outcome
    }
}
