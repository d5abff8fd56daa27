import Checkpoints
import Foundation
import Layers
import Models
import Testing
import Tensors
@testable import Adapters

/// A two-layer BERT small enough for unit tests.
func tinyBert(seed: UInt64 = 0) throws -> BertModel {
    Initializer.seed(seed)
    let m = try BertModel(config: BertConfig(vocabSize: 30, hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2,
                                             intermediateSize: 16, hiddenDropoutProb: 0, attentionProbsDropoutProb: 0),
                          addPooler: false)
    m.eval()
    return m
}

func runBert(_ m: BertModel) -> Tensor {
    withNoGrad { m(ids: [1, 5, 7, 9, 2, 3, 4, 8], shape: [2, 4]) }
}

@Suite struct LoRASurgeryTests {
    /// `encoder.layer.*.attention.self.query` and `…value` adapt exactly the query and value projections of every
    /// layer; the base's keys are unchanged and the factors appear beside them; only the factors train.
    @Test func targetPatternsSelectLayersAndKeepCheckpointKeys() throws {
        let m = try tinyBert()
        let keysBefore = m.stateDict().map(\.key)
        let paths = try LoRA.apply(LoRAConfig(rank: 2, alpha: 4, targets: ["encoder.layer.*.attention.self.query",
                                                                             "encoder.layer.*.attention.self.value"]), to: m)
        #expect(paths == ["encoder.layer.0.attention.self.query", "encoder.layer.0.attention.self.value",
                          "encoder.layer.1.attention.self.query", "encoder.layer.1.attention.self.value"])
        let keys = m.stateDict().map(\.key)
        #expect(keys.filter { !LoRA.isAdapterKey($0) } == keysBefore)
        #expect(keys.filter(LoRA.isAdapterKey) == paths.flatMap { [$0 + ".lora_A", $0 + ".lora_B"] })
        #expect(m.trainableParameters().map(\.0) == keys.filter(LoRA.isAdapterKey))
        #expect(m.parameterCount.trainable == 4 * (2 * 8 + 8 * 2))
        // Applying twice is refused.
        #expect(throws: LoRAError.alreadyAdapted(paths: paths)) { try LoRA.apply(LoRAConfig(targets: ["encoder.layer.0.attention.self.key"]), to: m) }
    }

    /// A pattern that matches nothing, a target that is not a Linear or ungrouped Conv2d, and an invalid option are
    /// refused with errors naming them, and the model is left as it was.
    @Test func badTargetsAndOptionsAreRefused() throws {
        let m = try tinyBert()
        #expect {
            try LoRA.apply(LoRAConfig(targets: ["encoder.layer.*.attention.self.qury"]), to: m)
        } throws: { ($0 as? LoRAError).map { "\($0)".contains("encoder.layer.*.attention.self.qury") } ?? false }
        #expect(throws: LoRAError.unsupportedModule(path: "embeddings.LayerNorm", type: "LayerNorm")) {
            try LoRA.apply(LoRAConfig(targets: ["embeddings.LayerNorm"]), to: m)
        }
        #expect(throws: LoRAError.self) { try LoRA.apply(LoRAConfig(rank: 0, targets: ["encoder"]), to: m) }
        #expect(throws: LoRAError.self) { try LoRA.apply(LoRAConfig(alpha: .nan, targets: ["encoder"]), to: m) }
        #expect(throws: LoRAError.self) { try LoRA.apply(LoRAConfig(dropout: 1, targets: ["encoder"]), to: m) }
        #expect(throws: LoRAError.self) { try LoRA.apply(LoRAConfig(targets: ["encoder..layer"]), to: m) }
        #expect(LoRA.layers(in: m).isEmpty && m.trainableParameters().count == m.namedParameters().count)
        let grouped = Sequential([Conv2d(4, 4, kernel: 3, groups: 4)])
        #expect(throws: LoRAError.unsupportedModule(path: "0", type: "Conv2d with groups 4")) {
            try LoRA.apply(LoRAConfig(targets: ["0"]), to: grouped)
        }
    }

    /// An adapter written to safetensors reads back with the same config, base hash and factors; attached to a fresh
    /// copy of the base it gives the same outputs; an adapter of other base weights is refused with both hashes named.
    @Test func adapterFileRoundTripAndBaseHashRefusal() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = LoRAConfig(rank: 2, alpha: 4, dropout: 0.1, targets: ["encoder.layer.*.attention.self.query"])
        let m = try tinyBert()
        try LoRA.apply(config, to: m, seed: 3)
        for (i, (_, l)) in LoRA.layers(in: m).enumerated() { try randomizeB(l, seed: 40 + UInt64(i)) }
        let expected = runBert(m)
        let base = String(repeating: "a", count: 64)
        let file = dir.appendingPathComponent("adapter.safetensors").path
        try LoRAAdapter.extract(from: m, config: config, baseSHA256: base).write(to: file)
        let read = try LoRAAdapter.read(file)
        #expect(read.config == config && read.baseSHA256 == base && read.paths.count == 2)
        #expect(read.parameterCount == 2 * (2 * 8 + 8 * 2))
        let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int ?? 0
        #expect(size < 2_000)

        let fresh = try tinyBert()
        #expect(relativeError(runBert(fresh), expected) > 1e-5)
        try read.attach(to: fresh, baseSHA256: base, file: file)
        #expect(runBert(fresh).toArray() == expected.toArray())

        let other = try tinyBert()
        let otherBase = String(repeating: "b", count: 64)
        #expect(throws: LoRAError.baseMismatch(file: file, adapterBase: base, modelBase: otherBase)) {
            try read.attach(to: other, baseSHA256: otherBase, file: file)
        }
        #expect(LoRA.layers(in: other).isEmpty)
        // A file that is not an adapter is refused by name.
        let notAdapter = dir.appendingPathComponent("plain.safetensors").path
        try SafeTensorsWriter.write(["w": Tensor.zeros([2])], to: notAdapter)
        #expect(throws: LoRAError.self) { try LoRAAdapter.read(notAdapter) }
    }

    /// Two adapters on one base are switched without reloading it: each gives its own outputs every time it is
    /// attached, and removing the adapter gives the base's outputs again (the packed attention path, relative 1e-5).
    @Test func switchingAdaptersOnOneBase() throws {
        let m = try tinyBert()
        let baseOut = runBert(m)
        let base = String(repeating: "c", count: 64)
        func adapter(_ seed: UInt64, targets: [String]) throws -> LoRAAdapter {
            let donor = try tinyBert()
            let config = LoRAConfig(rank: 2, alpha: 2, targets: targets)
            try LoRA.apply(config, to: donor, seed: seed)
            for (i, (_, l)) in LoRA.layers(in: donor).enumerated() { try randomizeB(l, seed: seed * 100 + UInt64(i)) }
            return try LoRAAdapter.extract(from: donor, config: config, baseSHA256: base)
        }
        let a1 = try adapter(1, targets: ["encoder.layer.*.attention.self.query"])
        let a2 = try adapter(2, targets: ["encoder.layer.*.attention.self.value", "encoder.layer.1.output.dense"])
        try a1.attach(to: m, baseSHA256: base)
        let o1 = runBert(m)
        try a2.attach(to: m, baseSHA256: base)
        let o2 = runBert(m)
        #expect(relativeError(o1, o2) > 1e-3)
        try a1.attach(to: m, baseSHA256: base)
        #expect(runBert(m).toArray() == o1.toArray())
        try LoRA.remove(from: m)
        #expect(LoRA.layers(in: m).isEmpty)
        #expect(relativeError(runBert(m), baseOut) <= 1e-5)
        // Merged and unloaded: a plain model again, with the adapter's outputs.
        try a2.attach(to: m, baseSHA256: base)
        try LoRA.mergeAndUnload(m)
        #expect(LoRA.layers(in: m).isEmpty)
        #expect(relativeError(runBert(m), o2) <= 1e-5)
    }

    /// A few SGD steps on the adapters alone lower a loss and leave every base weight untouched.
    @Test func trainingMovesOnlyTheAdapters() throws {
        let m = try tinyBert()
        let before = Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.key, $0.tensor.copy()) })
        try LoRA.apply(LoRAConfig(rank: 2, alpha: 4, targets: ["encoder.layer.*.attention.self.query", "encoder.layer.*.attention.self.value"]), to: m, seed: 5)
        m.train()
        let target = randomTensor([2, 4, 8], seed: 9)
        func loss() -> Tensor {
            let d = m(ids: [1, 5, 7, 9, 2, 3, 4, 8], shape: [2, 4]) - target
            return (d * d).mean()
        }
        let first = withNoGrad { loss().item() }
        for _ in 0..<20 {
            loss().backward()
            withNoGrad { for (_, p) in m.trainableParameters() { p.assign(p - p.grad! * 0.05); p.grad = nil } }
        }
        #expect(withNoGrad { loss().item() } < first)
        for (k, t) in m.stateDict() where !LoRA.isAdapterKey(k) { #expect(t.toArray() == before[k]?.toArray(), "\(k) changed") }
    }
}
