/// Model surgery: finding modules by dotted path or pattern and replacing one, keeping every parameter key.
///
/// Paths are those of ``Module/namedModules(prefix:)`` and of the checkpoint keys (`layer1.0.conv1`,
/// `encoder.layer.0.attention.self.query`); "" is the module itself. A replacement keeps the slot's name, so the new
/// module's parameters appear under the old path (mlx-swift `update(modules:)`), and a ``WrappingModule`` put in a
/// module's place keeps that module's keys exactly.
extension Module {
    /// The module at `keyPath` ("" is this module); a ``WrappingModule`` at the path is returned as is.
    ///
    /// - Throws: ``ModuleSurgeryError/noSuchModule(path:component:parent:available:)`` naming the first component
    ///   that does not resolve and the children available there.
    public func module(at keyPath: String) throws(ModuleSurgeryError) -> Module {
        try walk(keyPath).last?.module ?? self
    }

    /// Puts `new` in the slot at `keyPath`, under the same name, so the parent's forward pass calls it from now on
    /// and its parameter keys appear under `keyPath`. `new` takes the parent's train/eval mode.
    ///
    /// Slots of convolutions, linear layers, norms and other unary layers accept any ``UnaryLayer``, e.g. an adapter
    /// wrapping the original (see ``WrappingModule``); slots of other modules accept their declared class.
    ///
    /// - Throws: ``ModuleSurgeryError`` when the path does not resolve, names this module itself, names a child its
    ///   parent holds directly, the slot does not accept `new`'s type, or `new` contains the module it would go into.
    public func replaceModule(at keyPath: String, with new: Module) throws(ModuleSurgeryError) {
        guard !keyPath.isEmpty else { throw .noParent(type: "\(type(of: self))") }
        let steps = try walk(keyPath)
        guard let target = steps.last else { throw .noParent(type: "\(type(of: self))") }
        guard let accepted = target.slot.acceptedType else {
            throw .notReplaceable(path: keyPath, parentType: "\(type(of: target.owner))")
        }
        let ancestors = [self] + steps.map(\.owner) + steps.dropLast().map(\.module)
        let inside = new.namedModules().map(\.1)
        if ancestors.contains(where: { a in inside.contains { $0 === a } }) {
            throw .cycle(path: keyPath, type: "\(type(of: new))")
        }
        guard target.slot.accept(new) else {
            throw .typeNotAccepted(path: keyPath, accepted: accepted, found: "\(type(of: new))")
        }
        if new.isTraining != target.owner.isTraining { new.train(target.owner.isTraining) }
    }

    /// Every module whose path matches `pattern`, in ``namedModules(prefix:)`` order: dotted components, where `*`
    /// stands for exactly one component (`encoder.layer.*.attention.self.query` matches the query projection of
    /// every layer, `layer*.0` nothing). Where a ``WrappingModule`` holds a path, the wrapper is returned.
    public func modules(matching pattern: String) -> [(path: String, module: Module)] {
        let want = pattern.isEmpty ? [] : pattern.split(separator: ".", omittingEmptySubsequences: false)
        var seen = Set<String>()
        return namedModules().compactMap { path, module in
            guard seen.insert(path).inserted else { return nil }  // the outermost module at the path
            let have = path.isEmpty ? [] : path.split(separator: ".", omittingEmptySubsequences: false)
            guard have.count == want.count, zip(have, want).allSatisfy({ $1 == "*" || $0 == $1 }) else { return nil }
            return (path, module)
        }
    }

    /// The slot named `name` at this module's path, with the module that registered it: this module's own children
    /// first, then, through a wrapper, the wrapped module's.
    func slot(named name: String) -> (owner: Module, slot: ChildSlot)? {
        if let entry = ownChildren.first(where: { $0.name == name }) { return (self, entry.slot) }
        return (self as? WrappingModule)?.wrapped.slot(named: name)
    }

    /// The children's names at this module's path (through wrappers), for messages.
    var childNamesAtPath: [String] {
        ownChildren.map(\.name) + ((self as? WrappingModule)?.wrapped.childNamesAtPath ?? [])
    }

    /// Each step of `keyPath` from this module: the module that holds the slot, the slot and the module in it.
    private func walk(_ keyPath: String) throws(ModuleSurgeryError) -> [(owner: Module, slot: ChildSlot, module: Module)] {
        guard !keyPath.isEmpty else { return [] }
        var steps: [(owner: Module, slot: ChildSlot, module: Module)] = []
        var current: Module = self
        var walked: [Substring] = []
        for component in keyPath.split(separator: ".", omittingEmptySubsequences: false) {
            guard let (owner, slot) = current.slot(named: String(component)) else {
                throw .noSuchModule(path: keyPath, component: String(component), parent: walked.joined(separator: "."),
                                    available: current.childNamesAtPath)
            }
            current = slot.module
            steps.append((owner, slot, current))
            walked.append(component)
        }
        return steps
    }
}

/// A model surgery request that cannot be carried out; the message names the path and what was found there.
public enum ModuleSurgeryError: Error, Equatable, CustomStringConvertible {
    /// No module at `path`: the module at `parent` ("" for the root) has no child `component`; `available` lists
    /// the children it has.
    case noSuchModule(path: String, component: String, parent: String, available: [String])
    /// The slot at `path` takes `accepted` (e.g. "any UnaryLayer", "BertLayer"); the replacement is a `found`.
    case typeNotAccepted(path: String, accepted: String, found: String)
    /// The child at `path` was registered by a `parentType` that holds and calls it directly (plain
    /// `child(_:_:)`), so a replacement would not take effect.
    case notReplaceable(path: String, parentType: String)
    /// The path "" names the module itself (a `type`), which no slot of its own holds.
    case noParent(type: String)
    /// The replacement, a `type`, contains the module whose slot at `path` it would fill.
    case cycle(path: String, type: String)

    public var description: String {
        switch self {
        case let .noSuchModule(path, component, parent, available):
            let owner = parent.isEmpty ? "the root module" : "'\(parent)'"
            let children = available.isEmpty ? "it has no children" : "its children: " + available.joined(separator: ", ")
            return "no module at '\(path)': \(owner) has no child '\(component)' (\(children))"
        case let .typeNotAccepted(path, accepted, found):
            return "cannot put \(found) at '\(path)': that slot takes \(accepted)"
        case let .notReplaceable(path, parentType):
            return "cannot replace '\(path)': its parent \(parentType) holds it directly (registered without a Child slot)"
        case let .noParent(type):
            return "cannot replace the module at path '' (the \(type) itself): give the path of a child"
        case let .cycle(path, type):
            return "cannot put \(type) at '\(path)': it contains the module that would hold it"
        }
    }
}
