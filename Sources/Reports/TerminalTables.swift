import Foundation
import TransferKit

extension ClassificationMetrics {
    /// A plain-text report in the layout of scikit-learn's `classification_report`: one row per class with
    /// precision, recall, F1 and support, then accuracy and the macro and weighted averages, then top-5 accuracy,
    /// log-loss and calibration error.
    public func terminalSummary() -> String {
        var table = MetricsTextTable(header: ["", "precision", "recall", "f1-score", "support"])
        for (label, s) in zip(labels, perClass) {
            table.row([label, formatFixed(s.precision), formatFixed(s.recall), formatFixed(s.f1), String(s.support)])
        }
        table.separator()
        let n = String(sampleCount)
        table.row(["accuracy", "", "", formatFixed(accuracy), n])
        table.row(["macro avg", formatFixed(macroPrecision), formatFixed(macroRecall), formatFixed(macroF1), n])
        table.row(["weighted avg", formatFixed(weightedPrecision), formatFixed(weightedRecall), formatFixed(weightedF1), n])
        var lines = [table.render()]
        var extras: [String] = []
        if let top5Accuracy { extras.append("top-5 accuracy \(formatFixed(top5Accuracy))") }
        extras.append("log-loss \(formatFixed(logLoss))")
        extras.append("ECE \(formatFixed(ece))")
        lines.append(extras.joined(separator: "   "))
        return lines.joined(separator: "\n")
    }
}

extension RegressionMetrics {
    /// MAE, RMSE and R², one per line.
    public func terminalSummary() -> String {
        var table = MetricsTextTable(header: ["", "value"])
        table.row(["MAE", formatFixed(mae, digits: 4)])
        table.row(["RMSE", formatFixed(rmse, digits: 4)])
        table.row(["R²", formatFixed(r2, digits: 4)])
        return table.render()
    }
}

extension MultiLabelMetrics {
    /// Per-class precision, recall, F1, support and threshold, then the micro and macro F1 and subset accuracy.
    public func terminalSummary() -> String {
        var table = MetricsTextTable(header: ["", "precision", "recall", "f1-score", "support", "threshold"])
        for (k, s) in perClass.enumerated() {
            table.row([labels[k], formatFixed(s.precision), formatFixed(s.recall), formatFixed(s.f1), String(s.support),
                       formatFixed(Double(thresholds[k]))])
        }
        table.separator()
        table.row(["micro avg", "", "", formatFixed(microF1), String(positiveCount), ""])
        table.row(["macro avg", formatFixed(average(perClass.map(\.precision))), formatFixed(average(perClass.map(\.recall))),
                   formatFixed(macroF1), String(positiveCount), ""])
        return table.render() + "\nsubset accuracy \(formatFixed(subsetAccuracy))"
    }
}

extension MetricsReport {
    /// The task's aligned plain-text table (see each metrics type's `terminalSummary()`).
    public func terminalSummary() -> String {
        switch self {
        case .classification(let m): m.terminalSummary()
        case .regression(let m): m.terminalSummary()
        case .multiLabel(let m): m.terminalSummary()
        }
    }
}

/// The mean of `xs` (0 when empty).
private func average(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }

// MARK: - Text tables

/// `value` with `digits` decimals.
func formatFixed(_ value: Double, digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }

/// A plain-text table: the first column left-aligned, the others right-aligned, columns two spaces apart.
struct MetricsTextTable {
    private var header: [String]
    private var rows: [[String]?] = []  // nil: a blank separator line

    init(header: [String]) { self.header = header }

    mutating func row(_ cells: [String]) {
        precondition(cells.count == header.count, "MetricsTextTable: \(cells.count) cells for \(header.count) columns")
        rows.append(cells)
    }

    mutating func separator() { rows.append(nil) }

    func render() -> String {
        var widths = header.map(\.count)
        for case let r? in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (i, cell) in cells.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                out += i == 0 ? cell + pad : "  " + pad + cell
            }
            while out.hasSuffix(" ") { out.removeLast() }
            return out
        }
        return ([line(header)] + rows.map { $0.map(line) ?? "" }).joined(separator: "\n")
    }
}
