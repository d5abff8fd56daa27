import Foundation
import TransferKit

/// What a domain-adaptation report shows (filled by the caller from an adaptation run; Reports does not depend on
/// the Adaptation module).
public struct AdaptationReportData: Sendable {
    public var title: String
    public var method: String
    /// Target test metrics of the source-only and the adapted model (nil without labelled target test data).
    public var sourceOnly: MetricsReport?
    public var adapted: MetricsReport?
    public var validator: String
    /// The validator's score per epoch of the adapted training, and the epoch kept (0-based).
    public var validatorScores: [Double]
    public var chosenEpoch: Int?
    public var sourceOnlyScore: Double
    public var adaptedScore: Double
    /// 2-D maps (source rows first, then target rows) before and after adaptation.
    public var before: (points: [(Double, Double)], sourceCount: Int)
    public var after: (points: [(Double, Double)], sourceCount: Int)
    public var config: [String: String]
    public var seconds: Double

    public init(title: String, method: String, sourceOnly: MetricsReport?, adapted: MetricsReport?, validator: String,
                validatorScores: [Double], chosenEpoch: Int?, sourceOnlyScore: Double, adaptedScore: Double,
                before: (points: [(Double, Double)], sourceCount: Int), after: (points: [(Double, Double)], sourceCount: Int),
                config: [String: String], seconds: Double) {
        self.title = title; self.method = method; self.sourceOnly = sourceOnly; self.adapted = adapted; self.validator = validator
        self.validatorScores = validatorScores; self.chosenEpoch = chosenEpoch; self.sourceOnlyScore = sourceOnlyScore
        self.adaptedScore = adaptedScore; self.before = before; self.after = after; self.config = config; self.seconds = seconds
    }

    /// Target accuracy of each model, when both were evaluated.
    public var accuracies: (sourceOnly: Double, adapted: Double)? {
        guard case .classification(let s)? = sourceOnly, case .classification(let a)? = adapted else { return nil }
        return (s.accuracy, a.accuracy)
    }

    /// The plain statement of the outcome: the gain, or that the method lost to source-only.
    public var verdict: String {
        guard let acc = accuracies else {
            return "No labelled target test data was given: the gain cannot be measured. The \(validator) validator scored the "
                + "source-only model \(String(format: "%.4f", sourceOnlyScore)) and the adapted one \(String(format: "%.4f", adaptedScore))."
        }
        let d = (acc.adapted - acc.sourceOnly) * 100
        if d < 0 {
            return String(format: "%@ LOST to source-only: target accuracy %.2f%% against %.2f%% (%.2f points). Keep the source-only model.",
                          method, acc.adapted * 100, acc.sourceOnly * 100, d)
        }
        return String(format: "%@ gained %.2f points of target accuracy: %.2f%% against %.2f%% for source-only.", method, d,
                      acc.adapted * 100, acc.sourceOnly * 100)
    }
}

/// Writes a domain-adaptation run's `report.html` (self-contained: inline CSS and SVG) and `adaptation.json`.
public enum AdaptationReport {
    public static func write(_ data: AdaptationReportData, to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(html(data).utf8).write(to: directory.appendingPathComponent("report.html"), options: .atomic)
        var obj: [String: Any] = [
            "title": data.title, "method": data.method, "validator": data.validator, "validator_scores": data.validatorScores.map(finite),
            "source_only_score": finite(data.sourceOnlyScore), "adapted_score": finite(data.adaptedScore), "verdict": data.verdict,
            "config": data.config, "seconds": data.seconds,
        ]
        if let e = data.chosenEpoch { obj["chosen_epoch"] = e }
        if let acc = data.accuracies { obj["source_only_accuracy"] = acc.sourceOnly; obj["adapted_accuracy"] = acc.adapted }
        let json = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        try (json + Data("\n".utf8)).write(to: directory.appendingPathComponent("adaptation.json"), options: .atomic)
    }

    static func finite(_ x: Double) -> Any { x.isFinite ? x : "NaN" }

    public static func html(_ d: AdaptationReportData) -> String {
        let e = HTMLReport.escape
        var s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>\(e(d.title))</title>\n"
        s += "<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}table{border-collapse:collapse}"
        s += "td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}.lost{background:#fde2e1;border:1px solid #c0392b;padding:8px}"
        s += ".gain{background:#e3f6e8;border:1px solid #2e8b57;padding:8px}.maps{display:flex;gap:16px}.mono{font-family:monospace}</style>\n"
        s += "</head>\n<body>\n<h1>\(e(d.title))</h1>\n"
        let lost = (d.accuracies.map { $0.adapted < $0.sourceOnly }) ?? false
        s += "<p class=\"\(lost ? "lost" : "gain")\">\(e(d.verdict))</p>\n"
        s += "<h2>Target test: source-only against adapted</h2>\n<table><thead><tr><th></th><th>source-only</th><th>\(e(d.method))</th></tr></thead><tbody>"
        func row(_ name: String, _ f: (ClassificationMetrics) -> Double) -> String {
            func cell(_ m: MetricsReport?) -> String {
                if case .classification(let c)? = m { return String(format: "%.4f", f(c)) }
                return "—"
            }
            return "<tr><th>\(name)</th><td>\(cell(d.sourceOnly))</td><td>\(cell(d.adapted))</td></tr>"
        }
        s += row("accuracy") { $0.accuracy } + row("macro F1") { $0.macroF1 } + "</tbody></table>\n"
        s += "<h2>Model selection without target labels</h2>\n<p>Validator: <b>\(e(d.validator))</b>; source-only score "
        s += String(format: "%.4f, adapted score %.4f", d.sourceOnlyScore, d.adaptedScore)
        if let c = d.chosenEpoch { s += "; it chose epoch \(c + 1) of \(d.validatorScores.count)" }
        s += ".</p>\n"
        if !d.validatorScores.isEmpty {
            s += "<table><thead><tr><th>epoch</th><th>score</th></tr></thead><tbody>"
            for (i, v) in d.validatorScores.enumerated() {
                s += "<tr\(i == d.chosenEpoch ? " style=\"font-weight:bold\"" : "")><td>\(i + 1)</td><td>\(String(format: "%.4f", v))</td></tr>"
            }
            s += "</tbody></table>\n"
        }
        s += "<h2>Features: source (blue) and target (orange), first two principal components</h2>\n<div class=\"maps\">"
        s += scatter(d.before, title: "before (source-only model)") + scatter(d.after, title: "after (\(d.method))") + "</div>\n"
        s += "<h2>Run configuration</h2>\n<table><tbody>"
        for k in d.config.keys.sorted() { s += "<tr><th>\(e(k))</th><td class=\"mono\">\(e(d.config[k]!))</td></tr>" }
        s += "</tbody></table>\n" + String(format: "<p>%.1f s</p>\n", d.seconds) + "</body>\n</html>\n"
        return s
    }

    /// An inline SVG scatter plot of a 2-D map, source points blue and target points orange.
    static func scatter(_ map: (points: [(Double, Double)], sourceCount: Int), title: String) -> String {
        let w = 440.0, h = 360.0, pad = 24.0
        let xs = map.points.map(\.0), ys = map.points.map(\.1)
        let (x0, x1) = (xs.min() ?? 0, xs.max() ?? 1), (y0, y1) = (ys.min() ?? 0, ys.max() ?? 1)
        func sx(_ x: Double) -> Double { pad + (x - x0) / Swift.max(x1 - x0, 1e-12) * (w - 2 * pad) }
        func sy(_ y: Double) -> Double { h - pad - (y - y0) / Swift.max(y1 - y0, 1e-12) * (h - 2 * pad) }
        var s = "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\" stroke=\"#ccc\"/>"
        for (i, p) in map.points.enumerated() where p.0.isFinite && p.1.isFinite {
            let colour = i < map.sourceCount ? "#1f77b4" : "#ff7f0e"
            s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%@\" fill-opacity=\"0.6\"/>", sx(p.0), sy(p.1), colour)
        }
        return s + "</svg><figcaption>\(HTMLReport.escape(title))</figcaption></figure>"
    }
}
