import Foundation

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
