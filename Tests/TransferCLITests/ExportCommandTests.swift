import Checkpoints
import Foundation
import Testing

/// `transfer export --format onnx` through the real executable: refusals, and a MiniLM bundle trained on real BBC News
/// articles exported with a reference sample whose outputs are the bundle's predictions.
@Suite(.serialized) struct ExportCommandTests {
    @Test func exportRefusesWhatIsNotABundleAndBadOptions() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-export-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let notBundle = try runTransfer(["export", dir.path, "--out", dir.path + "/m.onnx"])
        #expect(notBundle.status != 0 && notBundle.stderr.contains("not a TransferKit bundle"), "\(notBundle.stderr)")
        let outIsDir = try runTransfer(["export", dir.path, "--out", dir.path])
        #expect(outIsDir.status != 0 && outIsDir.stderr.contains("--out") && outIsDir.stderr.contains("is a directory"), "\(outIsDir.stderr)")
        let emptyOut = try runTransfer(["export", dir.path, "--out", ""])
        #expect(emptyOut.status != 0 && emptyOut.stderr.contains("--out must be a file path"), "\(emptyOut.stderr)")
        let textAlone = try runTransfer(["export", dir.path, "--out", dir.path + "/m.onnx", "--text"])
        #expect(textAlone.status != 0 && textAlone.stderr.contains("--text describes the --sample inputs"), "\(textAlone.stderr)")
        let format = try runTransfer(["export", dir.path, "--out", dir.path + "/m.onnx", "--format", "tflite"])
        #expect(format.status != 0 && format.stderr.contains("tflite"), "\(format.stderr)")
    }

    // Needs minilm-l6 and bbc-news (`make test` fetches both first).
    @Test(.enabled(if: LoRACommandTests.textAssets)) func aTextBundleExportsWithASampleOfItsOwnPredictions() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-export-\(UUID())")
        let cache = dir.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for item in ["minilm-l6", "datasets"] {
            try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent(item).path,
                                                       withDestinationPath: LoRACommandTests.realCache + "/" + item)
        }
        let env = ["TRANSFERKIT_CACHE": cache.path, "TRANSFERKIT_THREADS": "1"]
        let train = dir.appendingPathComponent("train").path, bundle = dir.appendingPathComponent("news.transferkit").path
        let ex = try runTransfer(["datasets", "export", "bbc-news", "--per-class", "5", "--out", train, "--seed", "0"], environment: env)
        #expect(ex.status == 0, "stderr: \(ex.stderr)")
        let t = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--strategy", "features", "--out", bundle, "--json"],
                                environment: env)
        #expect(t.status == 0, "stderr: \(t.stderr)")

        let texts = ["The central bank raised interest rates as inflation rose.", "The striker scored twice to win the cup final."]
        let imageSample = try runTransfer(["export", bundle, "--out", dir.path + "/x.onnx", "--sample", "a.png"], environment: env)
        #expect(imageSample.status != 0 && imageSample.stderr.contains("pass --text"), "\(imageSample.stderr)")
        let out = dir.appendingPathComponent("news.onnx").path
        let r = try runTransfer(["export", bundle, "--format", "onnx", "--out", out, "--text", "--sample"] + texts + ["--json"],
                                environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(j["opset"] as? Int == 17 && j["inputs"] as? [String] == ["input_ids", "attention_mask", "token_type_ids"])
        #expect(j["outputs"] as? [String] == ["features", "logits", "outputs"])
        #expect((j["parameters"] as? Int ?? 0) > 22_000_000 && (j["bytes"] as? Int ?? 0) > 88_000_000)
        #expect((j["operators"] as? [String])?.contains("LayerNormalization") == true)

        let p = try runTransfer(["predict", "--model", bundle, "--text"] + texts + ["--top-k", "5", "--json"], environment: env)
        let preds = try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [[String: Any]] ?? []
        let sample = try SafeTensorsFile(path: out + ".sample.safetensors")
        let outputs = try sample.tensor("outputs").toArray()
        let labels = try FileManager.default.contentsOfDirectory(atPath: train).sorted()
        #expect(try sample.tensor("input_ids").shape[0] == 2 && outputs.count == 10)
        for (r, pred) in preds.enumerated() {
            for top in pred["top"] as? [[String: Any]] ?? [] {
                guard let c = labels.firstIndex(of: top["label"] as? String ?? "") else { Issue.record("label \(top)"); continue }
                #expect(abs(Double(outputs[r * 5 + c]) - (top["probability"] as? Double ?? -1)) < 1e-5)
            }
        }
    }
}
