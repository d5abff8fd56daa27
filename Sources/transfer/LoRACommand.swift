import Adapters
import ArgumentParser
import Foundation
import Models
import TransferKit

/// The `--lora-*` options of `transfer train` (with `--strategy lora`).
struct LoRAOptions: ParsableArguments {
    @Option(name: .long, help: "LoRA rank r with --strategy lora, \(LoRAConfig.rankRange.lowerBound)…\(LoRAConfig.rankRange.upperBound) (default 8).") var loraRank: Int?
    @Option(name: .long, help: "LoRA α with --strategy lora: the update B·A is scaled by α/r, in (0, \(Int(LoRAConfig.maxAlpha))] (default 16).") var loraAlpha: Float?
    @Option(name: .long, help: "Dropout on each adapter's input in training with --strategy lora, in [0, 1) (default 0).") var loraDropout: Float?
    @Option(name: .long, help: "Comma-separated key paths of the layers to adapt with --strategy lora, '*' standing for one component (default: text models encoder.layer.*.attention.self.query,encoder.layer.*.attention.self.value; image models the 1×1 convolutions of the groups fine-tuning unfreezes).") var loraTargets: String?

    /// The default peak learning rate of the lora strategy (adapters and head).
    static let defaultLearningRate: Float = 1e-3

    var targets: [String]? { loraTargets.map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } } }

    /// Refuses `--lora-*` without `--strategy lora`, and values outside their ranges.
    func validate(strategy: Strategy) throws {
        let given = [("--lora-rank", loraRank != nil), ("--lora-alpha", loraAlpha != nil), ("--lora-dropout", loraDropout != nil),
                     ("--lora-targets", loraTargets != nil)].filter(\.1).map(\.0)
        if strategy != .lora, let first = given.first {
            throw ValidationError("\(first) applies to --strategy lora (received --strategy \(strategy.rawValue))")
        }
        do throws(LoRAError) { try config(targets: targets ?? ["default"]).validate() } catch {
            guard case let .invalidOption(field, value, accepted) = error else { throw ValidationError(error.description) }
            throw ValidationError("--lora-\(field) must be \(accepted) (received \(value))")
        }
    }

    func config(targets: [String]) -> LoRAConfig {
        LoRAConfig(rank: loraRank ?? 8, alpha: loraAlpha ?? 16, dropout: loraDropout ?? 0, targets: targets)
    }

    /// The config for `backbone`, with its default targets unless `--lora-targets` names some; the targets are
    /// resolved now so that a pattern matching nothing fails before any training.
    func config(for backbone: FeatureBackbone) throws -> LoRAConfig {
        let c = config(targets: targets ?? LoRABackboneAdapter.defaultTargets(for: backbone))
        do { _ = try LoRA.targets(c, in: backbone.module) } catch { throw ValidationError("--lora-targets: \(error)") }
        return c
    }
}

/// `transfer lora`: LoRA bundles.
struct LoRACommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lora", abstract: "Work with LoRA bundles (trained with --strategy lora).",
                                                    subcommands: [LoRAMergeCommand.self])
}

/// `transfer lora merge`: fold a bundle's adapter into the backbone weights.
struct LoRAMergeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge a LoRA bundle's adapter into the backbone (W += α/r·B·A) and write a plain bundle that runs at full speed.")

    @Argument(help: "A bundle trained with --strategy lora.") var bundle: String
    @Option(name: .long, help: "Output bundle directory (not the input).") var out: String
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard !bundle.isEmpty else { throw ValidationError("BUNDLE must be a bundle directory (received an empty string)") }
        try requireDirectoryPath("--out", out, holds: "the merged bundle")
        guard URL(fileURLWithPath: bundle).standardizedFileURL.path != URL(fileURLWithPath: out).standardizedFileURL.path else {
            throw ValidationError("--out must differ from BUNDLE (received \(out) for both)")
        }
    }

    func run() async throws {
        let input = URL(fileURLWithPath: bundle), output = URL(fileURLWithPath: out)
        let manifest: ModelBundle.Manifest
        do { manifest = try ModelBundle.manifest(at: input) } catch { throw RuntimeError("\(error)") }
        guard manifest.strategy == Strategy.lora.rawValue, !manifest.includesBackbone else {
            throw RuntimeError("\(bundle) holds no adapter to merge (strategy \(manifest.strategy)\(manifest.includesBackbone ? ", backbone weights included" : "")): merge takes a bundle trained with --strategy lora")
        }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch { throw RuntimeError(error.description) }
        let weights = try await backboneWeights(spec)
        let start = Date()
        let model: TransferModel
        do { model = try LoRABundle.merge(input, backboneWeights: weights, output: output) } catch { throw RuntimeError("\(error)") }
        let seconds = Date().timeIntervalSince(start)
        if json {
            print(try jsonString(["bundle": out, "merged_from": bundle, "backbone": manifest.backbone,
                                  "parameters": model.backbone.module.parameterCount.total, "seconds": seconds]))
        } else {
            print(String(format: "merged %@ into %@ (%.1f s)", bundle, out, seconds))
        }
    }
}
