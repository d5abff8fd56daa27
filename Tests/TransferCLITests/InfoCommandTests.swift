import Foundation
import Testing

/// The built `transfer` executable beside the test bundle (or `$TRANSFER_EXECUTABLE`, e.g. another build to compare).
func transferExecutable() -> URL? {
    if let path = ProcessInfo.processInfo.environment["TRANSFER_EXECUTABLE"], !path.isEmpty { return URL(fileURLWithPath: path) }
    let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].map { $0.appendingPathComponent("transfer") }
    return candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) })
}

/// Runs the real `transfer` executable built next to the test bundle, with this process's environment plus
/// `environment`, less the variables in `removing`.
func runTransfer(_ arguments: [String], environment: [String: String] = [:], removing: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
    guard let exe = transferExecutable() else {
        Issue.record("transfer executable not found near \(Bundle.main.bundleURL.path)")
        return (-1, "", "")
    }
    let p = Process()
    p.executableURL = exe
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { !removing.contains($0.key) }
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

    /// `transfer info --json` with `variable` set to `value` (removed when nil) and `other`, the second OpenMP
    /// waiting variable, removed (both removed when `value` is nil, as for a user who set neither).
    func info(_ variable: String, _ value: String?, other: String) throws -> (status: Int32, stdout: String, stderr: String) {
        try runTransfer(["info", "--json"], environment: value.map { [variable: $0] } ?? [:],
                        removing: value == nil ? [variable, other] : [other])
    }

    /// The `key` field of a successful `transfer info --json`.
    func field(_ key: String, _ r: (status: Int32, stdout: String, stderr: String)) throws -> String? {
        #expect(r.status == 0, "stderr: \(r.stderr)")
        return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String])?[key]
    }

    /// `transfer` restarts itself with `OMP_WAIT_POLICY=PASSIVE` when the variable is unset (libgomp reads it only when
    /// it loads), keeps a value the user set, and refuses one libgomp would ignore, naming the variable and the value.
    @Test func openMPWaitsPassivelyUnlessTheUserChoseAPolicy() throws {
        func info(_ policy: String?) throws -> (status: Int32, stdout: String, stderr: String) {
            try self.info("OMP_WAIT_POLICY", policy, other: "GOMP_SPINCOUNT")
        }
        #expect(try field("omp_wait", info(nil)) == "PASSIVE")
        #expect(try field("omp_wait", info("active")) == "ACTIVE")
        #expect(try field("omp_wait", info("PASSIVE")) == "PASSIVE")
        let bad = try info("sometimes")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("OMP_WAIT_POLICY") && bad.stderr.contains("sometimes") && bad.stderr.contains("ACTIVE or PASSIVE"), "stderr: \(bad.stderr)")
    }

    /// Beside PASSIVE, `transfer` sets a short spin (`GOMP_SPINCOUNT=1000`) unless the user chose a spin count, which
    /// stands; one libgomp would ignore is refused naming it.
    @Test func passiveWaitingSpinsBrieflyUnlessTheUserChoseASpinCount() throws {
        func spin(_ value: String?) throws -> (status: Int32, stdout: String, stderr: String) {
            try info("GOMP_SPINCOUNT", value, other: "OMP_WAIT_POLICY")
        }
        #expect(try field("omp_spin", spin(nil)) == "1000")
        #expect(try field("omp_spin", spin("50k")) == "50k")
        let bad = try spin("lots")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("GOMP_SPINCOUNT") && bad.stderr.contains("lots"), "stderr: \(bad.stderr)")
    }

    @Test func unknownSubcommandFailsWithUsage() throws {
        let r = try runTransfer(["no-such-command"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("no-such-command"))
    }
}
