import Checkpoints
import Datasets
import Foundation
import Models
import Tensors
import TransferKit

/// What a segmentation bundle's `dense.json` records: enough to rebuild the model and prepare its inputs.
public struct SegmentationManifest: Codable, Sendable, Equatable {
    public var format = "transferkit-segmentation/1"
    /// The registry name of the encoder (`efficientnet-lite0`).
    public var encoder: String
    public var architecture: SegmentationArchitecture
    public var classes: Int
    /// The square side the model was trained at.
    public var inputSize: Int
    public var encoderFrozen: Bool
    public var loss: SegmentationLoss
    /// 3 for RGB, 1 for greyscale inputs (the first convolution adapted by ``VisionBackbone/adaptInputChannels(_:)``).
    public var inputChannels = 3

    public init(encoder: String, architecture: SegmentationArchitecture, classes: Int, inputSize: Int, encoderFrozen: Bool,
                loss: SegmentationLoss) {
        self.encoder = encoder
        self.architecture = architecture
        self.classes = classes
        self.inputSize = inputSize
        self.encoderFrozen = encoderFrozen
        self.loss = loss
    }
}

/// A trained segmentation model on disk: a directory with `dense.json` (``SegmentationManifest``) and
/// `weights.safetensors` (every parameter and buffer under its module path: `encoder.*`, `decoder.*`,
/// `segmentation_head.*`).
public enum SegmentationBundle {
    public static let manifestFile = "dense.json"
    public static let weightsFile = "weights.safetensors"

    /// Whether `path` is a directory holding a segmentation manifest.
    public static func isBundle(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path + "/" + manifestFile)
    }

    public static func save(_ model: SegmentationModel, manifest: SegmentationManifest, to path: String) throws(DenseError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let data = try JSONEncoder.sortedPretty.encode(manifest)
            try data.write(to: URL(fileURLWithPath: path + "/" + manifestFile))
        } catch { throw .writeFailed(path: path, reason: "\(error)") }
        var state: [String: Tensor] = [:]
        for (k, t) in model.stateDict() { state[k] = t.contiguous() }
        do throws(CheckpointError) { try SafeTensorsWriter.write(state, metadata: ["format": manifest.format], to: path + "/" + weightsFile) } catch {
            throw .writeFailed(path: path + "/" + weightsFile, reason: error.description)
        }
    }

    /// The model of a bundle, in eval mode, and its manifest.
    public static func load(_ path: String) throws(DenseError) -> (SegmentationModel, SegmentationManifest) {
        guard isBundle(path) else { throw .notABundle(path: path, reason: "no \(manifestFile)") }
        let manifest: SegmentationManifest
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path + "/" + manifestFile))
            manifest = try JSONDecoder().decode(SegmentationManifest.self, from: data)
        } catch { throw .notABundle(path: path, reason: "\(manifestFile) is malformed: \(error)") }
        let model = try build(encoder: manifest.encoder, architecture: manifest.architecture, classes: manifest.classes, weights: nil,
                              inputChannels: manifest.inputChannels)
        let state: [String: Tensor]
        do { state = try Pretrained.readWeights(path + "/" + weightsFile) } catch {
            throw .notABundle(path: path, reason: error.description)
        }
        do { try model.load(state, strict: true) } catch { throw .notABundle(path: path, reason: error.description) }
        model.eval()
        return (model, manifest)
    }

    /// A segmentation model on the registry encoder `encoder`, its pretrained weights loaded from `weights` when given.
    public static func build(encoder: String, architecture: SegmentationArchitecture, classes: Int,
                             weights: String?, inputChannels: Int = 3) throws(DenseError) -> SegmentationModel {
        let backbone: any VisionBackbone
        do {
            let spec = try ModelRegistry.spec(named: encoder)
            backbone = try Pretrained.visionModel(spec, includeTop: false)
            if let weights { try backbone.loadBackbone(Pretrained.readWeights(weights)) }
        } catch {
            throw .invalidOption(name: "--model", value: encoder, accepted: "an image model of `transfer models` with its weights (\(error))")
        }
        guard inputChannels == 1 || inputChannels == 3 else {
            throw .invalidOption(name: "--input-channels", value: "\(inputChannels)", accepted: "1 (greyscale) or 3 (RGB)")
        }
        try backbone.adaptInputChannels(inputChannels)
        return SegmentationModel(encoder: backbone, architecture: architecture, classes: classes)
    }
}

extension JSONEncoder {
    static var sortedPretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }
}

extension SegmentationBundle {
    /// The input normalisation of the registry encoder `encoder` (ImageNet mean/std, or EfficientNet-Lite's
    /// (x − 127) / 128).
    public static func normalization(encoder: String) throws(DenseError) -> Normalization {
        guard let spec = try? ModelRegistry.spec(named: encoder), let prep = spec.preprocessing else {
            throw .invalidOption(name: "--model", value: encoder, accepted: "an image model of `transfer models`")
        }
        switch prep.normalization {
        case .imagenet: return .imagenet
        case .efficientNetLite: return .efficientNetLite
        }
    }
}
