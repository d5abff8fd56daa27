import Foundation
import Tensors
import Tracking
import TransferKit

/// The pages of `transfer serve`'s dashboard: self-contained HTML (inline CSS, SVG and script, no external
/// reference), so they work offline. Every piece of text from the data is HTML-escaped.
public enum DashboardHTML {
    /// A page with the dashboard's navigation.
    public static func page(title: String, body: String, script: String = "") -> String {
        let esc = HTMLReport.escape
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        out += "<title>\(esc(title))</title>\n<style>\(HTMLReport.stylesheet)\(extraStyle)</style>\n</head>\n<body>\n<main>\n"
        out += "<nav><a href=\"/\">Overview</a> · <a href=\"/predict\">Predict</a> · <a href=\"/v1/models\">API: models</a> · <a href=\"/metrics\">Metrics</a></nav>\n"
        out += "<header><div class=\"kicker\">TransferKit serve</div><h1>\(esc(title))</h1></header>\n"
        out += body
        out += "<footer>TransferKit \(esc(TransferKitVersion.string)) · self-contained page, works offline</footer>\n</main>\n"
        if !script.isEmpty { out += "<script>\n\(script)\n</script>\n" }
        return out + "</body>\n</html>\n"
    }

    static let extraStyle = """
    nav{margin:0 0 12px;font-size:14px}nav a{color:#2563eb;text-decoration:none}
    form.inline{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:8px 0}
    #result table{margin-top:8px}#heatmap{max-width:320px;border:1px solid #ddd;margin-top:8px}
    .error{color:#b91c1c;font-weight:600}
    """

    /// The overview: the served models (`models`: one row of cells per model under `modelColumns`), the runs of
    /// the tracking database with a form to compare two, or why there are none.
    public static func overview(modelColumns: [String], models: [[String]], runs: [Run], database: String?, databaseProblem: String?) -> String {
        let esc = HTMLReport.escape
        var body = "<section><h2>Models served</h2>"
        if models.isEmpty { body += "<p class=\"sub\">No model is served (add one with POST /v1/models or --watch).</p>" } else {
            body += "<table id=\"models\"><thead><tr>" + modelColumns.map { "<th>\(esc($0))</th>" }.joined() + "</tr></thead><tbody>"
            for row in models { body += "<tr>" + row.map { "<td class=\"mono\">\(esc($0))</td>" }.joined() + "</tr>" }
            body += "</tbody></table>"
        }
        body += "</section>\n<section><h2>Runs</h2>"
        if let databaseProblem {
            body += "<p class=\"sub\">\(esc(databaseProblem))</p>"
        } else if runs.isEmpty {
            body += "<p class=\"sub\">No runs in \(esc(database ?? "the run database")) yet.</p>"
        } else {
            body += "<p class=\"sub\">\(esc(database ?? ""))</p>"
            body += "<form class=\"inline\" action=\"/compare\" method=\"get\">Compare run <input name=\"a\" size=\"5\" value=\"\(runs.count > 1 ? runs[1].id : runs[0].id)\"> with run <input name=\"b\" size=\"5\" value=\"\(runs[0].id)\"> <button type=\"submit\">Compare</button></form>"
            body += "<table id=\"runs\" class=\"num\"><thead><tr><th>run</th><th>kind</th><th>status</th><th>started (UTC)</th><th>epochs</th><th>result</th><th>bundle</th></tr></thead><tbody>"
            for r in runs {
                body += "<tr><td><a href=\"/runs/\(r.id)\">\(r.id)</a></td><td>\(esc(r.kind.rawValue))</td><td>\(esc(r.status.rawValue))</td>"
                body += "<td class=\"mono\">\(esc(RunReports.shortDate(r.startedAt)))</td><td>\(r.epochCount)</td>"
                body += "<td class=\"mono\">\(esc(RunReports.headline(r.metrics)))</td><td class=\"mono\">\(esc(r.bundlePath ?? "–"))</td></tr>"
            }
            body += "</tbody></table>"
        }
        return page(title: "Dashboard", body: body + "</section>\n")
    }

    /// One run: its curves, its facts and parameters, its final metrics, and the confusion matrices of the report
    /// it wrote (`report`, the `metrics.json` of `transfer train --report`) when there is one.
    public static func run(_ d: RunDetail, report: ReportDocument?) -> String {
        let esc = HTMLReport.escape
        var body = "<section><h2>Curves</h2><div class=\"charts\">"
        let phases = TrainingHistory(epochs: d.epochs).phases
        let curves: [(String, (EpochRecord) -> Float?)] = [("Train loss", { $0.trainLoss }), ("Validation loss", { $0.validLoss }),
                                                           ("Validation metric", { $0.validMetric }), ("Learning rate", { $0.learningRate })]
        if d.epochs.isEmpty { body += "<p class=\"sub\">This run recorded no epochs.</p>" }
        for (name, value) in curves where !d.epochs.isEmpty {
            let series = [SVGLineChart.Series(name: "run \(d.run.id)", color: RunReports.palette[0],
                                              values: d.epochs.map { value($0).flatMap { $0.isFinite ? Double($0) : nil } })]
            body += SVGLineChart(title: name, yLabel: name.lowercased(), series: series, phases: phases).svg()
        }
        body += "</div></section>\n"
        for (split, m) in [("Validation", report?.validation), ("Test", report?.test)] {
            guard case .classification(let m)? = m, !m.confusionMatrix.isEmpty else { continue }
            body += "<section><h2>\(split) confusion matrix</h2>"
            body += SVGConfusionMatrix(labels: m.labels, counts: m.confusionMatrix, id: "cm-\(split.lowercased())", gridWidth: 460).svg()
            body += "</section>\n"
        }
        if report == nil { body += "<section><p class=\"sub\">No report (train with --report DIR) was found for this run: no confusion matrix.</p></section>" }
        body += "<section><h2>Facts</h2><table id=\"facts\">"
        for (k, v) in RunReports.facts(d.run) { body += "<tr><td class=\"label\">\(esc(k))</td><td class=\"mono\">\(esc(v))</td></tr>" }
        for (k, v) in d.run.parameters.sorted(by: { $0.key < $1.key }) { body += "<tr><td class=\"label\">\(esc(k))</td><td class=\"mono\">\(esc(v))</td></tr>" }
        for (k, v) in d.run.metrics.sorted(by: { $0.key < $1.key }) {
            body += "<tr><td class=\"label\"><strong>\(esc(k))</strong></td><td class=\"mono\">\(esc(formatFixed(v, digits: 4)))</td></tr>"
        }
        body += "</table></section>\n"
        return page(title: "Run \(d.run.id) (\(d.run.kind), \(d.run.status.rawValue))", body: body)
    }

    /// The upload-and-predict page: pick a served model (`models`: name and modality), upload an image (or type
    /// texts), see the top classes and, for images, the Grad-CAM heat map. It posts to the prediction API.
    public static func predict(models: [(name: String, modality: String)]) -> String {
        let esc = HTMLReport.escape
        var body = "<section><h2>Upload and predict</h2>"
        if models.isEmpty { body += "<p class=\"sub\">No model is served.</p>" }
        body += "<form id=\"predict-form\" class=\"inline\"><label>Model <select id=\"model\">"
        for m in models { body += "<option value=\"\(esc(m.name))\" data-modality=\"\(esc(m.modality))\">\(esc(m.name)) (\(esc(m.modality)))</option>" }
        body += "</select></label><input type=\"file\" id=\"file\" accept=\"image/jpeg,image/png\">"
        body += "<input type=\"text\" id=\"text\" placeholder=\"text (text models)\" size=\"40\">"
        body += "<label><input type=\"checkbox\" id=\"explain\" checked> heat map</label><button type=\"submit\" id=\"submit\">Predict</button></form>"
        body += "<div id=\"result\"></div></section>\n"
        return page(title: "Predict", body: body, script: predictScript)
    }

    static let predictScript = """
    const form = document.getElementById('predict-form');
    function esc(s) { const d = document.createElement('div'); d.textContent = String(s); return d.innerHTML; }
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const out = document.getElementById('result');
      const sel = document.getElementById('model');
      if (!sel.value) { out.innerHTML = '<p class="error">No model is served.</p>'; return; }
      const image = sel.selectedOptions[0].dataset.modality === 'image';
      let url = '/v1/models/' + encodeURIComponent(sel.value) + '/predict?top_k=5';
      let init = { method: 'POST' };
      if (image) {
        const f = document.getElementById('file').files[0];
        if (!f) { out.innerHTML = '<p class="error">Choose an image file.</p>'; return; }
        const data = new FormData(); data.append('image', f, f.name); init.body = data;
        if (document.getElementById('explain').checked) url += '&explain=1';
      } else {
        init.headers = { 'Content-Type': 'application/json' };
        init.body = JSON.stringify({ texts: [document.getElementById('text').value] });
      }
      out.innerHTML = '<p class="sub">Predicting…</p>';
      try {
        const r = await fetch(url, init);
        const j = await r.json();
        if (!r.ok) { out.innerHTML = '<p class="error" id="error">' + esc(j.error ? j.error.message : r.status) + '</p>'; return; }
        const preds = Array.isArray(j) ? j : j.predictions;
        let html = '';
        for (const p of preds) {
          html += '<h3>' + esc(p.input) + '</h3>';
          if (p.value !== undefined) html += '<p>value <strong>' + esc(p.value) + '</strong></p>';
          html += '<table class="num"><thead><tr><th>class</th><th>probability</th></tr></thead><tbody>';
          p.top.forEach((t, i) => {
            html += '<tr' + (i === 0 ? ' id="prediction-top"' : '') + '><td class="label">' + esc(t.label) + '</td><td>' + (t.probability * 100).toFixed(2) + '%</td></tr>';
          });
          html += '</tbody></table>';
        }
        if (j.explanations) for (const e of j.explanations) {
          html += '<p class="sub">Grad-CAM for ' + esc(e.label) + '</p><img id="heatmap" alt="Grad-CAM heat map" src="data:image/png;base64,' + e.overlay_png + '">';
        }
        out.innerHTML = html;
      } catch (err) { out.innerHTML = '<p class="error" id="error">' + esc(err) + '</p>'; }
    });
    """
}
