import Foundation

/// One peer figure from `benchmarks/peers.py --json` (PyTorch, ONNX Runtime or OpenVINO).
struct PeerResult: Decodable {
    let name: String
    let peer: String
    let precision: String
    let value: Double
    let unit: String
    let peak_rss_mb: Double?
    let variant: String?
}

/// The whole file `benchmarks/peers.py --json` writes.
struct PeerRun: Decodable {
    let date: String?
    let threads: Int
    let batch: Int?
    let cpu: String?
    let versions: [String: String]?
    let results: [PeerResult]
    let notes: [String]?

    static func load(_ path: String) throws -> PeerRun {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw BenchError("cannot read the peer results \(path): \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(PeerRun.self, from: data) } catch {
            throw BenchError("\(path) is not the JSON benchmarks/peers.py writes: \(error)")
        }
    }
}

/// TransferKit's whole-model figures beside the peers', with the ratios the issues set targets for: inference
/// ≥ 2× PyTorch and ≥ 1.25× the fastest fp32 peer, training steps ≥ 1.5× PyTorch, peak RSS ≤ PyTorch's.
enum PeerReport {
    static let peers = ["pytorch", "onnxruntime", "openvino"]
    static let peerTitles = ["pytorch": "PyTorch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"]

    struct Row {
        let name: String
        let unit: String
        let transferKit: Double
        let peerValues: [String: PeerResult]
        let rss: Double?

        var pytorch: PeerResult? { peerValues["pytorch"] }
        var fastest: PeerResult? { peerValues.values.max { $0.value < $1.value } }
        var vsPyTorch: Double? { pytorch.map { transferKit / $0.value } }
        var vsFastest: Double? { fastest.map { transferKit / $0.value } }
        /// Issue 7: inference ≥ 2× PyTorch, training ≥ 1.5×; issue 26: bf16 training ≥ PyTorch's autocast bf16 step.
        var pytorchTarget: Double { name.hasSuffix("_train_bf16") ? 1.0 : name.contains("_train") ? 1.5 : 2.0 }
        /// Issue 9: fp32 inference ≥ 1.25× the fastest fp32 peer; bf16 inference ≥ OpenVINO bf16.
        /// Issue 26: int8 inference ≥ the faster of OpenVINO int8 and ONNX Runtime int8.
        var fastestTarget: Double? {
            name.hasSuffix("_infer") ? 1.25 : name.hasSuffix("_infer_bf16") || name.hasSuffix("_infer_int8") ? 1.0 : nil
        }
    }

    static func rows(_ results: [BenchResult], _ run: PeerRun) -> [Row] {
        results.filter { $0.name.contains("_infer") || $0.name.contains("_train") }.map { r in
            var byPeer: [String: PeerResult] = [:]
            for p in run.results where p.name == r.name { byPeer[p.peer] = p }
            return Row(name: r.name, unit: r.unit, transferKit: r.value, peerValues: byPeer, rss: r.peakRSSMB)
        }
    }

    /// A Markdown table (it reads as plain text on a terminal too).
    static func markdown(_ results: [BenchResult], _ run: PeerRun, machine: MachineInfo) -> String {
        let rows = rows(results, run)
        var out: [String] = []
        out.append("TransferKit vs peers — \(machine.cpu), \(machine.threads) threads (peers: \(run.threads)), batch \(run.batch ?? 32), "
                   + "fp32 unless the name ends in _bf16, medians; TransferKit \(machine.date), peers \(run.date ?? "?")")
        if let v = run.versions, !v.isEmpty {
            out.append("Peers: " + v.keys.sorted().map { "\($0) \(v[$0]!)" }.joined(separator: ", ") + "; oneDNN \(machine.onednn)")
        }
        out.append("")
        out.append("| benchmark | unit | TransferKit | " + peers.map { peerTitles[$0]! }.joined(separator: " | ")
                   + " | × PyTorch (target) | × fastest peer (target) | peak RSS MB: TK / PyTorch |")
        out.append("|---|---|---:|" + peers.map { _ in "---:|" }.joined() + "---:|---:|---:|")
        for row in rows {
            let cells = peers.map { p in row.peerValues[p].map { Report.number($0.value) + variantNote($0) } ?? "—" }
            let vsPT = row.vsPyTorch.map { String(format: "%.2f", $0) + mark($0, row.pytorchTarget) + " (≥\(fmt(row.pytorchTarget)))" } ?? "—"
            let vsFast: String
            if let f = row.vsFastest, let fastest = row.fastest {
                let target = row.fastestTarget.map { " (≥\(fmt($0)))" } ?? ""
                vsFast = String(format: "%.2f", f) + (row.fastestTarget.map { mark(f, $0) } ?? "") + " vs \(peerTitles[fastest.peer] ?? fastest.peer)" + target
            } else {
                vsFast = "—"
            }
            let rss = (row.rss.map { String(format: "%.0f", $0) } ?? "—") + " / "
                + (row.pytorch?.peak_rss_mb.map { String(format: "%.0f", $0) } ?? "—")
                + ((row.rss != nil && row.pytorch?.peak_rss_mb != nil && row.rss! > row.pytorch!.peak_rss_mb!) ? " !" : "")
            out.append("| \(row.name) | \(row.unit) | \(Report.number(row.transferKit)) | " + cells.joined(separator: " | ")
                       + " | \(vsPT) | \(vsFast) | \(rss) |")
        }
        out.append("")
        out.append("× = TransferKit's throughput divided by the peer's (higher is better); ! = below its target.")
        for n in run.notes ?? [] { out.append("- " + n) }
        return out.joined(separator: "\n")
    }

    private static func variantNote(_ p: PeerResult) -> String { p.variant.map { " (\($0))" } ?? "" }
    private static func mark(_ ratio: Double, _ target: Double) -> String { ratio < target ? " !" : "" }
    private static func fmt(_ x: Double) -> String { String(format: x == x.rounded() ? "%.1f" : "%.2f", x) }
}
