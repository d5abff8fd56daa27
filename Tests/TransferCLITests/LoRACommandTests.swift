import Foundation
import Testing

/// `transfer train --strategy lora`, `transfer lora merge` and prediction with both bundles, through the real
/// executable on real MiniLM weights and real BBC News articles.
@Suite(.serialized) struct LoRACommandTests {
    static let realCache = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path

    static var textAssets: Bool {
        FileManager.default.fileExists(atPath: realCache + "/minilm-l6/model.safetensors")
            && FileManager.default.fileExists(atPath: realCache + "/datasets/bbc-news")
    }

    func json(_ s: String) throws -> [String: Any] {
        guard let i = s.firstIndex(of: "{") else { throw CocoaError(.coderReadCorrupt) }
        return try JSONSerialization.jsonObject(with: Data(s[i...].utf8)) as? [String: Any] ?? [:]
    }

    /// Probabilities by input and label of `transfer predict --json` output.
    func probabilities(_ stdout: String) throws -> [[String: Double]] {
        let preds = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]] ?? []
        return preds.map { p in
            Dictionary(((p["top"] as? [[String: Any]]) ?? []).map { ($0["label"] as? String ?? "", $0["probability"] as? Double ?? -1) },
                       uniquingKeysWith: { a, _ in a })
        }
    }

    // Needs minilm-l6 and bbc-news (`make test` fetches both first).
    @Test(.enabled(if: textAssets)) func loraTrainsOnRealBBCNewsAndItsMergedBundlePredictsTheSame() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-lora-\(UUID())")
        let cache = dir.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for item in ["minilm-l6", "datasets"] {
            try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent(item).path, withDestinationPath: Self.realCache + "/" + item)
        }
        let env = ["TRANSFERKIT_CACHE": cache.path, "TRANSFERKIT_THREADS": "1"]
        let train = dir.appendingPathComponent("train").path, rest = dir.appendingPathComponent("rest").path
        let ex = try runTransfer(["datasets", "export", "bbc-news", "--per-class", "8", "--out", train, "--rest", rest, "--seed", "0"], environment: env)
        #expect(ex.status == 0, "stderr: \(ex.stderr)")
        let test = dir.appendingPathComponent("test").path
        for c in try FileManager.default.contentsOfDirectory(atPath: rest) {
            try FileManager.default.createDirectory(atPath: test + "/" + c, withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: rest + "/" + c).sorted().prefix(4) {
                try FileManager.default.copyItem(atPath: rest + "/\(c)/\(f)", toPath: test + "/\(c)/\(f)")
            }
        }
        // Refused before any work: a --lora-* option without the strategy, a target matching nothing.
        let bundle = dir.appendingPathComponent("lora.transferkit").path
        let wrongStrategy = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--lora-rank", "4", "--out", bundle], environment: env)
        #expect(wrongStrategy.status != 0 && wrongStrategy.stderr.contains("--lora-rank applies to --strategy lora"))
        let badRank = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--strategy", "lora", "--lora-rank", "0", "--out", bundle], environment: env)
        #expect(badRank.status != 0 && badRank.stderr.contains("--lora-rank must be a whole number in 1…1024"), "\(badRank.stderr)")
        let badTarget = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--strategy", "lora", "--lora-targets",
                                         "encoder.layer.*.attention.self.qkv", "--out", bundle], environment: env)
        #expect(badTarget.status != 0 && badTarget.stderr.contains("encoder.layer.*.attention.self.qkv"), "\(badTarget.stderr)")

        let r = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--test", test, "--strategy", "lora", "--epochs", "1",
                                 "--batch-size", "8", "--lora-rank", "4", "--lora-alpha", "8", "--out", bundle, "--json"], environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try json(r.stdout)
        let acc = ((j["test"] as? [String: Any])?["accuracy"] as? Double) ?? 0
        #expect(acc >= 0.8, "lora: test accuracy \(acc) on 20 real articles")
        // Query and value of 6 layers, rank 4: 12 × (4·384 + 384·4) adapter parameters, plus the head.
        let trainable = j["trainable_parameters"] as? Int ?? 0, total = j["total_parameters"] as? Int ?? 0
        #expect(trainable == 12 * 2 * 4 * 384 + (384 * 5 + 5), "trainable \(trainable)")
        #expect(total > 22_000_000 && (j["adapter_bytes"] as? Int ?? 0) < 200_000)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundle + "/manifest.json"))) as? [String: Any] ?? [:]
        #expect(manifest["strategy"] as? String == "lora" && manifest["includes_backbone"] as? Bool == false)
        #expect((manifest["training"] as? [String: String])?["lora_targets"] == "encoder.layer.*.attention.self.query,encoder.layer.*.attention.self.value")

        let texts = ["The central bank raised interest rates as inflation and unemployment rose.",
                     "The striker scored twice in the second half to win the cup final."]
        let p1 = try runTransfer(["predict", "--model", bundle, "--text"] + texts + ["--top-k", "5", "--json"], environment: env)
        #expect(p1.status == 0, "stderr: \(p1.stderr)")

        let merged = dir.appendingPathComponent("merged.transferkit").path
        let m = try runTransfer(["lora", "merge", bundle, "--out", merged, "--json"], environment: env)
        #expect(m.status == 0, "stderr: \(m.stderr)")
        let mm = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: merged + "/manifest.json"))) as? [String: Any] ?? [:]
        #expect(mm["includes_backbone"] as? Bool == true && !FileManager.default.fileExists(atPath: merged + "/adapter.safetensors"))
        let p2 = try runTransfer(["predict", "--model", merged, "--text"] + texts + ["--top-k", "5", "--json"], environment: env)
        #expect(p2.status == 0, "stderr: \(p2.stderr)")
        let (a, b) = (try probabilities(p1.stdout), try probabilities(p2.stdout))
        #expect(a.count == 2 && b.count == 2 && a.map { $0.keys.sorted() } == b.map { $0.keys.sorted() })
        for (x, y) in zip(a, b) { for (label, v) in x { #expect(Swift.abs(v - (y[label] ?? -1)) <= 1e-4, "\(label): \(v) vs \(y[label] ?? -1)") } }
        let e1 = try runTransfer(["evaluate", "--model", bundle, "--data", test, "--json"], environment: env)
        let e2 = try runTransfer(["evaluate", "--model", merged, "--data", test, "--json"], environment: env)
        #expect(e1.status == 0 && e2.status == 0, "\(e1.stderr) \(e2.stderr)")
        let (acc1, acc2) = (try json(e1.stdout)["accuracy"] as? Double, try json(e2.stdout)["accuracy"] as? Double)
        #expect(acc1 == acc && acc2 == acc)

        // Merging a merged bundle, and a damaged adapter, are refused by name.
        let again = try runTransfer(["lora", "merge", merged, "--out", dir.appendingPathComponent("again").path], environment: env)
        #expect(again.status != 0 && again.stderr.contains("holds no adapter"), "\(again.stderr)")
        let adapter = URL(fileURLWithPath: bundle + "/adapter.safetensors")
        var bytes = try Data(contentsOf: adapter)
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: adapter)
        let damaged = try runTransfer(["predict", "--model", bundle, "--text", texts[0], "--json"], environment: env)
        #expect(damaged.status != 0 && damaged.stderr.contains("adapter.safetensors"), "\(damaged.stderr)")
    }
}
