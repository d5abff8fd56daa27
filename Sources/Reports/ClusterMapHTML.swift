import Foundation

/// A self-contained HTML page that maps feature vectors in 2-D (e.g. their first two principal components): one mark
/// per point coloured by its cluster, drawn as the point's thumbnail (images) or a dot whose tooltip shows a text
/// snippet, with the true label in the tooltip when there is one.
public enum ClusterMapHTML {
    /// One point of the map.
    public struct Point: Sendable {
        public let x: Double, y: Double
        public let cluster: Int
        public let label: String?
        public let thumbnailPNG: [UInt8]?
        public let snippet: String?
        public let source: String

        public init(x: Double, y: Double, cluster: Int, label: String?, thumbnailPNG: [UInt8]?, snippet: String?, source: String) {
            self.x = x; self.y = y; self.cluster = cluster; self.label = label
            self.thumbnailPNG = thumbnailPNG; self.snippet = snippet; self.source = source
        }
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                          "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"]

    /// The page: a heading, `summary` lines (figures of the run), the map, and a legend of clusters with sizes.
    public static func html(title: String, summary: [String], points: [Point], axes: (String, String) = ("PC 1", "PC 2")) -> String {
        let width = 960.0, height = 720.0, pad = 30.0
        let xs = points.map(\.x), ys = points.map(\.y)
        let (x0, x1) = (xs.min() ?? 0, xs.max() ?? 1), (y0, y1) = (ys.min() ?? 0, ys.max() ?? 1)
        func sx(_ v: Double) -> Double { pad + (v - x0) / Swift.max(x1 - x0, 1e-12) * (width - 2 * pad) }
        func sy(_ v: Double) -> Double { height - pad - (v - y0) / Swift.max(y1 - y0, 1e-12) * (height - 2 * pad) }
        var out = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(HTMLReport.escape(title))</title><style>"
        out += "body{font:14px/1.5 system-ui,sans-serif;margin:20px;color:#111827}svg{border:1px solid #e5e7eb;border-radius:8px;background:#fff}"
        out += ".legend span{display:inline-block;margin:0 12px 4px 0}.sw{width:11px;height:11px;border-radius:3px;display:inline-block;margin-right:4px;vertical-align:-1px}"
        out += "</style></head><body><h1>\(HTMLReport.escape(title))</h1>"
        for line in summary { out += "<p>\(HTMLReport.escape(line))</p>" }
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">"
        out += "<text x=\"\(Int(width / 2))\" y=\"\(Int(height - 8))\" font-size=\"12\" fill=\"#6b7280\">\(axes.0)</text>"
        out += "<text x=\"6\" y=\"16\" font-size=\"12\" fill=\"#6b7280\">\(axes.1)</text>"
        for p in points {
            let colour = palette[p.cluster % palette.count]
            var tip = "cluster \(p.cluster)" + (p.label.map { " · label \($0)" } ?? "") + " · " + p.source
            if let s = p.snippet { tip += "\n" + String(s.prefix(240)) }
            let (cx, cy) = (sx(p.x), sy(p.y))
            out += "<g><title>\(HTMLReport.escape(tip))</title>"
            if let png = p.thumbnailPNG {
                out += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"22\" height=\"22\" fill=\"none\" stroke=\"%@\" stroke-width=\"2\"/>", cx - 11, cy - 11, colour)
                out += String(format: "<image x=\"%.1f\" y=\"%.1f\" width=\"20\" height=\"20\" href=\"data:image/png;base64,%@\"/>",
                              cx - 10, cy - 10, Data(png).base64EncodedString())
            } else {
                out += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%@\" fill-opacity=\"0.8\"/>", cx, cy, colour)
            }
            out += "</g>"
        }
        out += "</svg><div class=\"legend\">"
        var sizes = [Int: Int]()
        for p in points { sizes[p.cluster, default: 0] += 1 }
        for (c, n) in sizes.sorted(by: { $0.key < $1.key }) {
            out += "<span><i class=\"sw\" style=\"background:\(palette[c % palette.count])\"></i>cluster \(c) (\(n))</span>"
        }
        return out + "</div></body></html>\n"
    }
}
