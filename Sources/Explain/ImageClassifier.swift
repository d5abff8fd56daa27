import Layers
import Models
import Tensors
import TransferKit

/// Errors of the explainability tools; each names the option or value that is wrong and what is accepted.
public enum ExplainError: Error, CustomStringConvertible, Equatable {
    /// `--layer` names neither a feature map of the backbone nor a module path that produces one.
    case unknownLayer(String, featureMaps: [String])
    /// The module at the path is not a single-input layer (its output cannot be tapped).
    case notALayer(path: String, type: String)
    /// The tapped output is not a `[N, C, H, W]` map.
    case notASpatialMap(layer: String, shape: [Int])
    /// `--class` names no class of the model.
    case unknownClass(String, known: Int, examples: [String])
    /// A class index outside the model's outputs.
    case classIndex(Int, classes: Int)
    /// The images and the classes (or saliency maps) do not pair up.
    case count(what: String, expected: Int, actual: Int)
    /// An option outside its accepted range.
    case invalid(option: String, value: String, accepted: String)

    public var description: String {
        switch self {
        case .unknownLayer(let l, let maps):
            "--layer \(l): no such feature map or module path; feature maps: \(maps.joined(separator: ", ")), or a module key path such as layer4 or _blocks.15"
        case .notALayer(let p, let t): "--layer \(p) is a \(t), not a single-input layer whose output can be tapped"
        case .notASpatialMap(let l, let s): "--layer \(l) gives a tensor of shape \(s), not a [N, C, H, W] feature map"
        case .unknownClass(let c, let n, let ex):
            "--class \(c): not one of the model's \(n) classes (e.g. \(ex.joined(separator: ", "))); give a class name or an index 0…\(n - 1)"
        case .classIndex(let i, let n): "class index \(i) outside 0…\(n - 1)"
        case .count(let w, let e, let a): "\(w): expected \(e), got \(a)"
        case .invalid(let o, let v, let a): "\(o) \(v) is invalid; accepted: \(a)"
        }
    }
}

/// An image classifier as the explainers see it: a convolutional backbone (whose feature maps Grad-CAM weighs), an
/// optional head on its output (a trained bundle's head on the pooled features; nil when the backbone has its own
/// classifier), the class names and the model's preprocessing.
public struct ImageClassifier {
    public let network: any VisionBackbone
    public let head: (any UnaryLayer)?
    public let classNames: [String]
    public let preprocessing: ImagePreprocessing

    public init(network: any VisionBackbone, head: (any UnaryLayer)?, classNames: [String], preprocessing: ImagePreprocessing) {
        self.network = network
        self.head = head
        self.classNames = classNames
        self.preprocessing = preprocessing
    }

    /// A trained bundle's image model: its backbone (without top) and its head; nil for a text bundle.
    public init?(bundle: TransferModel) {
        guard let encoder = bundle.backbone.encoder as? ImageEncoder else { return nil }
        self.init(network: encoder.model, head: bundle.head, classNames: bundle.classNames, preprocessing: encoder.preprocessing)
    }

    /// Logits `[N, classes]` of model inputs `x` (recorded when gradients are on and something requires them).
    public func logits(_ x: Tensor) -> Tensor {
        let out = network(x)
        return head.map { $0(out) } ?? out
    }

    /// Class probabilities `[N, classes]` in eval mode without gradients.
    public func probabilities(_ x: Tensor) -> Tensor {
        network.eval()
        head?.eval()
        return withNoGrad { logits(x).softmax(axis: 1) }
    }

    /// The index of `label`: a class name (exact, then case-insensitive) or an index.
    public func classIndex(_ label: String) throws(ExplainError) -> Int {
        if let i = classNames.firstIndex(of: label) { return i }
        if let i = classNames.firstIndex(where: { $0.lowercased() == label.lowercased() }) { return i }
        if let i = Int(label) {
            guard i >= 0 && i < classNames.count else { throw .classIndex(i, classes: classNames.count) }
            return i
        }
        throw .unknownClass(label, known: classNames.count, examples: Array(classNames.prefix(4)))
    }
}
