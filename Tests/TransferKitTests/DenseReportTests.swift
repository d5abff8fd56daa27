import Foundation
import Reports
import Testing

/// The dense evaluation report: headline scores, per-class rows, worst images first with both drawings, escaping.
@Suite struct DenseReportTests {
    @Test func denseReportShowsScoresClassesAndTheWorstImagesFirst() throws {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47]
        let report = DenseReport(
            title: "Detection <trees>", task: "detection", headline: [("mAP@0.5", 0.4375), ("recall@0.5", 0.75)],
            classColumns: ["AP@0.5", "recall@0.5"], classes: [("Tree & shrub", [0.4375, 0.75]), ("Dead", [nil, nil])],
            imageScoreName: "AP@0.5",
            images: [.init(name: "good.png", score: 0.9, predicted: png, truth: png), .init(name: "bad<1>.png", score: 0.1, predicted: png, truth: png),
                     .init(name: "plain.png", score: 0.5)],
            config: ["tile": "128"], drawingNote: "Low scores not drawn.")
        let html = report.html()
        #expect(html.contains("<title>Detection &lt;trees&gt;</title>"))
        #expect(html.contains(">0.4375<") && html.contains(">0.7500<"))
        #expect(html.contains("Tree &amp; shrub") && html.contains(">absent<"))
        #expect(html.contains("Low scores not drawn."))
        // Two drawn images × (prediction, truth), the worst (0.1) before the better one (0.9).
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 4)
        let worst = try #require(html.range(of: "bad&lt;1&gt;.png · AP@0.5 0.1000"))
        let better = try #require(html.range(of: "good.png · AP@0.5 0.9000"))
        #expect(worst.lowerBound < better.lowerBound)
        #expect(!html.contains("<script"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-dense-report-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try report.write(to: dir)
        #expect(try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8).contains("Worst images"))
    }
}

/// `train --report`'s page adds the training-loss curve: one point per epoch, a non-finite epoch leaves a gap.
@Suite struct DenseReportLossCurveTests {
    @Test func trainingLossIsDrawnPerEpochAndAbsentWithoutIt() {
        let base = DenseReport(title: "t", task: "segmentation", headline: [("mean IoU", 0.5)], classColumns: [], classes: [],
                               imageScoreName: "mean IoU", images: [], config: [:])
        #expect(!base.html().contains("Training loss per epoch"))
        var withLoss = base
        withLoss.trainingLoss = [3.2, 2.1, .nan, 1.4]
        let html = withLoss.html()
        #expect(html.contains("Training loss per epoch") && html.contains("<polyline"))
        #expect(html.components(separatedBy: "<circle").count - 1 == 3)
        #expect(html.contains("train, epoch 4: 1.4"))
    }
}
