import Foundation
import Testing
@testable import transfer

@Suite(.serialized) struct FewShotCommandTests {
    /// `count` BBC articles of each of `classes` copied into `scratch/name/CLASS/`.
    func newsFolder(_ scratch: Scratch, _ name: String, classes: [String], files: ClosedRange<Int>) throws -> String {
        let news = cacheRoot.appendingPathComponent("datasets/bbc-news").path
        for cls in classes {
            try FileManager.default.createDirectory(atPath: scratch.path("\(name)/\(cls)"), withIntermediateDirectories: true)
            for i in files {
                let f = String(format: "%03d.txt", i)
                try FileManager.default.copyItem(atPath: "\(news)/\(cls)/\(f)", toPath: scratch.path("\(name)/\(cls)/\(f)"))
            }
        }
        return scratch.path(name)
    }

    func json(_ s: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
    }

    @Test func fewShotOptionsAreValidated() {
        #expect(refusal(["fewshot", "eval", "--model", "minilm-l6", "--data", "/tmp", "--ways", "1"])?.contains("--ways") == true)
        #expect(refusal(["fewshot", "eval", "--model", "minilm-l6", "--data", "/tmp", "--method", "maml"])?.contains("--method") == true)
        #expect(refusal(["fewshot", "eval", "--model", "minilm-l6", "--data", "/tmp", "--method", "logistic", "--transductive"])?.contains("--transductive") == true)
        #expect(refusal(["zeroshot", "--labels", "sports", "--text", "x"])?.contains("--labels") == true)
        #expect(refusal(["zeroshot", "--labels", "a,b", "--template", "no slot", "--text", "x"])?.contains("--template") == true)
        #expect(refusal(["zeroshot", "--labels", "a,b"])?.contains("--text") == true)
        #expect(refusal(["bundle", "add-class", "/tmp/b", "--label", "", "x.txt"])?.contains("--label") == true)
        #expect(refusal(["fewshot", "meta", "--base", "0,1,6", "--novel", "6,7"])?.contains("--novel") == true)
        #expect(refusal(["fewshot", "meta", "--method", "maml"])?.contains("--method") == true)
        #expect(refusal(["fewshot", "meta", "--batch-norm", "frozen"])?.contains("--batch-norm") == true)
        #expect(refusal(["fewshot", "meta", "--method", "reptile", "--inner-steps", "0"])?.contains("--inner-steps") == true)
        #expect(refusal(["fewshot", "meta", "--method", "reptile", "--meta-step", "1.5"])?.contains("--meta-step") == true)
    }

    @Test(.enabled(if: bbcPresent, "needs minilm-l6 and bbc-news"))
    func zeroShotLabelsTextsFromClassNames() throws {
        let r = try runTransfer(["zeroshot", "--labels", "sport,politics,technology", "--template", "This article is about {}.",
                                 "--text", "The striker scored twice in the cup final.",
                                 "--text", "The prime minister faced questions in parliament over the budget.", "--json"],
                                environment: ["CI": "1"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let rows = try #require(try json(r.stdout)["predictions"] as? [[String: Any]])
        #expect(rows.map { $0["label"] as? String } == ["sport", "politics"])
    }

    @Test(.enabled(if: bbcPresent, "needs minilm-l6 and bbc-news"))
    func bundleAddClassPredictsTheNewClassWithoutTraining() throws {
        let scratch = try Scratch("fewshot-bundle")
        defer { scratch.cleanup() }
        let data = try newsFolder(scratch, "news", classes: ["business", "politics", "sports"], files: 1...4)
        let examples = try newsFolder(scratch, "new", classes: ["tech"], files: 1...4)
        let held = try newsFolder(scratch, "held", classes: ["tech"], files: 5...7)
        let bundle = scratch.path("protos")
        let c = try runTransfer(["bundle", "create", "--model", "minilm-l6", "--data", data, "--output", bundle, "--json"], environment: ["CI": "1"])
        #expect(c.status == 0, "stderr: \(c.stderr)")
        let heldFiles = (5...7).map { "\(held)/tech/" + String(format: "%03d.txt", $0) }
        let before = try runTransfer(["bundle", "predict", bundle] + heldFiles + ["--json"], environment: ["CI": "1"])
        #expect(try (json(before.stdout)["predictions"] as? [[String: Any]])?.contains { $0["label"] as? String == "tech" } == false)
        let a = try runTransfer(["bundle", "add-class", bundle, "--label", "tech"] + (1...4).map { "\(examples)/tech/" + String(format: "%03d.txt", $0) } + ["--json"],
                                environment: ["CI": "1"])
        #expect(a.status == 0, "stderr: \(a.stderr)")
        let p = try runTransfer(["bundle", "predict", bundle] + heldFiles + ["--json"], environment: ["CI": "1"])
        let labels = try #require(try json(p.stdout)["predictions"] as? [[String: Any]]).map { $0["label"] as? String }
        #expect(labels.filter { $0 == "tech" }.count >= 2, "held-out tech articles: \(labels)")
        let again = try runTransfer(["bundle", "add-class", bundle, "--label", "tech", "\(examples)/tech/001.txt"], environment: ["CI": "1"])
        #expect(again.status != 0 && again.stderr.contains("tech"))
    }

    @Test(.enabled(if: bbcPresent, "needs minilm-l6 and bbc-news"))
    func fewShotEvalPrintsAccuracyAndConfidenceInterval() throws {
        let scratch = try Scratch("fewshot-eval")
        defer { scratch.cleanup() }
        let data = try newsFolder(scratch, "news", classes: ["business", "entertainment", "politics", "sports", "tech"], files: 1...5)
        let r = try runTransfer(["fewshot", "eval", "--model", "minilm-l6", "--data", data, "--ways", "3", "--shots", "1", "--queries", "3",
                                 "--episodes", "40", "--method", "simpleshot", "--json"], environment: ["CI": "1"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let o = try json(r.stdout)
        let acc = try #require(o["accuracy"] as? Double), ci = try #require(o["ci95"] as? Double)
        #expect(acc > 0.6 && ci > 0 && ci < 0.15, "accuracy \(acc) ± \(ci) (chance 0.33)")
        let tooMany = try runTransfer(["fewshot", "eval", "--model", "minilm-l6", "--data", data, "--ways", "6", "--episodes", "2"], environment: ["CI": "1"])
        #expect(tooMany.status != 0 && tooMany.stderr.contains("--ways 6"))
    }
}

@Suite(.serialized) struct SetFitStrategyCommandTests {
    /// The title and first sentence of BBC articles `files` of each class, as `scratch/name/CLASS/NNN.txt`.
    func leads(_ scratch: Scratch, _ name: String, classes: [String], files: ClosedRange<Int>) throws -> String {
        let news = cacheRoot.appendingPathComponent("datasets/bbc-news").path
        for cls in classes {
            try FileManager.default.createDirectory(atPath: scratch.path("\(name)/\(cls)"), withIntermediateDirectories: true)
            for i in files {
                let f = String(format: "%03d.txt", i)
                let lines = try String(contentsOfFile: "\(news)/\(cls)/\(f)", encoding: .utf8).split(separator: "\n").prefix(2)
                try lines.joined(separator: ". ").write(toFile: scratch.path("\(name)/\(cls)/\(f)"), atomically: true, encoding: .utf8)
            }
        }
        return scratch.path(name)
    }

    func find(_ key: String, in o: Any) -> Any? {
        if let d = o as? [String: Any] { return d[key] ?? d.values.lazy.compactMap { find(key, in: $0) }.first }
        return nil
    }

    @Test(.enabled(if: bbcPresent, "needs minilm-l6 and bbc-news"))
    func trainWithTheSetFitStrategyStoresTheFineTunedEncoderAndClassifies() throws {
        let scratch = try Scratch("setfit-train")
        defer { scratch.cleanup() }
        let train = try leads(scratch, "train", classes: ["business", "sports"], files: 1...6)
        let test = try leads(scratch, "test", classes: ["business", "sports"], files: 7...12)
        let bundle = scratch.path("m.transferkit")
        let t = try runTransfer(["train", "--model", "minilm-l6", "--data", train, "--strategy", "setfit", "--iterations", "2",
                                 "--val-split", "0", "--out", bundle, "--json"], environment: ["CI": "1"])
        #expect(t.status == 0, "stderr: \(t.stderr)")
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundle + "/manifest.json"))) as? [String: Any])
        #expect(manifest["strategy"] as? String == "setfit" && manifest["includes_backbone"] as? Bool == true)
        #expect((find("setfit_loss", in: manifest) as? String)?.isEmpty == false)
        let e = try runTransfer(["evaluate", "--model", bundle, "--data", test, "--json"], environment: ["CI": "1"])
        #expect(e.status == 0, "stderr: \(e.stderr)")
        let accuracy = try #require(find("accuracy", in: try JSONSerialization.jsonObject(with: Data(e.stdout.utf8))) as? Double)
        #expect(accuracy >= 0.75, "held-out accuracy \(accuracy) of 12 headlines (chance 0.5)")
        #expect(refusal(["train", "--model", "minilm-l6", "--data", train, "--out", bundle, "--iterations", "3"])?.contains("--strategy setfit") == true)
    }
}
