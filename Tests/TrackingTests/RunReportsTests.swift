import Foundation
import Reports
import Testing
import TransferKit
@testable import Tracking

@Suite struct DataFingerprintTests {
    @Test func theFingerprintFollowsContentAndLabelsNotPathsOrOrder() throws {
        let dir = try TempDirectory()
        var paths: [String] = []
        for (i, bytes) in [[1, 2, 3], [4, 5, 6], [7, 8, 9]].enumerated() {
            let url = dir.file("img\(i).png")
            try Data(bytes.map(UInt8.init)).write(to: url)
            paths.append(url.path)
        }
        let names = ["a", "b"]
        let data = LabeledData(inputs: paths.map { .image(path: $0) }, labels: [0, 1, 0], classNames: names)
        let fp = DataFingerprint.of(data)
        #expect(fp.hasPrefix("sha256:") && fp.count == 71)
        // Moved files, listed in another order: the same data.
        let moved = dir.file("moved")
        try FileManager.default.createDirectory(at: moved, withIntermediateDirectories: true)
        var movedPaths: [String] = []
        for p in paths.reversed() {
            let to = moved.appendingPathComponent(URL(fileURLWithPath: p).lastPathComponent).path
            try FileManager.default.copyItem(atPath: p, toPath: to)
            movedPaths.append(to)
        }
        #expect(DataFingerprint.of(LabeledData(inputs: movedPaths.map { .image(path: $0) }, labels: [0, 1, 0], classNames: names)) == fp)
        // One label, one byte or one class name changed: another fingerprint.
        #expect(DataFingerprint.of(LabeledData(inputs: paths.map { .image(path: $0) }, labels: [0, 1, 1], classNames: names)) != fp)
        try Data([1, 2, 4]).write(to: URL(fileURLWithPath: paths[0]))
        #expect(DataFingerprint.of(data) != fp)
        let texts = LabeledData(inputs: [.text("good", source: "t:1"), .text("bad", source: "t:2")], labels: [0, 1], classNames: names)
        #expect(DataFingerprint.of(texts) != DataFingerprint.of(LabeledData(inputs: texts.inputs, labels: [0, 1], classNames: ["a", "c"])))
    }
}

@Suite struct RunReportsTests {
    func twoRuns() throws -> (TempDirectory, RunStore, RunComparison) {
        let dir = try TempDirectory()
        let store = try RunStore(at: dir.file("runs.sqlite"))
        var ids: [RunID] = []
        for (lr, loss) in [("0.001", Float(1.0)), ("0.01", Float(0.5))] {
            let r = try RunRecorder.begin(in: store, kind: .train, parameters: ["model": "minilm-l6", "head_lr": lr, "data": "bbc<&>"])
            for e in 0..<4 { try r.record(epoch("head", e, loss: loss / Float(e + 1), valid: loss, metric: 0.5 + Float(e) / 10)) }
            try r.finish(metrics: ["validation_accuracy": lr == "0.01" ? 0.9 : 0.8])
            ids.append(r.id)
        }
        return (dir, store, try store.compare(ids))
    }

    @Test func aComparisonNamesWhatDiffersAndTablesIt() throws {
        let (_, _, c) = try twoRuns()
        #expect(c.differingParameters == ["head_lr"] && c.metricKeys == ["validation_accuracy"])
        let table = RunReports.comparisonTable(c)
        let lines = table.split(separator: "\n")
        #expect(lines.first?.contains("run \(c.runs[0].run.id)") == true && lines.first?.contains("run \(c.runs[1].run.id)") == true)
        #expect(lines.contains { $0.hasPrefix("* head_lr") && $0.contains("0.001") && $0.contains("0.01") })
        #expect(lines.contains { $0.hasPrefix("  model") })
        #expect(lines.contains { $0.hasPrefix("validation_accuracy") && $0.contains("0.8000") && $0.contains("0.9000") })
        let list = RunReports.listTable(c.runs.map(\.run))
        #expect(list.split(separator: "\n").count == 3 && list.contains("validation_accuracy 0.9000"))
        #expect(RunReports.detailText(c.runs[0]).contains("head_lr"))
    }

    @Test func theComparisonPageOverlaysEveryRunsCurvesAndIsSelfContained() throws {
        let (_, _, c) = try twoRuns()
        let html = RunReports.comparisonHTML(c)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 4, "train loss, validation loss, validation metric, learning rate")
        // One polyline per run in each chart (the learning rate is constant: still a line of 4 points).
        #expect(html.components(separatedBy: "<polyline").count - 1 == 8)
        #expect(html.contains("run \(c.runs[0].run.id)") && html.contains("run \(c.runs[1].run.id)"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        #expect(html.contains("bbc&lt;&amp;&gt;") && !html.contains("bbc<&>"), "data from the database is escaped")
    }
}
