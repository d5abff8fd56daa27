import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The real `transfer serve` on a loopback port, against the real `transfer predict --json`, on real weights
/// (EfficientNet-Lite0) and real images (Fashion-MNIST PNGs).
@Suite(.serialized, .enabled(if: ServingFixture.weightsCached)) struct ServeEndToEndTests {
    /// The predictions of a JSON answer with each input renamed to `name(i)`, for comparison.
    func predictions(_ data: Data) -> [[String: Any]] { (try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? [] }

    func expectSame(_ served: [[String: Any]], _ cli: [[String: Any]]) {
        #expect(served.count == cli.count && !cli.isEmpty)
        for (s, c) in zip(served, cli) {
            let st = s["top"] as? [[String: Any]] ?? [], ct = c["top"] as? [[String: Any]] ?? []
            #expect(st.count == ct.count && !ct.isEmpty)
            for (a, b) in zip(st, ct) {
                #expect(a["label"] as? String == b["label"] as? String)
                #expect(a["index"] as? Int == b["index"] as? Int)
                let pa = a["probability"] as? Double ?? -1, pb = b["probability"] as? Double ?? -2
                #expect(abs(pa - pb) <= 1e-6, "probability \(pa) served vs \(pb) from transfer predict")
            }
        }
    }

    @Test func servedPredictionsEqualTransferPredictJSONForABundleAndAPretrainedModel() async throws {
        let f = try ServingFixture.shared()
        let images = Array(try f.testImages().prefix(3))
        let server = try RunningServer(["--model", "fm=\(f.bundleA)", "--model", "efficientnet-lite0"], environment: f.env)
        defer { server.stop() }

        // The bundle: three images in one multipart request, then one as a raw image/png body.
        let cli = try runTransfer(["predict", "--model", f.bundleA, "--json", "--top-k", "3"] + images.map(\.path), environment: f.env)
        #expect(cli.status == 0, "stderr: \(cli.stderr)")
        let (body, type) = multipart(images.map { (URL(fileURLWithPath: $0.path).lastPathComponent, $0.data) })
        let r = try await server.request("POST", "/v1/models/fm/predict?top_k=3", body: body, contentType: type)
        #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
        let served = predictions(r.body)
        expectSame(served, predictions(Data(cli.stdout.utf8)))
        #expect(served.map { $0["input"] as? String } == images.map { URL(fileURLWithPath: $0.path).lastPathComponent })
        let raw = try await server.request("POST", "/v1/models/fm/predict?top_k=3&name=one.png", body: images[0].data, contentType: "image/png")
        #expect(raw.status == 200)
        expectSame(predictions(raw.body), Array(predictions(Data(cli.stdout.utf8)).prefix(1)))
        #expect(predictions(raw.body).first?["input"] as? String == "one.png")

        // The pretrained model (ImageNet classes).
        let cli2 = try runTransfer(["predict", "--model", "efficientnet-lite0", "--json"] + images.prefix(2).map(\.path), environment: f.env)
        #expect(cli2.status == 0, "stderr: \(cli2.stderr)")
        let (body2, type2) = multipart(images.prefix(2).map { ("x.png", $0.data) })
        let r2 = try await server.request("POST", "/v1/models/efficientnet-lite0/predict", body: body2, contentType: type2)
        #expect(r2.status == 200)
        expectSame(predictions(r2.body), predictions(Data(cli2.stdout.utf8)))

        // Grad-CAM: the overlay is a PNG of the input's size, for the predicted class.
        let e = try await server.request("POST", "/v1/models/fm/predict?explain=1", body: images[0].data, contentType: "image/png")
        #expect(e.status == 200)
        let obj = server.json(e.body) as? [String: Any]
        let ex = (obj?["explanations"] as? [[String: Any]])?.first
        let png = Data(base64Encoded: ex?["overlay_png"] as? String ?? "") ?? Data()
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 100)
        let top = ((obj?["predictions"] as? [[String: Any]])?.first?["top"] as? [[String: Any]])?.first?["label"] as? String
        #expect(ex?["label"] as? String == top)

        // The listing, health and metrics.
        let models = server.json(try await server.request("GET", "/v1/models").body) as? [String: Any]
        #expect(((models?["models"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String } == ["efficientnet-lite0", "fm"])
        #expect(try await server.request("GET", "/healthz").status == 200)
        let metrics = String(decoding: try await server.request("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("transfer_requests_total{route=\"/v1/models/{name}/predict\",method=\"POST\",status=\"200\"} 4"))
        #expect(metrics.contains("transfer_request_duration_seconds_bucket{route=\"/v1/models/{name}/predict\",le=\"+Inf\"} 4"))
        #expect(metrics.contains("transfer_batch_size_count 4"))
        #expect(server.stop() == 0, "stderr: \(server.stderr)")
    }

    @Test func everyBadRequestGetsA4xxJSONNamingTheProblemAndTheServerLives() async throws {
        let f = try ServingFixture.shared()
        let image = try f.testImages()[0].data
        let server = try RunningServer(["--model", "fm=\(f.bundleA)", "--max-body-bytes", "65536"], token: "s3cret", environment: f.env)
        defer { server.stop() }
        func expectRefusal(_ r: (status: Int, body: Data), _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(r.status == status, "\(String(decoding: r.body, as: UTF8.self))", sourceLocation: sourceLocation)
            #expect(errorCode(r.body) == code, "\(String(decoding: r.body, as: UTF8.self))", sourceLocation: sourceLocation)
        }
        let path = "/v1/models/fm/predict"
        expectRefusal(try await server.request("POST", path, body: Data("hello, not an image".utf8), contentType: "image/png"), 422, "not_an_image")
        let (notImage, mt) = multipart([("notes.txt", Data("plain text".utf8))])
        let r = try await server.request("POST", path, body: notImage, contentType: mt)
        expectRefusal(r, 422, "not_an_image")
        #expect(errorMessage(r.body).contains("notes.txt"))
        expectRefusal(try await server.request("POST", path, body: image.prefix(image.count / 2), contentType: "image/png"), 400, "truncated_upload")
        let (cut, ct) = multipart([("a.png", image)], closed: false)
        expectRefusal(try await server.request("POST", path, body: cut.prefix(cut.count - 10), contentType: ct), 400, "truncated_upload")
        expectRefusal(try await server.request("POST", path, body: Data("{\"texts\": [\"x\"]}".utf8), contentType: "application/json"), 415, "wrong_content_type")
        // Without a Content-Type (the client may add its form default): 415 naming the content type.
        let untyped = try await server.request("POST", path, body: image, contentType: nil)
        #expect(untyped.status == 415 && (errorCode(untyped.body) ?? "").hasSuffix("content_type"), "\(errorMessage(untyped.body))")
        expectRefusal(try await server.request("POST", "/v1/models/nope/predict", body: image, contentType: "image/png"), 404, "unknown_model")
        expectRefusal(try await server.request("POST", path, body: Data(count: 70_000), contentType: "image/png"), 413, "body_too_large")
        expectRefusal(try await server.request("POST", path, body: image, contentType: "image/png", authorized: false), 401, "missing_token")
        expectRefusal(try await server.request("POST", path, body: image, contentType: "image/png", headers: ["Authorization": "Bearer wrong"]), 401, "bad_token")
        expectRefusal(try await server.request("POST", path + "?top_k=0", body: image, contentType: "image/png"), 400, "bad_top_k")
        expectRefusal(try await server.request("POST", path, body: Data(), contentType: "image/png"), 400, "empty_body")
        expectRefusal(try await server.request("GET", "/no/such/page"), 404, "no_route")
        expectRefusal(try await server.request("DELETE", "/v1/models/nope"), 404, "unknown_model")
        expectRefusal(try await server.request("POST", "/v1/models", body: Data("{}".utf8), contentType: "application/json"), 400, "bad_json")
        expectRefusal(try await server.request("POST", "/v1/models", body: Data("{\"path\": \"/nonexistent/x\"}".utf8), contentType: "application/json"), 422, "unknown_model_source")
        // Still serving, and the health check needs no token.
        #expect(try await server.request("GET", "/healthz", authorized: false).status == 200)
        #expect(try await server.request("POST", path, body: image, contentType: "image/png").status == 200)
        #expect(server.stop() == 0, "stderr: \(server.stderr)")
    }

    @Test func bundlesReplacedAddedAndRemovedUnderConcurrentLoadDropNoRequest() async throws {
        let f = try ServingFixture.shared()
        let image = try f.testImages()[0].data
        let watch = f.root.appendingPathComponent("watch-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: watch, withIntermediateDirectories: true)
        let server = try RunningServer(["--model", "fm=\(f.bundleA)", "--watch", watch.path, "--batch-window-ms", "5"], environment: f.env)
        defer { server.stop() }
        let clients = 8, perClient = 12
        let load = Task {
            try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<clients {
                    group.addTask {
                        var statuses: [Int] = []
                        for _ in 0..<perClient {
                            statuses.append(try await server.request("POST", "/v1/models/fm/predict", body: image, contentType: "image/png").status)
                        }
                        return statuses
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        // While the load runs: replace fm by the API twice, add a bundle through the watched directory, remove it.
        let replace = try await server.request("POST", "/v1/models", body: Data("{\"path\": \"\(f.bundleB)\", \"name\": \"fm\"}".utf8), contentType: "application/json")
        #expect(replace.status == 200, "\(String(decoding: replace.body, as: UTF8.self))")
        #expect((server.json(replace.body) as? [String: Any])?["version"] as? Int == 2)
        try FileManager.default.copyItem(atPath: f.bundleB, toPath: watch.appendingPathComponent("watched.transferkit").path)
        var listed = false
        for _ in 0..<100 where !listed {
            try await Task.sleep(for: .milliseconds(100))
            listed = String(decoding: try await server.request("GET", "/v1/models").body, as: UTF8.self).contains("\"watched\"")
        }
        #expect(listed, "the watched bundle was not loaded: \(server.stderr)")
        #expect(try await server.request("POST", "/v1/models/watched/predict", body: image, contentType: "image/png").status == 200)
        let back = try await server.request("POST", "/v1/models", body: Data("{\"path\": \"\(f.bundleA)\", \"name\": \"fm\"}".utf8), contentType: "application/json")
        #expect((server.json(back.body) as? [String: Any])?["version"] as? Int == 3)
        try FileManager.default.removeItem(at: watch.appendingPathComponent("watched.transferkit"))
        var gone = false
        for _ in 0..<100 where !gone {
            try await Task.sleep(for: .milliseconds(100))
            gone = !String(decoding: try await server.request("GET", "/v1/models").body, as: UTF8.self).contains("\"watched\"")
        }
        #expect(gone)
        let statuses = try await load.value
        #expect(statuses.count == clients * perClient)
        #expect(statuses.allSatisfy { $0 == 200 }, "statuses: \(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
        // Concurrent requests were batched: some forward pass took more than one input.
        let metrics = String(decoding: try await server.request("GET", "/metrics").body, as: UTF8.self)
        let single = metrics.split(separator: "\n").first { $0.hasPrefix("transfer_batch_size_bucket{le=\"1\"}") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
        let count = metrics.split(separator: "\n").first { $0.hasPrefix("transfer_batch_size_count") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
        #expect(count > 0 && single < count, "batches of one \(single) of \(count)")
        #expect(server.stop() == 0, "stderr: \(server.stderr)")
    }

    @Test func aFullQueueAnswers503AndNeverGrows() async throws {
        let f = try ServingFixture.shared()
        let image = try f.testImages()[0].data
        let server = try RunningServer(["--model", "fm=\(f.bundleA)", "--queue", "1", "--batch-window-ms", "200", "--max-batch", "1"], environment: f.env)
        defer { server.stop() }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<12 { group.addTask { try await server.request("POST", "/v1/models/fm/predict", body: image, contentType: "image/png").status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.contains(503) && statuses.contains(200), "\(statuses)")
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 503 })
        #expect(server.stop() == 0)
    }
}
