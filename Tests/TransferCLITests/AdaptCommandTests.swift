import Foundation
import Testing

/// `transfer adapt` end to end on real weights and real data: scikit-learn digits (source) → MNIST (target), small
/// subsets at 32 px; the JSON answer, the report, and the adapted bundle evaluated and used for prediction.
@Suite(.serialized) struct AdaptCommandTests {
    static var realCache: String {
        ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
    }

    /// Needs `transfer fetch efficientnet-lite0` and `transfer datasets fetch digits mnist-5k` (`make test` runs both).
    static var assetsCached: Bool {
        ["efficientnet-lite0/efficientnet-lite0-57934424.pth", "datasets/digits/.transferkit-verified", "datasets/mnist-5k/.transferkit-verified"]
            .allSatisfy { FileManager.default.fileExists(atPath: realCache + "/" + $0) }
    }

    func json(_ s: String) throws -> [String: Any] {
        guard let i = s.firstIndex(of: "{") else { throw CocoaError(.coderReadCorrupt) }
        return try #require(try JSONSerialization.jsonObject(with: Data(s[i...].utf8)) as? [String: Any])
    }

    @Test(.enabled(if: assetsCached)) func adaptDigitsToMNISTReportsBothModelsAndWritesAWorkingBundle() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("tk-adapt-\(UUID())")
        defer { try? fm.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache")
        try fm.createDirectory(at: cache, withIntermediateDirectories: true)
        for name in ["efficientnet-lite0", "datasets"] {
            try fm.createSymbolicLink(atPath: cache.appendingPathComponent(name).path, withDestinationPath: Self.realCache + "/" + name)
        }
        let env = ["TRANSFERKIT_CACHE": cache.path]
        let source = dir.appendingPathComponent("digits").path, target = dir.appendingPathComponent("mnist").path
        let test = dir.appendingPathComponent("mnist-test").path
        #expect(try runTransfer(["datasets", "export", "digits", "--per-class", "12", "--out", source, "--seed", "0"], environment: env).status == 0)
        #expect(try runTransfer(["datasets", "export", "mnist-5k", "--per-class", "8", "--out", target, "--seed", "1"], environment: env).status == 0)
        #expect(try runTransfer(["datasets", "export", "mnist-5k", "--per-class", "5", "--out", test, "--seed", "2"], environment: env).status == 0)

        for method in ["dann", "adabn"] {
            let bundle = dir.appendingPathComponent("\(method).transferkit").path, report = dir.appendingPathComponent("report-\(method)").path
            let r = try runTransfer(["adapt", "--model", "efficientnet-lite0", "--input-size", "32", "--data", source, "--target-data", target,
                                     "--target-test", test, "--method", method, "--epochs", "3", "--out", bundle, "--report", report, "--json"]
                                    + (method == "dann" ? ["--oracle-data", target] : []), environment: env)
            #expect(r.status == 0, "stderr: \(r.stderr)")
            let j = try json(r.stdout)
            #expect(j["method"] as? String == method)
            let sourceOnly = try #require(j["source_only"] as? [String: Any]), adapted = try #require(j["adapted"] as? [String: Any])
            let accS = try #require(sourceOnly["accuracy"] as? Double), accA = try #require(adapted["accuracy"] as? Double)
            #expect((0...1).contains(accS) && (0...1).contains(accA))
            #expect((adapted["confusion_matrix"] as? [[Int]])?.count == 10)
            if method == "dann" {
                let oracle = try #require(j["oracle"] as? [String: Any])
                #expect((0...1).contains(oracle["accuracy"] as? Double ?? -1))
            } else {
                #expect(j["oracle"] is NSNull)
            }
            let validator = try #require(j["validator"] as? [String: Any])
            #expect(validator["name"] as? String == "im")
            #expect((validator["scores"] as? [Any])?.count == (method == "dann" ? 3 : 1))
            #expect(j["bundle"] as? String == bundle && (j["seconds"] as? Double ?? -1) > 0)
            #expect(j["lost_to_source_only"] as? Bool == (accA < accS))

            // The adapted bundle evaluates to the same accuracy and predicts.
            let e = try runTransfer(["evaluate", "--model", bundle, "--data", test, "--json"], environment: env)
            #expect(e.status == 0, "stderr: \(e.stderr)")
            #expect(Swift.abs((try json(e.stdout)["accuracy"] as? Double ?? -1) - accA) < 1e-9)
            let image = try #require(try fm.contentsOfDirectory(atPath: test + "/7").first)
            let p = try runTransfer(["predict", "--model", bundle, test + "/7/" + image, "--json"], environment: env)
            #expect(p.status == 0 && p.stdout.contains("\"label\""), "stderr: \(p.stderr)")
            let html = try String(contentsOfFile: report + "/report.html", encoding: .utf8)
            #expect(html.contains("<svg") && html.contains("source-only"))
        }
    }

    @Test func adaptRefusesBadOptionsNamingThem() throws {
        let r = try runTransfer(["adapt", "--model", "efficientnet-lite0", "--data", "x", "--target-data", "y", "--method", "dann", "--threshold", "1.5"])
        #expect(r.status != 0 && r.stderr.contains("--threshold") && r.stderr.contains("1.5"))
        let m = try runTransfer(["adapt", "--model", "efficientnet-lite0", "--data", "x", "--target-data", "y", "--method", "magic"])
        #expect(m.status != 0 && m.stderr.contains("magic"))
        let s = try runTransfer(["adapt", "--model", "efficientnet-lite0", "--data", "x", "--target-data", "y", "--method", "coral", "--input-size", "8"])
        #expect(s.status != 0 && s.stderr.contains("--input-size"))
        let o = try runTransfer(["adapt", "--model", "efficientnet-lite0", "--data", "x", "--target-data", "y", "--method", "coral", "--oracle-data", "z"])
        #expect(o.status != 0 && o.stderr.contains("--oracle-data") && o.stderr.contains("--target-test"))
    }
}
