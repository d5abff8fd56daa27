import Datasets
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Models
import Testing
import TransferKit
@testable import transfer

/// A fresh temporary folder with small fixtures: image class folders of tiny PNGs, text class folders, tables.
struct Scratch {
    let root: String

    init(_ name: String) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("tk-hostile-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { root + "/" + name }

    /// `classes` folders of `perClass` 40×40 PNGs (each class its own colour).
    @discardableResult
    func imageFolder(_ name: String, classes: [String], perClass: Int = 3) throws -> String {
        let dir = path(name)
        for (c, cls) in classes.enumerated() {
            try FileManager.default.createDirectory(atPath: dir + "/" + cls, withIntermediateDirectories: true)
            for i in 0..<perClass {
                var px = [UInt8](repeating: 0, count: 40 * 40 * 3)
                for p in 0..<(40 * 40) {
                    px[p * 3] = UInt8((c * 90 + i * 7) % 256)
                    px[p * 3 + 1] = UInt8((p % 40) * 6)
                    px[p * 3 + 2] = UInt8(((p / 40) * 6 + c * 50) % 256)
                }
                try Data(PNGEncoder.encode(RGBImage(width: 40, height: 40, pixels: px))).write(to: URL(fileURLWithPath: "\(dir)/\(cls)/\(i).png"))
            }
        }
        return dir
    }

    /// `classes` folders of `perClass` .txt files.
    @discardableResult
    func textFolder(_ name: String, classes: [String], perClass: Int = 3) throws -> String {
        let dir = path(name)
        for cls in classes {
            try FileManager.default.createDirectory(atPath: dir + "/" + cls, withIntermediateDirectories: true)
            for i in 0..<perClass { try Data("article \(i) about \(cls)\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(cls)/\(i).txt")) }
        }
        return dir
    }

    func write(_ name: String, _ text: String) throws -> String {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    func cleanup() { try? FileManager.default.removeItem(atPath: root) }
}

/// The message `transfer` prints for `arguments` when parsing refuses them (nil when it accepts them).
func refusal(_ arguments: [String]) -> String? {
    do {
        _ = try Transfer.parseAsRoot(arguments)
        return nil
    } catch {
        return Transfer.userMessage(for: error)
    }
}

/// The defects of issue 24 in the command line and ``TrainingRun``: each test failed before its fix.
@Suite(.serialized) struct HostileInputTests {
    static let train = ["train", "--model", "efficientnet-lite0", "--data", "/nonexistent/tk-data", "--out", "/nonexistent/tk-out"]

    // MARK: Options refused at parse time

    @Test func unvalidatedNumbersThatCrashedAreRefusedAtParseTimeNamingOptionValueAndRange() {
        let cases: [(args: [String], expect: [String])] = [
            (Self.train + ["--batch-size", "0"], ["--batch-size", "1…65536", "received 0"]),
            (Self.train + ["--epochs=-1"], ["--epochs", "1…100000", "received -1"]),
            (Self.train + ["--head-epochs=-2"], ["--head-epochs", "0…100000", "received -2"]),
            (Self.train + ["--head-lr", "nan"], ["--head-lr", "(0, 10.0]", "received nan"]),
            (Self.train + ["--head-lr=-1"], ["--head-lr", "(0, 10.0]", "received -1"]),
            (Self.train + ["--lr", "nan"], ["--lr", "(0, 10.0]", "received nan"]),
            (Self.train + ["--lr", "1e308"], ["--lr", "received inf"]),
            (Self.train + ["--epochs", "0"], ["--epochs", "received 0", "--strategy features"]),
            (Self.train + ["--strategy", "features", "--epochs", "0"], ["--epochs", "1…100000", "received 0"]),
            (Self.train + ["--strategy", "features", "--head-epochs", "0"], ["--head-epochs", "untrained head", "received 0"]),
            (Self.train + ["--early-stopping=-1"], ["--early-stopping", "0…100000", "received -1"]),
            (Self.train + ["--views", "65"], ["--views", "0…64", "received 65"]),
            (Self.train + ["--val-split", "nan"], ["--val-split", "[0, 1)", "received nan"]),
            (["lr-find", "--model", "efficientnet-lite0", "--data", "/x", "--batch-size=-1"], ["--batch-size", "1…65536", "received -1"]),
            (["lr-find", "--model", "efficientnet-lite0", "--data", "/x", "--start", "nan"], ["--start", "received nan"]),
            (["lr-find", "--model", "efficientnet-lite0", "--data", "/x", "--end", "inf"], ["--end", "received inf"]),
            (["lr-find", "--model", "efficientnet-lite0", "--data", "/x", "--iterations", "4"], ["--iterations", "5…10000", "received 4"]),
            (["predict", "--model", "efficientnet-lite0", "x.png", "--top-k=-3"], ["--top-k", "≥ 1", "received -3"]),
            (["datasets", "export", "fashion-mnist", "--out", "/x", "--per-class", "99999999"], ["--per-class", "at most 1000000", "received 99999999"]),
            (["augment-preview", "--data", "/x", "--out", "/x.png", "--count", "0"], ["--count", "1…256", "received 0"]),
            (["augment-preview", "--data", "/x", "--out", "/x.png", "--variants", "9223372036854775807"], ["--variants", "0…32"]),
            (["augment-preview", "--data", "/x", "--out", "/x.png", "--count", "256", "--size", "1024"], ["--size 1024", "megapixels"]),
            (["demo", "--epochs", "0"], ["--epochs", "1…100000", "received 0"]),
        ]
        for (args, expect) in cases {
            guard let message = refusal(args) else {
                Issue.record("accepted \(args.suffix(2))")
                continue
            }
            #expect(!message.contains("\n"))
            for e in expect { #expect(message.contains(e), "\(args.suffix(2)): \(message)") }
        }
    }

    @Test func aValueArgumentParserCannotReadIsOneLineThatStatesTheRange() throws {
        let message = try #require(refusal(Self.train + ["--batch-size", "abc"]))
        #expect(message.contains("'abc'") && message.contains("--batch-size") && message.contains("1…65536"), "\(message)")
        let r = try runTransferProcess(Self.train + ["--batch-size", "abc"])
        #expect(r.reason == .exit && r.status != 0)
        #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("1…65536"), "\(r.stderr)")
    }

    /// On real data, where these values used to crash the run (SIGILL) or end in "the learning-rate sweep ran no batch".
    @Test func batchSizeZeroNegativeEpochsAndNaNRatesOnRealDataExitWithAnErrorNotASignal() throws {
        let s = try Scratch("crash")
        defer { s.cleanup() }
        let data = try s.imageFolder("train", classes: ["cat", "dog"])
        let cache = s.path("cache")
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: cache + "/efficientnet-lite0", withDestinationPath: TrainTasksTests.realCache + "/efficientnet-lite0")
        let train = ["train", "--model", "efficientnet-lite0", "--data", data, "--strategy", "features", "--val-split", "0", "--out", s.path("o")]
        for args in [train + ["--batch-size", "0", "--head-lr", "0.01"], train + ["--epochs=-1", "--head-lr", "0.01"], train + ["--head-lr", "nan"],
                     train + ["--head-epochs=-2", "--head-lr", "0.01"],
                     ["lr-find", "--model", "efficientnet-lite0", "--data", data, "--batch-size=-1"]] {
            let r = try runTransferProcess(args, environment: ["TRANSFERKIT_CACHE": cache, "TRANSFERKIT_THREADS": "1"])
            #expect(r.reason == .exit && r.status != 0, "\(args.suffix(2)): \(r.status)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(!r.stderr.contains("ran no batch"))
        }
    }

    // MARK: The library refuses what the command line refuses

    @Test func trainOptionsValidateNamesTheFieldTheValueAndTheRange() {
        func refused(_ change: (inout TrainOptions) -> Void) -> TrainOptionsError? {
            var o = TrainOptions()
            change(&o)
            do throws(TrainOptionsError) { try o.validate(); return nil } catch { return error }
        }
        #expect(refused { _ in } == nil)
        #expect(refused { $0.batchSize = 0 }?.field == "batchSize")
        #expect(refused { $0.batchSize = 0 }?.description.contains("1…65536") == true)
        #expect(refused { $0.headEpochs = -2 }?.field == "headEpochs")
        #expect(refused { $0.strategy = .features; $0.headEpochs = 0 }?.field == "headEpochs")
        #expect(refused { $0.fineTuneEpochs = 0 }?.field == "fineTuneEpochs")
        #expect(refused { $0.strategy = .features; $0.fineTuneEpochs = 0 } == nil)
        #expect(refused { $0.learningRate = .nan }?.value == "nan")
        #expect(refused { $0.headLearningRate = -1 }?.field == "headLearningRate")
        #expect(refused { $0.validationFraction = 1 }?.field == "validationFraction")
        #expect(refused { $0.earlyStoppingPatience = 0 }?.field == "earlyStoppingPatience")
        #expect(refused { $0.mixing = .mixup(alpha: .nan) }?.field.hasPrefix("mixing") == true)
        #expect(refused { $0.loaderWorkers = 0 }?.field == "loaderWorkers")
    }

    @Test func trainingRunRefusesTheWrongModalityOneClassAndOtherTestClassesBeforeTraining() throws {
        let images = LabeledData(inputs: [.image(path: "a.png"), .image(path: "b.png")], labels: [0, 1], classNames: ["a", "b"])
        let texts = LabeledData(inputs: [.text("x", source: "1"), .text("y", source: "2")], labels: [0, 1], classNames: ["a", "b"])
        func check(_ data: LabeledData, test: LabeledData? = nil, images takes: Bool) -> TrainingRunError? {
            do throws(TrainingRunError) {
                try TrainingRun.checkData(data, dataName: "DATA", test: test, testName: "TEST", modelName: "MODEL", modelTakesImages: takes)
                return nil
            } catch { return error }
        }
        #expect(check(images, images: true) == nil)
        #expect(check(texts, images: false) == nil)
        #expect(check(images, images: false) == .modalityMismatch(model: "MODEL", modelTakes: "texts", data: "DATA", dataHolds: "image files"))
        #expect(check(texts, images: true) == .modalityMismatch(model: "MODEL", modelTakes: "images", data: "DATA", dataHolds: "texts"))
        let one = LabeledData(inputs: [.text("x", source: "1"), .text("y", source: "2")], labels: [0, 0], classNames: ["a"])
        #expect(check(one, images: false) == .tooFewClasses(data: "DATA", classes: ["a"]))
        #expect(check(one, images: false)?.description.contains("at least 2 classes") == true)
        let fewer = LabeledData(inputs: [.image(path: "a.png")], labels: [0], classNames: ["a"])
        let e = check(images, test: fewer, images: true)
        #expect(e == .testClassesDiffer(test: "TEST", testClasses: ["a"], data: "DATA", dataClasses: ["a", "b"]))
        #expect(e?.description.contains("missing [\"b\"]") == true, "\(e?.description ?? "")")
        #expect(check(images, test: texts, images: true) == .modalityMismatch(model: "MODEL", modelTakes: "images", data: "TEST", dataHolds: "texts"))
    }

    @Test(.enabled(if: TrainCommandTests.weightsCached)) func trainingRunRefusesBadOptionsAndDataBeforeCreatingTheBundle() throws {
        let s = try Scratch("library")
        defer { s.cleanup() }
        let spec = try ModelRegistry.spec(named: "efficientnet-lite0")
        let backbone = try FeatureBackbone(spec: spec, weightsPath: TrainTasksTests.realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth")
        let data = try LabeledData.load(try s.imageFolder("train", classes: ["a", "b"]))
        var o = TrainOptions()
        o.strategy = .features
        o.headEpochs = 0
        o.progress = false
        o.featureCacheRoot = URL(fileURLWithPath: s.path("features"))
        let bundle = URL(fileURLWithPath: s.path("out.transferkit"))
        #expect(throws: TrainOptionsError.self) { try TrainingRun(backbone: backbone, options: o, dataName: "train").run(data, test: nil, bundle: bundle) }
        o.headEpochs = 2
        let textData = try LabeledData.load(try s.textFolder("texts", classes: ["a", "b"]))
        #expect(throws: TrainingRunError.self) { try TrainingRun(backbone: backbone, options: o, dataName: "texts").run(textData, test: nil, bundle: bundle) }
        #expect(!s.exists("out.transferkit"), "nothing is written when a run is refused")
    }

    // MARK: TRANSFERKIT_THREADS

    @Test func aThreadCountThatIsNotANumberInRangeIsRefusedAtStartupNamingTheVariable() throws {
        for value in ["abc", "0", "-2", "99999999999999999999", "4096", " 2"] {
            let r = try runTransferProcess(["info", "--json"], environment: ["TRANSFERKIT_THREADS": value])
            #expect(r.reason == .exit && r.status != 0, "TRANSFERKIT_THREADS=\(value): status \(r.status)")
            #expect(r.stderr.contains("TRANSFERKIT_THREADS=\(value.debugDescription)") && r.stderr.contains("1…1024"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
        let ok = try runTransferProcess(["info", "--json"], environment: ["TRANSFERKIT_THREADS": "1"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: String])?["threads"] == "1")
    }

    // MARK: Refused before training

    @Test func aTextModelOnAnImageFolderAndAnImageModelOnTextsAreRefusedBeforeTraining() throws {
        let s = try Scratch("modality")
        defer { s.cleanup() }
        let images = try s.imageFolder("images", classes: ["cat", "dog"]), texts = try s.textFolder("texts", classes: ["a", "b"])
        let r1 = try runTransferProcess(["train", "--model", "minilm-l6", "--data", images, "--strategy", "features", "--out", s.path("t.transferkit")])
        #expect(r1.status != 0)
        #expect(r1.stderr.contains("minilm-l6 reads texts") && r1.stderr.contains(images), "\(r1.stderr)")
        #expect(!s.exists("t.transferkit"))
        let r2 = try runTransferProcess(["train", "--model", "efficientnet-lite0", "--data", texts, "--out", s.path("i.transferkit")])
        #expect(r2.status != 0)
        #expect(r2.stderr.contains("efficientnet-lite0 reads images") && r2.stderr.contains(texts), "\(r2.stderr)")
        #expect(!s.exists("i.transferkit"))
    }

    @Test func aSingleClassTableIsRefusedForClassification() throws {
        let s = try Scratch("oneclass")
        defer { s.cleanup() }
        let csv = try s.write("one.csv", "text,label\nthe first text,only\nthe second text,only\nthe third text,only\n")
        let r = try runTransferProcess(["train", "--model", "minilm-l6", "--data", csv, "--strategy", "features", "--out", s.path("o.transferkit")])
        #expect(r.status != 0)
        // Refused where the table is read (naming the file, the class and the row count), before any model loads.
        #expect(r.stderr.contains(csv) && r.stderr.contains("'only'") && r.stderr.contains("at least 2 classes"), "\(r.stderr)")
        #expect(r.stderr.components(separatedBy: csv).count == 2, "the path is named once: \(r.stderr)")
        #expect(!s.exists("o.transferkit"))
    }

    @Test func testDataWithOtherClassesIsRefusedBeforeTraining() throws {
        let s = try Scratch("testclasses")
        defer { s.cleanup() }
        let train = try s.imageFolder("train", classes: ["cat", "dog"]), test = try s.imageFolder("test", classes: ["bird", "cat"])
        let r = try runTransferProcess(["train", "--model", "efficientnet-lite0", "--data", train, "--test", test, "--strategy", "features",
                                        "--epochs", "2", "--out", s.path("c.transferkit")])
        #expect(r.status != 0)
        #expect(r.stderr.contains(test) && r.stderr.contains("missing [\"dog\"]") && r.stderr.contains("extra [\"bird\"]"), "\(r.stderr)")
        #expect(!s.exists("c.transferkit"), "refused before training: no checkpoints, no bundle")
    }

    @Test func zeroEpochsIsRefusedAndNoBundleIsSaved() throws {
        let s = try Scratch("zero")
        defer { s.cleanup() }
        let train = try s.imageFolder("train", classes: ["cat", "dog"])
        let r = try runTransferProcess(["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features", "--epochs", "0",
                                        "--out", s.path("z.transferkit")])
        #expect(r.reason == .exit && r.status != 0)
        #expect(r.stderr.contains("--epochs") && r.stderr.contains("received 0"), "\(r.stderr)")
        #expect(!s.exists("z.transferkit"))
    }

    @Test func outOrReportThatIsAnExistingFileIsRefusedBeforeTrainingWithoutAFoundationDump() throws {
        let s = try Scratch("files")
        defer { s.cleanup() }
        let train = try s.imageFolder("train", classes: ["cat", "dog"])
        let file = try s.write("plain", "x")
        for (flag, extra) in [("--out", ["--report", s.path("r")]), ("--report", ["--out", s.path("b.transferkit")])] {
            let r = try runTransferProcess(["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features",
                                            "--epochs", "2", flag, file] + extra)
            #expect(r.status != 0)
            #expect(r.stderr.contains("\(flag) \(file) is an existing file"), "\(r.stderr)")
            #expect(!r.stderr.contains("Domain") && !r.stderr.contains("Error Domain"))
            #expect(!s.exists("b.transferkit") && !s.exists("r"))
        }
        let e = try runTransferProcess(["evaluate", "--model", s.path("nothing"), "--data", train, "--report", file])
        #expect(e.status != 0 && e.stderr.contains("--report \(file) is an existing file"), "\(e.stderr)")
    }

    @Test func demoRefusesAnOutputFolderHoldingOtherFilesAndDeletesNothing() throws {
        let s = try Scratch("demo")
        defer { s.cleanup() }
        let keep = try s.write("notes.txt", "keep me")
        let r = try runTransferProcess(["demo", "--out", s.root, "--per-class", "1", "--test-per-class", "1", "--epochs", "1"])
        #expect(r.reason == .exit && r.status != 0)
        #expect(r.stderr.contains("--out \(s.root) holds other files than a demo's output"), "\(r.stderr)")
        #expect(try String(contentsOfFile: keep, encoding: .utf8) == "keep me")
    }

    // MARK: The output lock

    @Test func aSecondRunOnALockedOutputDirectoryFailsAndDeletesNothing() throws {
        let s = try Scratch("lock")
        defer { s.cleanup() }
        let train = try s.imageFolder("train", classes: ["cat", "dog"])
        let out = s.path("busy.transferkit")
        try FileManager.default.createDirectory(atPath: out + "/.checkpoints", withIntermediateDirectories: true)
        let checkpoint = out + "/.checkpoints/head.safetensors"
        try Data("the first run's checkpoint".utf8).write(to: URL(fileURLWithPath: checkpoint))
        let lock = try OutputLock(directory: URL(fileURLWithPath: out))
        let r = try runTransferProcess(["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features", "--epochs", "2",
                                        "--out", out])
        #expect(r.status != 0)
        #expect(r.stderr.contains("being written by another training run (PID \(getpid()))") && r.stderr.contains(out), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: checkpoint), "the first run's checkpoint must survive")
        lock.release()
        #expect(!FileManager.default.fileExists(atPath: out + "/" + OutputLock.fileName))
        #expect(FileManager.default.fileExists(atPath: checkpoint))
    }

    @Test func aStaleLockFromADeadProcessIsTakenOverAndALiveOneIsNot() throws {
        let s = try Scratch("stale")
        defer { s.cleanup() }
        let dir = URL(fileURLWithPath: s.path("run.transferkit"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // A finished process's PID in an unlocked lock file: what a killed run leaves.
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        try Data("\(dead.processIdentifier)\n".utf8).write(to: dir.appendingPathComponent(OutputLock.fileName))
        let first = try OutputLock(directory: dir)
        let recorded = try String(contentsOf: dir.appendingPathComponent(OutputLock.fileName), encoding: .utf8)
        #expect(recorded == "\(getpid())\n")
        #expect(throws: TrainingRunError.locked(path: dir.path, pid: getpid())) { _ = try OutputLock(directory: dir) }
        first.release()
        let second = try OutputLock(directory: dir)
        second.release()
        // A lock that created its directory removes it again when the run left nothing in it.
        let fresh = URL(fileURLWithPath: s.path("fresh.transferkit"))
        try OutputLock(directory: fresh).release()
        #expect(!FileManager.default.fileExists(atPath: fresh.path))
    }

    @Test func aKilledRunsOutputFolderIsReportedAsAnIncompleteBundle() throws {
        let s = try Scratch("killed")
        defer { s.cleanup() }
        let out = s.path("killed.transferkit")
        try FileManager.default.createDirectory(atPath: out + "/.checkpoints", withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: out + "/.checkpoints/fine-tune.safetensors"))
        try Data("4194303\n".utf8).write(to: URL(fileURLWithPath: out + "/.lock"))
        let train = try s.imageFolder("train", classes: ["cat", "dog"])
        for args in [["predict", "--model", out, train + "/cat/0.png"], ["evaluate", "--model", out, "--data", train]] {
            let r = try runTransferProcess(args)
            #expect(r.status != 0)
            #expect(r.stderr.contains("\(out) is an incomplete bundle") && r.stderr.contains("--resume"), "\(args[0]): \(r.stderr)")
            #expect(!r.stderr.contains("unknown model"))
        }
        let other = s.path("plain-dir")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        let r = try runTransferProcess(["predict", "--model", other, train + "/cat/0.png"])
        #expect(r.status != 0 && r.stderr.contains("not a TransferKit bundle"), "\(r.stderr)")
    }

    // MARK: predict's modality, embed --file

    @Test func aTextBundleWithoutTextAndAnImageBundleWithTextAreRefused() throws {
        let s = try Scratch("predict")
        defer { s.cleanup() }
        for (name, backbone) in [("text", "minilm-l6"), ("image", "efficientnet-lite0")] {
            try FileManager.default.createDirectory(atPath: s.path(name), withIntermediateDirectories: true)
            _ = try s.write(name + "/manifest.json", "{\"format_version\": 1, \"backbone\": \"\(backbone)\"}")
        }
        let r1 = try runTransferProcess(["predict", "--model", s.path("text"), "/nonexistent/photo.png"])
        #expect(r1.status != 0)
        #expect(r1.stderr.contains("trained on texts") && r1.stderr.contains("pass --text") && r1.stderr.contains("photo.png"), "\(r1.stderr)")
        let r2 = try runTransferProcess(["predict", "--model", s.path("image"), "--text", "a sentence"])
        #expect(r2.status != 0)
        #expect(r2.stderr.contains("trained on images") && r2.stderr.contains("--text applies to bundles trained on texts"), "\(r2.stderr)")
        let r3 = try runTransferProcess(["predict", "--model", "efficientnet-lite0", "--text", "a sentence"])
        #expect(r3.status != 0 && r3.stderr.contains("--text applies to bundles trained on texts"), "\(r3.stderr)")
    }

    @Test func embedFileFailuresSayWhy() throws {
        let s = try Scratch("embedfile")
        defer { s.cleanup() }
        let latin1 = s.path("latin1.txt")
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: latin1))
        let cases: [(String, String)] = [
            (s.path("missing.txt"), "No such file or directory"),
            (s.root, "is a directory"),
            (latin1, "is not UTF-8 text (invalid byte 0xE9 at offset 3)"),
            ("/dev/zero", "larger than 67108864 bytes"),
        ]
        for (file, reason) in cases {
            let r = try runTransferProcess(["embed", "--model", "minilm-l6", "--file", file])
            #expect(r.reason == .exit && r.status != 0)
            #expect(r.stderr.contains(file) && r.stderr.contains(reason), "\(file): \(r.stderr)")
        }
        // A FIFO the user named is read to its end (in process: a writer thread fills it).
        let fifo = s.path("lines.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = Thread {
            if let h = FileHandle(forWritingAtPath: fifo) { h.write(Data("one\ntwo\n".utf8)); try? h.close() }
        }
        writer.start()
        #expect(try readTextFile(fifo) == "one\ntwo\n")
    }

    @Test(.enabled(if: TrainTasksTests.textAssets || FileManager.default.fileExists(atPath: TrainTasksTests.realCache + "/minilm-l6/model.safetensors")))
    func embedReadsStdinAndAPipeGivenAsFile() throws {
        let stdin = try runTransferProcess(["embed", "--model", "minilm-l6", "--file", "-"], stdin: Data("first line\nsecond line\n".utf8))
        #expect(stdin.status == 0, "\(stdin.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(stdin.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.map { $0["text"] as? String } == ["first line", "second line"])
        guard let exe = transferExecutable() else { return }
        let piped = try runTransferProcess(["-c", "\"$0\" embed --model minilm-l6 --file <(printf 'one\\ntwo\\nthree\\n')", exe.path],
                                           executable: URL(fileURLWithPath: "/bin/bash"))
        #expect(piped.status == 0, "\(piped.stderr)")
        let rows2 = try JSONSerialization.jsonObject(with: Data(piped.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows2.count == 3)
    }

    // MARK: Raw internal errors

    @Test func nonFiniteNumbersAreWrittenAsStringsAndEncodingErrorsAreNotDumped() throws {
        let json = try jsonString(["loss": Double.nan, "rates": [Double.infinity, -Double.infinity, 1.5]] as [String: Any])
        #expect(json.contains("\"NaN\"") && json.contains("\"Infinity\"") && json.contains("\"-Infinity\"") && json.contains("1.5"))
        var predictions = try JSONDecoder().decode([Prediction].self, from: Data(#"[{"input":"x","top":[{"label":"a","index":0,"probability":0.5}]}]"#.utf8))
        predictions[0].value = .nan
        #expect(try encodeJSON(predictions).contains("\"NaN\""))
        let m = Transfer.userMessage(for: EncodingError.invalidValue(Float.nan, .init(codingPath: [], debugDescription: "Unable to encode Float.nan")))
        #expect(!m.contains("EncodingError") && !m.contains("\n") && m.contains("not a finite number"), "\(m)")
        let cocoa = Transfer.userMessage(for: CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: "/tmp/r/metrics.json"]))
        #expect(cocoa == "/tmp/r/metrics.json: a file is in the way", "\(cocoa)")
    }

    @Test(.enabled(if: TrainCommandTests.weightsCached)) func aReportThatCannotBeWrittenKeepsTheBundleAndNamesIt() throws {
        let s = try Scratch("report")
        defer { s.cleanup() }
        let train = try s.imageFolder("train", classes: ["cat", "dog"], perClass: 4)
        let report = s.path("report"), out = s.path("kept.transferkit")
        // metrics.json is a directory: the report fails after training, when the bundle is already written.
        try FileManager.default.createDirectory(atPath: report + "/metrics.json", withIntermediateDirectories: true)
        // The fetched weights, with a feature cache of this test's own.
        let cache = s.path("cache")
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: cache + "/efficientnet-lite0", withDestinationPath: TrainTasksTests.realCache + "/efficientnet-lite0")
        let env = ["TRANSFERKIT_CACHE": cache, "TRANSFERKIT_THREADS": "1"]
        let r = try runTransferProcess(["train", "--model", "efficientnet-lite0", "--data", train, "--strategy", "features", "--epochs", "2",
                                        "--head-lr", "0.01", "--val-split", "0", "--out", out, "--report", report], environment: env)
        #expect(r.reason == .exit && r.status != 0)
        #expect(r.stderr.contains("the bundle \(out) was written") && r.stderr.contains(report), "\(r.stderr)")
        #expect(!r.stderr.contains("Error Domain"))
        #expect(FileManager.default.fileExists(atPath: out + "/manifest.json"), "the finished model is kept")
        #expect(!r.stdout.contains("bundle \(out) ("), "success is not declared")
    }
}
