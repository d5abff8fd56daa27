import CDNNL

/// The arithmetic precision of inference: `fp32`, or `bf16` (bfloat16 weights and activations with fp32
/// accumulation, through oneDNN's `avx512_core_bf16` kernels) for convolutions and linear layers.
///
/// Only work that records nothing for autograd runs in bf16 (inference, feature extraction, the frozen part of a
/// fine-tune); training always computes in fp32. Activations that oneDNN passes between bf16 convolutions stay bf16
/// (a blocked layout whose descriptor says bf16); every other reader gets fp32 through ``Tensor/contiguous()``.
/// Choose it for a scope with ``withPrecision(_:_:)``.
public enum Precision: String, Sendable, CaseIterable, CustomStringConvertible {
    case fp32, bf16

    @TaskLocal static var scoped: Precision = .fp32

    /// The precision of the current scope (fp32 unless inside ``withPrecision(_:_:)``).
    public static var current: Precision { scoped }

    public var description: String { rawValue }

    /// oneDNN's data type for activations and weights.
    var dataType: dnnl_data_type_t { self == .fp32 ? dnnl_f32 : dnnl_bf16 }

    /// Why this CPU cannot run the precision natively, or nil when it can: bf16 needs the AVX-512 BF16 instructions
    /// (oneDNN ISA `avx512_core_bf16` or `avx512_core_amx`). oneDNN would emulate bf16 on plain AVX-512, slower
    /// than fp32, so TransferKit refuses instead.
    public var unsupportedReason: String? {
        guard self == .bf16 else { return nil }
        let isa = dnnl_get_effective_cpu_isa()
        if isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx { return nil }
        return Self.bf16Refusal(isaName: DNNL.isaName(isa))
    }

    /// The refusal message for a CPU whose oneDNN ISA is `isaName`.
    public static func bf16Refusal(isaName: String) -> String {
        "bf16 needs a CPU with AVX-512 BF16 instructions (avx512_bf16; oneDNN ISA avx512_core_bf16); "
            + "this CPU's oneDNN ISA is \(isaName). Use --precision fp32."
    }
}

/// Runs `body` with inference in `precision` (see ``Precision``). The caller checks
/// ``Precision/unsupportedReason`` first; on a CPU without bf16 instructions oneDNN would emulate it.
public func withPrecision<R>(_ precision: Precision, _ body: () throws -> R) rethrows -> R {
    try Precision.$scoped.withValue(precision, operation: body)
}

/// Runs the async `body` with inference in `precision` (see ``withPrecision(_:_:)``).
public func withPrecision<R>(_ precision: Precision, _ body: () async throws -> R) async rethrows -> R {
    try await Precision.$scoped.withValue(precision, operation: body)
}
