import ArgumentParser
import Datasets
import Foundation
import Models
import Tensors
import Tracking
import TransferKit
#if canImport(Glibc)
import Glibc
#endif

// Checks of command-line values, shared by the commands' `validate()`: every message names the option, echoes the
// value and states the accepted range, on one line.

/// A value as it is echoed in an error: quoted and escaped when it holds spaces, quotes or control characters.
func echo(_ value: String) -> String {
    value.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || $0.properties.numericType != nil || "+-._/:@,".unicodeScalars.contains($0) })
        && !value.isEmpty ? value : value.debugDescription
}

/// Refuses `value` for `flag` unless it lies in `range`.
func requireWhole(_ flag: String, _ value: Int, in range: ClosedRange<Int>, _ note: String = "") throws {
    guard range.contains(value) else {
        throw ValidationError("\(flag) must be a whole number in \(range.lowerBound)…\(range.upperBound)\(note) (received \(value))")
    }
}

/// Refuses `value` for `flag` unless it is at least `minimum`.
func requireWhole(_ flag: String, _ value: Int, atLeast minimum: Int) throws {
    guard value >= minimum else { throw ValidationError("\(flag) must be a whole number ≥ \(minimum) (received \(value))") }
}

/// Refuses a learning rate (or another positive rate) unless it is finite, above 0 and at most `maximum`.
func requireRate(_ flag: String, _ value: Float, maximum: Float) throws {
    guard value > 0 && value <= maximum else {
        throw ValidationError("\(flag) must be a number in (0, \(maximum)] (received \(value))")
    }
}

/// Refuses an output directory path (`--out`, `--report`, `--plot`) that exists and is not a directory.
func requireDirectoryPath(_ flag: String, _ path: String?, holds: String) throws {
    guard let path else { return }
    guard !path.isEmpty else { throw ValidationError("\(flag) must be a directory path (received an empty string)") }
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
        throw ValidationError("\(flag) \(echo(path)) is an existing file, not a directory (\(holds) is written into a directory); choose another path")
    }
}

/// The `--flag` spelling of a ``TrainOptions`` field in messages.
func flag(forTrainOptionsField field: String) -> String {
    switch field {
    case "headEpochs": "--head-epochs"
    case "fineTuneEpochs": "--epochs"
    case "batchSize": "--batch-size"
    case "learningRate": "--lr"
    case "headLearningRate": "--head-lr"
    case "validationFraction": "--val-split"
    case "earlyStoppingPatience": "--early-stopping"
    case "augmentedViews": "--views"
    case "unfreeze": "--unfreeze"
    case "headWeightDecay": "--head-weight-decay"
    case "labelSmoothing": "--label-smoothing"
    case let f where f.hasPrefix("mixing"): "--mixup/--cutmix"
    default: field
    }
}

// MARK: JSON output

/// `object` with every non-finite number replaced by the strings TransferKit's metrics documents use ("NaN",
/// "Infinity", "-Infinity"; ``MetricsReport/jsonEncoder(pretty:)``), so JSON output never fails on a diverged value.
func jsonSafe(_ object: Any) -> Any {
    switch object {
    case let d as [String: Any]: return d.mapValues(jsonSafe)
    case let a as [Any]: return a.map(jsonSafe)
    case let x as Double where !x.isFinite: return x.isNaN ? "NaN" : (x > 0 ? "Infinity" : "-Infinity")
    case let x as Float where !x.isFinite: return x.isNaN ? "NaN" : (x > 0 ? "Infinity" : "-Infinity")
    default: return object
    }
}

/// `value` as JSON (sorted keys; non-finite numbers as "NaN"/"Infinity"/"-Infinity", like metrics.json).
func encodeJSON<T: Encodable>(_ value: T, pretty: Bool = true) throws -> String {
    String(decoding: try MetricsReport.jsonEncoder(pretty: pretty).encode(value), as: UTF8.self)
}

// MARK: --model paths

/// What a `--model` path is on disk.
enum ModelPathKind: Equatable {
    /// A directory with a manifest.json: a bundle.
    case bundle
    /// A directory a training run is writing, or a killed run left: no manifest.json yet.
    case incompleteBundle(runningPID: Int32?)
    /// A directory that is neither.
    case otherDirectory
    /// A file, or nothing: a model name.
    case notADirectory
}

/// Classifies `path` (without reading more than directory entries and a lock).
func modelPathKind(_ path: String) -> ModelPathKind {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { return .notADirectory }
    if FileManager.default.fileExists(atPath: path + "/manifest.json") { return .bundle }
    let entries = Set((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
    guard !entries.isDisjoint(with: [".checkpoints", OutputLock.fileName, "weights.safetensors"]) else { return .otherDirectory }
    return .incompleteBundle(runningPID: lockHolder(path + "/" + OutputLock.fileName))
}

/// The PID of a live process holding the lock file at `path` (nil when no live process holds it).
func lockHolder(_ path: String) -> Int32? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    if flock(fd, LOCK_SH | LOCK_NB) == 0 {
        _ = flock(fd, LOCK_UN)
        return nil
    }
    var buffer = [UInt8](repeating: 0, count: 32)
    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    return n > 0 ? Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 : -1
}

/// The error for a `--model` directory that is not a finished bundle.
func notABundleError(_ path: String, _ kind: ModelPathKind) -> RuntimeError {
    switch kind {
    case .incompleteBundle(let pid?):
        let who = pid > 0 ? "PID \(pid)" : "another process"
        return RuntimeError("\(path) is an incomplete bundle: a training run (\(who)) is still writing it (no manifest.json yet)")
    case .incompleteBundle(nil):
        return RuntimeError("\(path) is an incomplete bundle: its training run stopped before writing manifest.json; continue it with "
            + "`transfer train --resume --out \(path)` and the same options, or train again")
    default:
        return RuntimeError("\(path) is a directory but not a TransferKit bundle (no manifest.json)")
    }
}

/// A registry model to start training from: `--model` must be a name, not a bundle or a run's directory.
func pretrainedSpec(_ model: String) throws -> ModelSpec {
    switch modelPathKind(model) {
    case .bundle:
        throw ValidationError("--model \(model) is a trained bundle; training starts from a pretrained model (see `transfer models`)")
    case .otherDirectory where AdaptedBackbone.isAdapted(model):
        do { return try AdaptedBackbone.read(model).spec } catch { throw RuntimeError("--model \(model): \(error)") }
    case .incompleteBundle, .otherDirectory:
        throw notABundleError(model, modelPathKind(model))
    case .notADirectory:
        do { return try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
    }
}

/// The weights to start from for `--model`: an adapted backbone's (`transfer pretrain`), else the registry's.
func startingWeights(_ model: String, _ spec: ModelSpec) async throws -> String {
    guard AdaptedBackbone.isAdapted(model) else { return try await backboneWeights(spec) }
    do { return try AdaptedBackbone.read(model).weightsPath } catch { throw RuntimeError("--model \(model): \(error)") }
}

/// The `backbone` a bundle's manifest.json names, read leniently (nil when it cannot be read; loading the bundle
/// then says why).
func bundleBackbone(_ bundle: String) -> String? {
    guard let data = FileManager.default.contents(atPath: bundle + "/manifest.json"),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
    return object["backbone"] as? String
}

/// Whether a registry model reads images (else texts).
func takesImages(_ spec: ModelSpec) -> Bool { spec.task != .sentenceEmbedding && spec.preprocessing != nil }

// MARK: --file

/// The most bytes `--file` reads (64 MiB).
let textFileLimit = 64 << 20

/// Reads `path` as UTF-8 text: `-` is stdin; a pipe or FIFO the user named (`--file <(…)`) is read to its end.
/// Failures say why: missing, a directory, unreadable, not UTF-8 (with the byte offset), or larger than the limit.
func readTextFile(_ path: String, option: String = "--file", limit: Int = textFileLimit) throws -> String {
    let fd: Int32
    if path == "-" {
        fd = STDIN_FILENO
    } else {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ValidationError("\(option) \(echo(path)): \(String(cString: strerror(errno)))") }
        if st.st_mode & S_IFMT == S_IFDIR {
            throw ValidationError("\(option) \(echo(path)) is a directory; give a file with one text per line (or - for stdin)")
        }
        if st.st_mode & S_IFMT == S_IFREG && Int(st.st_size) > limit {
            throw ValidationError("\(option) \(echo(path)) is \(Int(st.st_size)) bytes; at most \(limit) bytes (\(limit >> 20) MiB) are read")
        }
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ValidationError("\(option) \(echo(path)): cannot open it: \(String(cString: strerror(errno)))") }
    }
    defer { if fd != STDIN_FILENO { close(fd) } }
    var data = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw ValidationError("\(option) \(path == "-" ? "- (stdin)" : echo(path)): read failed: \(String(cString: strerror(errno)))")
        }
        if n == 0 { break }
        data += chunk[0..<n]
        if data.count > limit {
            throw ValidationError("\(option) \(path == "-" ? "- (stdin)" : echo(path)) is larger than \(limit) bytes (\(limit >> 20) MiB), the most that is read")
        }
    }
    if let offset = firstInvalidUTF8(data) {
        throw ValidationError("\(option) \(path == "-" ? "- (stdin)" : echo(path)) is not UTF-8 text (invalid byte 0x\(String(format: "%02X", data[offset])) at offset \(offset))")
    }
    return String(decoding: data, as: UTF8.self)
}

/// The offset of the first byte that is not part of valid UTF-8, or nil.
func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
    var it = bytes.makeIterator()
    var parser = Unicode.UTF8.ForwardParser()
    var offset = 0
    while true {
        switch parser.parseScalar(from: &it) {
        case .valid(let s): offset += s.count
        case .emptyInput: return nil
        case .error: return offset
        }
    }
}

// MARK: Errors as one line

extension Transfer {
    /// The message for `error` as the user sees it: one line, with no Foundation or Codable dump.
    static func userMessage(for error: Error) -> String {
        let text: String
        switch error {
        case let e as Threads.EnvironmentError: text = e.description
        case let e as TrainingRunError: text = e.description
        case let e as TrainOptionsError: text = "\(flag(forTrainOptionsField: e.field)) must be \(e.accepted) (received \(e.value))"
        case let e as RuntimeError: text = e.description
        case let e as RunStoreError: text = e.description
        case let e as EncodingError:
            if case .invalidValue(let value, let context) = e {
                let path = context.codingPath.map(\.stringValue).joined(separator: ".")
                text = "cannot write \(value) as JSON\(path.isEmpty ? "" : " (at \(path))"): not a finite number"
            } else { text = "cannot write JSON" }
        case let e as DecodingError:
            switch e {
            case .dataCorrupted(let c), .keyNotFound(_, let c), .typeMismatch(_, let c), .valueNotFound(_, let c):
                text = "invalid JSON: \(c.debugDescription)"
            @unknown default: text = "invalid JSON"
            }
        case let e as CocoaError:
            let path = (e.userInfo[NSFilePathErrorKey] as? String) ?? e.userInfo[NSURLErrorKey].map { "\($0)" } ?? ""
            text = (path.isEmpty ? "" : path + ": ") + FileErrors.reason(e)
        default:
            let ns = error as NSError
            if ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain {
                let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? ""
                text = (path.isEmpty ? "" : path + ": ") + FileErrors.reason(error)
            } else {
                text = message(for: error)
                // A value ArgumentParser could not parse: add the option's help, which states its accepted values.
                guard text.hasPrefix("The value '") || text.hasPrefix("Missing value") else { return oneLine(text) }
                let help = fullMessage(for: error).split(whereSeparator: \.isNewline)
                    .first { $0.hasPrefix("Help:") }
                    .map { $0.dropFirst("Help:".count).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
                if let help, !help.isEmpty, !text.contains(help) { return oneLine(text + " — " + help) }
            }
        }
        return oneLine(text)
    }

    /// `text` on one line: line breaks and the spaces around them become one space.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: " ")
    }


    /// `transfer SUB …` for the commands named at the start of `arguments` (for the help hint).
    static func commandPath(_ arguments: [String]) -> String {
        var type: ParsableCommand.Type = Transfer.self
        var names = ["transfer"]
        for a in arguments {
            guard let sub = type.configuration.subcommands.first(where: { $0._commandName == a }) else { break }
            names.append(a)
            type = sub
        }
        return names.joined(separator: " ")
    }

    /// Prints `error` as one line on stderr (help, version and bare exit codes as ArgumentParser does) and exits.
    static func fail(_ error: Error, arguments: [String]) -> Never {
        let code = exitCode(for: error)
        if code == .success || error is ExitCode { exit(withError: error) }
        var line = "Error: " + userMessage(for: error)
        if code == .validationFailure { line += " (see '\(commandPath(arguments)) --help')" }
        FileHandle.standardError.write(Data((line + "\n").utf8))
        Foundation.exit(code.rawValue)
    }
}
