import Foundation
import TransferKit


extension LRFinderResult {
    /// The curve as a standalone SVG document: smoothed loss against the learning rate on a log axis, with the
    /// three suggestions marked.
    public func svg(title: String = "Learning-rate sweep") -> String {
        let width = 560.0, height = 320.0, left = 64.0, right = 18.0, top = 34.0, bottom = 46.0
        let plotW = width - left - right, plotH = height - top - bottom
        // Losses above 4× the first one are the divergence: keep them out of the y range.
        let cap = Double(losses.first ?? 1) * 4
        let shown = losses.map { Swift.min(Double($0), cap) }
        let (yTicks, _) = niceTicks(shown.min() ?? 0, shown.max() ?? 1)
        let y0 = yTicks.first ?? 0, y1 = Swift.max(yTicks.last ?? 1, y0 + 1e-9)
        let lx0 = Foundation.log10(Double(learningRates.first ?? 1e-7)), lx1 = Swift.max(Foundation.log10(Double(learningRates.last ?? 10)), lx0 + 1e-9)
        func x(_ lr: Float) -> Double { left + (Foundation.log10(Double(lr)) - lx0) / (lx1 - lx0) * plotW }
        func y(_ v: Double) -> Double { top + (1 - (v - y0) / (y1 - y0)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" font-family=\"sans-serif\">"
        out += "<text x=\"\(f(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">\(HTMLReport.escape(title))</text>"
        for t in yTicks {
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y(t)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y(t)))\" stroke=\"#e3e7ee\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y(t) + 4))\" text-anchor=\"end\" font-size=\"11\">\(String(format: "%.3g", t))</text>"
        }
        for d in Int(Foundation.floor(lx0 + 1e-6))...Int(Foundation.ceil(lx1 - 1e-6)) where Double(d) >= lx0 - 1e-6 && Double(d) <= lx1 + 1e-6 {
            let xx = left + (Double(d) - lx0) / (lx1 - lx0) * plotW
            out += "<line x1=\"\(f(xx))\" y1=\"\(f(top))\" x2=\"\(f(xx))\" y2=\"\(f(top + plotH))\" stroke=\"#e3e7ee\"/>"
            out += "<text x=\"\(f(xx))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\" font-size=\"11\">1e\(d)</text>"
        }
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\" font-size=\"12\">learning rate (log scale)</text>"
        out += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">smoothed loss</text>"
        let points = zip(learningRates, shown).map { "\(f(x($0))),\(f(y($1)))" }.joined(separator: " ")
        out += "<polyline fill=\"none\" stroke=\"#3366cc\" stroke-width=\"2\" points=\"\(points)\"/>"
        for (k, (name, lr, color)) in [("valley", valley, "#d62728"), ("steepest", steepest, "#2ca02c"), ("min/10", minimumOverTen, "#ff7f0e")].enumerated() {
            let i = learningRates.indices.min { Swift.abs(Foundation.log(learningRates[$0] / lr)) < Swift.abs(Foundation.log(learningRates[$1] / lr)) } ?? 0
            out += "<circle cx=\"\(f(x(lr)))\" cy=\"\(f(y(shown[i])))\" r=\"5\" fill=\"\(color)\"><title>\(name) \(String(format: "%.2e", lr))</title></circle>"
            out += "<text x=\"\(f(x(lr) + 7))\" y=\"\(f(y(shown[i]) - 8 - 14 * Double(k)))\" font-size=\"11\" fill=\"\(color)\">\(name) \(String(format: "%.1e", lr))</text>"
        }
        return out + "</svg>\n"
    }
}
