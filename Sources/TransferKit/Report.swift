import Datasets
import Foundation
import Tensors

// MARK: - Training history

/// The epochs of a run, in the order they ran, across phases (a fine-tune run has a "head" phase and then a
/// "fine-tune" phase, each numbering its epochs from 0).
///
/// JSON: `{"metric_name": NAME, "epochs": [{"epoch", "phase", "train_loss", "valid_loss", "valid_metric",
/// "learning_rate", "seconds"}]}` (`valid_loss` and `valid_metric` null without validation data).
public struct TrainingHistory: Codable, Sendable, Equatable {
    /// One record per epoch run.
    public var epochs: [EpochRecord]
    /// What ``EpochRecord/validMetric`` measures, e.g. "accuracy" (charts and tables use it as a title).
    public var metricName: String

    public init(epochs: [EpochRecord] = [], metricName: String = "accuracy") {
        self.epochs = epochs
        self.metricName = metricName
    }

    /// Total seconds over every epoch.
    public var seconds: Double { epochs.reduce(0) { $0 + $1.seconds } }

    /// The phases in order of first appearance, each with the run-wide indices of its epochs.
    public var phases: [(name: String, range: Range<Int>)] {
        var out: [(name: String, range: Range<Int>)] = []
        for (i, e) in epochs.enumerated() {
            if let last = out.last, last.name == e.phase, last.range.upperBound == i {
                out[out.count - 1].range = last.range.lowerBound..<(i + 1)
            } else {
                out.append((e.phase, i..<(i + 1)))
            }
        }
        return out
    }

    private enum CodingKeys: String, CodingKey { case epochs, metricName = "metric_name" }
    private enum EpochKeys: String, CodingKey {
        case epoch, phase, seconds
        case trainLoss = "train_loss", validLoss = "valid_loss", validMetric = "valid_metric",
             learningRate = "learning_rate"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(metricName, forKey: .metricName)
        var list = c.nestedUnkeyedContainer(forKey: .epochs)
        for e in epochs {
            var r = list.nestedContainer(keyedBy: EpochKeys.self)
            try r.encode(e.epoch, forKey: .epoch)
            try r.encode(e.phase, forKey: .phase)
            try r.encode(e.trainLoss, forKey: .trainLoss)
            try r.encode(e.validLoss, forKey: .validLoss)
            try r.encode(e.validMetric, forKey: .validMetric)
            try r.encode(e.learningRate, forKey: .learningRate)
            try r.encode(e.seconds, forKey: .seconds)
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metricName = try c.decode(String.self, forKey: .metricName)
        var list = try c.nestedUnkeyedContainer(forKey: .epochs)
        var epochs: [EpochRecord] = []
        while !list.isAtEnd {
            let r = try list.nestedContainer(keyedBy: EpochKeys.self)
            epochs.append(EpochRecord(
                epoch: try r.decode(Int.self, forKey: .epoch), phase: try r.decode(String.self, forKey: .phase),
                trainLoss: try r.decode(Float.self, forKey: .trainLoss),
                validLoss: try r.decodeIfPresent(Float.self, forKey: .validLoss),
                validMetric: try r.decodeIfPresent(Float.self, forKey: .validMetric),
                learningRate: try r.decode(Float.self, forKey: .learningRate),
                seconds: try r.decode(Double.self, forKey: .seconds)))
        }
        self.epochs = epochs
    }
}

// MARK: - Report inputs

/// A misclassified sample to show in the report: a thumbnail for images or an excerpt for texts.
public struct Mistake: Sendable, Equatable {
    /// PNG bytes of a small picture of the input (see ``thumbnail(of:maxSide:)``), or nil.
    public let thumbnailPNG: [UInt8]?
    /// The input text (the report shows its first few hundred characters), or nil.
    public let text: String?
    /// Where the sample came from (a file path, or "row N of FILE").
    public let source: String
    public let trueLabel: String
    public let predictedLabel: String
    /// The probability the model gave the predicted label.
    public let confidence: Float

    public init(thumbnailPNG: [UInt8]? = nil, text: String? = nil, source: String, trueLabel: String,
                predictedLabel: String, confidence: Float) {
        self.thumbnailPNG = thumbnailPNG
        self.text = text
        self.source = source
        self.trueLabel = trueLabel
        self.predictedLabel = predictedLabel
        self.confidence = confidence
    }

    /// PNG bytes of `image` shrunk (bilinear, antialiased as Pillow does) so that its longer side is at most
    /// `maxSide` pixels; smaller images are kept as they are (the report scales them up without smoothing).
    public static func thumbnail(of image: RGBImage, maxSide: Int = 160) -> [UInt8] {
        let longer = max(image.width, image.height)
        guard longer > maxSide else { return PNGEncoder.encode(image) }
        let scale = Double(maxSide) / Double(longer)
        let w = max(1, Int((Double(image.width) * scale).rounded())), h = max(1, Int((Double(image.height) * scale).rounded()))
        return PNGEncoder.encode(image.resize(width: w, height: h, filter: .bilinear))
    }
}

/// An input file left out of a run, and why.
public struct SkippedFile: Codable, Sendable, Equatable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// The contents of `metrics.json`, written beside `report.html`.
///
/// JSON: `{"title", "created_at" (ISO 8601), "validation": METRICS|null, "test": METRICS|null, "history",
/// "config": {key: value}, "skipped_files": [{"path", "reason"}], "mistakes": [{"source", "true_label",
/// "predicted_label", "confidence", "text"?}]}` with METRICS as ``MetricsReport`` encodes it. Read it with
/// ``MetricsReport/jsonDecoder()`` (non-finite numbers are written as strings).
public struct ReportDocument: Codable, Sendable, Equatable {
    /// A mistake without its thumbnail.
    public struct MistakeEntry: Codable, Sendable, Equatable {
        public var source: String
        public var trueLabel: String
        public var predictedLabel: String
        public var confidence: Float
        public var text: String?

        private enum CodingKeys: String, CodingKey {
            case source, confidence, text, trueLabel = "true_label", predictedLabel = "predicted_label"
        }
    }

    public var title: String
    public var createdAt: String
    public var validation: MetricsReport?
    public var test: MetricsReport?
    public var history: TrainingHistory
    public var config: [String: String]
    public var skippedFiles: [SkippedFile]
    public var mistakes: [MistakeEntry]

    private enum CodingKeys: String, CodingKey {
        case title, validation, test, history, config, mistakes
        case createdAt = "created_at", skippedFiles = "skipped_files"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(title, forKey: .title)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(validation, forKey: .validation)  // null when absent, so the key is always there
        try c.encode(test, forKey: .test)
        try c.encode(history, forKey: .history)
        try c.encode(config, forKey: .config)
        try c.encode(skippedFiles, forKey: .skippedFiles)
        try c.encode(mistakes, forKey: .mistakes)
    }
}

// MARK: - HTML report

/// Writes a run's `report.html` and `metrics.json`.
///
/// The HTML is one self-contained file that opens offline: inline CSS, inline SVG charts, thumbnails embedded as
/// `data:image/png;base64` URLs, no scripts and no external references. It shows the headline metrics, loss,
/// metric and learning-rate curves per epoch (phases shaded), for each of the validation and test sets the
/// per-class table and a confusion-matrix heat map (colour: share of the true class's samples; numbers: counts),
/// the most confident mistakes with their true and predicted labels, the files that were skipped and the run's
/// configuration. Every piece of text from the data (labels, paths, texts, config) is HTML-escaped.
public enum HTMLReport {
    /// Writes `report.html` and `metrics.json` into `directory` (created if needed; files replaced atomically).
    public static func write(to directory: URL, title: String, history: TrainingHistory, validation: MetricsReport?,
                             test: MetricsReport?, mistakes: [Mistake], config: [String: String],
                             skippedFiles: [(path: String, reason: String)], date: Date = Date()) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let skipped = skippedFiles.map { SkippedFile(path: $0.path, reason: $0.reason) }
        let page = html(title: title, history: history, validation: validation, test: test, mistakes: mistakes,
                        config: config, skippedFiles: skipped, date: date)
        try Data(page.utf8).write(to: directory.appendingPathComponent("report.html"), options: .atomic)
        let document = ReportDocument(
            title: title, createdAt: iso8601(date), validation: validation, test: test, history: history,
            config: config, skippedFiles: skipped,
            mistakes: mistakes.map {
                .init(source: $0.source, trueLabel: $0.trueLabel, predictedLabel: $0.predictedLabel,
                      confidence: $0.confidence, text: $0.text)
            })
        var json = try MetricsReport.jsonEncoder(pretty: true).encode(document)
        json.append(0x0A)
        try json.write(to: directory.appendingPathComponent("metrics.json"), options: .atomic)
    }

    /// The report page as a string (what ``write(to:title:history:validation:test:mistakes:config:skippedFiles:date:)``
    /// saves as `report.html`).
    public static func html(title: String, history: TrainingHistory, validation: MetricsReport?, test: MetricsReport?,
                            mistakes: [Mistake], config: [String: String], skippedFiles: [SkippedFile],
                            date: Date = Date()) -> String {
        var page = Page()
        page.add("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        page.add("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        page.add("<title>\(escape(title))</title>\n<style>\(stylesheet)</style>\n</head>\n<body>\n<main>\n")

        // Header and headline numbers.
        page.add("<header><div class=\"kicker\">TransferKit report</div><h1>\(escape(title))</h1>")
        var facts = [iso8601(date).replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")]
        if !history.epochs.isEmpty {
            facts.append("\(history.epochs.count) epoch\(history.epochs.count == 1 ? "" : "s")")
            facts.append(duration(history.seconds))
        }
        if !skippedFiles.isEmpty { facts.append("\(skippedFiles.count) file\(skippedFiles.count == 1 ? "" : "s") skipped") }
        page.add("<p class=\"sub\">\(facts.map(escape).joined(separator: " · "))</p></header>\n")
        if let primary = test ?? validation {
            let secondary = test != nil ? validation : nil
            page.add("<section class=\"headline\"><h2>Results</h2>")
            var counts: [String] = []
            if let test, let n = sampleCount(test) { counts.append("test set: \(n) samples") }
            if let validation, let n = sampleCount(validation) { counts.append("validation set: \(n) samples") }
            var lead = test != nil ? "On the test set" : "On the validation set"
            if secondary != nil { lead += "; the validation value is under each" }
            if !counts.isEmpty { lead += " (" + counts.joined(separator: ", ") + ")" }
            page.add("<p class=\"sub\">\(escape(lead)).</p>")
            page.add(cards(primary, secondary: secondary))
            page.add("</section>\n")
        }

        page.add(trainingSection(history))
        for (name, metrics, id) in [("Validation", validation, "valid"), ("Test", test, "test")] {
            if let metrics { page.add(metricsSection(name: name, metrics: metrics, id: id)) }
        }
        page.add(mistakesSection(mistakes))
        page.add(skippedSection(skippedFiles))
        page.add(configSection(config))
        page.add("<footer>TransferKit \(escape(TransferKitVersion.string)) · this page is self-contained and works offline</footer>\n")
        page.add("</main>\n</body>\n</html>\n")
        return page.text
    }

    // MARK: Sections

    private static func sampleCount(_ metrics: MetricsReport) -> Int? {
        if case .classification(let m) = metrics { return m.sampleCount }
        return nil
    }

    /// The headline numbers of a task as (name, formatted value, note) cards.
    private static func headlineValues(_ metrics: MetricsReport) -> [(name: String, value: String, note: String?)] {
        switch metrics {
        case .classification(let m):
            var items: [(name: String, value: String, note: String?)] = [
                ("Accuracy", percent(m.accuracy), nil), ("Macro F1", formatFixed(m.macroF1), nil),
                ("Weighted F1", formatFixed(m.weightedF1), nil),
            ]
            if let top5 = m.top5Accuracy { items.append(("Top-5 accuracy", percent(top5), nil)) }
            items.append(("Log-loss", formatFixed(m.logLoss), nil))
            items.append(("Calibration error", formatFixed(m.ece), "ECE, 15 bins"))
            return items
        case .regression(let m):
            return [("MAE", significant(m.mae), nil), ("RMSE", significant(m.rmse), nil), ("R²", formatFixed(m.r2), nil)]
        case .multiLabel(let m):
            return [("Micro F1", formatFixed(m.microF1), nil), ("Macro F1", formatFixed(m.macroF1), nil),
                    ("Subset accuracy", percent(m.subsetAccuracy), "every label right")]
        }
    }

    /// Cards of `primary`'s headline numbers, each with `secondary`'s value (same task) as its note.
    private static func cards(_ primary: MetricsReport, secondary: MetricsReport?) -> String {
        let items = headlineValues(primary)
        let others = secondary.flatMap { $0.task == primary.task ? headlineValues($0) : nil }
        var out = "<div class=\"cards\">"
        for (k, item) in items.enumerated() {
            out += "<div class=\"card\"><div class=\"k\">\(escape(item.name))</div><div class=\"v\">\(escape(item.value))</div>"
            if let others, k < others.count {
                out += "<div class=\"n\">validation \(escape(others[k].value))</div>"
            } else if let note = item.note {
                out += "<div class=\"n\">\(escape(note))</div>"
            }
            out += "</div>"
        }
        return out + "</div>\n"
    }

    private static func trainingSection(_ history: TrainingHistory) -> String {
        var out = "<section><h2>Training</h2>\n"
        guard !history.epochs.isEmpty else { return out + "<p class=\"empty\">No epochs were recorded.</p></section>\n" }
        let phases = history.phases
        let e = history.epochs
        func values(_ f: (EpochRecord) -> Float?) -> [Double?] { e.map { f($0).flatMap { $0.isFinite ? Double($0) : nil } } }
        out += "<div class=\"charts\">"
        out += SVGLineChart(title: "Loss", yLabel: "loss", series: [
            .init(name: "train", color: ChartPalette.train, values: values(\.trainLoss)),
            .init(name: "validation", color: ChartPalette.valid, values: values(\.validLoss)),
        ], phases: phases).svg()
        let metricValues = values(\.validMetric)
        if metricValues.contains(where: { $0 != nil }) {
            out += SVGLineChart(title: "Validation \(history.metricName)", yLabel: history.metricName, series: [
                .init(name: history.metricName, color: ChartPalette.metric, values: metricValues),
            ], phases: phases).svg()
        }
        out += SVGLineChart(title: "Learning rate", yLabel: "learning rate", series: [
            .init(name: "learning rate", color: ChartPalette.rate, values: values(\.learningRate)),
        ], phases: phases).svg()

        // The numbers behind the charts.
        out += "<figure class=\"chart\"><figcaption>Epochs</figcaption><div class=\"scroll\"><table class=\"num epochs\">"
        out += "<thead><tr><th>#</th><th>phase</th><th>train loss</th><th>valid loss</th>"
        out += "<th>\(escape(history.metricName))</th><th>lr</th><th>time</th></tr></thead><tbody>"
        for (i, r) in e.enumerated() {
            func cell(_ v: Float?) -> String { v.map { $0.isFinite ? String(format: "%.4f", $0) : "\($0)" } ?? "–" }
            out += "<tr><td>\(i + 1)</td><td>\(escape(r.phase))</td><td>\(cell(r.trainLoss))</td>"
            out += "<td>\(cell(r.validLoss))</td><td>\(cell(r.validMetric))</td>"
            out += "<td>\(escape(String(format: "%.2g", r.learningRate)))</td><td>\(escape(duration(r.seconds)))</td></tr>"
        }
        out += "</tbody></table></div></figure>\n</div>\n</section>\n"
        return out
    }

    /// Per-class table and confusion matrix of one split (regression has none: its numbers are the headline's).
    private static func metricsSection(name: String, metrics: MetricsReport, id: String) -> String {
        switch metrics {
        case .classification(let m):
            var out = "<section id=\"\(id)\"><h2>\(escape(name)) set</h2>"
            out += "<p class=\"sub\">\(m.sampleCount) samples · accuracy \(percent(m.accuracy)) · macro F1 \(formatFixed(m.macroF1))</p>\n"
            // Side by side up to 16 classes; beyond, each gets the full width.
            let wide = m.labels.count > 16
            out += "<div class=\"\(wide ? "stack" : "split")\"><div><h3>Per class</h3>"
            out += classTable(labels: m.labels, scores: m.perClass, thresholds: nil, footer: [
                ("macro avg", m.macroPrecision, m.macroRecall, m.macroF1),
                ("weighted avg", m.weightedPrecision, m.weightedRecall, m.weightedF1),
            ], total: m.sampleCount)
            out += "</div><div><h3>Confusion matrix</h3>"
            out += SVGConfusionMatrix(labels: m.labels, counts: m.confusionMatrix, id: id, gridWidth: wide ? 860 : 460).svg()
            return out + "</div></div>\n</section>\n"
        case .multiLabel(let m):
            var out = "<section id=\"\(id)\"><h2>\(escape(name)) set</h2>"
            out += "<p class=\"sub\">micro F1 \(formatFixed(m.microF1)) · macro F1 \(formatFixed(m.macroF1)) · subset accuracy \(percent(m.subsetAccuracy))</p>\n"
            out += "<h3>Per class</h3>"
            out += classTable(labels: m.labels, scores: m.perClass, thresholds: m.thresholds, footer: [
                ("macro avg", m.perClass.map(\.precision).average, m.perClass.map(\.recall).average, m.macroF1),
            ], total: m.positiveCount)
            return out + "</section>\n"
        case .regression:
            return ""
        }
    }

    private static func classTable(labels: [String], scores: [ClassScores], thresholds: [Float]?,
                                   footer: [(String, Double, Double, Double)], total: Int) -> String {
        var out = "<table class=\"num classes\"><thead><tr><th>class</th><th>precision</th><th>recall</th>"
        out += "<th class=\"f1\">F1</th><th>support</th>"
        if thresholds != nil { out += "<th>threshold</th>" }
        out += "</tr></thead><tbody>"
        for (k, s) in scores.enumerated() {
            out += "<tr\(s.support == 0 ? " class=\"nosupport\" title=\"no sample of this class\"" : "")>"
            out += "<td class=\"label\">\(escape(labels[k]))</td><td>\(formatFixed(s.precision))</td><td>\(formatFixed(s.recall))</td>"
            out += "<td class=\"f1\"><span class=\"bar\"><span style=\"width:\(String(format: "%.1f", s.f1 * 100))%\"></span></span>\(formatFixed(s.f1))</td>"
            out += "<td>\(s.support)</td>"
            if let thresholds { out += "<td>\(String(format: "%.3f", thresholds[k]))</td>" }
            out += "</tr>"
        }
        out += "</tbody><tfoot>"
        for (name, p, r, f) in footer {
            out += "<tr><td>\(escape(name))</td><td>\(formatFixed(p))</td><td>\(formatFixed(r))</td><td class=\"f1\">\(formatFixed(f))</td>"
            out += "<td>\(total)</td>\(thresholds != nil ? "<td></td>" : "")</tr>"
        }
        return out + "</tfoot></table>\n"
    }

    private static func mistakesSection(_ mistakes: [Mistake]) -> String {
        guard !mistakes.isEmpty else { return "" }
        var out = "<section><h2>Most confident mistakes</h2>"
        out += "<p class=\"sub\">Misclassified samples, the ones the model was surest about first.</p><div class=\"mistakes\">"
        for m in mistakes {
            out += "<figure class=\"mistake\"><div class=\"thumb\">"
            if let png = m.thumbnailPNG {
                out += "<img alt=\"\(escape(m.source))\" src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
            } else if let text = m.text {
                out += "<blockquote>\(escape(excerpt(text)))</blockquote>"
            }
            out += "<span class=\"conf\" title=\"probability of the predicted class\">\(escape(percent(Double(m.confidence))))</span></div>"
            out += "<figcaption><dl><dt>predicted</dt><dd class=\"pred\">\(escape(m.predictedLabel))</dd>"
            out += "<dt>true</dt><dd class=\"true\">\(escape(m.trueLabel))</dd></dl>"
            out += "<div class=\"src\" title=\"\(escape(m.source))\">\(escape(basename(m.source)))</div></figcaption></figure>"
        }
        return out + "</div></section>\n"
    }

    private static func skippedSection(_ files: [SkippedFile]) -> String {
        var out = "<section><h2>Skipped files</h2>"
        guard !files.isEmpty else { return out + "<p class=\"empty\">No input file was skipped.</p></section>\n" }
        out += "<p class=\"sub\">\(files.count) file\(files.count == 1 ? " was" : "s were") left out of the run.</p>"
        out += "<table class=\"kv\"><thead><tr><th>file</th><th>reason</th></tr></thead><tbody>"
        for f in files { out += "<tr><td class=\"mono\">\(escape(f.path))</td><td>\(escape(f.reason))</td></tr>" }
        return out + "</tbody></table></section>\n"
    }

    private static func configSection(_ config: [String: String]) -> String {
        var out = "<section><h2>Run configuration</h2>"
        guard !config.isEmpty else { return out + "<p class=\"empty\">No configuration was recorded.</p></section>\n" }
        out += "<table class=\"kv\"><tbody>"
        for key in config.keys.sorted() {
            out += "<tr><th>\(escape(key))</th><td class=\"mono\">\(escape(config[key]!))</td></tr>"
        }
        return out + "</tbody></table></section>\n"
    }

    // MARK: Formatting

    /// `text` with the five HTML-significant characters replaced by entities (safe in text and attribute values).
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    private static func excerpt(_ text: String, limit: Int = 320) -> String {
        let flat = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return flat.count <= limit ? flat : String(flat.prefix(limit)).trimmingCharacters(in: .whitespaces) + "…"
    }

    private static func basename(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    private static func percent(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }

    /// Four significant digits (trailing zeros kept), or whole numbers from 1000 up (regression errors are in the target's unit, of any
    /// magnitude).
    private static func significant(_ x: Double) -> String {
        abs(x) >= 1000 ? String(format: "%.0f", x) : String(format: "%#.4g", x)
    }

    private static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let s = Int(seconds.rounded())
        return s < 3600 ? "\(s / 60) min \(s % 60) s" : "\(s / 3600) h \(s % 3600 / 60) min"
    }

    static func iso8601(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    private static let stylesheet = """
    :root{--fg:#1d2433;--muted:#5f6b7a;--faint:#8a94a3;--line:#e3e7ee;--bg:#f4f6f9;--card:#fff;--accent:#2563eb}
    *{box-sizing:border-box}
    html{-webkit-text-size-adjust:100%}
    body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Noto Sans","DejaVu Sans",Arial,sans-serif}
    main{max-width:1140px;margin:0 auto;padding:36px 28px 48px}
    header{margin-bottom:8px}
    .kicker{font-size:12px;font-weight:600;letter-spacing:.08em;text-transform:uppercase;color:var(--accent)}
    h1{font-size:28px;line-height:1.2;margin:4px 0 6px;font-weight:700;letter-spacing:-.01em}
    h2{font-size:17px;margin:0 0 14px;font-weight:650}
    h3{font-size:12px;font-weight:600;letter-spacing:.06em;text-transform:uppercase;color:var(--muted);margin:20px 0 8px}
    .sub{color:var(--muted);margin:0 0 12px}
    .empty{color:var(--faint);margin:0}
    section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:22px 26px;margin-top:18px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
    .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(156px,1fr));gap:12px}
    .card{border:1px solid var(--line);border-radius:10px;padding:12px 14px;background:#fbfcfe}
    .card .k{font-size:12px;color:var(--muted)}
    .card .v{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums;line-height:1.25;margin-top:2px}
    .card .n{font-size:11px;color:var(--faint)}
    .headline .card .v{color:#111827}
    .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:18px}
    figure.chart{margin:0}
    figure.chart figcaption{font-weight:600;font-size:13px;margin:0 0 4px}
    svg{display:block;max-width:100%;height:auto}
    svg text{font-family:inherit}
    .split{display:grid;grid-template-columns:minmax(0,5fr) minmax(0,6fr);gap:28px;align-items:start}
    @media (max-width:900px){.split{grid-template-columns:1fr}}
    .stack>div+div{margin-top:10px}
    table{border-collapse:collapse;width:100%}
    th,td{padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
    thead th{font-size:12px;font-weight:600;color:var(--muted);text-align:left;border-bottom:1px solid #cfd5de}
    table.num td,table.num th{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
    table.num td:first-child,table.num th:first-child{text-align:left}
    table.num td.label{white-space:normal;word-break:break-word}
    tfoot td{font-weight:600;border-bottom:none;color:#374151}
    tfoot tr:first-child td{border-top:1px solid #cfd5de}
    tr.nosupport td{color:var(--faint)}
    td.f1{min-width:130px}
    .bar{display:inline-block;width:60px;height:6px;border-radius:3px;background:#e8edf5;margin-right:8px;vertical-align:middle;overflow:hidden}
    .bar>span{display:block;height:100%;background:#3b82f6;border-radius:3px}
    .scroll{max-height:262px;overflow:auto;border:1px solid var(--line);border-radius:8px}
    table.epochs{font-size:12.5px}
    table.epochs th,table.epochs td{padding:4px 8px}
    table.epochs td:nth-child(2),table.epochs th:nth-child(2){text-align:left}
    table.epochs thead th{position:sticky;top:0;background:#fff}
    .mistakes{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:14px}
    .mistake{margin:0;border:1px solid var(--line);border-radius:10px;overflow:hidden;background:#fbfcfe}
    .mistake .thumb{position:relative;background:#eef1f5}
    .mistake img{display:block;width:100%;height:150px;object-fit:contain;image-rendering:pixelated}
    .mistake blockquote{margin:0;padding:30px 12px 0;height:150px;overflow:hidden;font-size:12px;line-height:1.45;color:#374151;-webkit-mask-image:linear-gradient(180deg,#000 75%,transparent);mask-image:linear-gradient(180deg,#000 75%,transparent)}
    .mistake .conf{position:absolute;top:7px;right:7px;padding:1px 7px;border-radius:9px;background:rgba(17,24,39,.78);color:#fff;font-size:11px;font-weight:600;font-variant-numeric:tabular-nums}
    .mistake figcaption{padding:8px 10px 9px;font-size:12.5px;line-height:1.4}
    .mistake dl{display:grid;grid-template-columns:auto 1fr;gap:1px 8px;margin:0}
    .mistake dt{color:var(--faint);font-size:11.5px;padding-top:1px}
    .mistake dd{margin:0;font-weight:600;word-break:break-word}
    .mistake dd.pred{color:#b91c1c}
    .mistake dd.true{color:#15803d}
    .mistake .src{color:var(--faint);font-size:11px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;margin-top:4px}
    table.kv th{width:28%;text-align:left;font-weight:600;color:#374151;font-size:13px}
    .mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12.5px;word-break:break-all}
    footer{color:var(--faint);font-size:12px;text-align:center;margin-top:28px}
    """

    /// Appends to one growing string.
    private struct Page {
        var text = ""
        mutating func add(_ s: String) { text += s }
    }
}

private extension Array where Element == Double {
    var average: Double { isEmpty ? 0 : reduce(0, +) / Double(count) }
}

// MARK: - SVG charts

enum ChartPalette {
    static let train = "#2563eb"
    static let valid = "#ea580c"
    static let metric = "#059669"
    static let rate = "#7c3aed"
}

/// Round tick values covering [lo, hi]: steps of 1, 2 or 5 × 10ⁿ, about `count` of them.
func niceTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> (ticks: [Double], step: Double) {
    var lo = lo, hi = hi
    if !(hi > lo) {
        let pad = lo == 0 ? 1 : abs(lo) * 0.1
        lo -= pad
        hi += pad
    }
    let raw = (hi - lo) / Double(max(1, count))
    let magnitude = pow(10, floor(log10(raw)))
    let normalized = raw / magnitude
    let step = (normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10) * magnitude
    let first = floor(lo / step + 1e-9), last = ceil(hi / step - 1e-9)
    let ticks = stride(from: first, through: last, by: 1).map { $0 * step }
    return (ticks, step)
}

/// Labels for `ticks` spaced `step` apart, with as many digits as the step needs: fixed-point, or scientific
/// notation with a short exponent ("2.5e-4") for steps under 0.001 or values from a million up.
func tickLabels(_ ticks: [Double], step: Double) -> [String] {
    let top = ticks.map(abs).max() ?? 0
    let stepExponent = floor(log10(step) + 1e-9)
    func isZero(_ v: Double) -> Bool { abs(v) < step * 1e-6 }
    if step < 1e-3 || top >= 1e6 {
        let digits = max(0, Int((top > 0 ? floor(log10(top) + 1e-9) : 0) - stepExponent))
        return ticks.map { v in
            if isZero(v) { return "0" }
            let parts = String(format: "%.\(digits)e", v).split(separator: "e")
            let exponent = Int(parts[1]) ?? 0
            return "\(parts[0])e\(exponent)"
        }
    }
    let decimals = max(0, Int(-stepExponent))
    return ticks.map { String(format: "%.\(decimals)f", isZero($0) ? 0 : $0) }
}

/// A line chart of per-epoch values: x is the run-wide epoch (1…n), one line per series, phases shaded.
struct SVGLineChart {
    struct Series {
        var name: String
        var color: String
        var values: [Double?]
    }

    var title: String
    var yLabel: String
    var series: [Series]
    var phases: [(name: String, range: Range<Int>)]

    let width = 520.0, height = 280.0
    let right = 18.0, top = 34.0, bottom = 44.0

    func svg() -> String {
        let esc = HTMLReport.escape
        let n = series.map(\.values.count).max() ?? 0
        let all = series.flatMap { $0.values.compactMap { $0 } }
        var out = "<figure class=\"chart\"><figcaption>\(esc(title))</figcaption>"
        out += "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" role=\"img\" aria-label=\"\(esc(title))\">"
        guard n > 0, let minV = all.min(), let maxV = all.max() else {
            return out + "<text x=\"\(width / 2)\" y=\"\(height / 2)\" text-anchor=\"middle\" fill=\"#8a94a3\" font-size=\"13\">no data</text></svg></figure>"
        }
        let (yTicks, yStep) = niceTicks(minV, maxV)
        let yLabels = tickLabels(yTicks, step: yStep)
        // Room for the widest tick label and the rotated axis title.
        let left = 34 + 6.4 * Double(yLabels.map(\.count).max() ?? 1)
        let plotW = width - left - right, plotH = height - top - bottom
        let y0 = yTicks.first!, y1 = yTicks.last!
        // x from 0.5 to n + 0.5 so every epoch sits in its own slot and a single epoch is centred.
        func x(_ i: Int) -> Double { left + (Double(i) + 0.5) / Double(n) * plotW }
        func y(_ v: Double) -> Double { top + (1 - (v - y0) / (y1 - y0)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        // Phase bands (alternate shading) with their names, when there is more than one phase.
        if phases.count > 1 {
            for (k, p) in phases.enumerated() {
                let x0 = left + Double(p.range.lowerBound) / Double(n) * plotW
                let x1 = left + Double(p.range.upperBound) / Double(n) * plotW
                if k % 2 == 1 {
                    out += "<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(x1 - x0))\" height=\"\(f(plotH))\" fill=\"#f3f5fa\"/>"
                }
                if k > 0 {
                    out += "<line x1=\"\(f(x0))\" y1=\"\(f(top))\" x2=\"\(f(x0))\" y2=\"\(f(top + plotH))\" stroke=\"#b8c0cc\" stroke-dasharray=\"4 3\"/>"
                }
                if x1 - x0 >= 10 + 6.2 * Double(p.name.count) {  // the name only where it fits
                    out += "<text x=\"\(f(x0 + 5))\" y=\"\(f(top + 13))\" font-size=\"11\" fill=\"#8a94a3\">\(esc(p.name))</text>"
                }
            }
        }
        // Horizontal grid and y ticks.
        for (t, label) in zip(yTicks, yLabels) {
            let yy = y(t)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(yy))\" x2=\"\(f(left + plotW))\" y2=\"\(f(yy))\" stroke=\"#e6e9ef\"/>"
            out += "<text x=\"\(f(left - 8))\" y=\"\(f(yy + 4))\" text-anchor=\"end\" font-size=\"11\" fill=\"#5f6b7a\">\(esc(label))</text>"
        }
        // x ticks: every epoch, or a round subset.
        let xStep = n <= 12 ? 1 : Int(niceTicks(1, Double(n), count: 8).step.rounded(.up))
        var xs = Array(stride(from: xStep == 1 ? 1 : xStep, through: n, by: xStep))
        if xStep > 1 { xs.insert(1, at: 0) }
        for e in xs {
            let xx = x(e - 1)
            out += "<line x1=\"\(f(xx))\" y1=\"\(f(top + plotH))\" x2=\"\(f(xx))\" y2=\"\(f(top + plotH + 5))\" stroke=\"#9aa4b2\"/>"
            out += "<text x=\"\(f(xx))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\" font-size=\"11\" fill=\"#5f6b7a\">\(e)</text>"
        }
        // Axes and titles.
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotH))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top + plotH))\" stroke=\"#9aa4b2\"/>"
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotH))\" stroke=\"#9aa4b2\"/>"
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" font-size=\"12\" fill=\"#5f6b7a\">epoch</text>"
        out += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\" fill=\"#5f6b7a\">\(esc(yLabel))</text>"
        // Lines (broken where a value is missing) and points.
        for s in series {
            var segment: [String] = []
            func flush() {
                if segment.count > 1 {
                    out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2.2\" stroke-linejoin=\"round\" stroke-linecap=\"round\" points=\"\(segment.joined(separator: " "))\"/>"
                }
                segment = []
            }
            for (i, v) in s.values.enumerated() {
                if let v { segment.append("\(f(x(i))),\(f(y(v)))") } else { flush() }
            }
            flush()
            if n <= 25 {
                for (i, v) in s.values.enumerated() {
                    guard let v else { continue }
                    out += "<circle cx=\"\(f(x(i)))\" cy=\"\(f(y(v)))\" r=\"3.2\" fill=\"#fff\" stroke=\"\(s.color)\" stroke-width=\"2\">"
                    out += "<title>\(esc(s.name)), epoch \(i + 1): \(esc(String(format: "%.4g", v)))</title></circle>"
                }
            }
        }
        // Legend above the plot, right-aligned.
        let shown = series.filter { $0.values.contains { $0 != nil } }
        var lx = left + plotW
        for s in shown.reversed() {
            let w = 26 + Double(s.name.count) * 6.6
            lx -= w
            out += "<line x1=\"\(f(lx))\" y1=\"14\" x2=\"\(f(lx + 16))\" y2=\"14\" stroke=\"\(s.color)\" stroke-width=\"2.5\" stroke-linecap=\"round\"/>"
            out += "<text x=\"\(f(lx + 21))\" y=\"18\" font-size=\"12\" fill=\"#374151\">\(esc(s.name))</text>"
            lx -= 8
        }
        return out + "</svg></figure>"
    }
}

/// A confusion-matrix heat map: rows are true classes, columns predicted ones; each cell's colour is its share
/// of the row (so small classes read as clearly as large ones) and its number is the count.
struct SVGConfusionMatrix {
    var labels: [String]
    var counts: [[Int]]
    /// Prefix for element ids (the colour scale's gradient), unique per page.
    var id: String
    /// Width of the grid of cells before clamping the cell size to 12…46 units.
    var gridWidth = 460.0

    /// ColorBrewer "Blues", light to dark.
    static let stops: [(Double, Double, Double)] = [
        (247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225), (107, 174, 214), (66, 146, 198),
        (33, 113, 181), (8, 81, 156), (8, 48, 107),
    ]

    static func color(_ t: Double) -> String {
        let t = min(1, max(0, t)) * Double(stops.count - 1)
        let i = min(stops.count - 2, Int(t)), u = t - Double(i)
        let a = stops[i], b = stops[i + 1]
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * u).rounded()) }
        return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    func svg() -> String {
        let esc = HTMLReport.escape
        let c = labels.count
        guard c > 0 else { return "" }
        let cell = max(12.0, min(46.0, gridWidth / Double(c)))
        let maxChars = 18
        func short(_ s: String) -> String { s.count <= maxChars ? s : String(s.prefix(maxChars - 1)) + "…" }
        let longest = Double(labels.map { short($0).count }.max() ?? 1)
        let labelFont = cell >= 20 ? 13.0 : 10.5
        let charW = labelFont * 0.6
        let leftM = 26 + longest * charW + 8, topM = 8.0
        let grid = cell * Double(c)
        let bottomM = 12 + longest * charW * 0.72 + 26
        let legendW = 64.0
        let width = leftM + grid + legendW, height = topM + grid + bottomM
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var out = "<svg class=\"confusion\" viewBox=\"0 0 \(f(width)) \(f(height))\" width=\"\(f(width))\" role=\"img\" aria-label=\"confusion matrix\">"
        let showCounts = cell >= 18
        let countFont = min(14, cell * 0.36)
        for (r, row) in counts.enumerated() {
            let total = row.reduce(0, +)
            for (k, n) in row.enumerated() {
                let share = total == 0 ? 0 : Double(n) / Double(total)
                let x = leftM + Double(k) * cell, y = topM + Double(r) * cell
                out += "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(cell))\" height=\"\(f(cell))\" fill=\"\(Self.color(share))\" stroke=\"#fff\" stroke-width=\"1\">"
                out += "<title>true \(esc(labels[r])) → predicted \(esc(labels[k])): \(n) (\(String(format: "%.1f", share * 100))% of the class)</title></rect>"
                if showCounts {
                    let fill = share > 0.5 ? "#ffffff" : (n == 0 ? "#c3cad5" : "#1d2433")
                    out += "<text x=\"\(f(x + cell / 2))\" y=\"\(f(y + cell / 2 + countFont * 0.35))\" text-anchor=\"middle\" font-size=\"\(f(countFont))\" fill=\"\(fill)\"\(r == k ? " font-weight=\"600\"" : "")>\(n)</text>"
                }
            }
        }
        // Row labels (true class) and column labels (predicted class, slanted).
        for (i, label) in labels.enumerated() {
            let mid = topM + (Double(i) + 0.5) * cell
            out += "<text x=\"\(f(leftM - 6))\" y=\"\(f(mid + labelFont * 0.35))\" text-anchor=\"end\" font-size=\"\(f(labelFont))\" fill=\"#374151\">\(esc(short(label)))<title>\(esc(label))</title></text>"
            let cx = leftM + (Double(i) + 0.5) * cell, cy = topM + grid + 6
            out += "<text transform=\"translate(\(f(cx + labelFont * 0.3)) \(f(cy))) rotate(-45)\" text-anchor=\"end\" font-size=\"\(f(labelFont))\" fill=\"#374151\">\(esc(short(label)))<title>\(esc(label))</title></text>"
        }
        out += "<text transform=\"translate(\(f(max(12, leftM - longest * charW - 16))) \(f(topM + grid / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"#5f6b7a\">true class</text>"
        out += "<text x=\"\(f(leftM + grid / 2))\" y=\"\(f(height - 4))\" text-anchor=\"middle\" font-size=\"13\" fill=\"#5f6b7a\">predicted class</text>"
        // Colour scale.
        let gid = "\(id)-scale"
        let lx = leftM + grid + 18, barH = min(grid, 160.0)
        out += "<defs><linearGradient id=\"\(esc(gid))\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
        for (k, _) in Self.stops.enumerated() {
            let t = Double(k) / Double(Self.stops.count - 1)
            out += "<stop offset=\"\(f(t * 100))%\" stop-color=\"\(Self.color(t))\"/>"
        }
        out += "</linearGradient></defs>"
        out += "<rect x=\"\(f(lx))\" y=\"\(f(topM))\" width=\"10\" height=\"\(f(barH))\" fill=\"url(#\(esc(gid)))\" stroke=\"#d5dae2\"/>"
        for (t, text) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
            out += "<text x=\"\(f(lx + 15))\" y=\"\(f(topM + (1 - t) * barH + 4))\" font-size=\"10\" fill=\"#5f6b7a\">\(text)</text>"
        }
        out += "<text transform=\"translate(\(f(lx + 56)) \(f(topM + barH / 2))) rotate(90)\" text-anchor=\"middle\" font-size=\"10\" fill=\"#8a94a3\">share of true class</text>"
        return out + "</svg>"
    }
}
