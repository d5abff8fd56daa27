import ArgumentParser
import Tensors

extension Precision: ExpressibleByArgument {}

/// `--precision fp32|bf16` for the commands that run a backbone for inference (predict, embed, train's feature
/// extraction, evaluate).
struct PrecisionOption: ParsableArguments {
    @Option(name: .long, help: "Inference precision: fp32, or bf16 (bfloat16 convolutions and matmuls with fp32 accumulation; needs a CPU with avx512_bf16). Training steps always run in fp32.")
    var precision: Precision = .fp32

    func validate() throws {
        if let reason = precision.unsupportedReason { throw ValidationError(reason) }
    }
}
