import Datasets
import Foundation
import Models
#if canImport(Glibc)
import Glibc
#endif
import Tensors

/// A whole `transfer train` run as a library call: split, train per the strategy, evaluate on validation (and test)
/// data, write the bundle (manifest with the run's configuration and headline metrics, thresholds, weights) and
/// remove the run's checkpoints. The CLI calls this and only prints; a library user gets the same bundle.
public struct TrainingRun {
    public var backbone: FeatureBackbone
    public var options: TrainOptions
    /// The data's name for the manifest and reports (e.g. the path given to `--data`).
    public var dataName: String
    /// Most confidently wrong predictions to keep for a report (classification).
    public var mistakes = 0
    /// Continue from the checkpoints in ``TrainOptions/checkpointDirectory`` instead of starting over.
    public var resume = false
    /// Objective override and extra callbacks, passed to ``TransferTrainer``.
    public var objective: ((_ phase: String, _ task: TaskKind, _ outputs: Int) -> TrainingObjective)?
    public var callbacks: [Callback] = []
    /// Solves the head phase for the head kinds it handles (``TransferTrainer/headSolver``).
    public var headSolver: HeadSolver?
    /// Calibrates a classifier after training (e.g. temperature scaling on the validation split); the test expected
    /// calibration error before it is kept in ``Outcome/calibration`` (`test_ece_before`) beside what it fitted.
    public var calibrator: ModelCalibrator?
    /// The adapter that ``Strategy/lora`` trains (required by that strategy; see ``BackboneAdapter``).
    public var adapter: BackboneAdapter?
    /// What ``Strategy/setfit`` runs on the backbone before the head (required by that strategy; the FewShot
    /// target's `SetFitPreparation`).
    public var preparation: BackbonePreparation?
    /// A lock the caller already holds on the bundle directory (the CLI takes it before loading the backbone);
    /// nil, or a lock on another directory: ``run(_:test:bundle:)`` takes its own for the run.
    public var outputLock: OutputLock?

    public init(backbone: FeatureBackbone, options: TrainOptions, dataName: String) {
        self.backbone = backbone; self.options = options; self.dataName = dataName
    }

    /// What the run produced.
    public struct Outcome {
        public var result: TrainResult
        public var trainSize: Int
        public var validation: MetricsReport?
        public var test: MetricsReport?
        public var mistakes: [Mistake]
        public var skipped: [(path: String, reason: String)]
        /// The configuration recorded in the manifest (`training`).
        public var configuration: [String: String]
        /// The headline metrics recorded in the manifest (`metrics`).
        public var metrics: [String: Double]
        /// What ``TrainingRun/calibrator`` fitted and the ECE before it (empty without one).
        public var calibration: [String: Double]
        public var seconds: Double
    }

    /// Trains on `data` (split by ``TrainOptions/validationFraction``), evaluates on `test` when given, and writes the
    /// bundle to `bundle`.
    ///
    /// Before any training it refuses, with typed errors: options out of range (``TrainOptions/validate()``), data
    /// the backbone cannot read (images for a text model, texts for an image model) or a single class to classify,
    /// test data whose task or classes differ from `data`'s (``checkData(_:dataName:test:testName:modelName:modelTakesImages:)``),
    /// and a bundle or log path that is a file (``checkOutput(bundle:logDirectory:)``). It then locks `bundle`
    /// (``OutputLock``) for the whole run, so a second run on the same directory fails instead of deleting this
    /// one's checkpoints.
    ///
    /// - Throws: ``TrainOptionsError``, ``TrainingRunError``, or an error of loading or training.
    public func run(_ data: LabeledData, test: LabeledData?, bundle: URL) throws -> Outcome {
        let start = Date()
        try options.validate()
        if options.strategy == .lora && adapter == nil { throw TrainingRunError.adapterMissing }
        if options.strategy == .setfit && preparation == nil { throw TrainingRunError.preparationMissing }
        try Self.checkOutput(bundle: bundle, logDirectory: options.logDirectory)
        try Self.checkData(data, dataName: dataName, test: test, testName: nil, modelName: backbone.spec.name,
                           modelTakesImages: backbone.takesImages)
        let held = outputLock.map { $0.directory.standardizedFileURL.path == bundle.standardizedFileURL.path } ?? false
        let lock: OutputLock? = try held ? nil : OutputLock(directory: bundle)
        defer { lock?.release() }
        if let dir = options.logDirectory {
            do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
                throw TrainingRunError.cannotCreate(path: dir.path, reason: FileErrors.reason(error))
            }
        }
        let (train, valid) = try data.split(validation: options.validationFraction, seed: options.seed)
        if !resume, let dir = options.checkpointDirectory { try? FileManager.default.removeItem(at: dir) }
        if !resume, let dir = options.logDirectory {
            for f in ["metrics.csv", "metrics.jsonl"] { try? FileManager.default.removeItem(at: dir.appendingPathComponent(f)) }
        }
        let trainer = TransferTrainer(backbone: backbone, options: options)
        trainer.objective = objective
        trainer.callbacks = callbacks
        trainer.headSolver = headSolver
        trainer.adapter = adapter
        trainer.preparation = preparation
        let result = try trainer.train(train, validation: valid)
        let calibration = try calibrate(result.model, validation: valid, test: test)
        var skipped = result.skipped, testMetrics: MetricsReport?, mistakes: [Mistake] = []
        if let test {
            let r = try result.model.evaluateWithMistakes(test, mistakes: self.mistakes)
            testMetrics = r.metrics
            mistakes = r.mistakes
            skipped += r.skipped.map { (path: $0.0, reason: $0.1) }
        }
        let validEval = valid.inputs.isEmpty ? nil : try result.model.evaluateWithMistakes(valid, mistakes: test == nil ? self.mistakes : 0)
        if mistakes.isEmpty { mistakes = validEval?.mistakes ?? [] }
        var metrics: [String: Double] = [:]
        if let v = validEval?.metrics { metrics.merge(v.headlineValues(prefix: "validation")) { $1 } }
        if let t = testMetrics { metrics.merge(t.headlineValues(prefix: "test")) { $1 } }
        metrics.merge(calibration) { $1 }
        // The manifest holds numbers only: a diverged (NaN or infinite) metric is left out of it, not written as text.
        metrics = metrics.filter { $0.value.isFinite }
        let config = configuration(task: data.task, headLearningRate: result.headLearningRate).merging(result.headNotes) { $1 }
        try ModelBundle.save(result.model, to: bundle, training: config, metrics: metrics)
        if let dir = options.checkpointDirectory { try? FileManager.default.removeItem(at: dir) }
        return Outcome(result: result, trainSize: train.inputs.count, validation: validEval?.metrics, test: testMetrics,
                       mistakes: mistakes, skipped: skipped, configuration: config, metrics: metrics, calibration: calibration,
                       seconds: Date().timeIntervalSince(start))
    }

    /// Runs ``calibrator`` on a classifier with validation data, after measuring the ECE it starts from.
    func calibrate(_ model: TransferModel, validation: LabeledData, test: LabeledData?) throws -> [String: Double] {
        guard let calibrator, model.task == .classification else { return [:] }
        func ece(_ data: LabeledData) throws -> Double? {
            if case .classification(let m) = try model.evaluateWithMistakes(data, mistakes: 0).metrics { return m.ece }
            return nil
        }
        var before: [String: Double] = [:]
        if let test { before["test_ece_before"] = try ece(test) }
        let fitted = try calibrator.calibrate(model, validation: validation)
        return fitted.isEmpty ? [:] : fitted.merging(before) { $1 }
    }

    /// The options as the manifest records them (and a run database, before the run, with the head's learning rate
    /// given or not yet found).
    public func configuration(task: TaskKind, headLearningRate: Float?) -> [String: String] {
        var c: [String: String] = ["data": dataName, "strategy": options.strategy.rawValue, "task": task.flag]
        c["seed"] = String(options.seed)
        c["lr"] = String(options.learningRate)
        c["head_lr"] = headLearningRate.map { String($0) } ?? "auto"
        c["batch_size"] = String(options.batchSize)
        c["augment"] = options.augment.rawValue
        c["views"] = String(options.augmentedViews)
        c["unfreeze"] = options.unfreeze.map(String.init) ?? "all"
        c["head_epochs"] = String(options.headEpochs)
        c["fine_tune_epochs"] = String(options.fineTuneEpochs)
        c["head"] = options.head.rawValue
        c["head_weight_decay"] = String(options.headWeightDecay)
        if options.labelSmoothing > 0 { c["label_smoothing"] = String(options.labelSmoothing) }
        if let m = options.mixing { c["mixing"] = m.description }
        if options.strategy == .lora, let adapter { c.merge(adapter.configuration) { a, _ in a } }
        // A backbone run at another input size than the registry's (``Models/ModelSpec/resized(to:)``) says so: the
        // bundle's preprocessing is then accepted at that size.
        if let p = backbone.spec.preprocessing, let own = try? ModelRegistry.spec(named: backbone.spec.name).preprocessing, p != own {
            c["input_size"] = String(p.inputSize)
        }
        return c
    }
}

extension TrainingRun {
    /// Refuses, before any training, data that this backbone cannot learn from or that cannot be evaluated as asked:
    ///
    /// - inputs of the other modality (image files for a text model, texts for an image model), in `data` or `test`;
    /// - no inputs at all, or fewer than two classes for classification;
    /// - `test` data whose task differs from `data`'s, or (classification and multi-label) whose classes differ.
    ///
    /// - Parameters:
    ///   - dataName: `data`'s name in messages (e.g. the path given to `--data`).
    ///   - testName: `test`'s name in messages (default: "the test data").
    ///   - modelName: the backbone's name in messages.
    ///   - modelTakesImages: whether the backbone reads images (``FeatureBackbone/takesImages``), else texts.
    public static func checkData(_ data: LabeledData, dataName: String, test: LabeledData?, testName: String?, modelName: String,
                                 modelTakesImages: Bool) throws(TrainingRunError) {
        func holdsImages(_ d: LabeledData) -> Bool? {
            guard let first = d.inputs.first else { return nil }
            if case .image = first { return true }
            return false
        }
        let takes = modelTakesImages ? "images" : "texts"
        guard let images = holdsImages(data) else { throw .noData(data: dataName) }
        guard images == modelTakesImages else {
            throw .modalityMismatch(model: modelName, modelTakes: takes, data: dataName, dataHolds: images ? "image files" : "texts")
        }
        if data.task == .classification {
            let used = Set(data.labels.filter { $0 >= 0 })
            guard used.count >= 2 else {
                throw .tooFewClasses(data: dataName, classes: used.sorted().compactMap { data.classNames.indices.contains($0) ? data.classNames[$0] : nil })
            }
        }
        guard let test else { return }
        let name = testName ?? "the test data"
        if let testImages = holdsImages(test), testImages != modelTakesImages {
            throw .modalityMismatch(model: modelName, modelTakes: takes, data: name, dataHolds: testImages ? "image files" : "texts")
        }
        guard test.task == data.task else {
            throw .testTaskDiffers(test: name, testTask: test.task.reportName, data: dataName, dataTask: data.task.reportName)
        }
        if data.task != .regression && test.classNames != data.classNames {
            throw .testClassesDiffer(test: name, testClasses: test.classNames, data: dataName, dataClasses: data.classNames)
        }
    }

    /// Refuses a bundle path that is a file, or a directory that holds other things and no bundle or run (it would
    /// be written into and its `.checkpoints` replaced), and a log/report directory path that is a file.
    public static func checkOutput(bundle: URL, logDirectory: URL?) throws(TrainingRunError) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: bundle.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw .notADirectory(path: bundle.path, role: "the bundle") }
            let entries = (try? fm.contentsOfDirectory(atPath: bundle.path)) ?? []
            let ours: Set<String> = ["manifest.json", "weights.safetensors", ".checkpoints", OutputLock.fileName]
            if !entries.isEmpty && !entries.contains(where: ours.contains) {
                throw .notABundleDirectory(path: bundle.path, entries: entries.count)
            }
        }
        if let dir = logDirectory, fm.fileExists(atPath: dir.path, isDirectory: &isDir), !isDir.boolValue {
            throw .notADirectory(path: dir.path, role: "the report directory")
        }
    }

}

/// Why ``TrainingRun`` refused to start (or could not lock or create its output). Every message names the path or
/// value it is about.
public enum TrainingRunError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The model reads `modelTakes` ("images"/"texts"), the data holds the other kind.
    case modalityMismatch(model: String, modelTakes: String, data: String, dataHolds: String)
    /// Classification data with fewer than two classes (`classes`: the ones present).
    case tooFewClasses(data: String, classes: [String])
    /// Data with no inputs.
    case noData(data: String)
    /// The test data's task differs from the training data's.
    case testTaskDiffers(test: String, testTask: String, data: String, dataTask: String)
    /// The test data's classes differ from the training data's.
    case testClassesDiffer(test: String, testClasses: [String], data: String, dataClasses: [String])
    /// An output path (`role`: "the bundle", "the report directory") exists and is not a directory.
    case notADirectory(path: String, role: String)
    /// The bundle path is a directory with `entries` other things in it and no bundle.
    case notABundleDirectory(path: String, entries: Int)
    /// Another live process (`pid`, when its lock file says) is writing this bundle directory.
    case locked(path: String, pid: Int32?)
    /// An output directory or the lock file could not be created.
    case cannotCreate(path: String, reason: String)
    /// The lora strategy was asked for without an adapter to train (``TrainingRun/adapter``).
    case adapterMissing
    /// The setfit strategy was asked for without a preparation to run (``TrainingRun/preparation``).
    case preparationMissing

    public var description: String {
        switch self {
        case .modalityMismatch(let m, let takes, let d, let holds):
            let advice = takes == "images" ? "an image dataset or a text model" : "a text dataset or an image model"
            return "\(m) reads \(takes), but \(d) holds \(holds): choose \(advice) (see `transfer models`)"
        case .tooFewClasses(let d, let classes):
            let found = classes.isEmpty ? "no class" : "only 1 class (\(classes.map { "\"\($0)\"" }.joined(separator: ", ")))"
            return "\(d) has \(found): classification needs at least 2 classes"
        case .noData(let d):
            return "\(d) holds no inputs"
        case .testTaskDiffers(let t, let tt, let d, let dt):
            return "\(t) holds \(tt) targets, \(d) holds \(dt) targets: test data must have the training data's task"
        case .testClassesDiffer(let t, let tc, let d, let dc):
            let missing = dc.filter { !tc.contains($0) }, extra = tc.filter { !dc.contains($0) }
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing)") }
            if !extra.isEmpty { parts.append("extra \(extra)") }
            if parts.isEmpty { parts.append("the same names in another order") }
            return "the classes of \(t) differ from those of \(d) (\(parts.joined(separator: "; ")); \(d) has \(dc)): "
                + "test data must have the training data's classes"
        case .notADirectory(let p, let role):
            return "\(p) is an existing file, not a directory: \(role) is a directory; choose another path"
        case .notABundleDirectory(let p, let n):
            return "\(p) is a directory holding \(n) other item\(n == 1 ? "" : "s") and no bundle: choose a new or empty directory "
                + "for the bundle"
        case .locked(let p, let pid):
            return "\(p) is being written by another training run\(pid.map { " (PID \($0))" } ?? "") holding \(p)/\(OutputLock.fileName): "
                + "wait for it to finish or choose another output directory (nothing was changed)"
        case .cannotCreate(let p, let reason):
            return "cannot create \(p): \(reason)"
        case .adapterMissing:
            return "the lora strategy trains an adapter, and none was given: set TrainingRun.adapter (the Adapters target's LoRABackboneAdapter)"
        case .preparationMissing:
            return "the setfit strategy fine-tunes the backbone contrastively first, and no preparation was given: set TrainingRun.preparation (the FewShot target's SetFitPreparation)"
        }
    }
}

/// An exclusive lock on a bundle directory while a run writes it: the file `DIR/.lock`, locked with `flock(2)` and
/// holding the writer's PID.
///
/// The kernel drops the lock when its process ends however it ends, so the `.lock` file a killed run leaves is taken
/// over by the next run; a lock held by a live process makes ``init(directory:)`` throw
/// ``TrainingRunError/locked(path:pid:)`` without changing anything. The directory is created when missing (and
/// removed again by ``release()`` when the run left nothing in it).
public final class OutputLock: @unchecked Sendable {
    /// The lock file's name inside the directory.
    public static let fileName = ".lock"
    /// The locked directory.
    public let directory: URL
    private var fd: Int32
    private let createdDirectory: Bool

    /// Creates `directory` when needed and locks it, or throws ``TrainingRunError/locked(path:pid:)`` when another
    /// process holds the lock.
    public init(directory: URL) throws(TrainingRunError) {
        self.directory = directory
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let existed = fm.fileExists(atPath: directory.path, isDirectory: &isDir)
        if existed && !isDir.boolValue { throw .notADirectory(path: directory.path, role: "the bundle") }
        if !existed {
            do { try fm.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
                throw .cannotCreate(path: directory.path, reason: FileErrors.reason(error))
            }
        }
        createdDirectory = !existed
        let path = directory.appendingPathComponent(Self.fileName).path
        for _ in 0..<16 {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                if !existed { rmdir(directory.path) }
                throw .cannotCreate(path: path, reason: reason)
            }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let e = errno
                let pid = Self.pid(in: fd)
                close(fd)
                if e == EWOULDBLOCK { throw .locked(path: directory.path, pid: pid) }
                throw .cannotCreate(path: path, reason: "cannot lock it: " + String(cString: strerror(e)))
            }
            // The previous holder may have removed the file between our open and flock: hold the one at `path`.
            var mine = stat(), current = stat()
            if fstat(fd, &mine) == 0, stat(path, &current) == 0, mine.st_ino == current.st_ino, mine.st_dev == current.st_dev {
                let text = Array("\(getpid())\n".utf8)
                _ = ftruncate(fd, 0)
                _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                self.fd = fd
                return
            }
            close(fd)
        }
        throw .cannotCreate(path: path, reason: "the lock file kept being replaced")
    }

    /// The PID a lock file records (nil when it holds none).
    static func pid(in fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Removes the lock file and unlocks (and removes the directory when this lock created it and it is empty).
    /// Also done when the lock is deallocated; a second call does nothing.
    public func release() {
        guard fd >= 0 else { return }
        unlink(directory.appendingPathComponent(Self.fileName).path)
        _ = flock(fd, LOCK_UN)
        close(fd)
        fd = -1
        if createdDirectory { rmdir(directory.path) }
    }

    deinit { release() }
}

extension MetricsReport {
    /// Flat headline numbers for a bundle's manifest (`validation_accuracy`, `test_macro_f1`, …).
    public func headlineValues(prefix: String) -> [String: Double] {
        switch self {
        case .classification(let c): [prefix + "_accuracy": c.accuracy, prefix + "_macro_f1": c.macroF1]
        case .multiLabel(let c): [prefix + "_micro_f1": c.microF1, prefix + "_macro_f1": c.macroF1]
        case .regression(let r): [prefix + "_mae": r.mae, prefix + "_rmse": r.rmse, prefix + "_r2": r.r2]
        }
    }
}
