import Datasets
import Foundation
import Testing

@Suite("Image folders, CSV manifests, text datasets")
struct DatasetTests {
    @Test("ImageFolderDataset sorts classes, recurses, filters extensions case-insensitively, skips hidden files")
    func imageFolderListing() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let png = try fixtureBytes("rgb.png"), jpg = try fixtureBytes("ycc.jpg")
        try s.write("data/dog/b.PNG", png)
        try s.write("data/dog/a.jpeg", jpg)
        try s.write("data/dog/sub/c.jpg", jpg)
        try s.write("data/dog/notes.txt", text: "not an image")
        try s.write("data/dog/._a.jpeg", [0, 1, 2])
        try s.write("data/Cat/x.JPG", jpg)
        try s.write("data/cat/y.png", png)
        try s.mkdir("data/.ipynb_checkpoints")
        try s.write("data/readme.md", text: "a file at the top is not a class")
        let ds = try ImageFolderDataset(root: s.path("data"))
        // Code-point order: uppercase before lowercase, as Python's sorted().
        #expect(ds.classNames == ["Cat", "cat", "dog"])
        #expect(ds.samples.map(\.source) == [
            .path(s.path("data/Cat/x.JPG")), .path(s.path("data/cat/y.png")),
            .path(s.path("data/dog/a.jpeg")), .path(s.path("data/dog/b.PNG")), .path(s.path("data/dog/sub/c.jpg")),
        ])
        #expect(ds.samples.map(\.target) == [.classIndex(0), .classIndex(1), .classIndex(2), .classIndex(2), .classIndex(2)])
        let image = try ds.load(1)
        #expect(image.pixels == (try fixtureBytes("rgb.png.rgb")))
        #expect(ds.summary().classCounts == [1, 1, 3])
        #expect(ds.summary().imbalanceRatio == 3)
    }

    @Test("a corrupt image is listed at construction and fails only when loaded")
    func corruptImageFailsPerItem() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let jpg = try fixtureBytes("ycc.jpg")
        try s.write("d/a/good.jpg", jpg)
        let bad = try s.write("d/a/bad.jpg", Array(jpg.prefix(300)))
        let text = try s.write("d/b/text.png", text: "plain text with a .png name")
        try s.write("d/b/good.jpg", jpg)
        let ds = try ImageFolderDataset(root: s.path("d"))
        #expect(ds.count == 4)
        var failures: [DatasetError] = []
        for i in 0..<ds.count {
            do { _ = try ds.load(i) } catch { failures.append(error) }
        }
        #expect(failures.count == 2)
        #expect(failures.contains { if case .corruptImage(let p, _) = $0 { return p == bad }; return false })
        #expect(failures.contains(.unsupportedImageFormat(path: text)))
        #expect(datasetError { try ds.load(-1) } == .indexOutOfRange(index: -1, count: 4))
    }

    @Test("image folder errors: unreadable root, one class, empty class")
    func imageFolderErrors() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let missing = s.path("missing")
        guard case .unreadable(let p, _) = datasetError({ try ImageFolderDataset(root: missing) }) else {
            Issue.record("expected unreadable")
            return
        }
        #expect(p == missing)
        let file = try s.write("file.txt", text: "x")
        #expect(datasetError { try ImageFolderDataset(root: file) } == .unreadable(path: file, reason: "not a directory"))
        try s.write("one/only/a.jpg", try fixtureBytes("ycc.jpg"))
        #expect(datasetError { try ImageFolderDataset(root: s.path("one")) } == .tooFewClasses(found: 1, root: s.path("one")))
        try s.mkdir("none")
        #expect(datasetError { try ImageFolderDataset(root: s.path("none")) } == .tooFewClasses(found: 0, root: s.path("none")))
        try s.write("two/a/a.jpg", try fixtureBytes("ycc.jpg"))
        try s.write("two/b/readme.txt", text: "no images here")
        let error = datasetError { try ImageFolderDataset(root: s.path("two")) }
        #expect(error == .emptyClass(path: s.path("two/b")))
        #expect(error?.description.contains(s.path("two/b")) == true)
    }

    @Test("CSV manifest: quoted fields, classes, paths relative to the manifest")
    func csvManifestClassification() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        try s.write("imgs/a,1.png", try fixtureBytes("rgb.png"))
        let csv = try s.write("m.csv", text: "\u{FEFF}label,path\r\ndog,\"imgs/a,1.png\"\r\ncat,imgs/b.jpg\r\n\r\n\"dog\",imgs/c.jpg\r\n")
        let ds = try CSVManifestDataset(path: csv)
        #expect(ds.task == .classification)
        #expect(ds.classNames == ["cat", "dog"])
        #expect(ds.samples.map(\.target) == [.classIndex(1), .classIndex(0), .classIndex(1)])
        #expect(ds.samples[0].source == .path(s.path("imgs/a,1.png")))
        #expect(try ds.load(0).width == 24)
        guard case .unreadable(let p, _) = datasetError({ try ds.load(1) }) else {
            Issue.record("a missing listed file fails when loaded")
            return
        }
        #expect(p == s.path("imgs/b.jpg"))
        let other = try CSVManifestDataset(path: csv, root: "/data/root")
        #expect(other.samples[1].source == .path("/data/root/imgs/b.jpg"))
    }

    @Test("CSV manifest: numeric labels become regression, integers stay classes, ';' means multi-label")
    func csvManifestTaskInference() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let reg = try s.write("r.csv", text: "path,label\na.jpg,0.5\nb.jpg,2\nc.jpg,-1.25\n")
        let r = try CSVManifestDataset(path: reg)
        #expect(r.task == .regression && r.classNames.isEmpty)
        #expect(r.samples.map(\.target) == [.regression(0.5), .regression(2), .regression(-1.25)])
        #expect(r.summary().valueRange == -1.25...2)
        let ints = try s.write("i.csv", text: "path,label\na.jpg,10\nb.jpg,2\nc.jpg,9\n")
        let i = try CSVManifestDataset(path: ints)
        #expect(i.task == .classification && i.classNames == ["2", "9", "10"])
        let forced = try CSVManifestDataset(path: ints, task: .regression)
        #expect(forced.samples.map(\.target) == [.regression(10), .regression(2), .regression(9)])
        let multi = try s.write("m.csv", text: "path,label\na.jpg,cat;outdoor\nb.jpg,dog\nc.jpg,\nd.jpg,outdoor ; dog;\n")
        let m = try CSVManifestDataset(path: multi)
        #expect(m.task == .multiLabel && m.classNames == ["cat", "dog", "outdoor"])
        #expect(m.samples.map(\.target) == [.multiLabel([0, 2]), .multiLabel([1]), .multiLabel([]), .multiLabel([1, 2])])
        #expect(m.summary().classCounts == [1, 2, 2])
    }

    @Test("CSV errors name the column, the file and the line")
    func csvErrors() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let noLabel = try s.write("a.csv", text: "path,class\nx.jpg,cat\n")
        let error = datasetError { try CSVManifestDataset(path: noLabel) }
        #expect(error == .missingColumn(name: "label", file: noLabel, available: ["path", "class"]))
        #expect(error?.description == "\(noLabel): no column 'label' (columns: 'path', 'class')")
        #expect(try CSVManifestDataset(path: noLabel, labelColumn: "class").classNames == ["cat"])
        let ragged = try s.write("b.csv", text: "path,label\nx.jpg,cat\ny.jpg,dog,extra\n")
        #expect(datasetError { try CSVManifestDataset(path: ragged) }
                == .malformedTable(file: ragged, line: 3, reason: "3 fields, but the header has 2"))
        let open = try s.write("c.csv", text: "path,label\n\"x.jpg,cat\n")
        #expect(datasetError { try CSVManifestDataset(path: open) }
                == .malformedTable(file: open, line: 2, reason: "quoted field is never closed"))
        let empty = try s.write("d.csv", text: "path,label\nx.jpg,\ny.jpg,dog\n")
        #expect(datasetError { try CSVManifestDataset(path: empty) }
                == .invalidLabel(file: empty, line: 2, value: "", reason: "empty label"))
        let notNumber = try s.write("e.csv", text: "path,label\nx.jpg,1.5\ny.jpg,big\n")
        let e = datasetError { try CSVManifestDataset(path: notNumber, task: .regression) }
        #expect(e == .invalidLabel(file: notNumber, line: 3, value: "big", reason: "not a finite number (regression targets must be numeric)"))
        let headerOnly = try s.write("f.csv", text: "path,label\n")
        #expect(datasetError { try CSVManifestDataset(path: headerOnly) } == .emptyDataset(path: headerOnly))
        guard case .unreadable = datasetError({ try CSVManifestDataset(path: s.path("nope.csv")) }) else {
            Issue.record("expected unreadable")
            return
        }
    }

    @Test("TextFolderDataset reads .txt files per class")
    func textFolder() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        try s.write("t/sport/1.txt", text: "Match report")
        try s.write("t/sport/2.TXT", text: "Transfer news")
        try s.write("t/tech/1.txt", [0x63, 0x61, 0x66, 0xE9])  // Latin-1 "café": the é becomes U+FFFD
        try s.write("t/tech/skip.md", text: "ignored")
        let ds = try TextFolderDataset(root: s.path("t"))
        #expect(ds.classNames == ["sport", "tech"])
        #expect(ds.count == 3)
        #expect(try ds.load(1) == "Transfer news")
        #expect(try ds.load(2) == "caf\u{FFFD}")
        try s.mkdir("t/empty")
        #expect(datasetError { try TextFolderDataset(root: s.path("t")) } == .emptyClass(path: s.path("t/empty")))
    }

    @Test("TextTableDataset reads CSV, TSV and JSON lines")
    func textTables() throws {
        let s = try Scratch()
        defer { s.cleanup() }
        let csv = try s.write("a.csv", text: "text,label\n\"Hello, world\",greeting\n\"She said \"\"no\"\"\",reply\nBye,greeting\n")
        let c = try TextTableDataset(path: csv)
        #expect(c.texts == ["Hello, world", "She said \"no\"", "Bye"])
        #expect(c.classNames == ["greeting", "reply"])
        #expect(c.samples[1] == Sample(source: .index(1), target: .classIndex(1)))
        #expect(try c.load(1) == "She said \"no\"")
        let tsv = try s.write("b.tsv", text: "id\ttext\tlabel\n1\ta \"quoted\" word\tpos\n2\tplain\tneg\n")
        let t = try TextTableDataset(path: tsv)
        #expect(t.texts == ["a \"quoted\" word", "plain"])
        #expect(t.classNames == ["neg", "pos"])
        let jsonl = try s.write("c.jsonl", text: """
            {"text": "first", "label": ["a", "b"]}

            {"text": "second", "label": "b"}
            {"text": "third", "label": []}
            """)
        let j = try TextTableDataset(path: jsonl)
        #expect(j.task == .multiLabel && j.classNames == ["a", "b"])
        #expect(j.samples.map(\.target) == [.multiLabel([0, 1]), .multiLabel([1]), .multiLabel([])])
        let scores = try s.write("d.jsonl", text: "{\"text\": \"x\", \"label\": 0.25}\n{\"text\": \"y\", \"label\": 3}\n")
        #expect(try TextTableDataset(path: scores).samples.map(\.target) == [.regression(0.25), .regression(3)])
        let badJSON = try s.write("e.jsonl", text: "{\"text\": \"x\", \"label\": 1}\n{\"text\": \"y\", \n")
        guard case .malformedTable(let file, let line, _) = datasetError({ try TextTableDataset(path: badJSON) }) else {
            Issue.record("expected malformedTable")
            return
        }
        #expect(file == badJSON && line == 2)
        let noText = try s.write("f.jsonl", text: "{\"body\": \"x\", \"label\": 1}\n")
        #expect(datasetError { try TextTableDataset(path: noText) }
                == .missingColumn(name: "text", file: noText + ":1", available: ["body", "label"]))
        let csvNoText = try s.write("g.csv", text: "body,label\nx,1\n")
        #expect(datasetError { try TextTableDataset(path: csvNoText) }
                == .missingColumn(name: "text", file: csvNoText, available: ["body", "label"]))
    }

    @Test("DatasetSummary reports counts and the imbalance ratio")
    func summary() {
        let samples = [0, 0, 0, 0, 1, 1, 2].enumerated().map { Sample(source: .index($0.offset), target: .classIndex($0.element)) }
        let s = DatasetSummary(samples: samples, classNames: ["a", "b", "c"], task: .classification)
        #expect(s.classCounts == [4, 2, 1])
        #expect(s.imbalanceRatio == 4)
        #expect(s.description.contains("imbalance ratio (largest / smallest class) 4.00"))
        let empty = DatasetSummary(samples: Array(samples.prefix(4)), classNames: ["a", "b"], task: .classification)
        #expect(empty.imbalanceRatio == .infinity)
    }
}
