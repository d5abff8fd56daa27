import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The built `transfer` executable beside the test bundle.
func transferExecutable() -> String? {
    let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].map { $0.appendingPathComponent("transfer").path }
    return candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) })
}

/// `mpirun` on the PATH (Debian's openmpi-bin, installed by scripts/setup).
let mpirunPath: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// Whether the real EfficientNet-Lite0 weights and Fashion-MNIST are present (`make test` fetches / installs them).
var realAssetsPresent: Bool {
    FileManager.default.fileExists(atPath: realCacheRoot + "/efficientnet-lite0/efficientnet-lite0-57934424.pth")
        && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
}

let realCacheRoot = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
    ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path

struct Finished {
    var status: Int32, stdout: String, stderr: String
    /// The JSON object printed on stdout.
    func json() throws -> [String: Any] {
        guard let i = stdout.firstIndex(of: "{") else { throw CocoaError(.coderReadCorrupt) }
        return try JSONSerialization.jsonObject(with: Data(stdout[i...].utf8)) as? [String: Any] ?? [:]
    }
}

/// A started process whose output is collected into files (no pipe can fill up).
final class Started {
    let process = Process()
    let out: URL, err: URL

    init(_ executable: String, _ arguments: [String], environment: [String: String], scratch: URL) throws {
        out = scratch.appendingPathComponent("out-\(UUID()).txt")
        err = scratch.appendingPathComponent("err-\(UUID()).txt")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
    }

    /// Kills (SIGKILL) the processes this one started, as a crash of every rank would, and returns how many.
    func killChildren() -> Int {
        let me = process.processIdentifier
        var killed = 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "(comm)": state, then the parent's PID.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == me, kill(pid, SIGKILL) == 0 { killed += 1 }
        }
        return killed
    }

    func wait() -> Finished {
        process.waitUntilExit()
        return Finished(status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                        stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}

/// A scratch directory whose cache shares the fetched weights but has its own (empty) feature cache.
struct Scratch {
    let dir: URL
    var cache: URL { dir.appendingPathComponent("cache") }
    var environment: [String: String] { ["TRANSFERKIT_CACHE": cache.path, "TRANSFERKIT_THREADS": "1", "CI": "1"] }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-mpi-\(UUID())")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("cache"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("cache/efficientnet-lite0").path,
                                                   withDestinationPath: realCacheRoot + "/efficientnet-lite0")
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// One `transfer` process.
    func transfer(_ arguments: [String]) throws -> Started {
        try Started(transferExecutable()!, arguments, environment: environment, scratch: dir)
    }

    /// `mpirun -np N transfer …` (as root it needs --allow-run-as-root; --oversubscribe: more ranks than cores).
    func mpirun(_ n: Int, _ arguments: [String]) throws -> Started {
        var args = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", String(n)]
        for (k, v) in environment { args += ["-x", "\(k)=\(v)"] }
        return try Started(mpirunPath!, args + [transferExecutable()!] + arguments, environment: environment, scratch: dir)
    }

    /// Exports `perClass` Fashion-MNIST images of every class of a split into a class-folder directory.
    func export(split: String, perClass: Int, to name: String) throws {
        let r = try transfer(["datasets", "export", "fashion-mnist", "--split", split, "--per-class", String(perClass),
                              "--out", path(name), "--seed", "0"]).wait()
        #expect(r.status == 0, "export: \(r.stderr)")
    }
}
