import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// A text bundle served: JSON texts in, the JSON of `transfer predict --text --json` out (real MiniLM-L6 on real
/// BBC News articles).
@Suite(.serialized) struct ServeTextTests {
    static var textAssetsCached: Bool {
        let cache = ServingFixture.realCache
        return FileManager.default.fileExists(atPath: cache + "/minilm-l6/model.safetensors")
            && FileManager.default.fileExists(atPath: cache + "/datasets/bbc-news/sports/001.txt")
    }

    @Test(.enabled(if: textAssetsCached, "needs minilm-l6 and bbc-news (make test fetches them)"))
    func servedTextPredictionsEqualTransferPredictTextJSON() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tk-serve-text-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = root.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        for item in ["minilm-l6", "datasets"] {
            try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent(item).path, withDestinationPath: ServingFixture.realCache + "/" + item)
        }
        let env = ["TRANSFERKIT_CACHE": cache.path, "CI": "1"]
        let data = root.appendingPathComponent("news").path, bundle = root.appendingPathComponent("news.transferkit").path
        let export = try runTransfer(["datasets", "export", "bbc-news", "--per-class", "3", "--out", data, "--seed", "0"], environment: env)
        #expect(export.status == 0, "stderr: \(export.stderr)")
        let train = try runTransfer(["train", "--model", "minilm-l6", "--data", data, "--strategy", "features", "--epochs", "5",
                                     "--out", bundle, "--no-track", "--json"], environment: env)
        try #require(train.status == 0, "stderr: \(train.stderr)")
        let texts = ["The striker scored twice as the club won the league.", "Shares fell after the bank cut its profit forecast."]
        let cli = try runTransfer(["predict", "--model", bundle, "--text", "--json", "--top-k", "2"] + texts, environment: env)
        #expect(cli.status == 0, "stderr: \(cli.stderr)")

        let server = try RunningServer(["--model", bundle], environment: env)
        defer { server.stop() }
        let body = try JSONSerialization.data(withJSONObject: ["texts": texts])
        let r = try await server.request("POST", "/v1/models/news/predict?top_k=2", body: body, contentType: "application/json")
        #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
        let served = try JSONSerialization.jsonObject(with: r.body) as? [[String: Any]] ?? []
        let expected = try JSONSerialization.jsonObject(with: Data(cli.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(served.count == 2 && expected.count == 2)
        for (s, e) in zip(served, expected) {
            #expect(s["input"] as? String == e["input"] as? String)
            let st = s["top"] as? [[String: Any]] ?? [], et = e["top"] as? [[String: Any]] ?? []
            #expect(st.map { $0["label"] as? String } == et.map { $0["label"] as? String } && st.count == 2)
            for (a, b) in zip(st, et) {
                #expect(abs((a["probability"] as? Double ?? -1) - (b["probability"] as? Double ?? -2)) <= 1e-6)
            }
        }
        // A text model refuses images and explanations, naming why.
        let image = try await server.request("POST", "/v1/models/news/predict", body: Data([0x89, 0x50]), contentType: "image/png")
        #expect(image.status == 415 && errorCode(image.body) == "wrong_content_type")
        let explain = try await server.request("POST", "/v1/models/news/predict?explain=1", body: body, contentType: "application/json")
        #expect(explain.status == 400 && errorCode(explain.body) == "explain_unsupported")
        #expect(server.stop() == 0, "stderr: \(server.stderr)")
    }
}
