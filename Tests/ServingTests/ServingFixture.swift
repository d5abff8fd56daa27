import Foundation
import Testing

/// What the serving tests share, made once per test process: a small Fashion-MNIST sample exported as PNG files,
/// two tiny bundles trained on it with the features strategy on the real EfficientNet-Lite0 (recorded in a run
/// database with a report, for the dashboard), in a scratch cache that links the fetched weights.
final class ServingFixture: @unchecked Sendable {
    let root: URL
    let env: [String: String]
    let train: String, test: String
    let bundleA: String, bundleB: String
    let runsDB: String, report: String

    static var weightsCached: Bool {
        FileManager.default.fileExists(atPath: realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth")
            && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    }

    static var realCache: String {
        ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: Result<ServingFixture, any Error>?
    /// The scratch folder, removed when the test process exits.
    nonisolated(unsafe) private static var scratch: String?

    /// The fixture, made on first use.
    static func shared() throws -> ServingFixture {
        try lock.withLock {
            if made == nil { made = Result { try ServingFixture() } }
            return try made!.get()
        }
    }

    private init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("tk-serve-\(UUID().uuidString.prefix(8))")
        let cache = root.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        Self.scratch = root.path
        atexit { if let s = ServingFixture.scratch { try? FileManager.default.removeItem(atPath: s) } }
        try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent("efficientnet-lite0").path,
                                                   withDestinationPath: Self.realCache + "/efficientnet-lite0")
        env = ["TRANSFERKIT_CACHE": cache.path, "CI": "1"]
        train = root.appendingPathComponent("train").path
        test = root.appendingPathComponent("test").path
        bundleA = root.appendingPathComponent("fm-a.transferkit").path
        bundleB = root.appendingPathComponent("fm-b.transferkit").path
        runsDB = root.appendingPathComponent("runs.sqlite").path
        report = root.appendingPathComponent("report").path
        try check(["datasets", "export", "fashion-mnist", "--split", "train", "--per-class", "3", "--out", train, "--seed", "0"])
        try check(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "1", "--out", test, "--seed", "0"])
        try check(["train", "--model", "efficientnet-lite0", "--data", train, "--test", test, "--strategy", "features", "--epochs", "4",
                   "--out", bundleA, "--report", report, "--runs-db", runsDB, "--json"])
        try check(["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features", "--head", "mlp", "--epochs", "3",
                   "--out", bundleB, "--runs-db", runsDB, "--json"])
    }

    private func check(_ arguments: [String]) throws {
        let r = try runTransfer(arguments, environment: env)
        guard r.status == 0 else { throw FixtureError(command: arguments.joined(separator: " "), stderr: r.stderr) }
    }

    struct FixtureError: Error, CustomStringConvertible {
        let command: String, stderr: String
        var description: String { "transfer \(command) failed: \(stderr)" }
    }

    /// The test images: (path, bytes), one per class.
    func testImages() throws -> [(path: String, data: Data)] {
        var out: [(String, Data)] = []
        for cls in try FileManager.default.contentsOfDirectory(atPath: test).sorted() {
            for f in try FileManager.default.contentsOfDirectory(atPath: test + "/" + cls).sorted() {
                let path = test + "/" + cls + "/" + f
                out.append((path, try Data(contentsOf: URL(fileURLWithPath: path))))
            }
        }
        return out
    }

    /// Where the test run writes its screenshots: `.build/serving-screenshots` of the package.
    static var screenshotDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/serving-screenshots")
    }
}
