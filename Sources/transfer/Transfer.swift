import ArgumentParser
import Foundation
import Tensors

/// The `transfer` command-line tool.
@main
struct Transfer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "Transfer learning in Swift: adapt pretrained models to your own data.",
        version: TransferKitVersion.string,
        subcommands: [Info.self, ModelsCommand.self, FetchCommand.self, InspectCommand.self, PredictCommand.self, EmbedCommand.self, TrainCommand.self, TuneCommand.self, FeaturesCommand.self, LRFindCommand.self, EvaluateCommand.self, RunsCommand.self, DemoCommand.self, DatasetsCommand.self, AugmentPreviewCommand.self,
                      ExplainCommand.self, ClusterCommand.self, PretrainCommand.self, LoRACommand.self, AdaptCommand.self, ExportCommand.self, QuantizeCommand.self,
                      ServeCommand.self, DistillCommand.self,
                      SegmentationSetCommand.self,
                      FewShotCommand.self, ZeroShotCommand.self, PrototypeBundleCommand.self])

    /// Restarts itself with passive OpenMP waiting unless `OMP_WAIT_POLICY` is set (``Threads/adoptPassiveWaiting()``),
    /// parses the command line (every option is checked by its command's `validate()`), refuses a bad
    /// `TRANSFERKIT_THREADS`, `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT`, runs the command, and reports any failure as one `Error: …` line on
    /// stderr with a non-zero exit status (``fail(_:arguments:)``).
    static func main() async {
        Threads.adoptPassiveWaiting()
        var arguments = Array(CommandLine.arguments.dropFirst())
        do { arguments = try TrainConfigFile.expand(arguments) } catch { fail(error, arguments: arguments) }
        var command: ParsableCommand
        do { command = try parseAsRoot(arguments) } catch { fail(error, arguments: arguments) }
        do {
            _ = try Threads.environmentCount()
            try Threads.validateOpenMPEnvironment()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            fail(error, arguments: arguments)
        }
    }
}

/// `transfer info`: what this build runs on.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the engine's libraries, CPU ISA, thread count and OpenMP wait policy.")

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func run() throws {
        let facts: [(String, String)] = [
            ("version", TransferKitVersion.string),
            ("threads", String(Threads.count)),
            ("omp_wait", Threads.openMPWaiting.policy),
            ("omp_spin", Threads.openMPWaiting.spinCount),
            ("onednn", DNNL.versionDescription),
            ("openblas", BLASInfo.configuration),
        ]
        if json {
            let obj = Dictionary(uniqueKeysWithValues: facts)
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for (k, v) in facts { print("\(k.padding(toLength: 10, withPad: " ", startingAt: 0)) \(v)") }
        }
    }
}
