import Checkpoints
import Datasets
import Foundation
import Layers
import Models
import Tensors

/// Errors of the pretrained-model front end; each names the model or input.
public enum PretrainedError: Error, CustomStringConvertible {
    case notAVisionModel(String)
    case notATextModel(String)
    case weights(path: String, reason: String)
    case input(path: String, reason: String)

    public var description: String {
        switch self {
        case .notAVisionModel(let n): "\(n) is not an image model (see `transfer models`)"
        case .notATextModel(let n): "\(n) is not a text model (see `transfer models`)"
        case .weights(let p, let r): "cannot load weights \(p): \(r)"
        case .input(let p, let r): "cannot read \(p): \(r)"
        }
    }
}

/// Builds registry models and loads their weights.
public enum Pretrained {
    /// The architecture of an image model of the registry, with or without its ImageNet classifier.
    public static func visionModel(_ spec: ModelSpec, includeTop: Bool, numClasses: Int = 1000) throws(PretrainedError) -> any VisionBackbone {
        switch spec.name {
        case "efficientnet-lite0": return EfficientNetLite(.lite0, numClasses: numClasses, includeTop: includeTop)
        case "efficientnet-lite1": return EfficientNetLite(.lite1, numClasses: numClasses, includeTop: includeTop)
        case "efficientnet-lite2": return EfficientNetLite(.lite2, numClasses: numClasses, includeTop: includeTop)
        case "mobilenet-v2": return MobileNetV2(numClasses: numClasses, includeTop: includeTop)
        case "resnet18": return ResNet(.resnet18, numClasses: numClasses, includeTop: includeTop)
        case "resnet34": return ResNet(.resnet34, numClasses: numClasses, includeTop: includeTop)
        case "resnet50": return ResNet(.resnet50, numClasses: numClasses, includeTop: includeTop)
        default: throw .notAVisionModel(spec.name)
        }
    }

    /// Reads a checkpoint file: safetensors or PyTorch (zip or legacy), chosen by its structure
    /// (Checkpoints' `CheckpointFormat.detect(path:)`); only a regular file is read.
    public static func readWeights(_ path: String) throws(PretrainedError) -> [String: Tensor] {
        do {
            return try CheckpointReader.tensors(path: path)
        } catch {
            throw .weights(path: path, reason: error.description)
        }
    }

    /// The image model of `spec` with its pretrained weights from `weights` (a file), in eval mode.
    public static func loadVision(_ spec: ModelSpec, weights: String, includeTop: Bool = true) throws(PretrainedError) -> any VisionBackbone {
        let model = try visionModel(spec, includeTop: includeTop)
        let state = try readWeights(weights)
        do {
            if includeTop { try model.load(state) } else { try model.loadBackbone(state) }
        } catch { throw .weights(path: weights, reason: error.description) }
        model.eval()
        return model
    }
}

/// One prediction: the top classes of one input.
public struct Prediction: Codable, Sendable {
    public struct Top: Codable, Sendable {
        public let label: String
        public let index: Int
        public let probability: Float
    }
    public let input: String
    /// The most probable classes (classification), or every label by probability (multi-label); empty for
    /// regression.
    public let top: [Top]
    /// The labels at or above their thresholds (multi-label).
    public var labels: [String]?
    /// The predicted value (regression).
    public var value: Float?

    public init(input: String, top: [Top], labels: [String]? = nil, value: Float? = nil) {
        self.input = input; self.top = top; self.labels = labels; self.value = value
    }
}

/// The `k` most probable classes of each row of `probabilities` [N, C].
public func topK(_ probabilities: Tensor, k: Int, labels: [String], inputs: [String]) -> [Prediction] {
    let c = probabilities.shape[1], p = probabilities.toArray()
    return inputs.enumerated().map { i, input in
        let row = Array(p[(i * c)..<((i + 1) * c)])
        let order = row.indices.sorted { row[$0] > row[$1] }.prefix(Swift.min(k, c))
        return Prediction(input: input, top: order.map { Prediction.Top(label: labels[$0], index: $0, probability: row[$0]) })
    }
}
