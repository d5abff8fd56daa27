import CDNNL
import Foundation

/// A training precision this CPU cannot run (bf16 without the AVX-512 BF16 instructions).
public struct UnsupportedPrecisionError: Error, CustomStringConvertible, Equatable {
    public let precision: Precision
    public let reason: String
    public var description: String { "training precision \(precision): \(reason)" }
}

extension Precision {
    @TaskLocal static var trainingScoped: Precision = .fp32

    /// The precision of recorded (training) convolutions and linear layers in the current scope: fp32 unless inside
    /// ``withTrainingPrecision(_:_:)``.
    public static var training: Precision { trainingScoped }

    /// Throws ``UnsupportedPrecisionError`` when this CPU cannot run the precision natively.
    public func checkSupported() throws {
        if let reason = unsupportedReason { throw UnsupportedPrecisionError(precision: self, reason: reason) }
    }
}

/// Runs `body` with bf16 mixed-precision training when `precision` is `.bf16` (Micikevicius et al., "Mixed
/// Precision Training", ICLR 2018; Kalamkar et al., "A Study of BFLOAT16 for Deep Learning Training", 2019):
/// parameters, their gradients and optimizer state stay fp32 (master weights); recorded convolutions and linear
/// layers read bf16 copies of their inputs and weights and accumulate and write in fp32 through oneDNN's
/// `avx512_core_bf16` kernels, forward and backward (data and weight gradients). Everything else — batch-norm
/// statistics, softmax, losses, elementwise ops, the optimizer — runs in fp32, as PyTorch's CPU autocast does.
/// The bf16 copy of each weight is made once per data version (see ``BF16Training``).
///
/// Throws ``UnsupportedPrecisionError`` before running anything on a CPU without avx512_bf16.
public func withTrainingPrecision<R>(_ precision: Precision, _ body: () throws -> R) throws -> R {
    try precision.checkSupported()
    return try Precision.$trainingScoped.withValue(precision, operation: body)
}

/// The async form of ``withTrainingPrecision(_:_:)``.
public func withTrainingPrecision<R>(_ precision: Precision, _ body: () async throws -> R) async throws -> R {
    try precision.checkSupported()
    return try await Precision.$trainingScoped.withValue(precision, operation: body)
}

/// Which passes of a recorded op run in bf16 under ``withTrainingPrecision(_:_:)``, and the bf16 weight cache.
public enum BF16Training {
    /// How a pass is chosen.
    enum Policy {
        /// bf16 only for the passes whose oneDNN 2.6.3 bf16 kernels measured faster than fp32 here
        /// (``convPlan(_:)``, docs/bf16-training.md).
        case fasterPasses
        /// Every pass of every convolution and linear layer in bf16 (the numerics tests).
        case everyPass
    }

    @TaskLocal static var policy: Policy = .fasterPasses

    /// Whether recording ops should take the bf16 paths now.
    static var isActive: Bool { Precision.training == .bf16 }

    /// Which passes of a convolution run in bf16.
    struct ConvPlan: Equatable {
        var forward: Bool, backwardData: Bool, backwardWeights: Bool
        var any: Bool { forward || backwardData || backwardWeights }
    }

    /// The passes of `g` that run in bf16. Measured with raw oneDNN 2.6.3 primitives (batch 32, 2 threads, AMD EPYC
    /// with avx512_bf16; docs/bf16-training.md): fp32 3×3 convolutions run Winograd, so bf16 wins only 1.0–1.5×
    /// forward and backward-data; bf16 1×1 convolutions (`jit_bf16_1x1`) are 0.8–0.9× fp32 in every pass; bf16
    /// backward-weights of strided 3×3 convolutions and of 7×7 maps is 3–6× slower than fp32; depthwise 3×3 is 1.36×
    /// faster in bf16 over its three passes. So: 1×1 stays fp32; depthwise runs every pass in bf16; other dense
    /// convolutions run forward and backward-data in bf16 and backward-weights in bf16 only at stride 1 with at
    /// least 14×14 outputs, or for large (≥ 5×5) kernels.
    static func convPlan(_ g: Conv2dGeometry) -> ConvPlan {
        if policy == .everyPass { return ConvPlan(forward: true, backwardData: true, backwardWeights: true) }
        if g.kh * g.kw == 1 { return ConvPlan(forward: false, backwardData: false, backwardWeights: false) }
        if g.groups > 1 { return ConvPlan(forward: true, backwardData: true, backwardWeights: true) }
        let bwdW = (g.stride == (1, 1) && g.oh * g.ow >= 196) || g.kh * g.kw >= 25
        return ConvPlan(forward: true, backwardData: true, backwardWeights: bwdW)
    }

    // MARK: - Weight cache

    private struct Entry {
        weak var source: Tensor?
        let version: UInt64
        let layout: String
        let converted: Tensor
    }

    private final class Cache: @unchecked Sendable {
        var entries: [ObjectIdentifier: [Entry]] = [:]
        let lock = NSLock()
    }

    private static let cache = Cache()

    /// `weight` converted to bf16 in layout `md` by `make`, made once per (tensor identity, data version, layout):
    /// an optimizer step bumps the data version, so each weight is converted once per step for each layout its
    /// primitives want (oneDNN may want different ones for forward and backward-data).
    static func converted(_ weight: Tensor, as md: dnnl_memory_desc_t, _ make: () -> Tensor) -> Tensor {
        let id = ObjectIdentifier(weight), layout = DNNL.key(md), version = weight.dataVersion
        cache.lock.lock()
        if let hit = cache.entries[id]?.first(where: { $0.source === weight && $0.version == version && $0.layout == layout }) {
            cache.lock.unlock()
            return hit.converted
        }
        cache.lock.unlock()
        let t = make()
        cache.lock.lock()
        defer { cache.lock.unlock() }
        // Drop entries of freed tensors and of older versions of this one.
        cache.entries = cache.entries.filter { $0.value.contains { $0.source != nil } }
        var list = (cache.entries[id] ?? []).filter { $0.source === weight && $0.version == version }
        list.append(Entry(source: weight, version: version, layout: layout, converted: t))
        cache.entries[id] = list
        return t
    }

    /// How many bf16 weight copies are cached (tests check that a step converts each weight once).
    static var cachedCount: Int {
        cache.lock.lock()
        defer { cache.lock.unlock() }
        return cache.entries.values.reduce(0) { $0 + $1.count }
    }

    /// Empties the weight cache.
    public static func clearCache() {
        cache.lock.lock()
        cache.entries = [:]
        cache.lock.unlock()
    }
}
