import Foundation
import Tensors

/// A set of named parameters that share a learning rate and a weight decay: PyTorch's `param_groups` entry, or
/// one of fastai's layer groups.
///
/// Several groups give discriminative learning rates: fastai trains the earlier (more general) layer groups of a
/// pretrained network with lower rates than the later ones and the new head (`Learner.fit_one_cycle(n,
/// slice(lr/10, lr))`, see ``evenlySpacedRates(maxLR:count:divisor:)``). Parameter names key the optimizer's
/// per-parameter state, so they must be unique across the groups of one optimizer.
public struct ParameterGroup {
    /// The parameters, by name (e.g. the checkpoint keys of `Module.namedParameters()`).
    public var parameters: [(name: String, tensor: Tensor)]
    /// The base learning rate; a schedule multiplies it by its factor at each step.
    public var learningRate: Float
    /// Weight decay: L2 added to the gradient (SGD, Adam) or decoupled (AdamW), as in PyTorch.
    public var weightDecay: Float
    /// A label for logs.
    public var name: String

    /// A group of `parameters` with its own learning rate and weight decay.
    public init(name: String = "", parameters: [(name: String, tensor: Tensor)], learningRate: Float, weightDecay: Float = 0) {
        self.name = name
        self.parameters = parameters
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }

    /// Splits named parameters into groups by name prefix, in the spirit of fastai's splitters
    /// (`Learner(splitter=...)`, whose groups then get `slice(lr_min, lr_max)` learning rates).
    ///
    /// Group `i` takes every parameter that matches a prefix of `prefixes[i]` and no earlier group. A prefix matches
    /// a name equal to it or starting with it followed by `.`, so `"_blocks.1"` matches `"_blocks.1.conv.weight"`
    /// but not `"_blocks.10.conv.weight"`. An empty prefix list matches every parameter left (use it last, for the
    /// head). Parameters keep their order within a group.
    ///
    /// - Parameters:
    ///   - named: the parameters, e.g. `model.namedParameters()`.
    ///   - prefixes: one prefix list per group, earliest layers first.
    ///   - learningRates: one base learning rate per group (e.g. ``evenlySpacedRates(maxLR:count:divisor:)``).
    ///   - weightDecay: the weight decay of every group.
    ///   - names: labels of the groups (default `group0`, `group1`, …).
    /// - Throws: ``OptimizerError/countMismatch(what:expected:found:)`` when `learningRates` or `names` does not
    ///   have one entry per prefix list; ``OptimizerError/unmatchedParameter(_:)`` for a parameter no group takes.
    public static func split(
        _ named: [(String, Tensor)], prefixes: [[String]], learningRates: [Float], weightDecay: Float = 0,
        names: [String]? = nil
    ) throws(OptimizerError) -> [ParameterGroup] {
        guard learningRates.count == prefixes.count else {
            throw .countMismatch(what: "learning rates", expected: prefixes.count, found: learningRates.count)
        }
        if let names, names.count != prefixes.count {
            throw .countMismatch(what: "names", expected: prefixes.count, found: names.count)
        }
        var members = [[(name: String, tensor: Tensor)]](repeating: [], count: prefixes.count)
        for (name, tensor) in named {
            let matched = prefixes.firstIndex { list in
                list.isEmpty || list.contains { name == $0 || name.hasPrefix($0 + ".") }
            }
            guard let matched else { throw .unmatchedParameter(name) }
            members[matched].append((name, tensor))
        }
        return prefixes.indices.map { i in
            ParameterGroup(name: names?[i] ?? "group\(i)", parameters: members[i], learningRate: learningRates[i],
                           weightDecay: weightDecay)
        }
    }
}

/// `count` learning rates spaced geometrically from `maxLR / divisor` up to `maxLR`, one per parameter group,
/// earliest group first.
///
/// This is fastai's `slice(maxLR / divisor, maxLR)` as expanded by `Optimizer.set_hyper` through fastcore's
/// `even_mults(start, stop, n)`: `start · (stop / start)^(i / (n − 1))` for `i = 0 ..< n`, and `[maxLR]` when
/// `count` is 1. Computed in double precision.
public func evenlySpacedRates(maxLR: Float, count: Int, divisor: Float = 10) -> [Float] {
    precondition(count >= 1, "evenlySpacedRates: count \(count) < 1")
    precondition(divisor > 0, "evenlySpacedRates: divisor \(divisor) ≤ 0")
    if count == 1 { return [maxLR] }
    let stop = Double(maxLR), start = stop / Double(divisor)
    let step = pow(stop / start, 1 / Double(count - 1))
    return (0..<count).map { Float(start * pow(step, Double($0))) }
}
