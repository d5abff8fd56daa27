import Foundation
import Tensors

/// Accumulates an ONNX graph (`onnx.proto` `GraphProto`): nodes in topological order, weights as initializers, and
/// unique value names.
///
/// The exporters write each layer with standard ONNX operators (opset ``ONNXExport/opsetVersion``), naming values
/// after the checkpoint keys they come from, so a graph read in Netron or onnxruntime's profiler points back at the
/// layer.
struct GraphBuilder {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private var used = Set<String>()
    private var scalars: [Float: String] = [:]

    /// A name not used yet, `hint` itself when free.
    mutating func fresh(_ hint: String) -> String {
        var name = hint, i = 1
        while used.contains(name) { name = "\(hint)_\(i)"; i += 1 }
        used.insert(name)
        return name
    }

    /// Reserves a graph input's name.
    mutating func declare(_ name: String) { used.insert(name) }

    /// A float32 initializer of `shape` holding `values` (row-major).
    mutating func constant(_ hint: String, _ values: [Float], shape: [Int]) -> String {
        precondition(values.count == shape.reduce(1, *), "GraphBuilder: \(values.count) values for shape \(shape)")
        var t = Onnx_TensorProto()
        t.name = fresh(hint)
        t.dims = shape.map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }  // little-endian on every supported host
        initializers.append(t)
        return t.name
    }

    /// A float32 initializer with `tensor`'s values and shape.
    mutating func constant(_ hint: String, _ tensor: Tensor) -> String {
        constant(hint, tensor.toArray(), shape: tensor.shape.dims)
    }

    /// A float32 scalar initializer, one per value.
    mutating func scalar(_ hint: String, _ value: Float) -> String {
        if let name = scalars[value] { return name }
        let name = constant(hint, [value], shape: [])
        scalars[value] = name
        return name
    }

    /// An int64 initializer (shapes, axes, indices).
    mutating func int64s(_ hint: String, _ values: [Int64], shape: [Int]? = nil) -> String {
        var t = Onnx_TensorProto()
        t.name = fresh(hint)
        t.dims = (shape ?? [values.count]).map(Int64.init)
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        t.rawData = values.withUnsafeBufferPointer { Data(buffer: $0) }
        initializers.append(t)
        return t.name
    }

    /// Appends a node of operator `op` reading `inputs` and returns its (first) output's name.
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], _ hint: String, _ attributes: [Onnx_AttributeProto] = []) -> String {
        let out = fresh(hint)
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = out + "/" + op
        n.input = inputs
        n.output = [out]
        n.attribute = attributes
        nodes.append(n)
        return out
    }
}

/// ONNX node attributes.
enum Attribute {
    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .int; a.i = Int64(value)
        return a
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .ints; a.ints = values.map(Int64.init)
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .float; a.f = value
        return a
    }

    static func string(_ name: String, _ value: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name; a.type = .string; a.s = Data(value.utf8)
        return a
    }
}

/// A graph input or output: its name, element type and shape (`nil` entries are symbolic, named by `symbols`).
func valueInfo(_ name: String, elementType: Onnx_TensorProto.DataType, shape: [Int?], symbols: [String]) -> Onnx_ValueInfoProto {
    var tensor = Onnx_TypeProto.Tensor()
    tensor.elemType = Int32(elementType.rawValue)
    var s = Onnx_TensorShapeProto()
    var symbol = symbols.makeIterator()
    s.dim = shape.map { d in
        var dim = Onnx_TensorShapeProto.Dimension()
        if let d { dim.dimValue = Int64(d) } else { dim.dimParam = symbol.next() ?? "dim" }
        return dim
    }
    tensor.shape = s
    var type = Onnx_TypeProto()
    type.tensorType = tensor
    var info = Onnx_ValueInfoProto()
    info.name = name
    info.type = type
    return info
}
