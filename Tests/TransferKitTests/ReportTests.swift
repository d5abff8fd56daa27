import Datasets
import Foundation
import Tensors
import Testing
@testable import Reports
@testable import TransferKit

/// A realistic run to report on: ten classes (one named `<&>` to test escaping), a head phase and a fine-tune
/// phase, validation and test metrics, image and text mistakes, skipped files and a config.
private struct SampleRun {
    static let labels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "<&>"]
    var labels: [String] { Self.labels }
    let history: TrainingHistory
    let validation: MetricsReport
    let test: MetricsReport
    let mistakes: [Mistake]
    let config = ["model": "efficientnet_lite0", "strategy": "fine-tune", "epochs": "3+5", "lr": "0.001",
                  "data": "/data/fashion <subset> & more", "seed": "0", "augment": "light"]
    let skipped: [(path: String, reason: String)] = [
        ("/data/fashion/Coat/broken.png", "PNG: invalid IHDR chunk (truncated file)"),
        ("/data/fashion/Bag/<odd>&'name\".jpg", "JPEG: premature end of data"),
    ]

    init() {
        var g = SeededGenerator(seed: 7)
        var epochs: [EpochRecord] = []
        for e in 0..<3 {
            epochs.append(EpochRecord(epoch: e, phase: "head", trainLoss: 1.2 - 0.25 * Float(e), validLoss: 0.95 - 0.12 * Float(e),
                                      validMetric: 0.70 + 0.05 * Float(e), learningRate: 0.01, seconds: 4.2))
        }
        for e in 0..<5 {
            let t = Float(e)
            epochs.append(EpochRecord(epoch: e, phase: "fine-tune", trainLoss: 0.62 - 0.07 * t, validLoss: 0.6 - 0.03 * t + 0.004 * t * t,
                                      validMetric: 0.80 + 0.018 * t - 0.002 * t * t,
                                      learningRate: 0.001 * (1 + cos(Float.pi * t / 4)) / 2 + 1e-5, seconds: 21.5 + Double(e)))
        }
        history = TrainingHistory(epochs: epochs, metricName: "accuracy")

        let labels = Self.labels
        func metrics(_ n: Int, skill: Float) -> ClassificationMetrics {
            var probs: [[Float]] = [], targets: [Int] = []
            for i in 0..<n {
                let t = i % 10
                var row = (0..<10).map { _ in g.nextFloat() + 0.05 }
                row[t] += skill * g.nextFloat() * 6
                if t == 6 { row[0] += 2.5 * g.nextFloat() }  // shirts look like T-shirts
                if t == 4 { row[2] += 2 * g.nextFloat() }  // coats like pullovers
                let s = row.reduce(0, +)
                probs.append(row.map { $0 / s })
                targets.append(t)
            }
            return ClassificationMetrics(probabilities: probs, targets: targets, labels: labels)
        }
        validation = .classification(metrics(200, skill: 1))
        let testMetrics = metrics(1000, skill: 1.1)
        test = .classification(testMetrics)

        var mistakes: [Mistake] = []
        for (k, i) in testMetrics.worstMistakes(k: 7).enumerated() {
            let p = testMetrics.predictions[i]
            mistakes.append(Mistake(thumbnailPNG: Mistake.thumbnail(of: Self.picture(seed: k)), source: "/data/fashion/test/\(labels[p.target])/img_\(i).png",
                                    trueLabel: labels[p.target], predictedLabel: labels[p.predicted], confidence: p.confidence))
        }
        mistakes.append(Mistake(text: "Shares in <Acme & Co> rose 12% after the \"surprise\" results; analysts said the   rally\nwould not last. " + String(repeating: "More words follow here. ", count: 30),
                                source: "news.csv row 17", trueLabel: "business", predictedLabel: "<&>", confidence: 0.91))
        self.mistakes = mistakes
    }

    /// A 28×28 grey garment-like blob (a stand-in for a Fashion-MNIST image).
    static func picture(seed: Int) -> RGBImage {
        var image = RGBImage(width: 28, height: 28)
        for y in 0..<28 {
            for x in 0..<28 {
                let dx = Double(x - 14) / (6 + Double(seed % 3) * 2), dy = Double(y - 14) / (11 - Double(seed % 4))
                let inside = dx * dx + dy * dy < 1 || (y > 6 && y < 12 && abs(x - 14) < 12 - seed % 5)
                let v = UInt8(inside ? 150 + (x * 7 + y * 3 + seed * 11) % 90 : 0)
                image[x: x, y: y] = SIMD3(v, v, v)
            }
        }
        return image
    }

    func write(to directory: URL) throws {
        try HTMLReport.write(to: directory, title: "Fashion-MNIST · EfficientNet-Lite0 fine-tune", history: history,
                             validation: validation, test: test, mistakes: mistakes, config: config, skippedFiles: skipped,
                             date: Date(timeIntervalSince1970: 1_764_000_000))
    }
}

/// A fresh temporary directory, removed by `cleanup()`.
private struct TemporaryDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("tk-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

private func occurrences(of needle: String, in haystack: String) -> Int {
    haystack.components(separatedBy: needle).count - 1
}

@Suite("HTML report and metrics.json")
struct ReportTests {
    @Test("report.html is self-contained: charts, heat maps, per-class rows, escaped text, no external URLs")
    func html() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let run = SampleRun()
        try run.write(to: dir.url)
        if let preview = ProcessInfo.processInfo.environment["TRANSFERKIT_REPORT_PREVIEW"] {
            try run.write(to: URL(fileURLWithPath: preview))
        }
        let html = try String(contentsOf: dir.url.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        // Three training charts and one confusion matrix per split.
        #expect(occurrences(of: "<svg", in: html) == 5)
        #expect(occurrences(of: "<svg class=\"confusion\"", in: html) == 2)
        #expect(html.contains("<polyline"))
        #expect(html.contains(">Loss</figcaption>") && html.contains(">Validation accuracy</figcaption>"))
        #expect(html.contains(">head</text>") && html.contains(">fine-tune</text>"))
        // One per-class row per label in each split's table.
        for label in run.labels {
            #expect(occurrences(of: "<td class=\"label\">\(HTMLReport.escape(label))</td>", in: html) == 2, "\(label)")
        }
        #expect(html.contains("&lt;&amp;&gt;") && !html.contains("<&>"))
        #expect(!html.contains("<Acme") && html.contains("&lt;Acme &amp; Co&gt;") && html.contains("&quot;surprise&quot;"))
        #expect(html.contains("&lt;odd&gt;&amp;&#39;name&quot;.jpg") && html.contains("premature end of data"))
        #expect(html.contains("/data/fashion &lt;subset&gt; &amp; more"))
        #expect(occurrences(of: "<img alt=", in: html) == 7)
        #expect(occurrences(of: "src=\"data:image/png;base64,", in: html) == 7)
        #expect(!html.contains("http://") && !html.contains("https://"))
        #expect(!html.contains("<script") && !html.contains("<link"))
        for tag in ["<svg", "<section", "<table", "<figure"] {
            let closing = "</" + tag.dropFirst() + ">"
            #expect(occurrences(of: tag, in: html) == occurrences(of: closing, in: html), "\(tag)")
        }
    }

    @Test("metrics.json decodes back to what was reported")
    func metricsJSON() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let run = SampleRun()
        try run.write(to: dir.url)
        let data = try Data(contentsOf: dir.url.appendingPathComponent("metrics.json"))
        let doc = try MetricsReport.jsonDecoder().decode(ReportDocument.self, from: data)
        #expect(doc.title == "Fashion-MNIST · EfficientNet-Lite0 fine-tune")
        #expect(doc.createdAt == "2025-11-24T16:00:00Z")
        #expect(doc.validation == run.validation && doc.test == run.test)
        #expect(doc.history == run.history)
        #expect(doc.config == run.config)
        #expect(doc.skippedFiles == run.skipped.map { SkippedFile(path: $0.path, reason: $0.reason) })
        #expect(doc.mistakes.count == run.mistakes.count && doc.mistakes.last?.text == run.mistakes.last?.text)
        #expect(doc.mistakes.first?.trueLabel == run.mistakes.first?.trueLabel)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["title", "created_at", "validation", "test", "history", "config", "skipped_files", "mistakes"])
        let test = try #require(object["test"] as? [String: Any])
        #expect(test["task"] as? String == "classification" && test["per_class"] is [String: Any])
        let epochs = try #require((object["history"] as? [String: Any])?["epochs"] as? [[String: Any]])
        #expect(Set(epochs[0].keys) == ["epoch", "phase", "train_loss", "valid_loss", "valid_metric", "learning_rate", "seconds"])
    }

    @Test("TrainingHistory groups consecutive epochs into phases and round-trips, nulls included")
    func history() throws {
        let h = TrainingHistory(epochs: [
            EpochRecord(epoch: 0, phase: "head", trainLoss: 1, validLoss: nil, validMetric: nil, learningRate: 0.1, seconds: 1),
            EpochRecord(epoch: 1, phase: "head", trainLoss: 0.5, validLoss: nil, validMetric: nil, learningRate: 0.1, seconds: 1.5),
            EpochRecord(epoch: 0, phase: "fine-tune", trainLoss: 0.4, validLoss: 0.3, validMetric: 0.9, learningRate: 0.01, seconds: 2),
        ], metricName: "accuracy")
        #expect(h.phases.map(\.name) == ["head", "fine-tune"] && h.phases.map(\.range) == [0..<2, 2..<3])
        #expect(h.seconds == 4.5)
        let data = try MetricsReport.jsonEncoder().encode(h)
        #expect(String(decoding: data, as: UTF8.self).contains("\"valid_loss\":null"))
        #expect(try MetricsReport.jsonDecoder().decode(TrainingHistory.self, from: data) == h)
    }

    @Test("Regression, multi-label and empty runs render without charts they have no data for")
    func otherTasks() throws {
        let empty = HTMLReport.html(title: "nothing", history: TrainingHistory(), validation: nil, test: nil, mistakes: [],
                                    config: [:], skippedFiles: [])
        #expect(occurrences(of: "<svg", in: empty) == 0 && empty.contains("No epochs were recorded."))
        #expect(empty.contains("No input file was skipped."))
        let regression = HTMLReport.html(
            title: "house prices", history: TrainingHistory(epochs: [
                EpochRecord(epoch: 0, phase: "train", trainLoss: .nan, validLoss: 2, validMetric: nil, learningRate: 0.001, seconds: 3),
            ], metricName: "mae"),
            validation: .regression(RegressionMetrics(mae: 12_345.6, rmse: 20_000, r2: 0.81)), test: nil, mistakes: [],
            config: ["task": "regress"], skippedFiles: [])
        #expect(regression.contains(">12346<") && regression.contains(">0.810<") && regression.contains(">R²<"))
        #expect(occurrences(of: "<svg", in: regression) == 2)  // loss and learning rate; no metric values
        #expect(regression.contains("<td>nan</td>"))  // the diverged train loss, in the epoch table
        let ml = MultiLabelMetrics(probabilities: [[0.9, 0.2], [0.4, 0.7]], targets: [[1, 0], [1, 1]], labels: ["a<b", "c"],
                                   thresholds: [0.5, 0.35])
        let multi = HTMLReport.html(title: "tags", history: TrainingHistory(), validation: .multiLabel(ml), test: nil,
                                    mistakes: [], config: [:], skippedFiles: [])
        #expect(multi.contains("<td class=\"label\">a&lt;b</td>") && multi.contains("<td>0.350</td>"))
        #expect(!multi.contains("class=\"confusion\""))
    }

    @Test("Thumbnails shrink large images to the requested side and keep small ones")
    func thumbnails() throws {
        let big = RGBImage(width: 640, height: 320, fill: (200, 30, 30))
        let png = Mistake.thumbnail(of: big, maxSide: 160)
        let decoded = try ImageDecoder.decode(data: png, path: "thumb.png")
        #expect(decoded.width == 160 && decoded.height == 80 && decoded[x: 10, y: 10] == SIMD3(200, 30, 30))
        let small = SampleRun.picture(seed: 1)
        #expect(try ImageDecoder.decode(data: Mistake.thumbnail(of: small), path: "small.png") == small)
    }

    @Test("Nice ticks cover the data with 1-2-5 steps")
    func ticks() {
        let (t, step) = niceTicks(0.23, 1.17)
        #expect(step == 0.2 && t.first! <= 0.23 && t.last! >= 1.17 && t.count <= 7)
        #expect(tickLabels([0, 0.2, 0.4], step: 0.2) == ["0.0", "0.2", "0.4"] && tickLabels([2, 3], step: 1) == ["2", "3"])
        let flat = niceTicks(0.5, 0.5)
        #expect(flat.ticks.first! < 0.5 && flat.ticks.last! > 0.5)
        #expect(niceTicks(0, 0).ticks.count >= 2)
        // Small learning rates: scientific notation with enough digits to tell the ticks apart.
        let lr = niceTicks(0, 3e-4)
        #expect(tickLabels(lr.ticks, step: lr.step) == ["0", "5.0e-5", "1.0e-4", "1.5e-4", "2.0e-4", "2.5e-4", "3.0e-4"])
        let narrow = niceTicks(3e-4, 3e-4)
        let labels = tickLabels(narrow.ticks, step: narrow.step)
        #expect(Set(labels).count == labels.count && labels.contains("3.0e-4"))
        #expect(tickLabels([0, 2e6], step: 2e6) == ["0", "2e6"])
        #expect(SVGConfusionMatrix.color(0) == "#f7fbff" && SVGConfusionMatrix.color(1) == "#08306b")
    }
}
