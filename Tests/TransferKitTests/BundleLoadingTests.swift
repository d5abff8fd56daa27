import Checkpoints
import Foundation
import Models
import Testing
@testable import Tensors
@testable import TransferKit

/// Loading bundles written by the tests (no backbone weights needed: the manifest and the head's tensors are checked
/// before the backbone is built), plus one real round trip on EfficientNet-Lite0 when its weights are cached.
@Suite struct BundleLoadingTests {
    /// A path that is not backbone weights: loads that must fail before reaching the backbone use it.
    static let noBackbone = "/nonexistent/backbone-weights.pth"

    func error(_ body: () throws -> Void) -> ModelBundle.BundleError? {
        do { try body(); return nil } catch let e as ModelBundle.BundleError { return e } catch { return nil }
    }

    @Test func aSealedManifestReadsBackAsWritten() throws {
        let dir = try BundleFixtures.directory("roundtrip")
        defer { try? FileManager.default.removeItem(at: dir) }
        for task in ["classification", "multilabel", "regression"] {
            let m = BundleFixtures.manifest(task: task, labels: task == "regression" ? [] : ["a", "b", "c"])
            try BundleFixtures.write(m, to: dir)
            let back = try ModelBundle.manifest(at: dir)
            #expect(back.task == task && back.labels == m.labels && back.headOutputs == m.headOutputs)
            #expect(back.metrics["log_loss"]?.isNaN == true && back.metrics["accuracy"] == 0.75)
            #expect(back.canonicalSha256 == back.manifestSha256)
        }
    }

    @Test func anEditedLabelIsRefusedAsEditedNamingTheFile() throws {
        let dir = try BundleFixtures.directory("edited")
        defer { try? FileManager.default.removeItem(at: dir) }
        try BundleFixtures.write(BundleFixtures.manifest(), to: dir)
        var obj = try BundleFixtures.json(dir)
        obj["labels"] = ["dog", "cat", "fox"]
        try BundleFixtures.writeJSON(obj, to: dir)
        let e = error { _ = try ModelBundle.manifest(at: dir) }
        guard case .manifestEdited(let file, _, _)? = e else { Issue.record("expected manifestEdited, got \(String(describing: e))"); return }
        #expect(file.hasSuffix("manifest.json") && e?.description.contains("edited or damaged") == true)
    }

    @Test func reformattingTheManifestJSONKeepsItsHashValid() throws {
        let dir = try BundleFixtures.directory("reformat")
        defer { try? FileManager.default.removeItem(at: dir) }
        try BundleFixtures.write(BundleFixtures.manifest(task: "multilabel"), to: dir)
        try BundleFixtures.writeJSON(try BundleFixtures.json(dir), to: dir)  // compact, other number spelling
        _ = try ModelBundle.manifest(at: dir)
    }

    @Test func aFormatOneBundleIsRefusedSayingWhy() throws {
        let dir = try BundleFixtures.directory("v1")
        defer { try? FileManager.default.removeItem(at: dir) }
        try BundleFixtures.write(BundleFixtures.manifest(), to: dir)
        var obj = try BundleFixtures.json(dir)
        obj["format_version"] = 1
        obj.removeValue(forKey: "manifest_sha256")
        try BundleFixtures.writeJSON(obj, to: dir)
        let e = error { _ = try ModelBundle.manifest(at: dir) }
        #expect(e == .formatVersion(file: dir.appendingPathComponent("manifest.json").path, found: 1, supported: 2))
        #expect(e?.description.contains("train the model again") == true)
    }

    @Test func aManifestThatIsNotJSONIsRefusedWithTheLineAndColumnWhereItBreaks() throws {
        let dir = try BundleFixtures.directory("syntax")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("{\n  \"format_version\": 2,,\n}".utf8).write(to: dir.appendingPathComponent("manifest.json"))
        let e = error { _ = try ModelBundle.manifest(at: dir) }
        guard case .notJSON(let file, let reason)? = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(file == dir.appendingPathComponent("manifest.json").path)
        #expect(reason.contains("character 24") && reason.contains("line 2, column 23"), "\(reason)")  // the second comma
        try Data().write(to: dir.appendingPathComponent("manifest.json"))
        #expect(error { _ = try ModelBundle.manifest(at: dir) } == .notJSON(file: file, reason: "the file is empty"))
    }

    @Test func anUnknownKeyIsRefusedNamingIt() throws {
        let dir = try BundleFixtures.directory("extra")
        defer { try? FileManager.default.removeItem(at: dir) }
        try BundleFixtures.write(BundleFixtures.manifest(), to: dir)
        var obj = try BundleFixtures.json(dir)
        obj["labels_override"] = ["x"]
        try BundleFixtures.writeJSON(obj, to: dir)
        guard case .unknownKey(_, "labels_override", _)? = error({ _ = try ModelBundle.manifest(at: dir) }) else {
            Issue.record("an extra key was not refused"); return
        }
    }

    @Test func aFIFONamedManifestIsRefusedWithoutBlocking() throws {
        let dir = try BundleFixtures.directory("fifo")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(mkfifo(dir.appendingPathComponent("manifest.json").path, 0o600) == 0)
        guard case .notARegularFile(_, let kind)? = error({ _ = try ModelBundle.manifest(at: dir) }) else {
            Issue.record("a FIFO manifest was not refused"); return
        }
        #expect(kind.contains("FIFO"))
    }

    @Test func aMissingOrFIFOWeightsFileIsRefusedWithoutBlocking() throws {
        let dir = try BundleFixtures.directory("fifoweights")
        defer { try? FileManager.default.removeItem(at: dir) }
        try BundleFixtures.write(BundleFixtures.manifest(), to: dir)
        let weights = dir.appendingPathComponent("weights.safetensors").path
        try FileManager.default.removeItem(atPath: weights)
        #expect(error { _ = try ModelBundle.load(dir, backboneWeights: Self.noBackbone) } == .missingFile(path: weights))
        #expect(mkfifo(weights, 0o600) == 0)
        guard case .notARegularFile(weights, _)? = error({ _ = try ModelBundle.load(dir, backboneWeights: Self.noBackbone) }) else {
            Issue.record("a FIFO weights file was not refused"); return
        }
    }

    @Test func aDirectoryNamedManifestAndAMissingBundleAreNamed() throws {
        let dir = try BundleFixtures.directory("dirmanifest")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("manifest.json"), withIntermediateDirectories: true)
        #expect(error { _ = try ModelBundle.manifest(at: dir) } == .notARegularFile(path: dir.appendingPathComponent("manifest.json").path, kind: "directory"))
        let gone = dir.appendingPathComponent("gone.transferkit")
        #expect(error { _ = try ModelBundle.manifest(at: gone) } == .notADirectory(path: gone.path))
    }

    @Test func aNaNHeadWeightIsRefusedAtLoadNamingTheTensorAndElement() throws {
        let dir = try BundleFixtures.directory("nan")
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = BundleFixtures.manifest()
        var tensors = BundleFixtures.headTensors(for: m)
        var w = tensors["head.0.weight"]?.toArray() ?? []
        w[5] = .nan
        tensors["head.0.weight"] = Tensor(shape: [3, 1280], data: w)
        try BundleFixtures.write(m, tensors: tensors, to: dir)
        let e = error { _ = try ModelBundle.load(dir, backboneWeights: Self.noBackbone) }
        guard case .nonFiniteWeight(_, "head.0.weight", 5, let v)? = e, v.isNaN else { Issue.record("got \(String(describing: e))"); return }
    }

    @Test func aZeroOrInfiniteInputScaleIsRefusedAtLoad() throws {
        let dir = try BundleFixtures.directory("std")
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = BundleFixtures.manifest()
        for bad: Float in [0, -1, .infinity] {
            var tensors = BundleFixtures.headTensors(for: m)
            tensors["head.input_std"] = Tensor(shape: [1280], data: [Float](repeating: 1, count: 1279) + [bad])
            try BundleFixtures.write(m, tensors: tensors, to: dir)
            let e = error { _ = try ModelBundle.load(dir, backboneWeights: Self.noBackbone) }
            #expect(e?.description.contains("head.input_std") == true, "\(bad): \(String(describing: e))")
        }
    }

    @Test func weightsThatDoNotMatchTheManifestAreRefusedNamingTheTensor() throws {
        let dir = try BundleFixtures.directory("shapes")
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = BundleFixtures.manifest()
        let good = BundleFixtures.headTensors(for: m)
        var wrongShape = good
        wrongShape["head.0.weight"] = Tensor(shape: [3, 1279], data: [Float](repeating: 0, count: 3 * 1279))
        var missing = good
        missing.removeValue(forKey: "head.0.bias")
        var stray = good
        stray["extra.weight"] = Tensor(shape: [1], data: [0])
        var backbone = good
        backbone["backbone.stem.weight"] = Tensor(shape: [1], data: [0])
        var headExtra = good
        headExtra["head.9.weight"] = Tensor(shape: [1], data: [0])
        for (tensors, key) in [(wrongShape, "head.0.weight"), (missing, "head.0.bias"), (stray, "extra.weight"),
                               (backbone, "backbone.stem.weight"), (headExtra, "head.9.weight")] {
            try BundleFixtures.write(m, tensors: tensors, to: dir)
            let e = error { _ = try ModelBundle.load(dir, backboneWeights: Self.noBackbone) }
            guard case .weights(_, key?, _)? = e else { Issue.record("\(key): got \(String(describing: e))"); continue }
        }
    }

    @Test func weightsReplacedAfterWritingAreRefusedByTheirHash() throws {
        let dir = try BundleFixtures.directory("weightshash")
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = BundleFixtures.manifest()
        try BundleFixtures.write(m, to: dir)
        var other = BundleFixtures.headTensors(for: m)
        other["head.0.bias"] = Tensor(shape: [3], data: [9, 9, 9])
        try SafeTensorsWriter.write(other, to: dir.appendingPathComponent("weights.safetensors").path)
        guard case .weightsHash? = error({ _ = try ModelBundle.load(dir, backboneWeights: Self.noBackbone) }) else {
            Issue.record("replaced weights were not refused"); return
        }
    }

    @Test func headStateShapesAreThoseOfARealHead() {
        for kind in HeadKind.allCases {
            let head = Head(kind, inputs: 6, outputs: 4, hidden: 5)
            let real = Dictionary(uniqueKeysWithValues: head.stateDict().map { ($0.key, $0.tensor.shape.dims) })
            #expect(real == Head.stateShapes(kind, inputs: 6, outputs: 4, hidden: 5), "\(kind)")
        }
    }

    @Test(.enabled(if: BundleDefectTests.weightsCached)) func aSavedBundleLoadsBackAndPredictsTheSame() throws {
        let backbone = try FeatureBackbone(spec: try ModelRegistry.spec(named: "efficientnet-lite0"), weightsPath: BundleDefectTests.weights)
        for kind in HeadKind.allCases {
            let model = TransferModel(backbone: backbone, head: Head(kind, inputs: 1280, outputs: 3, hidden: 16, seed: 2),
                                      task: .classification, classNames: ["a", "b", "c"], strategy: .features)
            model.eval()
            let dir = try BundleFixtures.directory("real")
            defer { try? FileManager.default.removeItem(at: dir) }
            try ModelBundle.save(model, to: dir, training: ["headLR": "0.01", "seed": "2"], metrics: ["log_loss": .infinity])
            let loaded = try ModelBundle.load(dir, backboneWeights: BundleDefectTests.weights)
            let x = Tensor(shape: [2, 1280], data: (0..<2560).map { Float($0 % 13) / 13 })
            let a = withNoGrad { model.head(x) }.toArray(), b = withNoGrad { loaded.head(x) }.toArray()
            #expect(a == b, "\(kind)")
            #expect(loaded.classNames == ["a", "b", "c"] && loaded.task == .classification)
        }
    }
}

/// An int8 bundle loaded without its quantisation would run the fp32 weights silently: plain loading refuses it.
@Suite struct QuantizedBundleRefusalTests {
    @Test func plainLoadingRefusesAnInt8BundleNamingItAndTheCommandsThatAcceptIt() throws {
        let dir = try BundleFixtures.directory("int8")
        defer { try? FileManager.default.removeItem(at: dir) }
        var m = BundleFixtures.manifest()
        m.training[ModelBundle.quantizationHashKey] = String(repeating: "b", count: 64)
        try BundleFixtures.write(m.sealed(), to: dir)
        var caught: ModelBundle.BundleError?
        do { _ = try ModelBundle.load(dir, backboneWeights: BundleLoadingTests.noBackbone) } catch let e as ModelBundle.BundleError { caught = e }
        #expect(caught == .quantizedBundle(directory: dir.path))
        let text = caught?.description ?? ""
        #expect(text.contains(dir.path) && text.contains("transfer predict") && text.contains("transfer evaluate") && text.contains("fp32"), "\(text)")

        // With a quantisation loader the same bundle passes this check (and fails later, on the missing backbone weights).
        var later: Error?
        do {
            _ = try ModelBundle.load(dir, backboneWeights: BundleLoadingTests.noBackbone, quantizationLoader: { _, _, _ in })
        } catch { later = error }
        #expect(later != nil && (later as? ModelBundle.BundleError) != .quantizedBundle(directory: dir.path), "\(String(describing: later))")

        // A plain bundle is not affected.
        let plain = try BundleFixtures.directory("plain")
        defer { try? FileManager.default.removeItem(at: plain) }
        try BundleFixtures.write(BundleFixtures.manifest(), to: plain)
        var plainError: ModelBundle.BundleError?
        do { _ = try ModelBundle.load(plain, backboneWeights: BundleLoadingTests.noBackbone) } catch let e as ModelBundle.BundleError { plainError = e } catch {}
        #expect(plainError != .quantizedBundle(directory: plain.path))
    }
}
