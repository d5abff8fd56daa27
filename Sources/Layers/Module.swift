import Tensors

/// A node of a network: named parameters, buffers and child modules, a train/eval mode, and freezing.
///
/// Parameter paths are dotted names equal to the PyTorch `state_dict` keys of the architecture a model implements
/// (`layer1.0.conv1.weight`, `encoder.layer.0.attention.self.query.weight`), so loading a published checkpoint is a
/// strict dictionary match (see ``load(_:strict:)``). Subclasses register what they own in their initialiser with
/// ``parameter(_:_:)``, ``buffer(_:_:)`` and `child(_:_:)` (a module, or a ``ChildSlot``); registration order is the
/// order of ``stateDict()``.
///
/// Children are replaceable (model surgery: ``replaceModule(at:with:)``) when the parent declares them with
/// ``Child`` and reads them through it, so the forward pass always calls what the registry holds now. A
/// ``WrappingModule`` (an adapter, ``ActivationTap``) stands in for the module it wraps without adding a path
/// component, so parameter keys survive surgery.
///
/// Freezing is a property of the tree: a frozen parameter has `requiresGrad == false`, so it receives no gradient
/// and the tape records no backward work for it (mlx-swift `freeze`/`unfreeze`).
open class Module {
    private(set) var ownParameters: [(name: String, tensor: Tensor)] = []
    private(set) var ownBuffers: [(name: String, tensor: Tensor)] = []
    private(set) var ownChildren: [(name: String, slot: ChildSlot)] = []
    /// Train mode (dropout active, batch norm uses batch statistics). Set recursively with ``train(_:)``.
    public private(set) var isTraining = true

    public init() {}

    /// Registers a trainable parameter under `name` and returns it.
    @discardableResult
    public func parameter(_ name: String, _ t: Tensor) -> Tensor {
        checkFree(name, "parameter")
        t.requiresGrad = true
        ownParameters.append((name, t))
        return t
    }

    /// Registers a non-trainable state tensor (running statistics, position ids) under `name`.
    @discardableResult
    public func buffer(_ name: String, _ t: Tensor) -> Tensor {
        checkFree(name, "buffer")
        ownBuffers.append((name, t))
        return t
    }

    /// Registers a child module that the parent holds and calls directly, under `name`, and returns it.
    ///
    /// Such a child cannot be replaced (``replaceModule(at:with:)`` throws
    /// ``ModuleSurgeryError/notReplaceable(path:parentType:)``): the parent would go on calling the module it holds.
    /// Declare a child with ``Child`` and register its slot (`child("conv1", $conv1)`) to make it replaceable.
    @discardableResult
    public func child<M: Module>(_ name: String, _ m: M) -> M {
        child(name, ChildSlot(fixed: m))
        return m
    }

    /// Registers the child that `slot` holds under `name` (``Child`` declares such slots: `child("conv1", $conv1)`).
    ///
    /// The registry keeps the slot itself, so a replacement made through the registry is what the parent reads. One
    /// slot may be registered in two parents (a module that re-exports another's children); a replacement through
    /// either then shows in both.
    public func child(_ name: String, _ slot: ChildSlot) {
        checkFree(name, "child")
        ownChildren.append((name, slot))
    }

    /// The direct children, in registration order.
    public var children: [(name: String, module: Module)] { ownChildren.map { ($0.name, $0.slot.module) } }

    /// The direct children's slots, in registration order.
    public var childSlots: [(name: String, slot: ChildSlot)] { ownChildren }

    /// Every module of the tree with its dotted path ("" for this one), depth first.
    ///
    /// A ``WrappingModule`` is listed at its path followed by the module it wraps, at the same path: both own
    /// parameters under it, and both follow ``train(_:)``.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var out: [(String, Module)] = [(prefix, self)]
        if let wrapper = self as? WrappingModule { out += wrapper.wrapped.namedModules(prefix: prefix) }
        for (n, c) in ownChildren { out += c.module.namedModules(prefix: prefix.isEmpty ? n : prefix + "." + n) }
        return out
    }

    /// The names registered at this module's path: its own parameters, buffers and children and, for a
    /// ``WrappingModule``, those of the module it wraps.
    var namesAtPath: [String] {
        let own = ownParameters.map(\.name) + ownBuffers.map(\.name) + ownChildren.map(\.name)
        return own + ((self as? WrappingModule)?.wrapped.namesAtPath ?? [])
    }

    private func checkFree(_ name: String, _ kind: String) {
        require(!name.isEmpty && !name.contains("."),
                "\(type(of: self)): \(kind) name '\(name)' must be non-empty without '.'")
        require(!namesAtPath.contains(name), "\(type(of: self)): \(kind) name '\(name)' is already registered at this path")
    }

    /// Every parameter with its dotted path.
    public func namedParameters() -> [(String, Tensor)] {
        namedModules().flatMap { path, m in m.ownParameters.map { (path.isEmpty ? $0.name : path + "." + $0.name, $0.tensor) } }
    }

    /// Every buffer with its dotted path.
    public func namedBuffers() -> [(String, Tensor)] {
        namedModules().flatMap { path, m in m.ownBuffers.map { (path.isEmpty ? $0.name : path + "." + $0.name, $0.tensor) } }
    }

    /// Parameters that will be trained (not frozen).
    public func trainableParameters() -> [(String, Tensor)] { namedParameters().filter { $0.1.requiresGrad } }

    /// Parameter counts: all, and those not frozen.
    public var parameterCount: (total: Int, trainable: Int) {
        let ps = namedParameters()
        return (ps.reduce(0) { $0 + $1.1.count }, ps.filter { $0.1.requiresGrad }.reduce(0) { $0 + $1.1.count })
    }

    /// Parameters and buffers by key, in registration order (PyTorch `state_dict()`).
    public func stateDict() -> [(key: String, tensor: Tensor)] {
        namedModules().flatMap { path, m in
            (m.ownParameters + m.ownBuffers).map { (path.isEmpty ? $0.name : path + "." + $0.name, $0.tensor) }
        }
    }

    /// Copies `state` into the parameters and buffers (the one mutation path for weights).
    ///
    /// Strict (the default): any missing key, unexpected key or shape mismatch throws one ``StateDictError``
    /// listing them all, and nothing is changed. Non-strict: loads every key that matches in name and shape and
    /// returns the same list as a report.
    @discardableResult
    public func load(_ state: [String: Tensor], strict: Bool = true) throws(StateDictError) -> StateDictReport {
        let own = stateDict()
        var report = StateDictReport()
        let ownKeys = Set(own.map(\.key))
        for (key, t) in own {
            guard let src = state[key] else { report.missing.append(key); continue }
            if src.shape != t.shape { report.mismatched.append(.init(key: key, expected: t.shape.dims, found: src.shape.dims)) }
        }
        report.unexpected = state.keys.filter { !ownKeys.contains($0) }.sorted()
        if strict && !report.isClean { throw StateDictError(report: report) }
        let bad = Set(report.mismatched.map(\.key))
        withNoGrad {
            for (key, t) in own where !bad.contains(key) {
                if let src = state[key] { t.assign(src) }
            }
        }
        return report
    }

    /// Sets train (`true`) or eval (`false`) mode on the whole tree.
    public func train(_ on: Bool = true) {
        for (_, m) in namedModules() { m.isTraining = on }
    }

    /// Eval mode on the whole tree.
    public func eval() { train(false) }

    /// Freezes every parameter whose path satisfies `predicate` (all when nil).
    public func freeze(where predicate: ((String) -> Bool)? = nil) {
        for (k, p) in namedParameters() where predicate?(k) ?? true { p.requiresGrad = false; p.grad = nil }
    }

    /// Unfreezes every parameter whose path satisfies `predicate` (all when nil).
    public func unfreeze(where predicate: ((String) -> Bool)? = nil) {
        for (k, p) in namedParameters() where predicate?(k) ?? true { p.requiresGrad = true }
    }

    /// Freezes the parameters under a dotted path prefix (`"layer1"` freezes `layer1.*`, not `layer10.*`).
    public func freeze(prefix: String) { freeze(where: { Module.path($0, isUnder: prefix) }) }

    /// Unfreezes the parameters under a dotted path prefix.
    public func unfreeze(prefix: String) { unfreeze(where: { Module.path($0, isUnder: prefix) }) }

    /// Restarts the random streams of every stochastic layer in the tree (dropout, drop-connect) from `seed`, each
    /// layer from its own derivation of it. A training loop that reseeds before each step makes the randomness a
    /// function of (seed, step) alone, so a run resumed from a checkpoint repeats an uninterrupted one.
    public func reseedRandomness(_ seed: UInt64) {
        // Wrappers do not count, so inserting one (surgery) leaves every other layer's stream as it was.
        var i: UInt64 = 0
        for (_, m) in namedModules() {
            let isWrapper = m is WrappingModule
            let salt: UInt64 = isWrapper ? 0x5851_F42D_4C95_7F2D : 0
            var g = SeededGenerator(seed: seed ^ (i &+ 1) &* 0x9E37_79B9_7F4A_7C15 ^ salt)
            m.reseedOwnRandomness(g.next())
            if !isWrapper { i += 1 }
        }
    }

    /// Restarts this module's own random stream (stochastic layers override it; see ``reseedRandomness(_:)``).
    open func reseedOwnRandomness(_ seed: UInt64) {}

    /// True when the module has parameters and none of them is trainable.
    public var isFrozen: Bool {
        let ps = namedParameters()
        return !ps.isEmpty && ps.allSatisfy { !$0.1.requiresGrad }
    }

    static func path(_ key: String, isUnder prefix: String) -> Bool {
        prefix.isEmpty || key == prefix || key.hasPrefix(prefix + ".")
    }
}

/// A module mapping one tensor to one tensor.
public protocol UnaryLayer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// What a state-dict load found: keys the module lacks, keys it expected but did not get, and shape mismatches.
public struct StateDictReport: Sendable, Equatable, CustomStringConvertible {
    public struct Mismatch: Sendable, Equatable {
        public let key: String
        public let expected: [Int]
        public let found: [Int]
    }
    public var missing: [String] = []
    public var unexpected: [String] = []
    public var mismatched: [Mismatch] = []
    public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }

    public var description: String {
        var lines: [String] = []
        if !missing.isEmpty { lines.append("missing keys (\(missing.count)): " + missing.joined(separator: ", ")) }
        if !unexpected.isEmpty { lines.append("unexpected keys (\(unexpected.count)): " + unexpected.joined(separator: ", ")) }
        for m in mismatched {
            lines.append("shape mismatch for \(m.key): model expects \(Shape(m.expected)), checkpoint has \(Shape(m.found))")
        }
        return lines.isEmpty ? "all keys match" : lines.joined(separator: "\n")
    }
}

/// A strict load found problems; the message lists every one of them.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    public let report: StateDictReport
    public var description: String { "state dict does not match the model:\n\(report)" }
}
