import Foundation
import Tensors

/// One line of the report: a TransferKit figure, the raw-library figure it is compared with, and their ratio.
struct BenchResult {
    let name: String
    let value: Double
    let unit: String
    /// The raw reference's figure in the same unit (nil for a figure with no reference, e.g. peak RSS).
    let reference: Double?
    /// How TransferKit compares with the reference, higher is better (usually value / reference).
    let ratio: Double?
    /// The lowest acceptable ratio, where the issue states one.
    let target: Double?
    /// Peak resident memory of this measurement alone, in MB (whole-model benchmarks).
    var peakRSSMB: Double? = nil

    /// True when the ratio is below the stated target.
    var belowTarget: Bool {
        guard let ratio, let target else { return false }
        return ratio < target
    }
}

/// What the results were measured on.
struct MachineInfo {
    let cpu: String
    let onednn: String
    let openblas: String
    let threads: Int
    /// `OMP_WAIT_POLICY` and `GOMP_SPINCOUNT` as the process runs with them (`default`: unset).
    let ompWait: String
    let ompSpin: String
    let date: String

    /// Reads the CPU model from `/proc/cpuinfo` and the libraries' own descriptions.
    static func current() -> MachineInfo {
        var cpu = "unknown"
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let formatter = ISO8601DateFormatter()
        return MachineInfo(cpu: cpu, onednn: DNNL.versionDescription, openblas: BLASInfo.configuration,
                           threads: Threads.count, ompWait: Threads.openMPWaiting.policy,
                           ompSpin: Threads.openMPWaiting.spinCount,
                           date: formatter.string(from: Date()))
    }
}

/// Renders results as a text table or as one JSON object.
enum Report {
    /// A fixed-width table: name, value, unit, reference, ratio, target; lines below target end with `!`.
    static func table(_ results: [BenchResult], machine: MachineInfo, notes: [String]) -> String {
        var lines: [String] = []
        lines.append("TransferKit transfer-bench — \(machine.cpu), oneDNN \(machine.onednn), \(machine.threads) threads, OMP_WAIT_POLICY \(machine.ompWait), GOMP_SPINCOUNT \(machine.ompSpin), \(machine.date)")
        lines.append("OpenBLAS: \(machine.openblas)")
        lines.append("")
        let header = [pad("name", 26), lpad("value", 10), " " + pad("unit", 8), lpad("reference", 10), lpad("ratio", 7),
                      "  " + pad("target", 6)]
        lines.append(header.joined())
        lines.append(String(repeating: "-", count: 71))
        for r in results {
            let target = r.target.map { "≥" + String(format: "%.2f", $0) } ?? ""
            let row = [pad(r.name, 26), lpad(number(r.value), 10), " " + pad(r.unit, 8),
                       lpad(r.reference.map(number) ?? "—", 10),
                       lpad(r.ratio.map { String(format: "%.3f", $0) } ?? "—", 7),
                       "  " + pad(target, 6), r.belowTarget ? " !" : ""]
            lines.append(row.joined())
        }
        if results.contains(where: \.belowTarget) {
            lines.append("")
            lines.append("! = ratio below target")
        }
        if !notes.isEmpty {
            lines.append("")
            lines.append("Notes:")
            for n in notes { lines.append("  - " + n) }
        }
        return lines.joined(separator: "\n")
    }

    /// `{"results": [{"name", "value", "unit", "reference", "ratio"}], "machine": {...}}` on one line.
    static func json(_ results: [BenchResult], machine: MachineInfo, notes: [String] = []) -> String {
        let items = results.map { r in
            "{\"name\": \(string(r.name)), \"value\": \(jsonNumber(r.value)), \"unit\": \(string(r.unit)), "
                + "\"reference\": \(r.reference.map(jsonNumber) ?? "null"), \"ratio\": \(r.ratio.map(jsonNumber) ?? "null"), \"target\": \(r.target.map(jsonNumber) ?? "null"), "
                + "\"peak_rss_mb\": \(r.peakRSSMB.map(jsonNumber) ?? "null")}"
        }
        let m = "{\"cpu\": \(string(machine.cpu)), \"onednn\": \(string(machine.onednn)), "
            + "\"openblas\": \(string(machine.openblas)), \"threads\": \(machine.threads), \"omp_wait_policy\": \(string(machine.ompWait)), \"gomp_spincount\": \(string(machine.ompSpin)), \"date\": \(string(machine.date))}"
        return "{\"results\": [\(items.joined(separator: ", "))], \"machine\": \(m), \"notes\": [\(notes.map(string).joined(separator: ", "))]}"
    }

    /// A figure with four significant digits or more (no exponent for the magnitudes reported here).
    static func number(_ x: Double) -> String {
        if !x.isFinite { return String(x) }
        let a = Swift.abs(x)
        return String(format: a >= 100 ? "%.1f" : a >= 10 ? "%.2f" : "%.3f", x)
    }

    /// A JSON number, or `null` for NaN and infinities (which JSON cannot represent).
    static func jsonNumber(_ x: Double) -> String {
        x.isFinite ? String(format: "%.4f", x) : "null"
    }

    /// A JSON string literal.
    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    private static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }

    private static func lpad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : String(repeating: " ", count: n - s.count) + s
    }
}
