import Foundation

/// A self-contained HTML page of token attributions (integrated gradients): each token's background is green for a
/// positive attribution (towards the explained class) and red for a negative one, its opacity proportional to
/// |attribution| over the text's largest; hovering shows the value.
public enum AttributionHTML {
    /// One explained text.
    public struct Entry: Sendable {
        public let title: String
        public let tokens: [String]
        public let scores: [Double]
        public let note: String

        public init(title: String, tokens: [String], scores: [Double], note: String) {
            self.title = title; self.tokens = tokens; self.scores = scores; self.note = note
        }
    }

    public static func html(title: String, entries: [Entry]) -> String {
        var out = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(HTMLReport.escape(title))</title><style>"
        out += "body{font:15px/1.7 system-ui,sans-serif;max-width:900px;margin:24px auto;padding:0 16px;color:#111827}"
        out += "section{border:1px solid #e5e7eb;border-radius:10px;padding:12px 16px;margin:14px 0}"
        out += "h2{font-size:16px;margin:0 0 4px}.sub{color:#6b7280;font-size:13px;margin:0 0 8px}"
        out += ".t{padding:1px 2px;border-radius:3px;margin:0 1px}</style></head><body>"
        out += "<h1>\(HTMLReport.escape(title))</h1>"
        for e in entries {
            let top = e.scores.map(Swift.abs).max() ?? 0
            out += "<section><h2>\(HTMLReport.escape(e.title))</h2><p class=\"sub\">\(HTMLReport.escape(e.note))</p><p>"
            for (token, s) in zip(e.tokens, e.scores) {
                let alpha = top > 0 ? Swift.abs(s) / top : 0
                let colour = s >= 0 ? "22,163,74" : "220,38,38"
                out += String(format: "<span class=\"t\" title=\"%.5f\" style=\"background:rgba(%@,%.3f)\">", s, colour, alpha * 0.85)
                out += HTMLReport.escape(token) + "</span>"
            }
            out += "</p></section>"
        }
        return out + "</body></html>\n"
    }
}
