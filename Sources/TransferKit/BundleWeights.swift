import Checkpoints
import Foundation
import Tensors

extension ModelBundle {
    /// The largest weights.safetensors read (a fine-tuned ResNet-50 is about 100 MB).
    public static let maxWeightsBytes = 4 << 30

    /// The head's tensors of bundle weights `file`, checked against the manifest before any head is built: every key
    /// is `head.*` or (exactly when `includes_backbone`) `backbone.*`; the head's keys and shapes are those of
    /// ``Head/stateShapes(_:inputs:outputs:hidden:)``, stored as F32; every value is finite and `input_std` positive.
    static func headState(_ file: SafeTensorsFile, manifest m: Manifest, kind: HeadKind) throws(BundleError) -> [String: Tensor] {
        let path = file.path
        for key in file.keys where !key.hasPrefix("head.") && !key.hasPrefix("backbone.") {
            throw .weights(file: path, key: key, reason: "unexpected tensor: bundle tensors are named head.* or backbone.*")
        }
        if !m.includesBackbone, let key = file.keys.first(where: { $0.hasPrefix("backbone.") }) {
            throw .weights(file: path, key: key, reason: "a backbone tensor in a bundle whose manifest says includes_backbone false")
        }
        let expected = Head.stateShapes(kind, inputs: m.headInputs, outputs: m.headOutputs, hidden: m.headHidden)
            .reduce(into: [String: [Int]]()) { $0["head." + $1.key] = $1.value }
        try checkShapes(file, expected: expected, prefix: "head.", owner: "a \(m.head) head \(m.headInputs)→\(m.headOutputs)")
        var state: [String: Tensor] = [:]
        for key in expected.keys.sorted() {
            let t = try finiteTensor(file, key)
            if key == "head.input_std", let i = t.toArray().firstIndex(where: { !($0 > 0) }) {
                throw .weights(file: path, key: key, reason: "element \(i) is \(t.toArray()[i]); the input scale must be > 0")
            }
            state[String(key.dropFirst(5))] = t
        }
        return state
    }

    /// The backbone's tensors of bundle weights `file`, checked against the built backbone's keys and shapes, F32
    /// and finite.
    static func backboneState(_ file: SafeTensorsFile, backbone: FeatureBackbone) throws(BundleError) -> [String: Tensor] {
        let expected = backbone.module.stateDict().reduce(into: [String: [Int]]()) { $0["backbone." + $1.key] = $1.tensor.shape.dims }
        try checkShapes(file, expected: expected, prefix: "backbone.", owner: backbone.spec.name)
        var state: [String: Tensor] = [:]
        for key in expected.keys.sorted() { state[String(key.dropFirst(9))] = try finiteTensor(file, key) }
        return state
    }

    /// Throws for the first missing key, unexpected key under `prefix`, non-F32 tensor or shape mismatch.
    static func checkShapes(_ file: SafeTensorsFile, expected: [String: [Int]], prefix: String, owner: String) throws(BundleError) {
        for key in expected.keys.sorted() where !file.contains(key) {
            throw .weights(file: file.path, key: key, reason: "missing: \(owner) needs it")
        }
        for key in file.keys where key.hasPrefix(prefix) && expected[key] == nil {
            throw .weights(file: file.path, key: key, reason: "unexpected tensor: \(owner) has no such parameter")
        }
        for key in expected.keys.sorted() {
            guard let info = file.info(key) else { continue }
            let dtype = info.dtype, shape = info.shape
            guard dtype == .float32 else { throw .weights(file: file.path, key: key, reason: "dtype \(dtype), expected float32") }
            guard shape == expected[key] else {
                throw .weights(file: file.path, key: key, reason: "shape \(shape), \(owner) expects \(expected[key] ?? [])")
            }
        }
    }

    /// Tensor `key` of `file`, refused when any element is NaN or infinite.
    static func finiteTensor(_ file: SafeTensorsFile, _ key: String) throws(BundleError) -> Tensor {
        let t: Tensor
        do { t = try file.tensor(key) } catch { throw .weights(file: file.path, key: key, reason: error.description) }
        let values = t.toArray()
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteWeight(file: file.path, key: key, index: i, value: values[i])
        }
        return t
    }

    /// Refuses writing tensors with NaN or infinite values, naming the first such key (`file` is the destination).
    static func requireFinite(_ tensors: [String: Tensor], file: String) throws(BundleError) {
        for key in tensors.keys.sorted() {
            let values = tensors[key]?.toArray() ?? []
            if let i = values.firstIndex(where: { !$0.isFinite }) {
                throw .nonFiniteWeight(file: file, key: key, index: i, value: values[i])
            }
        }
    }
}
