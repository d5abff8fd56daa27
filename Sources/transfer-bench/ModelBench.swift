import Adapters
import Datasets
import Foundation
import Layers
import Models
import Optimizers
import Tensors
import TransferKit

/// Whole-model throughput at batch 32 (inference and training steps), the figures `benchmarks/peers.py` measures
/// for PyTorch, ONNX Runtime and OpenVINO under the same names. Each is the median of a few runs after one warm-up
/// (the models are far too slow for the default repeat count), and each reports the peak resident memory of its
/// own process (each runs in a fresh child process, see ``runInChild``).
enum ModelBench {
    static let batch = 32
    static let imageSize = 224
    static let sequenceLength = 128
    static let classes = 10

    /// One warm-up, then the median of at most 3 timed runs (fewer with a smaller `--repeats`).
    static func plan(_ ctx: BenchContext) -> TimingPlan {
        TimingPlan(warmup: Swift.min(1, ctx.plan.warmup), repeats: Swift.min(3, ctx.plan.repeats))
    }

    /// What a training benchmark trains.
    enum Trainable {
        /// Every parameter (full fine-tuning).
        case all
        /// Only the top block groups (the rest frozen; frozen BatchNorm keeps its running statistics).
        case top(Int)
        /// LoRA adapters (rank 8, α 16) on the layers `transfer train --strategy lora` adapts by default (the
        /// 1×1 convolutions of the top `n` groups for a vision model, query and value for MiniLM), everything else frozen.
        case lora(topGroups: Int)
    }

    // MARK: - Child processes

    /// Whole-model benchmarks run in a fresh process each: the allocator keeps memory a previous model freed
    /// (glibc raises its mmap threshold as large blocks come and go), which would count in the next one's peak.
    static func runsInChildProcess(_ name: String) -> Bool {
        name.contains("_infer") || name.contains("_train") || name.contains("_features")
    }

    /// Runs `transfer-bench --only NAME --json` and reads back its one result and notes.
    static func runInChild(_ name: String, threads: Int, repeats: Int, warmup: Int, ctx: BenchContext) throws -> BenchResult {
        let process = Process()
        process.executableURL = Bundle.main.executableURL
        process.arguments = ["--only", name, "--threads", String(threads), "--repeats", String(repeats), "--warmup", String(warmup)]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        struct Child: Decodable {
            struct Result: Decodable {
                let name: String; let value: Double; let unit: String; let peak_rss_mb: Double?
                let reference: Double?; let ratio: Double?; let target: Double?
            }
            let results: [Result]
            let notes: [String]
        }
        guard process.terminationStatus == 0, let child = try? JSONDecoder().decode(Child.self, from: data),
              let r = child.results.first else {
            throw BenchError("\(name): the child process exited with status \(process.terminationStatus) and no result")
        }
        for n in child.notes { ctx.note(n) }
        return BenchResult(name: r.name, value: r.value, unit: r.unit, reference: r.reference, ratio: r.ratio, target: r.target,
                           peakRSSMB: r.peak_rss_mb)
    }

    // MARK: - Models

    /// EfficientNet-Lite0 with its pretrained weights when they are cached (else random ones, said in the note).
    static func efficientNetLite0(includeTop: Bool) -> (model: any VisionBackbone, weights: String) {
        if let spec = try? ModelRegistry.spec(named: "efficientnet-lite0"), spec.isCached, let file = spec.cachedWeights {
            do {
                return (try Pretrained.loadVision(spec, weights: file.path, includeTop: includeTop), "pretrained weights from the cache")
            } catch {
                return (EfficientNetLite(.lite0, includeTop: includeTop), "random-initialised weights (cached weights failed to load: \(error))")
            }
        }
        return (EfficientNetLite(.lite0, includeTop: includeTop), "random-initialised weights (efficientnet-lite0 not in the cache)")
    }

    /// MobileNetV2 with torchvision's weights when they are cached (else random ones, said in the note).
    static func mobileNetV2(includeTop: Bool) -> (model: any VisionBackbone, weights: String) {
        if let spec = try? ModelRegistry.spec(named: "mobilenet-v2"), spec.isCached, let file = spec.cachedWeights,
           let model = try? Pretrained.loadVision(spec, weights: file.path, includeTop: includeTop) {
            return (model, "pretrained weights from the cache")
        }
        return (MobileNetV2(includeTop: includeTop), "random-initialised weights (mobilenet-v2 not in the cache)")
    }

    static func resNet18(includeTop: Bool) -> (model: any VisionBackbone, weights: String) {
        (ResNet(.resnet18, includeTop: includeTop), "random-initialised weights (none ship offline)")
    }

    /// all-MiniLM-L6-v2 from the cache, or the same architecture with random weights.
    static func miniLM() -> (model: BertModel, weights: String) {
        if let spec = try? ModelRegistry.spec(named: "minilm-l6"), spec.isCached, let dir = spec.cachedWeights {
            do {
                return (try BertModel.load(directory: dir.path), "pretrained weights from the cache")
            } catch {
                return (randomMiniLM(), "random-initialised all-MiniLM-L6-v2 architecture (cached weights failed to load: \(error))")
            }
        }
        return (randomMiniLM(), "random-initialised all-MiniLM-L6-v2 architecture (minilm-l6 not in the cache)")
    }

    static func randomMiniLM() -> BertModel {
        try! BertModel(config: BertConfig(vocabSize: 30522, hiddenSize: 384, numHiddenLayers: 6, numAttentionHeads: 12,
                                          intermediateSize: 1536))
    }

    /// Deterministic token ids spread over the vocabulary (their values do not matter for timing).
    static func tokenIDs(vocab: Int) -> [Int] { (0..<(batch * sequenceLength)).map { ($0 &* 7919 &+ 101) % vocab } }

    static func labels() -> [Int] { (0..<batch).map { ($0 * 7) % classes } }

    // MARK: - Measurements

    /// Images per second of a vision model's forward (with its 1000-class classifier) on a random batch.
    static func visionInference(_ ctx: BenchContext, _ name: String, precision: Precision = .fp32,
                                _ load: () -> (model: any VisionBackbone, weights: String)) -> BenchResult {
        if let refused = refuse(ctx, name, precision, unit: "images/s") { return refused }
        let (model, weights) = load()
        model.eval()
        let x = randomTensor([batch, 3, imageSize, imageSize], seed: 61)
        let seconds = medianSeconds(plan(ctx)) { withPrecision(precision) { withNoGrad { _ = model(x).contiguous() } } }
        ctx.note("\(name): \(model.modelName) forward with classifier in \(precision), batch \(batch)×3×\(imageSize)×\(imageSize), "
                 + "eval(), withNoGrad; \(weights); images/s = \(batch) / median of \(plan(ctx).repeats) runs after 1 warm-up.")
        return perBatch(name, seconds, unit: "images/s")
    }

    /// Images per second of one training step: pooled features → a new 10-class linear head → cross-entropy,
    /// backward, AdamW (lr 1e-4) over the trainable parameters.
    static func visionTraining(_ ctx: BenchContext, _ name: String, _ trainable: Trainable,
                               _ load: () -> (model: any VisionBackbone, weights: String)) -> BenchResult {
        let (model, weights) = load()
        let head = Linear(model.featureDimension, classes)
        let what = freeze(model, model.blockGroups, trainable)
        model.train()
        let opt = optimizer(model, head)
        let x = randomTensor([batch, 3, imageSize, imageSize], seed: 62), y = labels()
        let seconds = medianSeconds(plan(ctx)) {
            opt.zeroGrad()
            Tensor.crossEntropy(logits: head(model.features(x)), targets: y).backward()
            opt.step()
        }
        ctx.note("\(name): \(model.modelName) training step (\(what) + a new \(classes)-class linear head, train mode, "
                 + "cross-entropy, backward, AdamW lr 1e-4), batch \(batch)×3×\(imageSize)×\(imageSize); \(weights); "
                 + "images/s = \(batch) / median of \(plan(ctx).repeats) steps after 1 warm-up.")
        return perBatch(name, seconds, unit: "images/s")
    }

    /// Sequences per second of MiniLM's forward to the last hidden state on `[32, 128]` token ids, full mask.
    static func textInference(_ ctx: BenchContext, precision: Precision = .fp32) -> BenchResult {
        let name = precision == .fp32 ? "minilm_infer" : "minilm_infer_\(precision)"
        if let refused = refuse(ctx, name, precision, unit: "seq/s") { return refused }
        let (bert, weights) = miniLM()
        bert.eval()
        let ids = tokenIDs(vocab: bert.config.vocabSize)
        let mask = [Float](repeating: 1, count: ids.count)
        let seconds = medianSeconds(plan(ctx)) {
            withPrecision(precision) {
                withNoGrad { _ = bert(ids: ids, attentionMask: mask, shape: [batch, sequenceLength]).contiguous() }
            }
        }
        ctx.note("\(name): BertModel (\(bert.config.numHiddenLayers) layers, \(bert.config.hiddenSize)-d) forward to the "
                 + "last hidden state in \(precision), batch \(batch) × \(sequenceLength) token ids, full attention mask, eval(), "
                 + "withNoGrad; \(weights); sequences/s = \(batch) / median of \(plan(ctx).repeats) runs after 1 warm-up.")
        return perBatch(name, seconds, unit: "seq/s")
    }

    /// Sequences per second of one MiniLM training step: mean-pooled last hidden state → a 10-class linear head →
    /// cross-entropy, backward, AdamW (lr 1e-4); dropout on (train mode).
    static func textTraining(_ ctx: BenchContext, _ name: String, _ trainable: Trainable) -> BenchResult {
        let (bert, weights) = miniLM()
        let layers = bert.config.numHiddenLayers
        let groups = [BlockGroup(name: "embeddings", prefixes: ["embeddings"])]
            + (0..<layers).map { BlockGroup(name: "layer\($0)", prefixes: ["encoder.layer.\($0)"]) }
        let what = freeze(bert, groups, trainable)
        let head = Linear(bert.config.hiddenSize, classes)
        bert.train()
        let opt = optimizer(bert, head)
        let ids = tokenIDs(vocab: bert.config.vocabSize), y = labels()
        let mask = [Float](repeating: 1, count: ids.count)
        let seconds = medianSeconds(plan(ctx)) {
            opt.zeroGrad()
            let hidden = bert(ids: ids, attentionMask: mask, shape: [batch, sequenceLength])
            Tensor.crossEntropy(logits: head(hidden.mean(axis: 1)), targets: y).backward()
            opt.step()
        }
        ctx.note("\(name): BertModel training step (\(what) + a \(classes)-class head on the mean-pooled last hidden state, "
                 + "dropout on, cross-entropy, backward, AdamW lr 1e-4), batch \(batch) × \(sequenceLength) tokens; \(weights); "
                 + "sequences/s = \(batch) / median of \(plan(ctx).repeats) steps after 1 warm-up.")
        return perBatch(name, seconds, unit: "seq/s")
    }

    /// Feature extraction end to end, as the features strategy's first run does it: decode + resize + centre crop
    /// (EfficientNet-Lite0's evaluation pipeline) on a loader worker thread, then the backbone's pooled features, over
    /// LoaderBench's folder of photo-sized JPEG/PNG files; beside it the backbone alone on a ready batch.
    static func featureExtraction(_ ctx: BenchContext, precision: Precision = .fp32) -> BenchResult {
        let name = precision == .fp32 ? "efficientnet_lite0_features" : "efficientnet_lite0_features_\(precision)"
        if let refused = refuse(ctx, name, precision, unit: "images/s") { return refused }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("transferkit-features-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (model, weights) = efficientNetLite0(includeTop: false)
        model.eval()
        guard (try? LoaderBench.writeImages(to: root)) != nil, let dataset = try? ImageFolderDataset(root: root),
              let pipeline = (try? ModelRegistry.spec(named: "efficientnet-lite0"))?.preprocessing?.evaluationPipeline,
              let loader = try? DataLoader(dataset: dataset, pipeline: pipeline,
                                           options: LoaderOptions(batchSize: batch, shuffle: false, workers: 1))
        else {
            ctx.note("\(name): the benchmark images or the loader could not be set up")
            return BenchResult(name: name, value: .nan, unit: "images/s", reference: nil, ratio: nil, target: nil)
        }
        func epoch() -> Double {
            let t0 = monotonicSeconds()
            var seen = 0
            let it = loader.epoch(0)
            while let b = try? it.next() {
                withPrecision(precision) { withNoGrad { _ = model.features(b.images).contiguous() } }
                seen += b.count
            }
            return Double(seen) / (monotonicSeconds() - t0)
        }
        _ = epoch()
        let rates = (0..<plan(ctx).repeats).map { _ in epoch() }
        let x = randomTensor([batch, 3, imageSize, imageSize], seed: 63)
        let modelAlone = Double(batch) / medianSeconds(plan(ctx)) {
            withPrecision(precision) { withNoGrad { _ = model.features(x).contiguous() } }
        }
        ctx.note("\(name): \(LoaderBench.imageCount) photo-sized JPEG/PNG files → decode (libjpeg DCT scaling) → resize "
                 + "256 → centre crop 224 → normalise on 1 loader thread, batches of \(batch) → EfficientNet-Lite0 pooled "
                 + "features in \(precision) (withNoGrad); \(weights); median of \(rates.count) epochs after 1 warm-up. The backbone alone "
                 + "on a ready batch: " + String(format: "%.1f", modelAlone) + " images/s.")
        return BenchResult(name: name, value: median(rates), unit: "images/s", reference: nil, ratio: nil, target: nil)
    }

    /// Items per second of a batch that took `seconds`.
    static func perBatch(_ name: String, _ seconds: Double, unit: String) -> BenchResult {
        BenchResult(name: name, value: Double(batch) / seconds, unit: unit, reference: nil, ratio: nil, target: nil)
    }

    /// A NaN result with a note when this CPU cannot run `precision` (bf16 without avx512_bf16).
    static func refuse(_ ctx: BenchContext, _ name: String, _ precision: Precision, unit: String) -> BenchResult? {
        guard let reason = precision.unsupportedReason else { return nil }
        ctx.note("\(name): not measured: \(reason)")
        return BenchResult(name: name, value: .nan, unit: unit, reference: nil, ratio: nil, target: nil)
    }

    /// Freezes all but the top groups (or nothing), returning a description of what trains.
    static func freeze(_ model: Module, _ groups: [BlockGroup], _ trainable: Trainable) -> String {
        model.unfreeze()
        if case .lora(let n) = trainable { return adaptWithLoRA(model, groups, topGroups: n) }
        guard case .top(let n) = trainable else { return "every parameter trainable" }
        let top = groups.suffix(n)
        model.freeze(where: { key in !top.contains { $0.contains(key) } })
        return "only " + top.map(\.name).joined(separator: ", ") + " trainable"
    }

    static func optimizer(_ model: Module, _ head: Linear) -> AdamW {
        let params = model.trainableParameters().map { (name: "backbone." + $0.0, tensor: $0.1) }
            + head.namedParameters().map { (name: "head." + $0.0, tensor: $0.1) }
        return AdamW(groups: [ParameterGroup(parameters: params, learningRate: 1e-4, weightDecay: 1e-2)])
    }
}

extension ModelBench {
    /// Puts rank-8 LoRA adapters (α 16) on `model` as `transfer train --strategy lora` does by default and freezes
    /// the rest; returns what trains.
    static func adaptWithLoRA(_ model: Module, _ groups: [BlockGroup], topGroups n: Int) -> String {
        let top = groups.suffix(n)
        let targets: [String] = model is BertModel
            ? ["encoder.layer.*.attention.self.query", "encoder.layer.*.attention.self.value"]
            : model.namedModules().compactMap { path, m in
                guard let c = m as? Conv2d, c.groups == 1, c.weight.shape[2] == 1, c.weight.shape[3] == 1,
                      top.contains(where: { $0.contains(path + ".weight") }) else { return nil }
                return path
            }
        do {
            let paths = try LoRA.apply(LoRAConfig(rank: 8, alpha: 16, targets: targets), to: model, seed: 0)
            let (total, trainable) = model.parameterCount
            return "LoRA r 8 on \(paths.count) layers, \(trainable) of \(total) backbone parameters trainable"
        } catch {
            return "LoRA could not be applied: \(error)"
        }
    }
}
