import Foundation
import Tensors
import Tracking
import TransferKit

/// Recorded runs (``Tracking``) as terminal tables and as a self-contained HTML page that overlays their curves.
public enum RunReports {
    /// `transfer runs list`: one line per run — id, kind, status, start (UTC), wall time, epochs, model, data and the
    /// headline metric (test accuracy, else validation accuracy, else the first metric).
    public static func listTable(_ runs: [Run]) -> String {
        var t = MetricsTextTable(header: ["id", "kind", "status", "started (UTC)", "wall", "epochs", "model", "data", "metric"])
        for r in runs {
            t.row([String(r.id), r.kind.rawValue + (r.parentID.map { " of \($0)" } ?? ""), r.status.rawValue, shortDate(r.startedAt),
                   r.wallSeconds.map(HTMLReport.duration) ?? "–", String(r.epochCount), r.parameters["model"] ?? "–",
                   short(r.parameters["data"] ?? "–", 28), headline(r.metrics)])
        }
        return t.render()
    }

    /// `transfer runs show`: the run's facts, parameters and metrics (`key  value` lines), then one line per epoch
    /// (epochs counted from 1 within their phase) and the run's children.
    public static func detailText(_ d: RunDetail) -> String {
        var pairs: [(String, String)?] = facts(d.run) + [nil]
        pairs += d.run.parameters.keys.sorted().map { ($0, d.run.parameters[$0]!) } + [nil]
        pairs += d.run.metrics.keys.sorted().map { ($0, formatFixed(d.run.metrics[$0]!, digits: 4)) }
        let width = pairs.compactMap { $0?.0.count }.max() ?? 0
        var out = "run \(d.run.id)\n" + pairs.map { p in
            p.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 } ?? ""
        }.joined(separator: "\n")
        if !d.epochs.isEmpty {
            var e = MetricsTextTable(header: ["#", "phase", "epoch", "train loss", "valid loss", "valid metric", "lr", "seconds"])
            for (i, r) in d.epochs.enumerated() {
                e.row([String(i + 1), r.phase, String(r.epoch + 1), cell(r.trainLoss), cell(r.validLoss), cell(r.validMetric),
                       String(format: "%.2g", r.learningRate), String(format: "%.2f", r.seconds)])
            }
            out += "\n\n" + e.render()
        }
        if !d.children.isEmpty { out += "\n\n" + listTable(d.children) }
        return out
    }

    /// `transfer runs compare`: one column per run; facts, then parameters (`*` marks those that differ), then metrics.
    public static func comparisonTable(_ c: RunComparison) -> String {
        var t = MetricsTextTable(header: [""] + c.runs.map { "run \($0.run.id)" })
        let columns = c.runs.map { Self.facts($0.run) }
        for (i, name) in (columns.first ?? []).map(\.0).enumerated() { t.row([name] + columns.map { $0[i].1 }) }
        t.separator()
        let differing = Set(c.differingParameters)
        for k in Set(c.runs.flatMap { $0.run.parameters.keys }).sorted() {
            t.row([(differing.contains(k) ? "* " : "  ") + k] + c.runs.map { short($0.run.parameters[k] ?? "–", 40) })
        }
        t.separator()
        for k in c.metricKeys { t.row([k] + c.runs.map { $0.run.metrics[k].map { formatFixed($0, digits: 4) } ?? "–" }) }
        return t.render()
    }

    /// The comparison as one self-contained HTML page (inline CSS and SVG, no scripts, no external references):
    /// train loss, validation loss, validation metric and learning rate per epoch with one line per run, then the
    /// facts, parameters (differing ones first) and metrics side by side.
    public static func comparisonHTML(_ c: RunComparison, title: String = "Run comparison") -> String {
        let esc = HTMLReport.escape
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        out += "<title>\(esc(title))</title>\n<style>\(HTMLReport.stylesheet)</style>\n</head>\n<body>\n<main>\n"
        out += "<header><div class=\"kicker\">TransferKit runs</div><h1>\(esc(title))</h1>"
        out += "<p class=\"sub\">\(esc(c.runs.map { "run \($0.run.id) (\($0.run.kind), \($0.run.status.rawValue))" }.joined(separator: " · ")))</p></header>\n"
        out += "<section><h2>Curves</h2><div class=\"charts\">"
        let layouts = Set(c.runs.map { TrainingHistory(epochs: $0.epochs).phases.map { "\($0.name):\($0.range)" } })
        let phases = layouts.count == 1 ? TrainingHistory(epochs: c.runs.first?.epochs ?? []).phases : []
        let curves: [(String, (EpochRecord) -> Float?)] = [("Train loss", { $0.trainLoss }), ("Validation loss", { $0.validLoss }),
                                                           ("Validation metric", { $0.validMetric }), ("Learning rate", { $0.learningRate })]
        for (name, value) in curves {
            let series = c.runs.enumerated().map { i, d in
                SVGLineChart.Series(name: "run \(d.run.id)", color: palette[i % palette.count],
                                    values: d.epochs.map { value($0).flatMap { $0.isFinite ? Double($0) : nil } })
            }
            out += SVGLineChart(title: name, yLabel: name.lowercased(), series: series, phases: phases).svg()
        }
        out += "</div></section>\n<section><h2>Runs side by side</h2><table class=\"num\"><thead><tr><th></th>"
        for d in c.runs { out += "<th>run \(d.run.id)</th>" }
        out += "</tr></thead><tbody>"
        func row(_ name: String, _ cells: [String], strong: Bool = false) {
            out += "<tr><td class=\"label\">\(strong ? "<strong>\(esc(name))</strong>" : esc(name))</td>"
            for v in cells { out += "<td class=\"mono\">\(esc(v))</td>" }
            out += "</tr>"
        }
        let columns = c.runs.map { Self.facts($0.run) }
        for (i, name) in (columns.first ?? []).map(\.0).enumerated() { row(name, columns.map { $0[i].1 }) }
        let differing = c.differingParameters, same = Set(c.runs.flatMap { $0.run.parameters.keys }).subtracting(differing).sorted()
        for k in differing { row(k, c.runs.map { $0.run.parameters[k] ?? "–" }, strong: true) }
        for k in same { row(k, c.runs.map { $0.run.parameters[k] ?? "–" }) }
        for k in c.metricKeys { row(k, c.runs.map { $0.run.metrics[k].map { formatFixed($0, digits: 4) } ?? "–" }, strong: true) }
        out += "</tbody></table><p class=\"sub\">Bold parameters differ between the runs.</p></section>\n"
        out += "<footer>TransferKit \(esc(TransferKitVersion.string)) · this page is self-contained and works offline</footer>\n"
        return out + "</main>\n</body>\n</html>\n"
    }

    /// Line colours for up to eight runs (then repeated): distinct hues, readable on white.
    static let palette = ["#2563eb", "#ea580c", "#059669", "#7c3aed", "#db2777", "#0891b2", "#ca8a04", "#4b5563"]

    static func facts(_ r: Run) -> [(String, String)] {
        [("kind", r.kind.rawValue), ("status", r.status.rawValue), ("started (UTC)", shortDate(r.startedAt)),
         ("wall time", r.wallSeconds.map(HTMLReport.duration) ?? "–"), ("epochs", String(r.epochCount)),
         ("tool version", r.toolVersion), ("data fingerprint", r.dataFingerprint.map { short($0, 19) } ?? "–"),
         ("bundle", r.bundlePath ?? "–"), ("bundle sha256", r.bundleSha256.map { short($0, 12) } ?? "–"),
         ("pid@host", "\(r.pid)@\(r.host)"), ("error", r.error ?? "–")]
    }

    static func headline(_ m: [String: Double]) -> String {
        let key = ["test_accuracy", "validation_accuracy", "test_micro_f1", "validation_micro_f1", "test_mae", "validation_mae"]
            .first { m[$0] != nil } ?? m.keys.sorted().first
        guard let key, let v = m[key] else { return "–" }
        return "\(key) \(formatFixed(v, digits: 4))"
    }

    static func shortDate(_ d: Date) -> String {
        String(HTMLReport.iso8601(d).replacingOccurrences(of: "T", with: " ").dropLast())
    }

    static func short(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

    static func cell(_ v: Float?) -> String { v.map { $0.isFinite ? String(format: "%.4f", $0) : "\($0)" } ?? "–" }
}
