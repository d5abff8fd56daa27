import Foundation

/// The evaluation report of a segmentation or detection model (`transfer evaluate --report DIR` on a dense bundle):
/// headline scores (mean IoU, Dice, pixel accuracy; or COCO mAP, mAP@0.5, recall@0.5), a per-class table (IoU and
/// Dice per class; or AP@0.5 and recall per class), a per-image score table and the worst-scored images drawn with
/// the prediction beside the ground truth (mask overlays, or boxes). One self-contained HTML file like
/// ``HTMLReport``: inline CSS, PNGs as `data:` URLs, no scripts; every text from the data is escaped.
public struct DenseReport: Sendable {
    /// One image of the per-image table; `predicted` and `truth` are PNG bytes of the drawings (worst images only).
    public struct Image: Sendable {
        public var name: String
        public var score: Double
        public var predicted: [UInt8]?
        public var truth: [UInt8]?

        public init(name: String, score: Double, predicted: [UInt8]? = nil, truth: [UInt8]? = nil) {
            self.name = name
            self.score = score
            self.predicted = predicted
            self.truth = truth
        }
    }

    public var title: String
    /// "segmentation" or "detection".
    public var task: String
    /// Headline scores in display order (e.g. `("mean IoU", 0.86)`).
    public var headline: [(name: String, value: Double)]
    /// Column names of the per-class table after the class name (e.g. `["IoU", "Dice"]`).
    public var classColumns: [String]
    /// Per class: its name and one value per column (nil: the class is absent from the ground truth).
    public var classes: [(name: String, values: [Double?])]
    /// What `Image.score` is (e.g. "IoU" or "AP@0.5").
    public var imageScoreName: String
    /// Every image with its score; the ones with drawings are shown as the worst.
    public var images: [Image]
    public var config: [String: String]
    /// A sentence under the worst images (e.g. which detections are drawn).
    public var drawingNote: String?
    /// The mean training loss of each epoch, drawn as a line chart (`transfer train --report`; nil from
    /// `evaluate --report`).
    public var trainingLoss: [Double]?

    public init(title: String, task: String, headline: [(name: String, value: Double)], classColumns: [String],
                classes: [(name: String, values: [Double?])], imageScoreName: String, images: [Image], config: [String: String],
                drawingNote: String? = nil, trainingLoss: [Double]? = nil) {
        self.title = title
        self.task = task
        self.headline = headline
        self.classColumns = classColumns
        self.classes = classes
        self.imageScoreName = imageScoreName
        self.images = images
        self.config = config
        self.drawingNote = drawingNote
        self.trainingLoss = trainingLoss
    }

    /// Writes `report.html` into `directory` (created if needed; replaced atomically).
    public func write(to directory: URL, date: Date = Date()) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(html(date: date).utf8).write(to: directory.appendingPathComponent("report.html"), options: .atomic)
    }

    /// The page as a string.
    public func html(date: Date = Date()) -> String {
        let e = HTMLReport.escape
        var page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        page += "<title>\(e(title))</title>\n<style>\(HTMLReport.stylesheet)\(Self.extraStyle)</style>\n</head>\n<body>\n<main>\n"
        page += "<header><div class=\"kicker\">TransferKit \(e(task)) report</div><h1>\(e(title))</h1>"
        page += "<p class=\"sub\">\(e(HTMLReport.iso8601(date).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC"))) · \(images.count) images</p></header>\n"
        page += "<section class=\"headline\"><h2>Results</h2><div class=\"cards\">"
        for (name, value) in headline {
            page += "<div class=\"card\"><div class=\"k\">\(e(name))</div><div class=\"v\">\(Self.fixed(value))</div></div>"
        }
        page += "</div></section>\n"
        page += lossSection() + classSection() + worstSection() + imageTable() + configSection()
        page += "<footer>this page is self-contained and works offline</footer>\n</main>\n</body>\n</html>\n"
        return page
    }

    static func fixed(_ x: Double) -> String { x.isFinite ? String(format: "%.4f", x) : "n/a" }

    private func lossSection() -> String {
        guard let trainingLoss, !trainingLoss.isEmpty else { return "" }
        let chart = SVGLineChart(title: "Training loss per epoch", yLabel: "loss",
                                 series: [.init(name: "train", color: ChartPalette.train, values: trainingLoss.map { $0.isFinite ? $0 : nil })],
                                 phases: [])
        return "<section><h2>Training</h2><div class=\"charts\">\(chart.svg())</div></section>\n"
    }

    private func classSection() -> String {
        guard !classes.isEmpty else { return "" }
        var out = "<section><h2>Per class</h2><table class=\"num\"><thead><tr><th>class</th>"
        out += classColumns.map { "<th>\(HTMLReport.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for (name, values) in classes {
            out += "<tr><td class=\"label\">\(HTMLReport.escape(name))</td>"
            out += values.map { v in "<td>\(v.map(Self.fixed) ?? "absent")</td>" }.joined() + "</tr>"
        }
        return out + "</tbody></table></section>\n"
    }

    private func worstSection() -> String {
        let drawn = images.filter { $0.predicted != nil }.sorted { $0.score < $1.score }
        guard !drawn.isEmpty else { return "" }
        var out = "<section><h2>Worst images</h2><p class=\"sub\">The \(drawn.count) lowest-scored images by \(HTMLReport.escape(imageScoreName)), "
        out += "worst first: prediction (left) and ground truth (right).\(drawingNote.map { " " + HTMLReport.escape($0) } ?? "")</p><div class=\"worst\">"
        for image in drawn {
            out += "<figure class=\"pair\"><div class=\"imgs\">"
            for (png, what) in [(image.predicted, "prediction"), (image.truth, "ground truth")] {
                guard let png else { continue }
                out += "<img alt=\"\(what) of \(HTMLReport.escape(image.name))\" src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
            }
            out += "</div><figcaption>\(HTMLReport.escape(image.name)) · \(HTMLReport.escape(imageScoreName)) \(Self.fixed(image.score))</figcaption></figure>"
        }
        return out + "</div></section>\n"
    }

    private func imageTable() -> String {
        guard !images.isEmpty else { return "" }
        var out = "<section><h2>Per image</h2><div class=\"scroll\"><table class=\"num\"><thead><tr><th>image</th>"
        out += "<th>\(HTMLReport.escape(imageScoreName))</th></tr></thead><tbody>"
        for image in images.sorted(by: { $0.score < $1.score }) {
            out += "<tr><td class=\"label\">\(HTMLReport.escape(image.name))</td><td>\(Self.fixed(image.score))</td></tr>"
        }
        return out + "</tbody></table></div></section>\n"
    }

    private func configSection() -> String {
        guard !config.isEmpty else { return "" }
        var out = "<section><h2>Configuration</h2><table class=\"kv\"><tbody>"
        for (k, v) in config.sorted(by: { $0.key < $1.key }) {
            out += "<tr><th>\(HTMLReport.escape(k))</th><td class=\"mono\">\(HTMLReport.escape(v))</td></tr>"
        }
        return out + "</tbody></table></section>\n"
    }

    static let extraStyle = """
    .worst{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:14px}
    figure.pair{margin:0;border:1px solid var(--line);border-radius:10px;overflow:hidden;background:#fbfcfe}
    figure.pair .imgs{display:grid;grid-template-columns:1fr 1fr;gap:2px;background:#eef1f5}
    figure.pair img{display:block;width:100%;height:auto;image-rendering:pixelated}
    figure.pair figcaption{padding:7px 10px;font-size:12.5px}
    """
}
