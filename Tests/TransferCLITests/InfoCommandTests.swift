import Foundation
import Testing

/// The built `transfer` executable beside the test bundle (or `$TRANSFER_EXECUTABLE`, e.g. another build to compare).
func transferExecutable() -> URL? {
    if let path = ProcessInfo.processInfo.environment["TRANSFER_EXECUTABLE"], !path.isEmpty { return URL(fileURLWithPath: path) }
    let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].map { $0.appendingPathComponent("transfer") }
    return candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) })
}

/// Runs the real `transfer` executable built next to the test bundle.
func runTransfer(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    guard let exe = transferExecutable() else {
        Issue.record("transfer executable not found near \(Bundle.main.bundleURL.path)")
        return (-1, "", "")
    }
    let p = Process()
    p.executableURL = exe
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite struct InfoCommandTests {
    @Test func infoJSONReportsThreadsFromTheEnvironmentAndTheOneDNNISA() throws {
        let r = try runTransfer(["info", "--json"], environment: ["TRANSFERKIT_THREADS": "1"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String]
        #expect(obj?["threads"] == "1")
        #expect(obj?["onednn"]?.hasPrefix("2.") == true)
        #expect(obj?["openblas"]?.contains("OpenBLAS") == true)
    }

    @Test func unknownSubcommandFailsWithUsage() throws {
        let r = try runTransfer(["no-such-command"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("no-such-command"))
    }
}
