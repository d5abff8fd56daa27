import Datasets
import Foundation
import Tensors

/// A labelled input: an image file or a text.
public enum LabeledInput: Sendable {
    case image(path: String)
    case text(String, source: String)

    /// The file (or `file:line`) the input came from.
    public var name: String {
        switch self {
        case .image(let p): p
        case .text(_, let s): s
        }
    }
}

/// The inputs and targets of a training or test set — classes, label sets or values — read from an image folder,
/// a text folder, a `path,label` CSV or a `text,label` CSV/TSV/JSON-lines table.
///
/// It is a ``Datasets/Dataset`` whose items are ``LabeledInput``s, so splits and loaders of the Datasets module
/// apply to it directly.
public struct LabeledData: Dataset {
    public var inputs: [LabeledInput]
    public var targets: [Target]
    /// Class names (classification, multi-label); empty for regression.
    public var classNames: [String]
    public var task: TaskKind

    public init(inputs: [LabeledInput], targets: [Target], classNames: [String], task: TaskKind) {
        precondition(inputs.count == targets.count, "LabeledData: \(inputs.count) inputs, \(targets.count) targets")
        self.inputs = inputs; self.targets = targets; self.classNames = classNames; self.task = task
    }

    /// Single-label classification data.
    public init(inputs: [LabeledInput], labels: [Int], classNames: [String]) {
        self.init(inputs: inputs, targets: labels.map { .classIndex($0) }, classNames: classNames, task: .classification)
    }

    public var samples: [Sample] {
        zip(inputs, targets).map { Sample(source: .path($0.name), target: $1) }
    }

    public func load(_ index: Int) throws(DatasetError) -> LabeledInput {
        guard inputs.indices.contains(index) else { throw .indexOutOfRange(index: index, count: inputs.count) }
        return inputs[index]
    }

    /// The class index of every sample (classification only).
    public var labels: [Int] {
        targets.map { if case .classIndex(let c) = $0 { c } else { -1 } }
    }

    /// Whether the inputs are texts.
    public var isText: Bool { if case .text? = inputs.first { true } else { false } }

    public func subset(_ idx: [Int]) -> LabeledData {
        LabeledData(inputs: idx.map { inputs[$0] }, targets: idx.map { targets[$0] }, classNames: classNames, task: task)
    }

    /// Reads an image folder, a text folder, a `path,label` CSV or a `text,label` CSV/TSV/JSON-lines table.
    ///
    /// - Parameter task: the kind of targets; nil infers it from a table's labels (`;`-separated label sets are
    ///   multi-label, non-integer numbers regression; see Datasets' `CSVManifestDataset` for the full rule, including
    ///   the refusal of `nan`/`inf` labels in a column of numbers) and means classification for folders. Folders hold
    ///   classes only: asking for another task on a folder throws ``TrainError/unsupportedTask(_:)``.
    ///
    /// A folder is read as images when it lists as an image folder, else as texts. When it lists as neither, the
    /// error reported is the image listing's unless the text listing got further (its failing class folder sorts
    /// later), so that an empty class folder is named, not the first folder lacking the other kind of file.
    /// A table is a `path,label` manifest when it has the path column; any other fault of such a manifest (a bad
    /// label, a bad row) is reported as it is, not hidden behind a second try as a text table.
    ///
    /// Classification data must hold at least two classes: a table whose rows all carry one label throws
    /// `DatasetError.singleClass` naming the label and the row count (a folder with one class folder throws
    /// `DatasetError.tooFewClasses`).
    public static func load(_ path: String, task: TaskKind? = nil) throws -> LabeledData {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw DatasetError.unreadable(path: path, reason: "no such file or directory")
        }
        if isDir.boolValue {
            if let task, task != .classification {
                throw TrainError.unsupportedTask("\(path) is a folder of classes; \(task.flag) data must come as a CSV/TSV/JSON-lines table")
            }
            let texts: TextFolderDataset
            switch Result(catching: { () throws(DatasetError) in try ImageFolderDataset(root: path) }) {
            case .success(let images):
                return fromSamples(images.samples, images.classNames, .classification) { s in
                    if case .path(let p) = s.source { return .image(path: p) }
                    return nil
                }
            case .failure(let imageError):
                switch Result(catching: { () throws(DatasetError) in try TextFolderDataset(root: path) }) {
                case .success(let t): texts = t
                case .failure(let textError): throw preferredFolderError(image: imageError, text: textError)
                }
            }
            var inputs: [LabeledInput] = []
            for (i, s) in texts.samples.enumerated() {
                guard case .path(let p) = s.source else { continue }
                inputs.append(.text(try texts.load(i), source: p))
            }
            return fromSamples(texts.samples, texts.classNames, .classification, inputs: inputs)
        }
        let data: LabeledData
        switch Result(catching: { () throws(DatasetError) in try CSVManifestDataset(path: path, task: task) }) {
        case .success(let manifest):
            data = fromSamples(manifest.samples, manifest.classNames, manifest.task) { s in
                if case .path(let p) = s.source { return .image(path: p) }
                return nil
            }
        case .failure(let error):
            // Without a path column it is not an image manifest but a text table (whose own errors then apply);
            // any other fault of a manifest is reported as it is.
            guard case .missingColumn(let column, _, _) = error, column == "path" else { throw error }
            let table = try TextTableDataset(path: path, task: task)
            let inputs = table.texts.enumerated().map { LabeledInput.text($1, source: "\(path):\($0 + 2)") }
            data = fromSamples(table.samples, table.classNames, table.task, inputs: inputs)
        }
        if data.task == .classification && data.classNames.count < 2 {
            throw DatasetError.singleClass(file: path, label: data.classNames.first ?? "", count: data.count)
        }
        return data
    }

    /// Which of two failed folder listings to report: the text one only when it failed on a later class folder than
    /// the image one (the folder then holds texts, and its empty class is the one the text listing names).
    static func preferredFolderError(image: DatasetError, text: DatasetError) -> DatasetError {
        if case .emptyClass(let imagePath) = image, case .emptyClass(let textPath) = text {
            return textPath.unicodeScalars.lexicographicallyPrecedes(imagePath.unicodeScalars) { $0.value < $1.value }
                || textPath == imagePath ? image : text
        }
        return image
    }

    static func fromSamples(_ samples: [Sample], _ classes: [String], _ task: TaskKind, inputs: [LabeledInput]? = nil,
                            _ make: ((Sample) -> LabeledInput?)? = nil) -> LabeledData {
        var ins: [LabeledInput] = [], targets: [Target] = []
        for (i, s) in samples.enumerated() {
            guard let input = inputs?[i] ?? make?(s) else { continue }
            ins.append(input); targets.append(s.target)
        }
        return LabeledData(inputs: ins, targets: targets, classNames: classes, task: task)
    }

    /// A train/validation split with a seed, stratified by class (by the rarest label for multi-label, by value
    /// quantiles for regression: Datasets' `Splits.stratified`).
    public func split(validation: Double, seed: UInt64) throws -> (train: LabeledData, validation: LabeledData) {
        if validation == 0 { return (self, subset([])) }
        let s = try Splits.stratified(samples, classCount: classNames.count, validation: validation, seed: seed)
        return (subset(s.train), subset(s.validation))
    }

    /// The targets of rows `idx` as the learner wants them: class indices, multi-hot rows, or values standardised
    /// with `scaling` (regression).
    public func learnerTargets(_ idx: [Int], scaling: TargetScaling? = nil) -> Targets {
        switch task {
        case .classification:
            return .classes(idx.map { labels[$0] })
        case .multiLabel:
            let c = classNames.count
            var m = [Float](repeating: 0, count: idx.count * c)
            for (r, i) in idx.enumerated() {
                if case .multiLabel(let ls) = targets[i] { for l in ls where l < c { m[r * c + l] = 1 } }
            }
            return .multiHot(Tensor(shape: [idx.count, c], data: m))
        case .regression:
            let s = scaling ?? TargetScaling(mean: 0, std: 1)
            return .values(Tensor(shape: [idx.count, 1], data: idx.map { i in
                if case .regression(let v) = targets[i] { (v - s.mean) / s.std } else { 0 }
            }))
        }
    }

    /// Regression values (raw).
    var values: [Float] { targets.map { if case .regression(let v) = $0 { v } else { .nan } } }
}

/// Regression targets are trained standardised: `(y − mean) / std`.
public struct TargetScaling: Codable, Sendable, Equatable {
    public var mean: Float
    public var std: Float
    public init(mean: Float, std: Float) { self.mean = mean; self.std = std }

    /// The mean and (population) standard deviation of `values`; std 1 when they are all equal.
    public init(fitting values: [Float]) {
        let n = Float(Swift.max(values.count, 1))
        let m = values.reduce(0, +) / n
        let v = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n
        self.init(mean: m, std: v > 0 ? v.squareRoot() : 1)
    }
}

extension TaskKind {
    /// The `--task` spelling.
    public var flag: String {
        switch self {
        case .classification: "classify"
        case .multiLabel: "multilabel"
        case .regression: "regress"
        }
    }

    /// Parses a `--task` value.
    public init?(flag: String) {
        switch flag {
        case "classify": self = .classification
        case "multilabel": self = .multiLabel
        case "regress": self = .regression
        default: return nil
        }
    }
}

public enum TrainError: Error, CustomStringConvertible {
    case unsupportedTask(String)
    case labelsDiffer(train: [String], test: [String])
    case nothingToTrain(String)

    public var description: String {
        switch self {
        case .unsupportedTask(let s): s
        case .labelsDiffer(let a, let b): "test classes \(b) differ from training classes \(a)"
        case .nothingToTrain(let s): s
        }
    }
}
