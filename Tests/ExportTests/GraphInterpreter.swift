import Foundation
@testable import Export
import Tensors

/// A minimal ONNX interpreter for the float operators of the exported vision graphs and heads, built on TransferKit's
/// own tensor ops: it runs a deserialised graph so a test can compare the graph's answer with the model's. Int64
/// shape arithmetic and the text operators are not interpreted (ONNX Runtime checks those: tools/onnx_check.py).
struct GraphInterpreter {
    struct Unsupported: Error, CustomStringConvertible {
        let op: String
        var description: String { "the test interpreter does not run \(op)" }
    }

    let graph: Onnx_GraphProto

    func run(_ feeds: [String: Tensor]) throws -> [String: Tensor] {
        var values = feeds
        for t in graph.initializer where t.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue) {
            let floats = t.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            values[t.name] = Tensor(shape: Shape(t.dims.map(Int.init)), data: floats)
        }
        for node in graph.node {
            let xs = node.input.map { values[$0] }
            values[node.output[0]] = try withNoGrad { try apply(node, xs.map { $0! }) }
        }
        return values
    }

    private func ints(_ node: Onnx_NodeProto, _ name: String) -> [Int]? {
        node.attribute.first { $0.name == name }.map { $0.ints.map(Int.init) }
    }

    private func int(_ node: Onnx_NodeProto, _ name: String) -> Int? {
        node.attribute.first { $0.name == name }.map { Int($0.i) }
    }

    private func padding(_ node: Onnx_NodeProto) -> Padding {
        if let auto = node.attribute.first(where: { $0.name == "auto_pad" }), String(decoding: auto.s, as: UTF8.self) == "SAME_UPPER" {
            return .same
        }
        let p = ints(node, "pads") ?? [0, 0, 0, 0]
        return .explicit(top: p[0], bottom: p[2], left: p[1], right: p[3])
    }

    private func apply(_ node: Onnx_NodeProto, _ x: [Tensor]) throws -> Tensor {
        switch node.opType {
        case "Conv":
            let s = ints(node, "strides") ?? [1, 1]
            return Tensor.conv2d(x[0], weight: x[1], bias: x.count > 2 ? x[2] : nil, stride: (s[0], s[1]),
                                 padding: padding(node), groups: int(node, "group") ?? 1)
        case "MaxPool":
            let k = ints(node, "kernel_shape")!, s = ints(node, "strides") ?? k
            return Tensor.maxPool2d(x[0], kernel: (k[0], k[1]), stride: (s[0], s[1]), padding: padding(node))
        case "GlobalAveragePool": return Tensor.globalAvgPool2d(x[0]).reshaped(x[0].shape[0], x[0].shape[1], 1, 1)
        case "Flatten": return x[0].flattened(from: int(node, "axis") ?? 1)
        case "Relu": return x[0].relu()
        case "Clip":
            precondition(x[1].item() == 0 && x[2].item() == 6, "the interpreter runs Clip(0, 6) only")
            return x[0].relu6()
        case "Add": return x[0] + x[1]
        case "Sub": return x[0] - x[1]
        case "Mul": return x[0] * x[1]
        case "Div": return x[0] / x[1]
        case "MatMul": return x[0].matmul(x[1])
        case "Softmax": return x[0].softmax(axis: int(node, "axis") ?? -1)
        case "Sigmoid": return x[0].sigmoid()
        case "Identity": return x[0]
        default: throw Unsupported(op: node.opType)
        }
    }
}
