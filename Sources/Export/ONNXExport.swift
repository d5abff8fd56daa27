import Foundation
import Datasets
import Layers
import Models
import SwiftProtobuf
import Tensors
import TransferKit

/// ONNX export of a trained model (backbone and head as one graph), written by the project itself with the ONNX
/// protobuf schema (`onnx.proto`, IR version 8, default-domain opset ``opsetVersion``; Bai et al., "ONNX: Open Neural
/// Network Exchange", https://onnx.ai).
///
/// The graph takes what the backbone takes after preprocessing — `input` `[N, 3, H, W]` float32 normalised images
/// (H × W the bundle's input size), or `input_ids`, `attention_mask`, `token_type_ids` `[N, T]` int64 — and gives
/// `features` (the pooled backbone features), `logits` (the head's) and `outputs`, what `transfer predict` reports
/// (class probabilities by softmax, label probabilities by sigmoid, or values in the target's units). The
/// preprocessing a caller must apply (resize, crop, normalisation; or the WordPiece tokenizer's settings), the labels
/// and the thresholds are recorded in the model's `metadata_props` (keys ``MetadataKey``). Eval-mode semantics:
/// BatchNorm folded into the convolutions, dropout and drop-connect omitted.
public enum ONNXExport {
    /// The default-domain operator set the graphs use (17: `LayerNormalization`).
    public static let opsetVersion = 17
    /// The ONNX IR version written.
    public static let irVersion = 8

    /// The keys of `metadata_props`.
    public enum MetadataKey {
        public static let preprocessing = "transferkit.preprocessing"
        public static let labels = "transferkit.labels"
        public static let task = "transferkit.task"
        public static let backbone = "transferkit.backbone"
        public static let thresholds = "transferkit.thresholds"
        public static let outputs = "transferkit.outputs"
    }

    /// The serialised ONNX model of `model` (which must be in its exported state: adapters merged).
    public static func serialized(_ model: TransferModel) throws -> Data {
        try modelProto(model).serializedData()
    }

    /// Writes `model` as an ONNX file at `url` and returns what was written.
    @discardableResult
    public static func write(_ model: TransferModel, to url: URL) throws -> ExportSummary {
        let proto = try modelProto(model)
        let data = try proto.serializedData()
        try data.write(to: url, options: .atomic)
        return ExportSummary(proto, bytes: data.count)
    }

    static func modelProto(_ model: TransferModel) throws(ExportError) -> Onnx_ModelProto {
        if model.adapter != nil {
            throw .unsupportedSetting(name: "strategy", value: "lora with an unmerged adapter",
                                      accepted: "bundles whose adapters are merged into the backbone")
        }
        var g = GraphBuilder()
        var inputs: [Onnx_ValueInfoProto] = []
        let features: String
        var metadata: [String: String] = [:]
        switch model.backbone.encoder {
        case let image as ImageEncoder:
            let size = image.preprocessing.inputSize
            g.declare("input")
            inputs = [valueInfo("input", elementType: .float, shape: [nil, 3, size, size], symbols: ["batch"])]
            features = try g.visionFeatures("input", image.model)
            metadata[MetadataKey.preprocessing] = imagePreprocessing(image.preprocessing)
        case let text as TextEncoder:
            for name in GraphBuilder.textInputs {
                g.declare(name)
                inputs.append(valueInfo(name, elementType: .int64, shape: [nil, nil], symbols: ["batch", "tokens"]))
            }
            features = try g.sentenceEmbedding(text.embedder)
            metadata[MetadataKey.preprocessing] = textPreprocessing(text.embedder)
        default:
            throw .unsupportedBackbone(name: model.backbone.spec.name, accepted: "image and sentence encoders")
        }
        let (logits, outputs) = try g.head(features, model)
        metadata[MetadataKey.labels] = json(model.classNames)
        metadata[MetadataKey.task] = model.task.reportName
        metadata[MetadataKey.backbone] = model.backbone.spec.name
        metadata[MetadataKey.outputs] = outputsMeaning(model.task)
        if let t = model.thresholds { metadata[MetadataKey.thresholds] = json(t.map(Double.init)) }

        var graph = Onnx_GraphProto()
        graph.name = "transferkit_" + model.backbone.spec.name.replacingOccurrences(of: "-", with: "_")
        graph.node = g.nodes
        graph.initializer = g.initializers
        graph.input = inputs
        let n = model.head.outputs
        graph.output = [valueInfo(features, elementType: .float, shape: [nil, model.head.inputs], symbols: ["batch"]),
                        valueInfo(logits, elementType: .float, shape: [nil, n], symbols: ["batch"]),
                        valueInfo(outputs, elementType: .float, shape: [nil, n], symbols: ["batch"])]
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(opsetVersion)
        var proto = Onnx_ModelProto()
        proto.irVersion = Int64(irVersion)
        proto.opsetImport = [opset]
        proto.producerName = "TransferKit"
        proto.producerVersion = TransferKitVersion.string
        proto.graph = graph
        proto.metadataProps = metadata.sorted { $0.key < $1.key }.map { key, value in
            var e = Onnx_StringStringEntryProto()
            e.key = key; e.value = value
            return e
        }
        return proto
    }

    static func imagePreprocessing(_ p: ImagePreprocessing) -> String {
        let n = p.pixelNormalization
        return json([
            "input": "input", "layout": "NCHW", "channels": "RGB", "resize_shorter_to": p.resizeShorterTo,
            "center_crop": p.inputSize, "interpolation": p.interpolation, "pixel_divisor": Double(n.divisor),
            "mean": n.mean.map(Double.init), "std": n.std.map(Double.init),
            "formula": "(pixel / pixel_divisor - mean[c]) / std[c]",
        ] as [String: Any])
    }

    static func textPreprocessing(_ e: SentenceEmbedder) -> String {
        json([
            "inputs": GraphBuilder.textInputs, "tokenizer": "BERT WordPiece (vocab.txt of the backbone)",
            "max_length": e.maxLength, "lowercase": e.lowercaseInput, "special_tokens": "[CLS] text [SEP], padded with [PAD] = 0",
            "pooling": "mean over attention_mask", "l2_normalized": e.normalize,
        ] as [String: Any])
    }

    static func outputsMeaning(_ task: TaskKind) -> String {
        switch task {
        case .classification: "softmax(logits): class probabilities in label order"
        case .multiLabel: "sigmoid(logits): label probabilities; a label applies at or above its threshold"
        case .regression: "logits * target_std + target_mean: values in the target's units"
        }
    }

    static func json(_ value: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// What ``ONNXExport/write(_:to:)`` wrote.
public struct ExportSummary: Sendable, Equatable {
    public let inputs: [String]
    public let outputs: [String]
    public let nodes: Int
    public let initializers: Int
    public let parameters: Int
    public let operators: [String]
    public let bytes: Int
    public let opset: Int

    init(_ proto: Onnx_ModelProto, bytes: Int) {
        inputs = proto.graph.input.map(\.name)
        outputs = proto.graph.output.map(\.name)
        nodes = proto.graph.node.count
        initializers = proto.graph.initializer.count
        parameters = proto.graph.initializer.reduce(0) { $0 + Int($1.dims.reduce(1, *)) }
        operators = Set(proto.graph.node.map(\.opType)).sorted()
        self.bytes = bytes
        opset = Int(proto.opsetImport.first?.version ?? 0)
    }
}
