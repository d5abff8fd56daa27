import Datasets
import Foundation
import Tensors
import TransferKit

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

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let s = Int(seconds.rounded())
        return s < 3600 ? "\(s / 60) min \(s % 60) s" : "\(s / 3600) h \(s % 3600 / 60) min"
    }

    static func iso8601(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    static let stylesheet = """
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
