import Checkpoints
import Foundation
import Layers
import Testing
@testable import Models
import Tensors

private let tinyConfig = BertConfig(vocabSize: 30, hiddenSize: 8, numHiddenLayers: 2, numAttentionHeads: 2, intermediateSize: 16,
                                    maxPositionEmbeddings: 16)

/// Writes a random tiny BERT (config.json + model.safetensors) into `dir`, minus the keys in `dropping`.
private func writeTinyBert(to dir: String, dropping: Set<String> = [], config: String? = nil) throws {
    Initializer.seed(3)
    let model = try BertModel(config: tinyConfig)
    var state: [String: Tensor] = [:]
    for (k, t) in model.stateDict() where !dropping.contains(k) { state[k] = t }
    try SafeTensorsWriter.write(state, to: (dir as NSString).appendingPathComponent("model.safetensors"))
    let json = try config ?? String(decoding: JSONEncoder().encode(tinyConfig), as: UTF8.self)
    try json.write(toFile: (dir as NSString).appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
}

@Suite struct BertModelTests {
    @Test func parameterPathsAreHuggingFaceStateDictKeys() throws {
        let model = try BertModel(config: tinyConfig)
        let keys = Set(model.stateDict().map(\.key))
        for k in ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight",
                  "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias", "embeddings.position_ids",
                  "encoder.layer.1.attention.self.query.weight", "encoder.layer.1.attention.self.key.bias",
                  "encoder.layer.1.attention.self.value.weight", "encoder.layer.1.attention.output.dense.weight",
                  "encoder.layer.1.attention.output.LayerNorm.bias", "encoder.layer.1.intermediate.dense.weight",
                  "encoder.layer.1.output.dense.bias", "encoder.layer.1.output.LayerNorm.weight", "pooler.dense.weight"] {
            #expect(keys.contains(k), "\(k)")
        }
        #expect(keys.count == 5 + 2 * 16 + 2 + 1)
        #expect(model.blocks == ["embeddings", "encoder.layer.0", "encoder.layer.1", "pooler"])
        #expect(try BertModel(config: tinyConfig, addPooler: false).stateDict().allSatisfy { !$0.key.hasPrefix("pooler") })
    }

    @Test func evalModeTurnsOffEveryDropoutIncludingAttentionDropout() throws {
        let model = try BertModel(config: tinyConfig)
        let dropouts = model.namedModules().filter { $0.1 is Dropout }.map(\.0)
        #expect(dropouts.contains("encoder.layer.0.attention.self.dropout"))
        #expect(dropouts.count == 1 + 2 * 3)
        model.eval()
        #expect(model.namedModules().allSatisfy { !$0.1.isTraining })
        let ids = [2, 5, 7, 3, 2, 9, 3, 0], mask: [Float] = [1, 1, 1, 1, 1, 1, 1, 0]
        let a = withNoGrad { model(ids: ids, attentionMask: mask, shape: [2, 4]).toArray() }
        let b = withNoGrad { model(ids: ids, attentionMask: mask, shape: [2, 4]).toArray() }
        #expect(a == b)
    }

    @Test func paddingDoesNotChangeTheStatesOfRealTokens() throws {
        let model = try BertModel(config: tinyConfig)
        model.eval()
        let alone = withNoGrad { model(ids: [2, 5, 7, 3], shape: [1, 4]).toArray() }
        let padded = withNoGrad { model(ids: [2, 5, 7, 3, 0, 0], attentionMask: [1, 1, 1, 1, 0, 0], shape: [1, 6]).toArray() }
        let diff = zip(alone, padded.prefix(4 * 8)).map { Swift.abs($0 - $1) }.max()!
        #expect(diff < 1e-5)
    }

    @Test func savedTinyBertLoadsStrictlyFromADirectory() throws {
        try TextFixtures.withTemporaryDirectory { dir in
            try writeTinyBert(to: dir)
            let model = try BertModel.load(directory: dir)
            #expect(model.pooler != nil)
            #expect(!model.isTraining)
            Initializer.seed(3)
            let reference = try BertModel(config: tinyConfig)
            #expect(model.stateDict().map { $0.tensor.toArray() } == reference.stateDict().map { $0.tensor.toArray() })
        }
    }

    @Test func aMissingCheckpointKeyFailsNamingTheFileAndKey() throws {
        try TextFixtures.withTemporaryDirectory { dir in
            try writeTinyBert(to: dir, dropping: ["encoder.layer.1.attention.self.key.bias"])
            do {
                _ = try BertModel.load(directory: dir)
                Issue.record("expected the strict load to fail")
            } catch let error as TextModelError {
                guard case .stateDict(let file, let inner) = error else { Issue.record("\(error)"); return }
                #expect(file.hasSuffix("model.safetensors"))
                #expect(inner.report.missing == ["encoder.layer.1.attention.self.key.bias"])
                #expect(error.description.contains("encoder.layer.1.attention.self.key.bias"))
            }
        }
    }

    @Test func malformedConfigFailsNamingTheFileAndKey() throws {
        try TextFixtures.withTemporaryDirectory { dir in
            let config = (dir as NSString).appendingPathComponent("config.json")
            try writeTinyBert(to: dir, config: #"{"vocab_size": 30, "hidden_size": "eight"}"#)
            #expect(throws: TextModelError.malformedJSON(file: config, key: "hidden_size", reason: "expected a value of type Int")) {
                try BertModel.load(directory: dir)
            }
            try #"{"vocab_size": 30, "num_hidden_layers": 2}"#.write(toFile: config, atomically: true, encoding: .utf8)
            #expect(throws: TextModelError.malformedJSON(file: config, key: "hidden_size", reason: "required key is missing")) {
                try BertModel.load(directory: dir)
            }
            try #"{"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 3, "intermediate_size": 4}"#
                .write(toFile: config, atomically: true, encoding: .utf8)
            #expect(throws: TextModelError.self) { try BertModel.load(directory: dir) }
            try #"{"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 4, "hidden_act": "mish"}"#
                .write(toFile: config, atomically: true, encoding: .utf8)
            #expect(throws: TextModelError.unsupported(file: config, key: "hidden_act", value: "mish")) { try BertModel.load(directory: dir) }
            try "{not json".write(toFile: config, atomically: true, encoding: .utf8)
            #expect(throws: TextModelError.self) { try BertModel.load(directory: dir) }
            try FileManager.default.removeItem(atPath: config)
            #expect(throws: TextModelError.fileNotFound(file: config)) { try BertModel.load(directory: dir) }
        }
    }

    @Test func gradientsReachEveryParameterThroughTheEmbedderForFineTuning() throws {
        let model = try BertModel(config: tinyConfig)
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"] + (7..<30).map { "w\($0)" }
        let embedder = SentenceEmbedder(bert: model, tokenizer: try WordPieceTokenizer(vocabulary: vocab), maxLength: 16)
        let batch = embedder.encode(["hello world", "world"])
        let e = embedder.forward(batch)
        #expect(e.shape == [2, 8])
        (e * Tensor(shape: [2, 8], data: (0..<16).map { Float($0) / 16 })).sum().backward()
        let missing = model.namedParameters().filter { !$0.0.hasPrefix("pooler") && $0.1.grad == nil }.map(\.0)
        #expect(missing.isEmpty, "no gradient: \(missing)")
    }

    @Test(.enabled(if: Precision.bf16.unsupportedReason == nil, "needs a CPU with avx512_bf16"))
    func aFineTuneWithAFrozenBF16BottomTrainsTheTopInFP32() throws {
        let model = try BertModel(config: tinyConfig)
        model.eval()
        model.freeze(where: { !$0.hasPrefix("encoder.layer.1") })
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"] + (7..<30).map { "w\($0)" }
        let embedder = SentenceEmbedder(bert: model, tokenizer: try WordPieceTokenizer(vocabulary: vocab), maxLength: 16)
        let batch = embedder.encode(["hello world", "world w9 w12"])
        let upstream = Tensor(shape: [2, 8], data: (0..<16).map { Float($0) / 16 })
        func gradients() -> [Float] {
            for (_, p) in model.namedParameters() { p.grad = nil }
            (embedder.forward(batch) * upstream).sum().backward()
            return model.namedParameters().filter { $0.0.hasPrefix("encoder.layer.1") }.flatMap { $0.1.grad!.toArray() }
        }
        let fp32 = gradients()
        // The frozen layer 0 runs in bf16 (its output bf16, a bf16 LayerNorm); layer 1 trains in fp32 on it.
        let bf16 = withPrecision(.bf16) { gradients() }
        #expect(bf16 != fp32, "the frozen bottom should have run in bf16")
        let scale = fp32.map(abs).max()!
        #expect(zip(bf16, fp32).allSatisfy { abs($0 - $1) <= 0.05 * scale }, "bf16 bottom moved the top's gradients too far")
    }
}

/// The real all-MiniLM-L6-v2 against the Hugging Face reference (tools/make_text_fixtures.py).
@Suite(.serialized) struct MiniLMGoldenTests {
    @Test(.enabled(if: TextFixtures.miniLMAvailable, TextFixtures.skipNote))
    func realCheckpointLoadsStrictlyWithPoolerAndPositionIds() throws {
        let dir = TextFixtures.miniLMDirectory
        let model = try BertModel.load(directory: dir)
        #expect(model.config == BertConfig(vocabSize: 30522, hiddenSize: 384, numHiddenLayers: 6, numAttentionHeads: 12,
                                           intermediateSize: 1536))
        #expect(model.pooler != nil)
        let file = try SafeTensorsFile(path: (dir as NSString).appendingPathComponent("model.safetensors"))
        #expect(Set(model.stateDict().map(\.key)) == Set(file.keys))
        #expect(file.keys.count == 104)
        #expect(model.embeddings.positionIds.toArray() == (0..<512).map(Float.init))
    }

    @Test(.enabled(if: TextFixtures.miniLMAvailable, TextFixtures.skipNote))
    func lastHiddenStateMatchesTransformersWithinOneInTenThousand() throws {
        let golden = try SafeTensorsFile(path: try TextFixtures.path("minilm_hidden", "safetensors"))
        let ids = try golden.tensor("input_ids"), mask = try golden.tensor("attention_mask")
        let model = try BertModel.load(directory: TextFixtures.miniLMDirectory)
        let hidden = withNoGrad { model(ids: ids.toArray().map { Int($0) }, attentionMask: mask.toArray(), shape: ids.shape) }
        let h = hidden.shape[2]
        let first8 = hidden.toArray().enumerated().filter { $0.offset % h < 8 }.map(\.element)
        let expected = try golden.tensor("last_hidden_state_first8").toArray()
        let diff = zip(first8, expected).map { Swift.abs($0 - $1) }.max()!
        print("MiniLM last hidden state: max |Swift − transformers| = \(diff)")
        #expect(diff <= 1e-4)
        let pooled = withNoGrad { model.pooler!(hidden) }.toArray().enumerated().filter { $0.offset % h < 8 }.map(\.element)
        let pooledDiff = zip(pooled, try golden.tensor("pooler_output_first8").toArray()).map { Swift.abs($0 - $1) }.max()!
        #expect(pooledDiff <= 1e-4)
    }

    @Test(.enabled(if: TextFixtures.miniLMAvailable, TextFixtures.skipNote))
    func sentenceEmbeddingsMatchSentenceTransformers() throws {
        let texts = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: try TextFixtures.path("minilm_embeddings", "json"))))
        let expected = try SafeTensorsFile(path: try TextFixtures.path("minilm_embeddings", "safetensors")).tensor("embeddings")
        #expect(texts.count >= 50 && expected.shape == [texts.count, 384])
        let embedder = try SentenceEmbedder(directory: TextFixtures.miniLMDirectory)
        #expect(embedder.maxLength == 256 && embedder.normalize && embedder.dimension == 384)
        let e = embedder.embed(texts)
        #expect(e.shape == [texts.count, 384])
        let a = e.toArray(), b = expected.toArray()
        var minCos: Float = 1, worst = 0
        for i in 0..<texts.count {
            let x = a[(i * 384)..<((i + 1) * 384)], y = b[(i * 384)..<((i + 1) * 384)]
            let dot = zip(x, y).reduce(0) { $0 + $1.0 * $1.1 }
            let cos = dot / (x.reduce(0) { $0 + $1 * $1 }.squareRoot() * y.reduce(0) { $0 + $1 * $1 }.squareRoot())
            if cos < minCos { minCos = cos; worst = i }
        }
        print("MiniLM embeddings: min cosine to sentence-transformers \(minCos) over \(texts.count) texts (worst: \(texts[worst].prefix(60).debugDescription))")
        #expect(minCos >= 0.9999, "text \(texts[worst].debugDescription)")
        // Batching and sorting by length do not change the result.
        let small = embedder.embed(Array(texts.prefix(10)), batchSize: 3).toArray()
        #expect(zip(small, a.prefix(small.count)).map { Swift.abs($0 - $1) }.max()! < 1e-5)
    }

    @Test(.enabled(if: TextFixtures.miniLMAvailable && Precision.bf16.unsupportedReason == nil,
                   "needs minilm-l6 in the cache and a CPU with avx512_bf16"))
    func bf16SentenceEmbeddingsKeepACosineOfAtLeast0999ToFP32() throws {
        let texts = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: try TextFixtures.path("minilm_embeddings", "json"))))
        let embedder = try SentenceEmbedder(directory: TextFixtures.miniLMDirectory)
        let fp32 = embedder.embed(texts).toArray()
        let bf16 = withPrecision(.bf16) { embedder.embed(texts) }.toArray()
        var minCos: Float = 1
        for i in 0..<texts.count {
            let x = fp32[(i * 384)..<((i + 1) * 384)], y = bf16[(i * 384)..<((i + 1) * 384)]
            let dot = zip(x, y).reduce(0) { $0 + $1.0 * $1.1 }
            minCos = Swift.min(minCos, dot / (x.reduce(0) { $0 + $1 * $1 }.squareRoot() * y.reduce(0) { $0 + $1 * $1 }.squareRoot()))
        }
        print("MiniLM bf16 embeddings: min cosine to fp32 \(minCos) over \(texts.count) texts")
        #expect(minCos >= 0.999)
        #expect(bf16 != fp32, "bf16 changed nothing: the bf16 path did not run")
    }

    @Test(.enabled(if: TextFixtures.miniLMAvailable && ProcessInfo.processInfo.environment["TRANSFERKIT_BENCH"] != nil,
                   "set TRANSFERKIT_BENCH=1 (release build) to measure MiniLM inference"))
    func inferenceThroughputAtBatch32Length128() throws {
        let embedder = try SentenceEmbedder(directory: TextFixtures.miniLMDirectory)
        let threads = ProcessInfo.processInfo.environment["TRANSFERKIT_THREADS"].flatMap(Int.init) ?? 2
        Threads.setCount(threads)
        var generator = SeededGenerator(seed: 1)
        let ids = (0..<(32 * 128)).map { i in i % 128 == 0 ? 101 : i % 128 == 127 ? 102 : 1000 + Int(generator.next() % 20000) }
        let batch = BatchEncoding(ids: ids, typeIds: [Int](repeating: 0, count: ids.count), mask: [Float](repeating: 1, count: ids.count),
                                  shape: [32, 128], lengths: [Int](repeating: 128, count: 32))
        _ = withNoGrad { embedder.forward(batch) }
        var times: [Double] = []
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = withNoGrad { embedder.forward(batch) }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let best = times.min()!, median = times.sorted()[2]
        print("MiniLM-L6 inference, batch 32 × 128 tokens, \(threads) threads: best \(String(format: "%.1f", 32 / best)) seq/s, median \(String(format: "%.1f", 32 / median)) seq/s")
    }
}
