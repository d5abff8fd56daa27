/// A module that stands in for another without adding a path component: the base of adapters (LoRA) and of
/// ``ActivationTap``.
///
/// The wrapped module's parameters, buffers and children appear under the wrapper's own path, with their own names,
/// so putting a wrapper in place of a module (``Module/replaceModule(at:with:)``) keeps every checkpoint key:
/// `encoder.layer.0.attention.self.query.weight` stays that key when `query` is wrapped. The wrapped module follows
/// ``Module/train(_:)`` and ``Module/freeze(where:)`` with the tree, and paths through the wrapper reach its children
/// (``Module/module(at:)``). A subclass may register parameters, buffers and children of its own (a LoRA adapter's
/// low-rank factors); they sit at the same path, so their names must differ from the wrapped module's.
///
/// To undo the surgery, put ``wrapped`` back in the wrapper's place.
open class WrappingModule: Module {
    /// The module this one stands in for.
    public let wrapped: Module

    /// Wraps `module`.
    public init(wrapping module: Module) {
        wrapped = module
        super.init()
        if module.isTraining != isTraining { train(module.isTraining) }
    }
}
