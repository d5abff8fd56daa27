/// One entry of a module's child registry: the module registered under a name now, and what may replace it.
///
/// The registry holds the slot, and the parent reads its child through the same slot (see ``Child``), so a
/// replacement (``Module/replaceModule(at:with:)``) is what the parent's forward pass calls next. The slot that
/// `child(_:_:)` makes for a module its parent holds directly is fixed: it accepts no replacement.
public class ChildSlot {
    /// The module the slot holds now.
    public fileprivate(set) var module: Module

    init(fixed module: Module) { self.module = module }

    /// What a replacement must be, for messages ("any UnaryLayer", "BertLayer"); nil for a fixed slot.
    var acceptedType: String? { nil }

    /// Puts `new` in the slot if the parent accepts its type; false (and nothing changes) otherwise.
    func accept(_ new: Module) -> Bool { false }
}

/// A child module that its parent reads through the registry, so model surgery takes effect.
///
/// Declare the child as `@Child public private(set) var conv1: any UnaryLayer`, assign it in the initialiser before
/// `super.init()` (`conv1 = Conv2d(…)`), and register it after (`child("conv1", $conv1)`). The declared type is what
/// the slot accepts: a child declared `any UnaryLayer` (convolutions, linear layers, norms, activations) takes any
/// unary layer, e.g. an adapter that wraps the original; one declared with a class (`BertLayer`) takes that class.
/// Fused inference paths check the child's concrete type (`conv1 as? Conv2d`) before they fuse it, and otherwise
/// call it as it is.
@propertyWrapper
public final class Child<Value>: ChildSlot {
    private var value: Value

    /// A slot holding `wrappedValue`, which must be a ``Module`` (a module class or a protocol refining it).
    public init(wrappedValue: Value) {
        value = wrappedValue
        super.init(fixed: Self.module(wrappedValue))
    }

    /// The child the slot holds now.
    public var wrappedValue: Value {
        get { value }
        set {
            module = Self.module(newValue)
            value = newValue
        }
    }

    /// The slot itself, for registration: `child("conv1", $conv1)`.
    public var projectedValue: Child<Value> { self }

    override var acceptedType: String? {
        Value.self is AnyClass ? String(describing: Value.self) : "any \(Value.self)"
    }

    override func accept(_ new: Module) -> Bool {
        guard let v = new as? Value else { return false }
        value = v
        module = new
        return true
    }

    private static func module(_ v: Value) -> Module {
        guard let m = v as? Module else { fatalError("Child<\(Value.self)>: \(type(of: v)) is not a Module") }
        return m
    }
}
