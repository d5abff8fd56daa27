import Foundation
import Testing

/// `transfer distill` end to end on real Fashion-MNIST images and real weights: an EfficientNet-Lite0 teacher
/// (trained here on its features) distilled into MobileNetV2 with unlabelled images, against the student trained
/// alone by the same recipe; the teacher's outputs come from its cache the second time; every option is checked.
@Suite(.serialized) struct DistillCommandTests {
    static var realCache: String {
        ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
    }
    static var inputsPresent: Bool {
        ["efficientnet-lite0/efficientnet-lite0-57934424.pth", "mobilenet-v2/mobilenet_v2-b0353104.pth"]
            .allSatisfy { FileManager.default.fileExists(atPath: realCache + "/" + $0) }
            && FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    }

    func json(_ s: String) throws -> [String: Any] {
        guard let i = s.firstIndex(of: "{") else { throw CocoaError(.coderReadCorrupt) }
        return try JSONSerialization.jsonObject(with: Data(s[i...].utf8)) as! [String: Any]
    }

    func accuracy(_ j: [String: Any], _ key: String) -> Double { ((j[key] as? [String: Any])?["accuracy"] as? Double) ?? -1 }

    @Test(.enabled(if: inputsPresent, "needs efficientnet-lite0 and mobilenet-v2 in the cache (make test fetches them) and Fashion-MNIST"))
    func distilsALite0TeacherIntoMobileNetV2WithUnlabelledImagesAndCachesTheTeacher() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-distill-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = dir.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        for model in ["efficientnet-lite0", "mobilenet-v2"] {
            try FileManager.default.createSymbolicLink(atPath: cache.appendingPathComponent(model).path, withDestinationPath: Self.realCache + "/" + model)
        }
        let env = ["TRANSFERKIT_CACHE": cache.path, "CI": "1"]
        let train = dir.appendingPathComponent("train").path, extra = dir.appendingPathComponent("unlabelled").path
        let test = dir.appendingPathComponent("test").path
        for (split, perClass, out, seed) in [("train", 10, train, "0"), ("train", 10, extra, "7"), ("test", 10, test, "0")] {
            let r = try runTransfer(["datasets", "export", "fashion-mnist", "--split", split, "--per-class", "\(perClass)", "--out", out, "--seed", seed], environment: env)
            #expect(r.status == 0, "stderr: \(r.stderr)")
        }
        let teacher = dir.appendingPathComponent("teacher.transferkit").path
        let t = try runTransfer(["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features", "--head", "linear",
                                 "--epochs", "30", "--input-size", "64", "--val-split", "0", "--no-calibrate", "--out", teacher, "--json"], environment: env)
        #expect(t.status == 0, "stderr: \(t.stderr)")

        let student = dir.appendingPathComponent("student.transferkit").path
        let args = ["distill", "--teacher", teacher, "--student", "mobilenet-v2", "--data", train, "--unlabelled", extra, "--features",
                    "--epochs", "30", "--input-size", "64", "--val-split", "0", "--test", test, "--out", student, "--json"]
        let r = try runTransfer(args, environment: env)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try json(r.stdout)
        let (teacherAcc, alone, distilled) = (accuracy(j, "teacher"), accuracy(j, "student_alone"), accuracy(j, "student_distilled"))
        print("distill on 100 test images: teacher \(teacherAcc), student alone \(alone), distilled \(distilled), speed \(j["speed"] ?? "")")
        for (name, acc) in [("teacher", teacherAcc), ("student_alone", alone), ("student_distilled", distilled)] {
            #expect(acc > 0.3, "\(name) accuracy \(acc) on 100 real test images (chance 0.1)")
        }
        let speed = j["speed"] as? [String: Double] ?? [:]
        #expect((speed["teacher_items_per_s"] ?? 0) > 0 && (speed["student_items_per_s"] ?? 0) > 0)
        #expect(j["bundle"] as? String == student)
        #expect(j["labelled"] as? Int == 100 && j["unlabelled"] as? Int == 100)
        // The teacher's backbone runs only on the unlabelled images: the labelled ones' features are in the cache
        // since the teacher's own training.
        #expect(j["teacher_computed"] as? Int == 100)
        // The teacher's test accuracy comes from its outputs (computed once, cached) and is what evaluate reports.
        #expect(j["teacher_test_computed"] as? Int == 100)
        #expect(j["speed_items"] as? Int == 100)
        let te = try runTransfer(["evaluate", "--model", teacher, "--data", test, "--json"], environment: env)
        #expect(te.status == 0, "stderr: \(te.stderr)")
        #expect(Swift.abs((try json(te.stdout)["accuracy"] as? Double ?? -1) - teacherAcc) < 1e-9)

        // The bundle is a student like any other: evaluate gives the accuracy distill reported.
        let e = try runTransfer(["evaluate", "--model", student, "--data", test, "--json"], environment: env)
        #expect(e.status == 0, "stderr: \(e.stderr)")
        #expect(Swift.abs((try json(e.stdout)["accuracy"] as? Double ?? -1) - distilled) < 1e-9)
        let manifest = try json(String(contentsOfFile: student + "/manifest.json", encoding: .utf8))
        #expect(manifest["backbone"] as? String == "mobilenet-v2")

        // Another α and T: every teacher output comes from the cache.
        var again = args
        again[again.firstIndex(of: student)!] = student + "2"
        again += ["--alpha", "0.5", "--temperature", "2"]
        let r2 = try runTransfer(again, environment: env)
        #expect(r2.status == 0, "stderr: \(r2.stderr)")
        let j2 = try json(r2.stdout)
        #expect(j2["teacher_computed"] as? Int == 0 && j2["teacher_test_computed"] as? Int == 0)
        #expect(accuracy(j2, "teacher") == teacherAcc)
    }

    @Test func badOptionsAreRefusedNamingTheOptionAndTheAcceptedRange() throws {
        let base = ["distill", "--teacher", "/nonexistent/t.transferkit", "--student", "mobilenet-v2", "--data", "/tmp", "--out", "/tmp/tk-distill-never"]
        for (extra, expected) in [(["--alpha", "1.5"], "--alpha must be a number in [0, 1]"),
                                  (["--temperature", "0"], "--temperature must be a number in [0.05, 100]"),
                                  (["--temperature", "nan"], "--temperature"),
                                  (["--hint=-1"], "--hint must be a weight in (0, 1000]"),
                                  (["--features", "--hint", "1"], "does not apply with --features"),
                                  (["--val-split", "1"], "--val-split must be a fraction in [0, 1)"),
                                  (["--batch-size", "0"], "--batch-size must be a whole number in 1…65536"),
                                  (["--input-size", "8"], "--input-size must be a whole number in 32…1024")] {
            let r = try runTransfer(base + extra)
            #expect(r.status != 0)
            #expect(r.stderr.contains(expected), "\(extra): \(r.stderr)")
        }
        let none = try runTransfer(["distill", "--teacher", "/x", "--student", "mobilenet-v2", "--out", "/tmp/tk-distill-never"])
        #expect(none.status != 0 && none.stderr.contains("give --data (labelled), --unlabelled, or both"), "\(none.stderr)")
        let notBundle = try runTransfer(base)
        #expect(notBundle.status != 0 && notBundle.stderr.contains("--teacher /nonexistent/t.transferkit is not a bundle"), "\(notBundle.stderr)")
    }
}
