import Datasets
import Foundation
import Tensors

extension FeatureBackbone {
    /// Pooled features `[kept.count, dimension]` of `inputs` in eval mode without gradients, looked up in (and
    /// added to) `cache` when given. Inputs that cannot be read are skipped and reported in `failed`.
    ///
    /// With `augmentation` (image backbones), images go through that (random) pipeline instead of the evaluation
    /// one, each with a generator derived from the seed, the view number and the file's content hash, so a view is
    /// the same whatever the file's name or position and can be cached (under a cache whose key names the pipeline,
    /// seed and view).
    public func features(_ inputs: [LabeledInput], cache: FeatureCache?, batchSize: Int = 32,
                         augmentation: (pipeline: ImagePipeline, seed: UInt64, view: Int)? = nil,
                         progress: ((Int, Int) -> Void)? = nil) -> (features: Tensor, kept: [Int], failed: [(String, String)], computed: Int) {
        var rows = [[Float]?](repeating: nil, count: inputs.count)
        var hashes = [String?](repeating: nil, count: inputs.count)
        var missing: [Int] = []
        for (i, input) in inputs.enumerated() {
            if cache != nil || augmentation != nil { hashes[i] = Self.contentHash(input) }
            if let cache, let h = hashes[i], let v = cache.lookup(h) { rows[i] = v; continue }
            missing.append(i)
        }
        var failed: [(String, String)] = [], computed = 0
        module.eval()
        for start in stride(from: 0, to: missing.count, by: batchSize) {
            progress?(start, missing.count)
            let chunk = Array(missing[start..<Swift.min(missing.count, start + batchSize)])
            let chunkInputs = chunk.map { inputs[$0] }
            let prepared: (features: Tensor?, kept: [Int], failed: [(String, String)])
            if let a = augmentation {
                let images = Self.augmentedImages(chunkInputs, hashes: chunk.map { hashes[$0] }, augmentation: a)
                prepared = (images.inputs.map { batch in withNoGrad { forward(batch) } }, images.kept, images.failed)
            } else {
                prepared = encoder.pooledFeatures(chunkInputs, batchSize: batchSize)
            }
            failed += prepared.failed
            guard let out = prepared.features, !prepared.kept.isEmpty else { continue }
            computed += prepared.kept.count
            let v = out.toArray(), d = dimension
            for (j, local) in prepared.kept.enumerated() {
                let i = chunk[local]
                let row = Array(v[(j * d)..<((j + 1) * d)])
                rows[i] = row
                if let cache, let h = hashes[i] { try? cache.store(h, row) }
            }
        }
        if !missing.isEmpty { progress?(missing.count, missing.count) }
        let kept = rows.indices.filter { rows[$0] != nil }
        return (Tensor(shape: [kept.count, dimension], data: kept.flatMap { rows[$0]! }), kept, failed, computed)
    }

    /// Images of `inputs` through a random pipeline, each with a generator from the seed, the view and its hash.
    static func augmentedImages(_ inputs: [LabeledInput], hashes: [String?],
                                augmentation a: (pipeline: ImagePipeline, seed: UInt64, view: Int))
        -> (inputs: BatchInputs?, kept: [Int], failed: [(String, String)]) {
        var xs: [Tensor] = [], kept: [Int] = [], failed: [(String, String)] = []
        for (i, input) in inputs.enumerated() {
            guard case .image(let p) = input else { failed.append((input.name, "not an image")); continue }
            do {
                var options = DecodeOptions()
                options.target = a.pipeline.decodeTarget
                let h = UInt64(hashes[i]?.prefix(16) ?? "0", radix: 16) ?? 0
                var g = SeededGenerator(seed: a.seed ^ h ^ (UInt64(a.view) &* 0x9E37_79B9_7F4A_7C15))
                xs.append(a.pipeline.apply(try ImageDecoder.decode(contentsOf: p, options: options), generator: &g).tensor())
                kept.append(i)
            } catch { failed.append((p, error.description)) }
        }
        return (xs.isEmpty ? nil : .tensor(Tensor.stack(xs)), kept, failed)
    }
}
