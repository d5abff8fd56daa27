import Foundation
import Layers
import Tensors

extension SentenceEmbedder {
    /// A smaller student of this encoder made from its own layers, as DistilBERT initialises its student (Sanh et
    /// al., "DistilBERT, a distilled version of BERT", 2019, §3: "taking one layer out of two"): the same embeddings,
    /// tokenizer, pooling and normalisation, and only the transformer layers `layers` (e.g. `[0, 2, 4]` of six),
    /// renumbered `encoder.layer.0 …` in order. The weights are copies: training the student leaves this encoder as it
    /// was.
    public func keepingLayers(_ layers: [Int]) throws(TextModelError) -> SentenceEmbedder {
        let n = bert.config.numHiddenLayers
        guard !layers.isEmpty, layers.allSatisfy({ (0..<n).contains($0) }), Set(layers).count == layers.count else {
            throw .malformedJSON(file: "config", key: "num_hidden_layers",
                                 reason: "cannot keep layers \(layers) of \(n) (distinct indices in 0..<\(n), at least one)")
        }
        var config = bert.config
        config.numHiddenLayers = layers.count
        let student = try BertModel(config: config, addPooler: bert.pooler != nil)
        let prefix = "encoder.layer."
        var state: [String: Tensor] = [:]
        for (key, tensor) in bert.stateDict() {
            guard key.hasPrefix(prefix) else { state[key] = tensor.copy(); continue }
            let rest = key.dropFirst(prefix.count)
            guard let index = Int(rest.prefix(while: \.isNumber)), let j = layers.firstIndex(of: index) else { continue }
            state[prefix + "\(j)" + rest.drop(while: \.isNumber)] = tensor.copy()
        }
        do { try student.load(state) } catch { throw .stateDict(file: "model.safetensors", error) }
        student.eval()
        return SentenceEmbedder(bert: student, tokenizer: tokenizer, pooling: pooling, normalize: normalize,
                                maxLength: maxLength, lowercaseInput: lowercaseInput, longTexts: longTexts, maxWindows: maxWindows)
    }
}
