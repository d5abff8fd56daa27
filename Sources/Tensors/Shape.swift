/// A tensor's dimensions, outermost first (row-major).
public struct Shape: Equatable, Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible,
    RandomAccessCollection
{
    public var dims: [Int]

    public init(_ dims: [Int]) {
        require(dims.allSatisfy { $0 >= 0 }, "Shape: negative dimension in \(dims)")
        self.dims = dims
    }
    public init(arrayLiteral elements: Int...) { self.init(elements) }

    public var rank: Int { dims.count }
    /// Number of elements (1 for a scalar).
    public var count: Int { dims.reduce(1, *) }
    public var startIndex: Int { 0 }
    public var endIndex: Int { dims.count }
    public subscript(i: Int) -> Int {
        get { dims[i] }
        set { dims[i] = newValue }
    }
    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

    /// Row-major strides of a contiguous tensor of this shape.
    public var contiguousStrides: [Int] {
        var s = [Int](repeating: 1, count: dims.count)
        var acc = 1
        for i in stride(from: dims.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= dims[i]
        }
        return s
    }

    /// Normalises a possibly negative axis; stops with a message naming `op` when out of range.
    public func axis(_ a: Int, op: String) -> Int {
        let r = a < 0 ? a + rank : a
        require(r >= 0 && r < Swift.max(rank, 1), "\(op): axis \(a) out of range for shape \(self)")
        return r
    }

    /// NumPy broadcasting of two shapes; nil when they are incompatible.
    public static func broadcast(_ a: Shape, _ b: Shape) -> Shape? {
        let n = Swift.max(a.rank, b.rank)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.rank ? 1 : a.dims[i - (n - a.rank)]
            let db = i < n - b.rank ? 1 : b.dims[i - (n - b.rank)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
        }
        return Shape(out)
    }
}

/// Stops with `message` when `condition` is false, in every build configuration (Swift's `precondition` drops its
/// message under `-O`, and shape errors must name the op and the shapes).
@inlinable
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
