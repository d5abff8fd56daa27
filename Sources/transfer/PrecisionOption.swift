import ArgumentParser
import Foundation
import Tensors
import TransferKit

extension Precision: ExpressibleByArgument {}

/// `--precision fp32|bf16` for the commands that run a backbone for inference (predict, embed, train's feature
/// extraction, evaluate).
struct PrecisionOption: ParsableArguments {
    @Option(name: .long, help: "Inference precision: fp32, or bf16 (bfloat16 convolutions and matmuls with fp32 accumulation; needs a CPU with avx512_bf16). On train, bf16 also runs the training steps in bf16 mixed precision (fp32 master weights and optimizer state). Default: a bundle's own precision (the one it was trained with), else fp32.")
    var precision: Precision?

    func validate() throws {
        if let precision, let reason = precision.unsupportedReason { throw ValidationError("--precision \(precision): \(reason)") }
    }

    /// The precision to run `model` in: the option, else the precision a bundle at `model` was trained with
    /// (so its cached features match), else fp32.
    func effective(model: String?) throws -> Precision {
        if let precision { return precision }
        guard let model, FileManager.default.fileExists(atPath: model + "/manifest.json"),
              let manifest = try? ModelBundle.manifest(at: URL(fileURLWithPath: model)),
              let recorded = manifest.precision else { return .fp32 }
        guard let p = Precision(rawValue: recorded) else {
            throw ValidationError("\(model)/manifest.json: unknown precision \"\(recorded)\" (known: fp32, bf16)")
        }
        if let reason = p.unsupportedReason {
            throw ValidationError("\(model) was trained with --precision \(p): \(reason)")
        }
        return p
    }
}
