import Checkpoints
import Datasets
import Foundation
@testable import Export
import Layers
import Models
import SwiftProtobuf
import Tensors
import Testing
import TransferKit

/// A TransferModel over `backbone` (a registry image model) with random weights written to a temporary file, BatchNorm
/// statistics and head standardisation made non-trivial so that folding and standardisation are exercised.
func randomVisionModel(_ backbone: String, head: HeadKind, task: TaskKind, classes: Int = 4) throws -> TransferModel {
    let spec = try ModelRegistry.spec(named: backbone)
    Initializer.seed(7)
    let net = try Pretrained.visionModel(spec, includeTop: false)
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(backbone)-\(UUID().uuidString).safetensors")
    defer { try? FileManager.default.removeItem(at: file) }
    try SafeTensorsWriter.write(Dictionary(uniqueKeysWithValues: net.stateDict().map { ($0.key, $0.tensor) }), to: file.path)
    let fb = try FeatureBackbone(spec: spec, weightsPath: file.path)
    var g = SeededGenerator(seed: 3)
    withNoGrad {
        for (_, m) in fb.module.namedModules() {
            guard let bn = m as? BatchNorm2d else { continue }
            let c = bn.weight.shape[0]
            bn.weight.assign(Tensor.uniform([c], low: 0.5, high: 1.5, generator: &g))
            bn.bias.assign(Tensor.uniform([c], low: -0.2, high: 0.2, generator: &g))
            bn.runningMean.assign(Tensor.uniform([c], low: -0.1, high: 0.1, generator: &g))
            bn.runningVar.assign(Tensor.uniform([c], low: 0.5, high: 2, generator: &g))
        }
    }
    let h = Head(head, inputs: fb.dimension, outputs: classes, hidden: 16, seed: 5)
    h.standardize(using: Tensor.uniform([8, fb.dimension], low: 0, high: 2, generator: &g))
    let names = (0..<classes).map { "class\($0)" }
    let model = TransferModel(backbone: fb, head: h, task: task, classNames: names, strategy: .features,
                              scaling: task == .regression ? TargetScaling(mean: 3, std: 2) : nil)
    model.eval()
    return model
}

/// Every node reads only graph inputs, initializers or outputs of earlier nodes (a valid topological order).
func isTopologicallyOrdered(_ g: Onnx_GraphProto) -> Bool {
    var known = Set(g.input.map(\.name) + g.initializer.map(\.name))
    for n in g.node {
        guard n.input.allSatisfy({ $0.isEmpty || known.contains($0) }) else { return false }
        known.formUnion(n.output)
    }
    return g.output.allSatisfy { known.contains($0.name) }
}

@Suite("ONNX export", .serialized)
struct ONNXExportTests {
    @Test("ResNet-18 with an MLP head: the exported graph, interpreted, gives the model's features and probabilities")
    func resNetGraphMatchesModel() throws {
        let model = try randomVisionModel("resnet18", head: .mlp, task: .classification)
        let proto = try Onnx_ModelProto(serializedBytes: try ONNXExport.serialized(model))
        #expect(proto.opsetImport.map(\.version) == [Int64(ONNXExport.opsetVersion)])
        #expect(proto.graph.input.map(\.name) == ["input"])
        #expect(proto.graph.output.map(\.name) == ["features", "logits", "outputs"])
        #expect(proto.graph.node.filter { $0.opType == "Conv" }.count == 20)  // stem + 8 blocks × 2 + 3 downsamples
        #expect(!proto.graph.node.contains { $0.opType == "BatchNormalization" })  // folded
        #expect(isTopologicallyOrdered(proto.graph))
        let dims = proto.graph.input[0].type.tensorType.shape.dim
        #expect(dims.map(\.dimParam) == ["batch", "", "", ""] && dims.dropFirst().map(\.dimValue) == [3, 224, 224])

        var g = SeededGenerator(seed: 11)
        let x = Tensor.uniform([2, 3, 64, 64], low: -2, high: 2, generator: &g)
        let want = withNoGrad { (f: model.backbone.forward(.tensor(x)), p: model.readout(model.head(model.backbone.forward(.tensor(x))))) }
        let got = try GraphInterpreter(graph: proto.graph).run(["input": x])
        let f = want.f.toArray(), fGot = got["features"]!.toArray()
        let scale = f.map(abs).max()!
        #expect(zip(f, fGot).map { abs($0 - $1) }.max()! <= 1e-4 * scale)
        #expect(zip(want.p.toArray(), got["outputs"]!.toArray()).map { abs($0 - $1) }.max()! <= 1e-5)
    }

    @Test("EfficientNet-Lite0 (TF SAME padding, ReLU6, residuals) with a regression head: the interpreted graph gives the model's values")
    func efficientNetGraphMatchesModel() throws {
        let model = try randomVisionModel("efficientnet-lite0", head: .linear, task: .regression, classes: 1)
        let proto = try Onnx_ModelProto(serializedBytes: try ONNXExport.serialized(model))
        #expect(proto.graph.node.contains { $0.attribute.contains { $0.name == "auto_pad" && $0.s == Data("SAME_UPPER".utf8) } })
        #expect(proto.graph.node.filter { $0.opType == "Clip" }.count == 33)  // stem, 16 depthwise, 15 expansions, head
        #expect(isTopologicallyOrdered(proto.graph))
        var g = SeededGenerator(seed: 12)
        let x = Tensor.uniform([2, 3, 48, 48], low: -1, high: 1, generator: &g)
        let want = withNoGrad { model.readout(model.head(model.backbone.forward(.tensor(x)))) }.toArray()
        let got = try GraphInterpreter(graph: proto.graph).run(["input": x])["outputs"]!.toArray()
        #expect(zip(want, got).map { abs($0 - $1) }.max()! <= 1e-4 * Swift.max(1, want.map(abs).max()!))
    }

    @Test("The metadata records the preprocessing (ImageNet mean and std, resize and crop), labels and task")
    func metadataRecordsPreprocessing() throws {
        let model = try randomVisionModel("resnet18", head: .linear, task: .multiLabel, classes: 3)
        let proto = try Onnx_ModelProto(serializedBytes: try ONNXExport.serialized(model))
        let meta = Dictionary(uniqueKeysWithValues: proto.metadataProps.map { ($0.key, $0.value) })
        let prep = try #require(try JSONSerialization.jsonObject(with: Data(meta[ONNXExport.MetadataKey.preprocessing]!.utf8)) as? [String: Any])
        #expect(prep["center_crop"] as? Int == 224 && prep["resize_shorter_to"] as? Int == 256)
        #expect((prep["mean"] as? [Double])?.map { Float($0) } == [0.485, 0.456, 0.406])
        #expect((prep["std"] as? [Double])?.map { Float($0) } == [0.229, 0.224, 0.225])
        #expect(prep["pixel_divisor"] as? Double == 255)
        #expect(meta[ONNXExport.MetadataKey.labels] == #"["class0","class1","class2"]"#)
        #expect(meta[ONNXExport.MetadataKey.task] == "multilabel")
        #expect(proto.graph.node.last?.opType == "Sigmoid")
    }
}

@Suite("ONNX export of text models", .serialized)
struct ONNXTextExportTests {
    /// A 2-layer BERT sentence encoder with random weights, written as a Hugging Face-style directory.
    func tinyTextModel() throws -> TransferModel {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("export-bert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "news", "sport", "market", "film"]
        try vocab.joined(separator: "\n").write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        let config = #"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 32}"#
        try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        Initializer.seed(9)
        let bert = try BertModel(config: try JSONDecoder().decode(BertConfig.self, from: Data(config.utf8)), addPooler: false)
        try SafeTensorsWriter.write(Dictionary(uniqueKeysWithValues: bert.stateDict().map { ($0.key, $0.tensor) }),
                                    to: dir.appendingPathComponent("model.safetensors").path)
        let fb = try FeatureBackbone(spec: try ModelRegistry.spec(named: "minilm-l6"), weightsPath: dir.path)
        let head = Head(.mlp, inputs: 8, outputs: 3, hidden: 4, seed: 1)
        return TransferModel(backbone: fb, head: head, task: .classification, classNames: ["a", "b", "c"], strategy: .features)
    }

    @Test("A BERT sentence encoder exports as token inputs → LayerNorm, attention and erf-GELU per layer → mean pooling → L2")
    func textGraphStructure() throws {
        let proto = try Onnx_ModelProto(serializedBytes: try ONNXExport.serialized(try tinyTextModel()))
        let g = proto.graph
        #expect(g.input.map(\.name) == ["input_ids", "attention_mask", "token_type_ids"])
        #expect(g.input.allSatisfy { $0.type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.int64.rawValue) })
        func count(_ op: String) -> Int { g.node.filter { $0.opType == op }.count }
        #expect(count("LayerNormalization") == 5)  // embeddings + 2 per layer
        #expect(count("Erf") == 2 && count("Softmax") == 3)  // one GELU and one attention softmax per layer, readout
        #expect(count("MatMul") == 2 * 8 + 2)  // per layer 6 linears and 2 attention products; the MLP head's 2 linears
        #expect(count("Range") == 1 && count("Gather") == 4)
        #expect(isTopologicallyOrdered(g))
        let meta = Dictionary(uniqueKeysWithValues: proto.metadataProps.map { ($0.key, $0.value) })
        #expect(meta[ONNXExport.MetadataKey.preprocessing]?.contains(#""pooling":"mean over attention_mask""#) == true)
    }
}
