import Checkpoints
import Foundation

/// Where a sample's input comes from.
public enum SampleSource: Sendable, Hashable, CustomStringConvertible {
    /// A file (image or text), by path.
    case path(String)
    /// A row or record of an in-memory or tabular dataset, by index.
    case index(Int)

    public var description: String {
        switch self {
        case .path(let p): return p
        case .index(let i): return "#\(i)"
        }
    }
}

/// What a model should predict for a sample.
public enum Target: Sendable, Hashable {
    /// One class, an index into the dataset's `classNames`.
    case classIndex(Int)
    /// Any number of classes (sorted, distinct indices into `classNames`; possibly none).
    case multiLabel([Int])
    /// A real value.
    case regression(Float)
}

/// The kind of supervision a dataset's targets carry.
public enum TaskKind: String, Sendable, Equatable {
    case classification
    case multiLabel
    case regression
}

/// One sample of a dataset: where its input is and what its target is.
public struct Sample: Sendable, Hashable {
    /// Where the input is.
    public var source: SampleSource
    /// What the model should predict.
    public var target: Target

    public init(source: SampleSource, target: Target) {
        self.source = source
        self.target = target
    }
}

/// A list of samples whose inputs are loaded one at a time.
///
/// Building a dataset only lists its samples; nothing is decoded. ``load(_:)`` reads one item and reports a broken
/// one (a corrupt image, an unreadable file) as a `DatasetError` for that item alone, so a loader can skip it,
/// count it and list it instead of stopping.
public protocol Dataset: Sendable {
    /// What ``load(_:)`` returns (an ``RGBImage``, a `String`, a tensor).
    associatedtype Item

    /// Every sample, in the dataset's fixed order.
    var samples: [Sample] { get }
    /// Class names, indexed by ``Target/classIndex(_:)`` and ``Target/multiLabel(_:)``; empty for regression.
    var classNames: [String] { get }
    /// The kind of targets.
    var task: TaskKind { get }
    /// Reads sample `index`'s input.
    func load(_ index: Int) throws(DatasetError) -> Item
}

extension Dataset {
    /// The number of samples.
    public var count: Int { samples.count }

    /// Class counts and balance (see ``DatasetSummary``).
    public func summary() -> DatasetSummary {
        DatasetSummary(samples: samples, classNames: classNames, task: task)
    }

    /// A stratified, seeded train/validation/test partition of the sample indices (see ``Splits/stratified(_:classCount:validation:test:seed:)``).
    public func stratifiedSplit(validation: Double, test: Double = 0, seed: UInt64) throws(DatasetError) -> SplitIndices {
        try Splits.stratified(samples, classCount: classNames.count, validation: validation, test: test, seed: seed)
    }

    /// Stratified, seeded k-fold cross-validation folds (see ``Splits/kFold(_:classCount:k:seed:)``).
    public func stratifiedKFold(k: Int, seed: UInt64) throws(DatasetError) -> [Fold] {
        try Splits.kFold(samples, classCount: classNames.count, k: k, seed: seed)
    }

    func checkIndex(_ index: Int) throws(DatasetError) {
        guard index >= 0 && index < samples.count else { throw .indexOutOfRange(index: index, count: samples.count) }
    }
}

/// Lists a one-folder-per-class tree the way torchvision's `ImageFolder` (`make_dataset`) does: class names are the
/// sub-folder names sorted by code point; each class's files are found recursively (following symbolic links),
/// ordered by folder path then file name, and kept when their extension (case-insensitive) is in `extensions`.
/// Unlike torchvision, names starting with "." are skipped (`.ipynb_checkpoints`, macOS `._*` files).
///
/// Hostile trees are refused while listing, before anything is read: a kept name (a class folder, a sub-folder or a
/// file with a listed extension) whose bytes are not valid UTF-8 throws ``DatasetError/invalidFileName(directory:name:)``
/// with the bytes escaped, and a kept file that is a FIFO, socket or device throws
/// ``DatasetError/notARegularFile(path:kind:)`` (reading a FIFO would block). Each entry is `stat`ed once, which the
/// listing did already to tell folders from files.
enum ClassFolders {
    static func scan(root: String, extensions: Set<String>) throws(DatasetError) -> (classNames: [String], samples: [Sample]) {
        guard FileIO.isDirectory(root) else {
            // Distinguish "missing" from "not a directory" in the reason.
            var st = stat()
            let reason = stat(root, &st) == 0 ? "not a directory" : String(cString: strerror(errno))
            throw .unreadable(path: root, reason: reason)
        }
        var classes: [String] = []
        for entry in try FileIO.entries(root) where entry.raw.first != UInt8(ascii: ".") {
            guard let st = FileIO.statRaw(directory: root, rawName: entry.raw), (st.st_mode & S_IFMT) == S_IFDIR else {
                continue
            }
            guard let name = entry.name else { throw .invalidFileName(directory: root, name: entry.display) }
            classes.append(name)
        }
        classes.sort(by: codePointLess)
        guard classes.count >= 2 else { throw .tooFewClasses(found: classes.count, root: root) }
        var samples: [Sample] = []
        for (index, name) in classes.enumerated() {
            let dir = FileIO.join(root, name)
            var visited = Set<[UInt64]>()
            var files: [(dir: String, name: String)] = []
            try walk(dir, extensions: extensions, visited: &visited, into: &files)
            guard !files.isEmpty else { throw .emptyClass(path: dir) }
            files.sort { a, b in a.dir == b.dir ? codePointLess(a.name, b.name) : codePointLess(a.dir, b.dir) }
            for f in files {
                samples.append(Sample(source: .path(FileIO.join(f.dir, f.name)), target: .classIndex(index)))
            }
        }
        return (classes, samples)
    }

    /// Whether the raw name ends in `.ext` with `ext` (ASCII case-insensitive) in `extensions`.
    private static func hasListedExtension(_ raw: [UInt8], _ extensions: Set<String>) -> Bool {
        guard let dot = raw.lastIndex(of: UInt8(ascii: ".")) else { return false }
        let tail = raw[(dot + 1)...]
        guard tail.allSatisfy({ $0 < 0x80 }) else { return false }
        return extensions.contains(String(decoding: tail, as: UTF8.self).lowercased())
    }

    private static func walk(_ dir: String, extensions: Set<String>, visited: inout Set<[UInt64]>,
                             into files: inout [(dir: String, name: String)]) throws(DatasetError) {
        var st = stat()
        guard stat(dir, &st) == 0 else { throw .unreadable(path: dir, reason: String(cString: strerror(errno))) }
        // A symbolic link back up the tree would otherwise recurse forever.
        guard visited.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted else { return }
        for entry in try FileIO.entries(dir) where entry.raw.first != UInt8(ascii: ".") {
            // nil for a dangling symbolic link: listed, and reported as unreadable when loaded.
            let info = FileIO.statRaw(directory: dir, rawName: entry.raw)
            let type = info.map { $0.st_mode & S_IFMT }
            let isDir = type == S_IFDIR
            guard isDir || hasListedExtension(entry.raw, extensions) else { continue }
            guard let name = entry.name else { throw .invalidFileName(directory: dir, name: entry.display) }
            let path = FileIO.join(dir, name)
            if isDir {
                try walk(path, extensions: extensions, visited: &visited, into: &files)
                continue
            }
            if let info, let type, type != S_IFREG {
                throw .notARegularFile(path: path, kind: fileKind(info.st_mode))
            }
            files.append((dir, name))
        }
    }
}

/// Images in one sub-folder per class (torchvision's `ImageFolder` layout): `root/cat/1.jpg`, `root/dog/a/2.png`.
public struct ImageFolderDataset: Dataset {
    /// The file extensions read (compared case-insensitively).
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// The folder the dataset was listed from.
    public let root: String
    public let classNames: [String]
    public let samples: [Sample]
    /// How ``load(_:)`` decodes (pixel limit, reduced-size JPEG decoding, EXIF orientation).
    public var decodeOptions: DecodeOptions
    public var task: TaskKind { .classification }

    /// Lists the images under `root`. Throws `.unreadable` when `root` cannot be listed, `.tooFewClasses` with fewer
    /// than two class folders, `.emptyClass` for a class folder without a .jpg/.jpeg/.png file. Files are not opened:
    /// a corrupt one surfaces when it is loaded.
    public init(root: String, decodeOptions: DecodeOptions = DecodeOptions()) throws(DatasetError) {
        let scan = try ClassFolders.scan(root: root, extensions: Self.extensions)
        self.root = root
        self.classNames = scan.classNames
        self.samples = scan.samples
        self.decodeOptions = decodeOptions
    }

    /// Decodes image `index` (RGB; see ``ImageDecoder``).
    public func load(_ index: Int) throws(DatasetError) -> RGBImage {
        try checkIndex(index)
        guard case .path(let path) = samples[index].source else { throw .indexOutOfRange(index: index, count: count) }
        return try ImageDecoder.decode(contentsOf: path, options: decodeOptions)
    }
}

/// Text files in one sub-folder per class (`root/business/001.txt`), the layout of the BBC News corpus.
public struct TextFolderDataset: Dataset {
    /// The file extensions read (compared case-insensitively).
    public static let extensions: Set<String> = ["txt"]

    /// The folder the dataset was listed from.
    public let root: String
    public let classNames: [String]
    public let samples: [Sample]
    public var task: TaskKind { .classification }

    /// Lists the .txt files under `root` with the same rules and errors as ``ImageFolderDataset``.
    public init(root: String) throws(DatasetError) {
        let scan = try ClassFolders.scan(root: root, extensions: Self.extensions)
        self.root = root
        self.classNames = scan.classNames
        self.samples = scan.samples
    }

    /// The text of file `index`, decoded as UTF-8 (invalid bytes become U+FFFD, as Python's `errors="replace"`).
    public func load(_ index: Int) throws(DatasetError) -> String {
        try checkIndex(index)
        guard case .path(let path) = samples[index].source else { throw .indexOutOfRange(index: index, count: count) }
        return String(decoding: try FileIO.readFile(path), as: UTF8.self)
    }
}

/// Images listed in a CSV manifest with a header row: a path column and a label column, e.g.
///
/// ```
/// path,label
/// img/001.jpg,cat
/// "img/with,comma.png",dog
/// ```
///
/// Labels are classes, `;`-separated multi-labels (`cat;outdoor`), or numbers for regression (see `task`).
public struct CSVManifestDataset: Dataset {
    /// The manifest's path.
    public let file: String
    /// The folder relative paths are resolved against.
    /// The folder the dataset was listed from.
    public let root: String
    public let classNames: [String]
    public let samples: [Sample]
    public let task: TaskKind
    public var decodeOptions: DecodeOptions

    /// Reads the manifest at `path` (comma-separated; tab-separated when the file name ends in `.tsv`).
    /// - Parameters:
    ///   - root: the folder relative image paths are resolved against; the manifest's folder by default.
    ///   - pathColumn, labelColumn: header names; a missing one throws `.missingColumn` naming the file and the
    ///     columns it has.
    ///   - task: nil infers it (see ``LabelInterpreter``): multi-label when a label contains `multiLabelSeparator`,
    ///     regression when every label is a number and some are not integers, classification otherwise (so integer
    ///     class ids stay classes; pass `.regression` for integer-valued targets). A column of numbers in which some
    ///     labels are `nan`/`inf` spellings is refused with ``DatasetError/invalidLabel(file:line:value:reason:)``
    ///     naming those rows, not read as classes. A label or path that is not valid UTF-8 is refused naming its row.
    public init(path: String, root: String? = nil, pathColumn: String = "path", labelColumn: String = "label",
                task: TaskKind? = nil, multiLabelSeparator: Character = ";",
                decodeOptions: DecodeOptions = DecodeOptions()) throws(DatasetError) {
        let bytes = try FileIO.readFile(path)
        let delimiter: UInt8 = path.lowercased().hasSuffix(".tsv") ? 0x09 : UInt8(ascii: ",")
        let table = try DelimitedTable.parse(bytes, delimiter: delimiter, file: path)
        let pc = try table.column(pathColumn, file: path)
        let lc = try table.column(labelColumn, file: path)
        guard !table.rows.isEmpty else { throw .emptyDataset(path: path) }
        try table.requireUTF8(column: lc, name: labelColumn, file: path)
        try table.requireUTF8(column: pc, name: pathColumn, file: path)
        let base = root ?? (URL(fileURLWithPath: path).deletingLastPathComponent().path)
        let raw = table.rows.map { (line: $0.line, label: RawLabel.single($0.fields[lc])) }
        let (kind, names, targets) = try LabelInterpreter.interpret(raw, task: task, separator: multiLabelSeparator, file: path)
        var samples: [Sample] = []
        samples.reserveCapacity(targets.count)
        for (row, target) in zip(table.rows, targets) {
            let p = row.fields[pc].trimmingCharacters(in: .whitespaces)
            guard !p.isEmpty else {
                throw .malformedTable(file: path, line: row.line, reason: "empty '\(pathColumn)' value")
            }
            samples.append(Sample(source: .path(FileIO.join(base, p)), target: target))
        }
        self.file = path
        self.root = base
        self.classNames = names
        self.samples = samples
        self.task = kind
        self.decodeOptions = decodeOptions
    }

    /// Decodes image `index`; a missing file is `.unreadable`, a broken one `.corruptImage`.
    public func load(_ index: Int) throws(DatasetError) -> RGBImage {
        try checkIndex(index)
        guard case .path(let path) = samples[index].source else { throw .indexOutOfRange(index: index, count: count) }
        return try ImageDecoder.decode(contentsOf: path, options: decodeOptions)
    }
}

/// Texts and labels in one table: CSV, TSV or JSON lines (one object per line), with a text and a label column.
public struct TextTableDataset: Dataset {
    /// The table's syntax.
    public enum Format: String, Sendable, Equatable {
        case csv
        case tsv
        case jsonLines

        /// From the file name: `.tsv`/`.tab` → TSV, `.jsonl`/`.ndjson`/`.json` → JSON lines, anything else → CSV.
        public static func infer(path: String) -> Format {
            let p = path.lowercased()
            if p.hasSuffix(".tsv") || p.hasSuffix(".tab") { return .tsv }
            if p.hasSuffix(".jsonl") || p.hasSuffix(".ndjson") || p.hasSuffix(".json") { return .jsonLines }
            return .csv
        }
    }

    /// The table's path.
    public let file: String
    /// The text of every row, indexed like `samples`.
    public let texts: [String]
    public let classNames: [String]
    public let samples: [Sample]
    public let task: TaskKind

    /// Reads the table at `path`. In JSON lines a label may be a string, a number or an array of strings
    /// (multi-label). `task` and `multiLabelSeparator` work as in ``CSVManifestDataset``. A label that is not valid
    /// UTF-8 throws ``DatasetError/invalidLabel(file:line:value:reason:)`` naming its row; invalid bytes in a text
    /// become U+FFFD, as in ``TextFolderDataset``.
    public init(path: String, textColumn: String = "text", labelColumn: String = "label", format: Format? = nil,
                task: TaskKind? = nil, multiLabelSeparator: Character = ";") throws(DatasetError) {
        let bytes = try FileIO.readFile(path)
        var texts: [String] = []
        var raw: [(line: Int, label: RawLabel)] = []
        let resolvedFormat = format ?? Format.infer(path: path)
        switch resolvedFormat {
        case .csv, .tsv:
            let delimiter: UInt8 = resolvedFormat == .tsv ? 0x09 : UInt8(ascii: ",")
            let table = try DelimitedTable.parse(bytes, delimiter: delimiter, file: path)
            let tc = try table.column(textColumn, file: path)
            let lc = try table.column(labelColumn, file: path)
            try table.requireUTF8(column: lc, name: labelColumn, file: path)
            for row in table.rows {
                texts.append(row.fields[tc])
                raw.append((row.line, .single(row.fields[lc])))
            }
        case .jsonLines:
            for (line, object) in try JSONLines.parse(bytes, file: path) {
                let keys = object.keys.sorted(by: codePointLess)
                guard let t = object[textColumn] else {
                    throw .missingColumn(name: textColumn, file: "\(path):\(line)", available: keys)
                }
                guard let l = object[labelColumn] else {
                    throw .missingColumn(name: labelColumn, file: "\(path):\(line)", available: keys)
                }
                guard let text = t.text else {
                    throw .malformedTable(file: path, line: line, reason: "'\(textColumn)' is not a string")
                }
                texts.append(text)
                switch l {
                case .array(let items):
                    var labels: [String] = []
                    for item in items {
                        guard let s = item.text else {
                            throw .malformedTable(file: path, line: line, reason: "'\(labelColumn)' holds a non-scalar item")
                        }
                        labels.append(s)
                    }
                    raw.append((line, .list(labels)))
                default:
                    guard let s = l.text else {
                        throw .malformedTable(file: path, line: line, reason: "'\(labelColumn)' is null or an object")
                    }
                    raw.append((line, .single(s)))
                }
            }
        }
        guard !texts.isEmpty else { throw .emptyDataset(path: path) }
        let (kind, names, targets) = try LabelInterpreter.interpret(raw, task: task, separator: multiLabelSeparator, file: path)
        self.file = path
        self.texts = texts
        self.classNames = names
        self.task = kind
        self.samples = targets.enumerated().map { Sample(source: .index($0.offset), target: $0.element) }
    }

    /// The text of row `index`.
    public func load(_ index: Int) throws(DatasetError) -> String {
        try checkIndex(index)
        return texts[index]
    }
}

/// Counts and balance of a dataset's targets.
public struct DatasetSummary: Sendable, Equatable, CustomStringConvertible {
    public let task: TaskKind
    public let sampleCount: Int
    public let classNames: [String]
    /// Samples per class (multi-label: samples carrying the class), indexed like `classNames`.
    public let classCounts: [Int]
    /// Largest class count / smallest class count (1 = balanced; infinity when a class has no sample); nil for
    /// regression.
    public let imbalanceRatio: Double?
    /// Smallest and largest regression target; nil for classification.
    public let valueRange: ClosedRange<Float>?
    /// Mean regression target; nil for classification.
    public let valueMean: Double?

    /// Counts `samples`' targets against `classNames`.
    public init(samples: [Sample], classNames: [String], task: TaskKind) {
        self.task = task
        self.sampleCount = samples.count
        self.classNames = classNames
        var counts = [Int](repeating: 0, count: classNames.count)
        var lo = Float.infinity, hi = -Float.infinity, sum = 0.0, values = 0
        for s in samples {
            switch s.target {
            case .classIndex(let c): if c < counts.count { counts[c] += 1 }
            case .multiLabel(let cs): for c in cs where c < counts.count { counts[c] += 1 }
            case .regression(let v):
                lo = Swift.min(lo, v)
                hi = Swift.max(hi, v)
                sum += Double(v)
                values += 1
            }
        }
        self.classCounts = counts
        if task == .regression || counts.isEmpty {
            imbalanceRatio = nil
        } else {
            let mn = counts.min()!, mx = counts.max()!
            imbalanceRatio = mn == 0 ? .infinity : Double(mx) / Double(mn)
        }
        valueRange = values > 0 ? lo...hi : nil
        valueMean = values > 0 ? sum / Double(values) : nil
    }

    /// A small table: one line per class with its count and share, then the imbalance ratio.
    public var description: String {
        var lines = ["\(sampleCount) samples, \(task.rawValue)"]
        if let r = valueRange, let m = valueMean {
            lines.append(String(format: "targets in [%g, %g], mean %.4g", Double(r.lowerBound), Double(r.upperBound), m))
        }
        let width = classNames.map(\.count).max() ?? 0
        for (name, c) in zip(classNames, classCounts) {
            let share = sampleCount > 0 ? 100 * Double(c) / Double(sampleCount) : 0
            lines.append("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "  %6d  %5.1f%%", c, share))
        }
        if let ratio = imbalanceRatio {
            lines.append(ratio.isFinite ? String(format: "imbalance ratio (largest / smallest class) %.2f", ratio)
                                        : "imbalance ratio: infinite (a class has no samples)")
        }
        return lines.joined(separator: "\n")
    }
}
