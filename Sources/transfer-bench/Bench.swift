import ArgumentParser
import Foundation
import Tensors

/// `transfer-bench`: TransferKit's kernels against the raw libraries they wrap (OpenBLAS, oneDNN, memcpy), on the
/// same shapes and thread count. Each figure is the median of repeated timings taken after warm-up runs; the
/// TransferKit op and its reference are timed in alternation.
@main
struct TransferBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer-bench",
        abstract: "Measure TransferKit's ops against raw OpenBLAS / oneDNN / memcpy references.",
        discussion: "Benchmarks: " + Benchmarks.all.map(\.name).joined(separator: ", "))

    @Flag(name: .long, help: "Print exactly one JSON object (results and machine) instead of the table.")
    var json = false

    @Option(name: .long, help: "Thread count for OpenBLAS, oneDNN and TransferKit (default: TRANSFERKIT_THREADS or all cores).")
    var threads: Int?

    @Option(name: .long, help: "Run only the benchmarks whose name contains this substring.")
    var filter: String?

    @Option(name: .long, help: "Timed runs per measurement (the median is reported; matmul_1024, add and gelu run 2× as many, the backbone half). The default makes a full run take about 1–2 minutes on 2 cores.")
    var repeats: Int = 81

    @Option(name: .long, help: "Untimed warm-up runs before each measurement.")
    var warmup: Int = 2

    @Option(name: .long, help: ArgumentHelp("Run exactly this benchmark in this process (how whole-model benchmarks run, each in a fresh child process, so that their peak RSS is their own).", visibility: .hidden))
    var only: String?

    @Option(name: .long, help: "The JSON benchmarks/peers.py wrote: adds a table of TransferKit against PyTorch, ONNX Runtime and OpenVINO.")
    var peers: String?

    @Option(name: .long, help: "Also write the report as Markdown to this file (make bench: benchmarks/RESULTS.md).")
    var results: String?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
        if warmup < 0 { throw ValidationError("--warmup must not be negative") }
    }

    /// Restarts itself with passive OpenMP waiting unless `OMP_WAIT_POLICY` is set, as `transfer` does
    /// (``Threads/adoptPassiveWaiting()``), so the rows measure what the tool runs; then parses and runs.
    static func main() {
        Threads.adoptPassiveWaiting()
        do {
            try Threads.validateOpenMPEnvironment()
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    func run() throws {
        // Set the thread count before any library spins up its threads.
        if let threads { Threads.setCount(threads) } else { _ = Threads.count }
        let selected = Benchmarks.all.filter { b in only.map { b.name == $0 } ?? (filter == nil || b.name.contains(filter!)) }
        if selected.isEmpty {
            throw ValidationError("no benchmark name contains \"\(filter ?? "")\"; names: "
                                  + Benchmarks.all.map(\.name).joined(separator: ", "))
        }
        let peerRun = try peers.map { path in
            do { return try PeerRun.load(path) } catch { throw ValidationError("\(error)") }
        }
        let showProgress = !json && isatty(STDERR_FILENO) != 0
        let ctx = BenchContext(plan: TimingPlan(warmup: warmup, repeats: repeats), raw: RawEngine())
        var results: [BenchResult] = []
        let start = monotonicSeconds()
        for (i, b) in selected.enumerated() {
            if showProgress { progress("[\(i + 1)/\(selected.count)] \(b.name) …") }
            let t0 = monotonicSeconds()
            if only == nil && ModelBench.runsInChildProcess(b.name) {
                results.append(try ModelBench.runInChild(b.name, threads: Threads.count, repeats: repeats, warmup: warmup, ctx: ctx))
            } else {
                var r = b.run(ctx)
                // A child process runs one benchmark alone: its whole high-water mark is that benchmark's.
                if only != nil { r.peakRSSMB = highWaterMarkMegabytes() }
                results.append(r)
            }
            if showProgress { progress(String(format: "[%d/%d] %@ done in %.1f s", i + 1, selected.count, b.name, monotonicSeconds() - t0)) }
        }
        if showProgress { progress(String(format: "total %.1f s", monotonicSeconds() - start)) }
        let machine = MachineInfo.current()
        let table = Report.table(results, machine: machine, notes: ctx.notes)
        let peerTable = peerRun.map { PeerReport.markdown(results, $0, machine: machine) }
        if only != nil {
            print(Report.json(results, machine: machine, notes: ctx.notes))
        } else if json {
            print(Report.json(results, machine: machine))
        } else {
            print(table)
            if let peerTable { print("\n" + peerTable) }
        }
        if let path = self.results {
            let text = "# TransferKit benchmark results\n\nWritten by `make bench` (transfer-bench --results); regenerate, do not edit.\n\n"
                + (peerTable.map { "## Against the peers\n\n" + $0 + "\n\n" } ?? "")
                + "## Against the raw libraries\n\n```\n" + table + "\n```\n"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    /// One progress line on stderr.
    private func progress(_ line: String) {
        FileHandle.standardError.write(Data(("transfer-bench: " + line + "\n").utf8))
    }
}
