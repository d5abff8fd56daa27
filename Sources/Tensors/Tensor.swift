import CKernels
import Foundation

/// An n-dimensional Float32 array that records the operations made on it for reverse-mode differentiation.
///
/// **Semantics.** `Tensor` is a reference type, like a PyTorch tensor: a handle to a storage buffer plus a view
/// (shape, element strides, offset). Operations never modify their inputs; they return new tensors, and views
/// (``reshaped(_:)`` of a contiguous tensor, ``permuted(_:)``, ``transposed(_:_:)``, ``sliced(axis:start:end:)``,
/// ``expanded(to:)``) share the storage of their base. The only in-place mutation is ``assign(_:)`` and
/// ``withMutableData(_:)``, which optimizers and checkpoint loaders use under ``withNoGrad(_:)``.
///
/// **Layout.** Storage is row-major. A tensor produced by a oneDNN primitive may instead hold its data in a blocked
/// layout (``layout``); oneDNN consumers read it as is, and every other reader gets a plain copy through
/// ``contiguous()``.
public final class Tensor: CustomStringConvertible {
    public let shape: Shape
    /// Element strides (row-major for a fresh tensor; 0 for broadcast dimensions of an expanded view).
    public let strides: [Int]
    /// Element offset of this view into ``storage``.
    public let offset: Int
    public let storage: TensorStorage
    /// A oneDNN blocked layout of the storage, or nil for plain strided data.
    public let layout: BlockedLayout?

    /// Whether gradients flow to this tensor. Set it on leaves (parameters); ops set it on their results.
    public var requiresGrad: Bool
    /// The accumulated gradient of a leaf after ``backward()``.
    public var grad: Tensor?
    var gradFn: GradNode?
    var plainCache: Tensor?
    /// Called once per backward pass when this leaf's gradient is complete (``registerGradientReadyHook(_:)``).
    var gradientReadyHooks: [GradientReadyHook] = []

    init(storage: TensorStorage, shape: Shape, strides: [Int]? = nil, offset: Int = 0, layout: BlockedLayout? = nil) {
        self.storage = storage
        self.shape = shape
        self.strides = strides ?? shape.contiguousStrides
        self.offset = offset
        self.layout = layout
        self.requiresGrad = false
    }

    /// An uninitialised contiguous tensor (internal: kernels fill it).
    init(uninitialized shape: Shape) {
        self.storage = TensorStorage(count: shape.count)
        self.shape = shape
        self.strides = shape.contiguousStrides
        self.offset = 0
        self.layout = nil
        self.requiresGrad = false
    }

    /// A tensor holding a copy of `data`, which must have `shape.count` elements.
    public convenience init(shape: Shape, data: [Float], requiresGrad: Bool = false) {
        require(data.count == shape.count, "Tensor(shape:data:): \(data.count) values for shape \(shape)")
        self.init(uninitialized: shape)
        data.withUnsafeBufferPointer { src in
            if let b = src.baseAddress { storage.pointer.update(from: b, count: data.count) }
        }
        self.requiresGrad = requiresGrad
    }

    public convenience init(_ data: [Float], shape: Shape? = nil) {
        self.init(shape: shape ?? Shape([data.count]), data: data)
    }

    /// A rank-0 tensor.
    public convenience init(scalar: Float) { self.init(shape: Shape([]), data: [scalar]) }

    public static func full(_ shape: Shape, _ value: Float) -> Tensor {
        let t = Tensor(uninitialized: shape)
        tk_fill_f32(t.storage.pointer, value, shape.count)
        return t
    }
    public static func zeros(_ shape: Shape) -> Tensor { full(shape, 0) }
    public static func ones(_ shape: Shape) -> Tensor { full(shape, 1) }
    public static func zeros(like t: Tensor) -> Tensor { full(t.shape, 0) }

    /// 0, 1, … , n − 1.
    public static func arange(_ n: Int) -> Tensor { Tensor(shape: [n], data: (0..<n).map(Float.init)) }

    /// Standard normal values from a seeded generator.
    public static func randn(_ shape: Shape, generator: inout SeededGenerator, std: Float = 1) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.count).map { _ in generator.nextNormal() * std })
    }
    /// Uniform values in [low, high) from a seeded generator.
    public static func uniform(_ shape: Shape, low: Float = 0, high: Float = 1, generator: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.count).map { _ in low + (high - low) * generator.nextFloat() })
    }

    public var rank: Int { shape.rank }
    public var count: Int { shape.count }
    /// True when the view is plain, row-major and dense.
    public var isContiguous: Bool { layout == nil && strides == shape.contiguousStrides }

    /// Pointer to the first element of a plain view (callers respect ``strides``).
    var basePointer: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// This tensor as a plain, dense, row-major tensor (itself when it already is one). Differentiable: the copy is
    /// recorded with an identity backward.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let p = plainData()
        let out = Tensor(storage: p.storage, shape: shape)
        return out.recorded("contiguous", [self]) { g, _ in [g] }
    }

    /// A plain copy of the values for kernels (not recorded). A blocked tensor keeps its plain copy cached.
    func plainData() -> Tensor {
        if isContiguous { return self }
        if let cached = plainCache { return cached }
        let out: Tensor
        if let layout {
            out = DNNL.reorderToPlain(self, layout: layout)
            plainCache = out
        } else {
            out = Tensor(uninitialized: shape)
            if count > 0 {
                var dims = shape.dims, st = strides
                Tensor.coalesce(&dims, &st)
                dims.withUnsafeBufferPointer { d in
                    st.withUnsafeBufferPointer { s in
                        tk_strided_copy_f32(basePointer, d.baseAddress, s.baseAddress, Int32(dims.count), out.storage.pointer)
                    }
                }
            }
        }
        return out
    }

    /// Merges adjacent dimensions that are laid out contiguously (fewer, longer inner loops).
    static func coalesce(_ dims: inout [Int], _ strides: inout [Int]) {
        var d: [Int] = [], s: [Int] = []
        for i in 0..<dims.count where dims[i] != 1 {
            if let last = d.last, s.last! == strides[i] * dims[i] {
                d[d.count - 1] = last * dims[i]
                s[s.count - 1] = strides[i]
            } else {
                d.append(dims[i]); s.append(strides[i])
            }
        }
        if d.isEmpty { d = [1]; s = [1] }
        dims = d
        strides = s
    }

    /// A copy of the values in row-major order.
    public func toArray() -> [Float] {
        let c = contiguous()
        return Array(UnsafeBufferPointer(start: c.basePointer, count: count))
    }

    /// The value of a one-element tensor.
    public func item() -> Float {
        require(count == 1, "item(): tensor of shape \(shape) has \(count) elements")
        return contiguous().basePointer[0]
    }

    /// Reads the values of a contiguous copy.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let c = contiguous()
        return try withExtendedLifetime(c) { try body(UnsafeBufferPointer(start: c.basePointer, count: count)) }
    }

    /// Mutates the storage in place (one mutation path for weights). The tensor must be plain and contiguous.
    public func withMutableData<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        require(isContiguous, "withMutableData: tensor of shape \(shape) is a non-contiguous or blocked view")
        plainCache = nil
        storage.version &+= 1
        return try body(UnsafeMutableBufferPointer(start: basePointer, count: count))
    }

    /// Copies `source`'s values into this tensor in place (same shape).
    public func assign(_ source: Tensor) {
        require(source.shape == shape, "assign: shape \(source.shape) into \(shape)")
        let src = source.plainData()
        withMutableData { dst in dst.baseAddress!.update(from: src.basePointer, count: count) }
    }

    /// Changes whenever this tensor's data is written in place (see ``TensorStorage/version``); with `===` on the
    /// tensor it identifies the current values for a cache.
    public var dataVersion: UInt64 { storage.version }

    /// A new leaf tensor sharing this one's data, cut from the tape.
    public func detached() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset, layout: layout)
    }

    /// A deep copy (new storage), cut from the tape.
    public func copy() -> Tensor {
        let c = contiguous()
        let out = Tensor(uninitialized: shape)
        out.storage.pointer.update(from: c.basePointer, count: count)
        return out
    }

    public var description: String {
        let values = toArray()
        let shown = values.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(shown)\(values.count > 8 ? ", …" : "")])"
    }
}

/// A small, fast, seeded random generator (SplitMix64), so initialisation, dropout and shuffling repeat exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / Float(1 << 24)) }
    /// Standard normal (Box–Muller).
    public mutating func nextNormal() -> Float {
        let u1 = Swift.max(Double(next() >> 11) * (1.0 / Double(1 << 53)), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / Double(1 << 53))
        return Float((-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
