import Foundation
import Testing

/// `transfer embed` and `transfer predict` on the real pretrained models (fetched by `make test`).
@Suite struct PretrainedCommandTests {
    static var cache: URL {
        ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit")
    }
    static var miniLMCached: Bool { FileManager.default.fileExists(atPath: cache.appendingPathComponent("minilm-l6/model.safetensors").path) }
    static var liteCached: Bool {
        FileManager.default.fileExists(atPath: cache.appendingPathComponent("efficientnet-lite0/efficientnet-lite0-57934424.pth").path)
    }

    @Test(.enabled(if: miniLMCached)) func embedPrintsUnitVectorsThatPlaceParaphrasesCloser() throws {
        let r = try runTransfer(["embed", "A man is playing a guitar.", "Someone plays an acoustic guitar.", "The stock market fell sharply today."])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [[String: Any]]
        let e = rows.map { ($0["embedding"] as! [Double]) }
        #expect(e.count == 3 && e.allSatisfy { $0.count == 384 })
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(Swift.abs(dot(e[0], e[0]) - 1) < 1e-4)
        #expect(dot(e[0], e[1]) > dot(e[0], e[2]) + 0.3)
    }

    @Test(.enabled(if: liteCached)) func predictGivesImageNetTopKAsJSONAndNamesAnUnreadableFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-predict-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("fm").path
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "1", "--out", out]).status == 0)
        let sneaker = try FileManager.default.contentsOfDirectory(atPath: out + "/Sneaker").first!
        let r = try runTransfer(["predict", "--model", "efficientnet-lite0", "--top-k", "5", "--json", out + "/Sneaker/" + sneaker])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let preds = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [[String: Any]]
        let top = preds[0]["top"] as! [[String: Any]]
        #expect(top.count == 5 && (top[0]["index"] as! Int) < 1000 && !(top[0]["label"] as! String).isEmpty)
        let bad = dir.appendingPathComponent("broken.jpg")
        try Data("not an image".utf8).write(to: bad)
        let r2 = try runTransfer(["predict", "--model", "efficientnet-lite0", bad.path])
        #expect(r2.status != 0 && r2.stderr.contains("broken.jpg"))
    }
}
