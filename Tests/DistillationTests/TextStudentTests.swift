import Foundation
import Testing
@testable import Models
import Tensors
import TransferKit

/// The MiniLM cache directory `transfer fetch minilm-l6` fills.
let miniLMDirectory: String = {
    let root = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"].map { URL(fileURLWithPath: $0) }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit")
    return root.appendingPathComponent("minilm-l6").path
}()

@Suite(.enabled(if: FileManager.default.fileExists(atPath: miniLMDirectory + "/model.safetensors"),
                "needs all-MiniLM-L6-v2 in the cache (make test fetches it)"))
struct TextStudentTests {
    @Test func everyOtherLayerStudentCopiesTheTeachersEmbeddingsAndLayersZeroTwoFour() throws {
        let teacher = try SentenceEmbedder(directory: miniLMDirectory)
        let student = try teacher.keepingLayers([0, 2, 4])
        #expect(student.bert.config.numHiddenLayers == 3)
        let t = Dictionary(uniqueKeysWithValues: teacher.bert.stateDict().map { ($0.key, $0.tensor) })
        let s = Dictionary(uniqueKeysWithValues: student.bert.stateDict().map { ($0.key, $0.tensor) })
        #expect(s.keys.filter { $0.hasPrefix("encoder.layer.3") }.isEmpty)
        for (key, tensor) in s {
            var source = key
            for (j, i) in [(0, 0), (1, 2), (2, 4)] where key.hasPrefix("encoder.layer.\(j).") {
                source = "encoder.layer.\(i)." + key.dropFirst("encoder.layer.\(j).".count)
            }
            #expect(t[source]?.toArray() == tensor.toArray(), "\(key) is not the teacher's \(source)")
        }
        // The student is a copy: changing it leaves the teacher as it was.
        let before = t["encoder.layer.0.attention.self.query.weight"]!.toArray()
        s["encoder.layer.0.attention.self.query.weight"]!.withMutableData { $0[0] += 1 }
        #expect(t["encoder.layer.0.attention.self.query.weight"]!.toArray() == before)
        // Its sentence embeddings are unit vectors close to, but not the same as, the teacher's.
        let texts = ["The central bank raised interest rates again.", "The striker scored twice in the final."]
        let (a, b) = (teacher.embed(texts), student.embed(texts))
        let cos = (a * b).sum(axis: 1).toArray()
        print("3-layer student vs MiniLM-L6 cosine: \(cos)")
        #expect(cos.allSatisfy { $0 > 0.3 && $0 < 0.9999 }, "an untrained 3-layer student is near the teacher, not equal (cosine \(cos))")
        #expect(throws: TextModelError.self) { try teacher.keepingLayers([0, 6]) }
    }

    @Test func theRegisteredMiniLML3StudentBuildsAThreeLayerBackbone() throws {
        let spec = try ModelRegistry.spec(named: "minilm-l3")
        let backbone = try FeatureBackbone(spec: spec, weightsPath: miniLMDirectory)
        #expect(backbone.blockGroups.map(\.name) == ["embeddings", "layer0", "layer1", "layer2"])
        #expect(backbone.dimension == 384)
        #expect(backbone.module.parameterCount.total == spec.parameters)
        #expect(backbone.cacheKey.hasPrefix("minilm-l3|"))
    }
}
