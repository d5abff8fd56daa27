import Datasets
import Foundation
import Models
import Testing
@testable import Tensors
@testable import TransferKit

/// Issue 24's bundle defects, each driven through the public API a user reaches (`ModelBundle.save`, `manifest(at:)`,
/// `load(_:backboneWeights:)`, `predictions`, `evaluate`) on a real EfficientNet-Lite0 features bundle (which stores only
/// the head, so writing one is cheap). Each expectation failed (or the process trapped) before the bundle was hardened.
@Suite(.serialized) struct BundleDefectTests {
    static let weights: String = {
        let root = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
        return root + "/efficientnet-lite0/efficientnet-lite0-57934424.pth"
    }()
    static var weightsCached: Bool { FileManager.default.fileExists(atPath: weights) }

    /// A features-strategy classification model over `labels` with `outputs` head outputs (default: one per label).
    func model(labels: [String] = ["cat", "dog", "fox"], outputs: Int? = nil) throws -> TransferModel {
        let backbone = try FeatureBackbone(spec: try ModelRegistry.spec(named: "efficientnet-lite0"), weightsPath: Self.weights)
        let head = Head(.linear, inputs: backbone.dimension, outputs: outputs ?? labels.count, seed: 1)
        let m = TransferModel(backbone: backbone, head: head, task: .classification, classNames: labels, strategy: .features)
        m.eval()
        return m
    }

    /// A fresh directory with a saved bundle `b.transferkit` and a 40×40 PNG `x.png`.
    func workspace(_ model: TransferModel? = nil) throws -> (dir: URL, bundle: URL, image: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-bundle-defects-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let bundle = dir.appendingPathComponent("b.transferkit")
        try ModelBundle.save(model ?? self.model(), to: bundle, training: ["seed": "1"], metrics: ["accuracy": 0.5])
        let image = dir.appendingPathComponent("x.png").path
        try PNGEncoder.write(RGBImage(width: 40, height: 40, fill: (120, 60, 200)), to: image)
        return (dir, bundle, image)
    }

    /// Rewrites manifest.json with `edit` applied to its JSON object (no hash is updated).
    func editManifest(_ bundle: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let url = bundle.appendingPathComponent("manifest.json")
        var obj = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&obj)
        try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]).write(to: url)
    }

    /// The description of the error `body` throws, or nil when it returns.
    func failure(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return "\(error)" }
    }

    @Test(.enabled(if: weightsCached)) func aNegativeHeadInputsIsRefusedNamingTheKeyAndValueInsteadOfTrapping() throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        try editManifest(w.bundle) { $0["head_inputs"] = -1280 }
        let message = failure { _ = try ModelBundle.load(w.bundle, backboneWeights: Self.weights) }
        #expect(message?.contains("head_inputs") == true && message?.contains("-1280") == true, "\(message ?? "loaded")")
    }

    @Test(.enabled(if: weightsCached)) func aHugeHeadInputsIsRefusedNamingTheKeyAndValueInsteadOfTrapping() throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        try editManifest(w.bundle) { $0["head_inputs"] = 1_099_511_627_776 }
        let message = failure { _ = try ModelBundle.load(w.bundle, backboneWeights: Self.weights) }
        #expect(message?.contains("head_inputs") == true && message?.contains("1099511627776") == true, "\(message ?? "loaded")")
    }

    @Test(.enabled(if: weightsCached)) func fewerLabelsThanHeadOutputsIsRefusedAtLoad() throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        try editManifest(w.bundle) { $0["labels"] = ["cat", "dog"] }
        let message = failure { _ = try ModelBundle.manifest(at: w.bundle) }
        #expect(message?.contains("labels") == true, "\(message ?? "loaded")")
    }

    @Test(.enabled(if: weightsCached)) func predictionsWithMoreTopKThanLabelsNeverIndexPastTheLabels() throws {
        let m = try model(labels: ["cat", "dog"], outputs: 10)
        let w = try workspace(try model())
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let (predictions, failed) = m.predictions([.image(path: w.image)], names: [w.image], topK: 10)
        #expect(predictions.count + failed.count == 1)
        #expect(predictions.allSatisfy { $0.top.allSatisfy { $0.index < 2 } && $0.top.count <= 2 })
    }

    @Test(.enabled(if: weightsCached)) func editingTheLabelsOfASavedBundleIsRefusedAsEdited() throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        try editManifest(w.bundle) { $0["labels"] = ["fox", "dog", "cat"] }
        let message = failure { _ = try ModelBundle.manifest(at: w.bundle) }
        #expect(message?.contains("edited") == true, "\(message ?? "loaded")")
    }

    @Test(.enabled(if: weightsCached)) func editingTheTaskOfASavedBundleIsRefused() throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        try editManifest(w.bundle) { $0["task"] = "multilabel" }
        let message = failure { _ = try ModelBundle.manifest(at: w.bundle) }
        #expect(message?.contains("edited") == true, "\(message ?? "loaded")")
    }

    @Test(.enabled(if: weightsCached)) func aModelWithNaNWeightsIsNeverWrittenOrLoadedSilently() throws {
        let m = try model()
        let weight = try #require(m.head.stateDict().first { $0.key == "0.weight" }?.tensor)
        withNoGrad { weight.assign(Tensor(shape: weight.shape, data: [Float](repeating: .nan, count: weight.count))) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-bundle-nan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let message = failure {
            try ModelBundle.save(m, to: dir, training: [:], metrics: [:])
            _ = try ModelBundle.load(dir, backboneWeights: Self.weights)
        }
        #expect(message?.contains("head.0.weight") == true, "\(message ?? "saved and loaded")")
    }

    @Test(.enabled(if: weightsCached)) func nonFiniteOutputsAreReportedAsAFailureOfThatInputNotPrinted() throws {
        let m = try model()
        let weight = try #require(m.head.stateDict().first { $0.key == "0.weight" }?.tensor)
        withNoGrad { weight.assign(Tensor(shape: weight.shape, data: [Float](repeating: .infinity, count: weight.count))) }
        let w = try workspace(try model())
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let (predictions, failed) = m.predictions([.image(path: w.image)], names: [w.image], topK: 3)
        #expect(predictions.isEmpty)
        #expect(failed.count == 1 && failed.first?.0 == w.image && failed.first?.1.contains("finite") == true, "\(failed)")
    }

    @Test(.enabled(if: weightsCached)) func evaluatingAModelWithNonFiniteOutputsThrowsNamingTheInput() throws {
        let m = try model()
        let weight = try #require(m.head.stateDict().first { $0.key == "0.weight" }?.tensor)
        withNoGrad { weight.assign(Tensor(shape: weight.shape, data: [Float](repeating: .nan, count: weight.count))) }
        let w = try workspace(try model())
        defer { try? FileManager.default.removeItem(at: w.dir) }
        let data = LabeledData(inputs: [.image(path: w.image)], labels: [1], classNames: ["cat", "dog", "fox"])
        let message = failure { _ = try m.evaluate(data) }
        #expect(message?.contains(w.image) == true, "\(message ?? "evaluated")")
    }

    @Test(.enabled(if: weightsCached)) func aMissingManifestKeyIsNamed() throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        try editManifest(w.bundle) { $0.removeValue(forKey: "task") }
        let message = failure { _ = try ModelBundle.manifest(at: w.bundle) }
        #expect(message?.contains("missing key \"task\"") == true, "\(message ?? "loaded")")
    }

    @Test(.enabled(if: weightsCached)) func aWrongTypeIsNamedWithTheValueFound() throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        try editManifest(w.bundle) { $0["head_outputs"] = "NaN" }
        let message = failure { _ = try ModelBundle.manifest(at: w.bundle) }
        #expect(message?.contains("head_outputs") == true && message?.contains("\"NaN\"") == true, "\(message ?? "loaded")")
    }

    @Test(.enabled(if: weightsCached)) func aManifestThatIsNotJSONIsReportedWithTheDecodersPosition() throws {
        let w = try workspace()
        defer { try? FileManager.default.removeItem(at: w.dir) }
        try Data("{\"format_version\": 2,, }".utf8).write(to: w.bundle.appendingPathComponent("manifest.json"))
        let message = failure { _ = try ModelBundle.manifest(at: w.bundle) }
        #expect(message?.contains("not valid JSON") == true, "\(message ?? "loaded")")
    }

    @Test func aDirectoryWithoutManifestIsReportedAsMissingTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-bundle-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let message = failure { _ = try ModelBundle.manifest(at: dir) }
        #expect(message?.contains("manifest.json does not exist") == true, "\(message ?? "loaded")")
    }
}
