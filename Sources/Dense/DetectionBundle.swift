import Checkpoints
import Datasets
import Foundation
import Models
import Tensors
import TransferKit

/// What a detection bundle's `detect.json` records.
public struct DetectionManifest: Codable, Sendable, Equatable {
    public var format = "transferkit-detection/1"
    public var encoder: String
    public var classNames: [String]
    public var tile: Int
    public var overlap: Int
    public var nmsThreshold: Float
    public var minScore: Float
    public var encoderFrozen: Bool

    public init(encoder: String, classNames: [String], options: DetectionOptions) {
        self.encoder = encoder
        self.classNames = classNames
        tile = options.tile
        overlap = options.overlap
        nmsThreshold = options.nmsThreshold
        minScore = options.minScore
        encoderFrozen = options.freezeEncoder
    }

    /// The prediction options the model was saved with.
    public var options: DetectionOptions {
        var o = DetectionOptions()
        o.tile = tile
        o.overlap = overlap
        o.nmsThreshold = nmsThreshold
        o.minScore = minScore
        return o
    }
}

/// A trained detector on disk: `detect.json` (``DetectionManifest``) and `weights.safetensors` (`encoder.*`,
/// `fpn.*`, `head.*`).
public enum DetectionBundle {
    public static let manifestFile = "detect.json"

    public static func isBundle(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + manifestFile) }

    public static func build(encoder: String, classes: Int, weights: String?) throws(DenseError) -> DetectionModel {
        let backbone: any VisionBackbone
        do {
            let spec = try ModelRegistry.spec(named: encoder)
            backbone = try Pretrained.visionModel(spec, includeTop: false)
            if let weights { try backbone.loadBackbone(Pretrained.readWeights(weights)) }
        } catch {
            throw .invalidOption(name: "--model", value: encoder, accepted: "an image model of `transfer models` with its weights (\(error))")
        }
        return DetectionModel(encoder: backbone, classes: classes)
    }

    public static func save(_ model: DetectionModel, manifest: DetectionManifest, to path: String) throws(DenseError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try JSONEncoder.sortedPretty.encode(manifest).write(to: URL(fileURLWithPath: path + "/" + manifestFile))
        } catch { throw .writeFailed(path: path, reason: "\(error)") }
        var state: [String: Tensor] = [:]
        for (k, t) in model.stateDict() { state[k] = t.contiguous() }
        do throws(CheckpointError) { try SafeTensorsWriter.write(state, metadata: ["format": manifest.format], to: path + "/" + SegmentationBundle.weightsFile) } catch {
            throw .writeFailed(path: path + "/" + SegmentationBundle.weightsFile, reason: error.description)
        }
    }

    public static func load(_ path: String) throws(DenseError) -> (DetectionModel, DetectionManifest) {
        guard isBundle(path) else { throw .notABundle(path: path, reason: "no \(manifestFile)") }
        let manifest: DetectionManifest
        do {
            manifest = try JSONDecoder().decode(DetectionManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path + "/" + manifestFile)))
        } catch { throw .notABundle(path: path, reason: "\(manifestFile) is malformed: \(error)") }
        let model = try build(encoder: manifest.encoder, classes: manifest.classNames.count, weights: nil)
        do { try model.load(Pretrained.readWeights(path + "/" + SegmentationBundle.weightsFile), strict: true) } catch {
            throw .notABundle(path: path, reason: "\(error)")
        }
        model.eval()
        return (model, manifest)
    }

    /// The images of `folder` with their boxes from `annotations` (matched by file name; an image without boxes has
    /// none).
    public static func samples(images folder: String, annotations: BoxAnnotations) throws(DenseError) -> [DetectionSample] {
        var out: [DetectionSample] = []
        for path in try SegmentationDataset.imageFiles(folder) {
            let name = (path as NSString).lastPathComponent
            let image: RGBImage
            do { image = try ImageDecoder.decode(contentsOf: path) } catch { throw DenseError.wrap(error, path: path) }
            out.append(DetectionSample(name: name, image: image, boxes: annotations.boxes(for: name) ?? []))
        }
        return out
    }
}
