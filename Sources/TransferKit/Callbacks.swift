import Checkpoints
import Foundation
import Layers
import Tensors

/// Stops training when the monitored value has not improved by `minDelta` for `patience` epochs, and (by
/// default) puts back the weights of the best epoch at the end (Keras `EarlyStopping(restore_best_weights=True)`).
public final class EarlyStopping: Callback, ResumableCallback {
    public enum Monitor: Sendable {
        case validLoss, validMetric

        /// The monitored value of the learner's last validation, as "higher is better".
        func score(_ l: Learner) -> Float? {
            switch self {
            case .validLoss: l.validLoss.map { -$0 }
            case .validMetric: l.validMetric
            }
        }
    }
    public let monitor: Monitor
    public let patience: Int
    public let minDelta: Float
    public let restoreBest: Bool
    public private(set) var bestEpoch: Int?
    public private(set) var best: Float?
    public private(set) var stoppedEarly = false
    private var bestState: [String: Tensor]?
    private var wait = 0

    public init(monitor: Monitor = .validLoss, patience: Int = 3, minDelta: Float = 0, restoreBest: Bool = true) {
        self.monitor = monitor; self.patience = patience; self.minDelta = minDelta; self.restoreBest = restoreBest
    }

    public override var order: Int { 50 }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        switch event {
        case .beforeFit:
            // A resumed fit keeps the state restored from its checkpoint.
            guard !l.history.contains(where: { $0.phase == l.phase }) else { return }
            wait = 0; best = nil; bestState = nil; bestEpoch = nil; stoppedEarly = false
        case .afterEpoch:
            guard let s = monitor.score(l), s.isFinite else { return }
            if best == nil || s > best! + minDelta {
                best = s
                bestEpoch = l.epoch
                wait = 0
                if restoreBest { bestState = Dictionary(uniqueKeysWithValues: l.model.stateDict().map { ($0.key, $0.tensor.copy()) }) }
            } else {
                wait += 1
                if wait >= patience {
                    stoppedEarly = true
                    throw LearnerControl.stopFit
                }
            }
        case .afterFit:
            if restoreBest, let bestState { try l.model.load(bestState) }
        default: break
        }
    }
}

extension EarlyStopping {
    public var stateName: String { "early_stopping" }

    public func saveState() -> (tensors: [String: Tensor], values: [String: String]) {
        var values = ["wait": String(wait), "stopped": String(stoppedEarly)]
        if let best { values["best"] = String(best) }
        if let bestEpoch { values["best_epoch"] = String(bestEpoch) }
        return (bestState ?? [:], values)
    }

    public func restoreState(tensors: [String: Tensor], values: [String: String]) {
        wait = Int(values["wait"] ?? "0") ?? 0
        stoppedEarly = values["stopped"] == "true"
        best = values["best"].flatMap { Float($0) }
        bestEpoch = values["best_epoch"].flatMap { Int($0) }
        bestState = tensors.isEmpty ? nil : tensors
    }
}

/// A callback whose state must survive a resume (saved by ``ResumeCheckpoint`` beside the model's).
public protocol ResumableCallback: AnyObject {
    /// The key prefix of its state in the checkpoint.
    var stateName: String { get }
    func saveState() -> (tensors: [String: Tensor], values: [String: String])
    func restoreState(tensors: [String: Tensor], values: [String: String])
}

/// One progress line on standard error: a bar, the percentage, items/s and the ETA. Drawn only when standard error
/// is a terminal and `CI` is unset, so `--json` runs and CI logs stay clean. The one progress printer of the library:
/// feature extraction and ``ProgressBar`` both use it.
public enum ProgressLine {
    /// Whether progress is drawn at all.
    public static var isEnabled: Bool { isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["CI"] == nil }

    /// `label ████····  42%  detail  123 items/s  ETA 7s`.
    public static func format(_ label: String, fraction: Double, itemsPerSecond rate: Double, eta: Double, detail: String = "") -> String {
        let width = 24
        let filled = Swift.max(0, Swift.min(width, Int(fraction * Double(width))))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        return String(format: "\r%@ %@ %3.0f%%  %@%.0f items/s  ETA %.0fs ", label, bar, fraction * 100,
                      detail.isEmpty ? "" : detail + "  ", rate, eta)
    }

    /// Draws `done` of `total` items since `start` (a newline once done).
    public static func draw(_ label: String, done: Int, total: Int, start: Date) {
        guard isEnabled else { return }
        let elapsed = Date().timeIntervalSince(start), rate = Double(done) / Swift.max(elapsed, 1e-6)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = format(label, fraction: Double(done) / Double(Swift.max(total, 1)), itemsPerSecond: rate, eta: eta)
        FileHandle.standardError.write(Data((line + (done == total ? "\n" : "")).utf8))
    }
}

/// A progress bar with ETA, items/s and the running loss (``ProgressLine``), and a line per epoch.
public final class ProgressBar: Callback {
    let enabled: Bool
    private var lastDraw = Date.distantPast
    private var smoothed: Float?

    public init(enabled: Bool = ProgressLine.isEnabled) {
        self.enabled = enabled
    }

    public override var order: Int { 90 }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        guard enabled else { return }
        switch event {
        case .afterBatch:
            smoothed = smoothed.map { 0.9 * $0 + 0.1 * l.lossValue } ?? l.lossValue
            let now = Date()
            guard now.timeIntervalSince(lastDraw) > 0.1 || l.iteration % l.iterationsPerEpoch == 0 else { return }
            lastDraw = now
            let done = (l.iteration - 1) % Swift.max(l.iterationsPerEpoch, 1) + 1
            let frac = Double(done) / Double(Swift.max(l.iterationsPerEpoch, 1))
            let elapsed = now.timeIntervalSince(l.epochStart)
            let rate = Double(l.samplesSeenThisEpoch) / Swift.max(elapsed, 1e-6)
            let eta = frac > 0 ? elapsed / frac - elapsed : 0
            let line = ProgressLine.format("\(l.phase) epoch \(l.epoch + 1)/\(l.epochs)", fraction: frac, itemsPerSecond: rate, eta: eta,
                                           detail: String(format: "loss %.4f", smoothed ?? 0))
            FileHandle.standardError.write(Data(line.utf8))
        case .afterEpoch:
            var s = String(format: "\r%@ epoch %d/%d  train loss %.4f", l.phase, l.epoch + 1, l.epochs, l.trainLoss)
            if let v = l.validLoss { s += String(format: "  valid loss %.4f", v) }
            if let m = l.validMetric { s += String(format: "  valid metric %.4f", m) }
            s += String(format: "  %.1fs", l.history.last?.seconds ?? 0)
            FileHandle.standardError.write(Data((s.padding(toLength: 100, withPad: " ", startingAt: 0) + "\n").utf8))
        default: break
        }
    }
}

/// Clips the global L2 norm of the trainable gradients to `maxNorm` before every optimizer step (PyTorch
/// `clip_grad_norm_`, fastai `GradientClip`), at ``LearnerEvent/beforeStep``.
public final class GradientClipping: Callback {
    public let maxNorm: Float
    /// The norm before clipping at the last step.
    public private(set) var lastNorm: Float = 0

    public init(maxNorm: Float) {
        precondition(maxNorm > 0 && maxNorm.isFinite, "GradientClipping: maxNorm \(maxNorm) must be a positive number")
        self.maxNorm = maxNorm
    }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        guard event == .beforeStep else { return }
        let grads = l.model.trainableParameters().compactMap { $0.1.grad }
        var sq: Double = 0
        for g in grads { g.withUnsafeBufferPointer { for v in $0 { sq += Double(v) * Double(v) } } }
        lastNorm = Float(sq.squareRoot())
        guard lastNorm > maxNorm else { return }
        let scale = maxNorm / (lastNorm + 1e-6)
        for g in grads { g.withMutableData { for i in $0.indices { $0[i] *= scale } } }
    }
}

/// Appends each epoch to `metrics.csv` and `metrics.jsonl` in a directory.
public final class MetricsLog: Callback {
    public let directory: URL
    public init(directory: URL) { self.directory = directory }
    public override var order: Int { 80 }
    public override var writesFiles: Bool { true }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        guard event == .afterEpoch, let r = l.history.last else { return }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let csv = directory.appendingPathComponent("metrics.csv"), jsonl = directory.appendingPathComponent("metrics.jsonl")
        if !FileManager.default.fileExists(atPath: csv.path) {
            try Data("phase,epoch,train_loss,valid_loss,valid_metric,learning_rate,seconds\n".utf8).write(to: csv)
        }
        if !FileManager.default.fileExists(atPath: jsonl.path) { try Data().write(to: jsonl) }
        func f(_ x: Float?) -> String { x.map { String($0) } ?? "" }
        let row = "\(r.phase),\(r.epoch),\(r.trainLoss),\(f(r.validLoss)),\(f(r.validMetric)),\(r.learningRate),\(String(format: "%.3f", r.seconds))\n"
        try append(row, to: csv)
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = .sortedKeys
        // A diverged epoch (NaN or infinite loss) is logged as "NaN"/"Infinity", as metrics.json writes it.
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        try append(String(decoding: try enc.encode(r), as: UTF8.self) + "\n", to: jsonl)
    }

    func append(_ s: String, to url: URL) throws {
        let h = try FileHandle(forWritingTo: url)
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(s.utf8))
    }
}

/// Writes the model's weights to a safetensors file (atomically) whenever the monitored validation value improves,
/// so the best epoch survives whatever happens later (Keras `ModelCheckpoint(save_best_only=True)`).
public final class BestCheckpoint: Callback {
    public let path: URL
    public let monitor: EarlyStopping.Monitor
    public private(set) var best: Float?
    public private(set) var bestEpoch: Int?

    public init(path: URL, monitor: EarlyStopping.Monitor = .validLoss) { self.path = path; self.monitor = monitor }
    public override var order: Int { 60 }
    public override var writesFiles: Bool { true }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        guard event == .afterEpoch else { return }
        guard let s = monitor.score(l), s.isFinite, best == nil || s > best! else { return }
        best = s
        bestEpoch = l.epoch
        try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
        try SafeTensorsWriter.write(Dictionary(uniqueKeysWithValues: l.model.stateDict().map { ($0.key, $0.tensor) }),
                                    metadata: ["phase": l.phase, "epoch": String(l.epoch)], to: path.path)
    }
}

/// Saves model weights, optimizer state, history and the state of ``ResumableCallback``s after every epoch, and
/// once more when the fit ends (marked finished, after early stopping restored its best weights), atomically
/// (written to a temporary file and renamed), so ``Learner/resume(from:)`` can continue a killed run.
public final class ResumeCheckpoint: Callback {
    public let path: URL
    public init(path: URL) { self.path = path }
    public override var order: Int { 70 }
    public override var writesFiles: Bool { true }

    public override func on(_ event: LearnerEvent, learner l: Learner) throws {
        guard event == .afterEpoch || event == .afterFit else { return }
        var tensors: [String: Tensor] = [:]
        for (k, t) in l.model.stateDict() { tensors["model." + k] = t }
        for (k, t) in l.optimizer.stateDict() { tensors["optimizer." + k] = t }
        var metadata = ["history": String(decoding: try MetricsReport.jsonEncoder().encode(l.history), as: UTF8.self),
                        "iteration": String(l.iteration), "finished": String(event == .afterFit)]
        for case let c as ResumableCallback in l.callbacks {
            let (ts, vs) = c.saveState()
            for (k, t) in ts { tensors["callback.\(c.stateName)." + k] = t }
            metadata["callback.\(c.stateName)"] = String(decoding: try JSONEncoder().encode(vs), as: UTF8.self)
        }
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: path.path)
    }
}

extension Learner {
    /// Restores model, optimizer, history and callback state saved by ``ResumeCheckpoint``; the next
    /// ``fit(epochs:)`` continues after the last saved epoch, or does nothing when the saved fit had finished.
    /// Returns false when there is no checkpoint at `path`.
    @discardableResult
    public func resume(from path: URL) throws -> Bool {
        guard FileManager.default.fileExists(atPath: path.path) else { return false }
        let file = try SafeTensorsFile(path: path.path)
        let all = try file.tensors()
        var model: [String: Tensor] = [:], opt: [String: Tensor] = [:]
        for (k, t) in all {
            if k.hasPrefix("model.") { model[String(k.dropFirst(6))] = t } else if k.hasPrefix("optimizer.") { opt[String(k.dropFirst(10))] = t }
        }
        try self.model.load(model)
        try optimizer.loadStateDict(opt)
        history = try MetricsReport.jsonDecoder().decode([EpochRecord].self, from: Data((file.metadata["history"] ?? "[]").utf8))
        iteration = Int(file.metadata["iteration"] ?? "0") ?? 0
        resumedFinished = file.metadata["finished"] == "true"
        for case let c as ResumableCallback in callbacks {
            let prefix = "callback.\(c.stateName)."
            var ts: [String: Tensor] = [:]
            for (k, t) in all where k.hasPrefix(prefix) { ts[String(k.dropFirst(prefix.count))] = t }
            let vs = try file.metadata["callback.\(c.stateName)"].map { try JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
            c.restoreState(tensors: ts, values: vs)
        }
        return true
    }
}
