import Foundation
import Tensors

/// Weight initialisers, drawing from a seeded generator so that a model built after ``Initializer/seed(_:)``
/// starts from the same weights every time.
public enum Initializer: Sendable {
    /// He et al. 2015, normal: std = gain / √fanIn with gain √2 (ReLU).
    case kaimingNormal
    /// He et al. 2015, uniform: bound = gain · √(3 / fanIn), gain √2.
    case kaimingUniform
    /// Glorot & Bengio 2010, uniform: bound = √(6 / (fanIn + fanOut)).
    case xavierUniform
    /// Glorot & Bengio 2010, normal: std = √(2 / (fanIn + fanOut)).
    case xavierNormal
    /// Normal with the given standard deviation (BERT uses 0.02).
    case normal(std: Float)
    /// Uniform in ±1/√fanIn: PyTorch's default for `nn.Linear` and `nn.Conv2d` weights and biases
    /// (`kaiming_uniform_(a=√5)`).
    case pytorchDefault
    case zeros
    case ones

    private final class Source: @unchecked Sendable {
        var generator = SeededGenerator(seed: 0)
        let lock = NSLock()
    }
    private static let source = Source()

    /// Reseeds the generator every layer initialiser draws from.
    public static func seed(_ s: UInt64) {
        source.lock.lock()
        source.generator = SeededGenerator(seed: s)
        source.lock.unlock()
    }

    /// fan-in and fan-out of a weight: [out, in, k…] as in PyTorch.
    public static func fans(_ shape: Shape) -> (fanIn: Int, fanOut: Int) {
        guard shape.rank >= 2 else { return (Swift.max(shape.count, 1), Swift.max(shape.count, 1)) }
        let receptive = shape.dims.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// A new tensor of `shape`; `fanIn` overrides the fan-in computed from the shape (for biases).
    public func make(_ shape: Shape, fanIn: Int? = nil) -> Tensor {
        let f = Initializer.fans(shape)
        let fin = Float(fanIn ?? f.fanIn), fout = Float(f.fanOut)
        let s = Initializer.source
        s.lock.lock()
        defer { s.lock.unlock() }
        switch self {
        case .kaimingNormal: return .randn(shape, generator: &s.generator, std: (2 / fin).squareRoot())
        case .kaimingUniform:
            let b = (6 / fin).squareRoot()
            return .uniform(shape, low: -b, high: b, generator: &s.generator)
        case .xavierUniform:
            let b = (6 / (fin + fout)).squareRoot()
            return .uniform(shape, low: -b, high: b, generator: &s.generator)
        case .xavierNormal: return .randn(shape, generator: &s.generator, std: (2 / (fin + fout)).squareRoot())
        case .normal(let std): return .randn(shape, generator: &s.generator, std: std)
        case .pytorchDefault:
            let b = 1 / fin.squareRoot()
            return .uniform(shape, low: -b, high: b, generator: &s.generator)
        case .zeros: return .zeros(shape)
        case .ones: return .ones(shape)
        }
    }

    /// Draws a seed for a layer that keeps its own generator (dropout).
    static func nextSeed() -> UInt64 {
        source.lock.lock()
        defer { source.lock.unlock() }
        return source.generator.next()
    }
}
