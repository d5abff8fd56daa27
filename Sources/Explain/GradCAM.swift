import Layers
import Models
import Tensors

/// How the channels of the target layer's activation are weighed.
public enum CAMMethod: String, CaseIterable, Sendable {
    /// Grad-CAM (Selvaraju et al., ICCV 2017): w_k = mean over positions of ∂y_c/∂A_k.
    case gradcam
    /// Grad-CAM++ (Chattopadhay et al., WACV 2018): w_k = Σ_ij α_ij · ReLU(∂y_c/∂A_k,ij) with
    /// α = g² / (2g² + Σ_ij A_k,ij · g³), the closed form pytorch-grad-cam's `GradCAMPlusPlus` uses (exp(score)).
    case gradcamPlusPlus = "gradcam++"
}

/// Where the activation Grad-CAM weighs is taken.
public enum CAMLayer: Equatable, Sendable, CustomStringConvertible {
    /// A named feature map of ``Models/VisionBackbone/featureMaps(_:)`` ("head", "stage5", "layer4", …).
    case featureMap(String)
    /// The output of the module at a key path (`layer4`, `_blocks.15`, `layer3.1.conv2`), tapped with
    /// ``Layers/ActivationTap``.
    case module(String)

    /// The default target of a backbone: the last feature map, i.e. the head convolution block's output (after
    /// `_conv_head`, `_bn1`, ReLU6) of EfficientNet-Lite and `layer4` of ResNet — the layers pytorch-grad-cam's
    /// documentation recommends (`model.layer4[-1]` for ResNet, the last convolutional block otherwise).
    public static func defaultLayer(for network: any VisionBackbone) -> CAMLayer {
        network is ResNet ? .featureMap("layer4") : .featureMap("head")
    }

    /// A user's `--layer`: a feature-map name of `network` when it is one, else a module key path.
    public static func parse(_ text: String, for network: any VisionBackbone) -> CAMLayer {
        let names = featureMapNames(of: network)
        return names.contains(text) ? .featureMap(text) : .module(text)
    }

    static func featureMapNames(of network: any VisionBackbone) -> [String] {
        network is ResNet ? ["stem", "layer1", "layer2", "layer3", "layer4"]
            : ["stem"] + (0..<7).map { "stage\($0)" } + ["head"]
    }

    public var description: String {
        switch self {
        case .featureMap(let n): n
        case .module(let p): p
        }
    }
}

/// Class-activation maps of a batch: one map per image at the input's size, min-max normalised to [0, 1].
public struct ClassActivationMaps: Sendable {
    /// Input width and height (the maps' size).
    public let width: Int, height: Int
    /// `width × height` values in [0, 1] per image, row-major.
    public let maps: [[Float]]
    /// The target layer's size and the ReLU'd weighted sum there (before upsampling and normalisation), per image.
    public let lowResolution: (width: Int, height: Int, maps: [[Float]])
    /// The explained class of each image.
    public let classes: [Int]
    /// The model's probability of that class.
    public let probabilities: [Float]
}

/// Grad-CAM and Grad-CAM++ over any ``ImageClassifier``, batched, following pytorch-grad-cam (jacobgil,
/// `pytorch_grad_cam/base_cam.py`): the score of image i is its logit of class c_i (`ClassifierOutputTarget`), the
/// batch's scores are summed and differentiated once, the map is ReLU(Σ_k w_k A_k), min-max normalised, resized
/// bilinearly (half-pixel centres, as `cv2.resize` with `INTER_LINEAR` and PyTorch's `align_corners=False`) to the input,
/// and min-max normalised again (`scale_cam_image` both times, ε = 1e-7).
public enum GradCAM {
    /// The maps of images `x` `[N, 3, H, W]` (model inputs, already normalised).
    ///
    /// - Parameters:
    ///   - classes: the class to explain per image; nil explains each image's predicted class.
    ///   - layer: the target layer; nil uses ``CAMLayer/defaultLayer(for:)``.
    public static func maps(_ model: ImageClassifier, images x: Tensor, classes: [Int]? = nil, layer: CAMLayer? = nil,
                            method: CAMMethod = .gradcam) throws(ExplainError) -> ClassActivationMaps {
        let n = x.shape[0]
        if let classes {
            guard classes.count == n else { throw .count(what: "classes for \(n) images", expected: n, actual: classes.count) }
            for c in classes where c < 0 || c >= model.classNames.count { throw .classIndex(c, classes: model.classNames.count) }
        }
        let target = layer ?? CAMLayer.defaultLayer(for: model.network)
        model.network.eval()
        model.head?.eval()
        return try withPrecision(.fp32) {
            Result { () throws(ExplainError) -> ClassActivationMaps in try compute(model, x, classes, target, method) }
        }.get()
    }

    static func compute(_ model: ImageClassifier, _ x: Tensor, _ classes: [Int]?, _ target: CAMLayer,
                    _ method: CAMMethod) throws(ExplainError) -> ClassActivationMaps {
        let n = x.shape[0]
        let input = x.contiguous().detached()
        input.requiresGrad = true  // every operation records, frozen weights or not
        let (logits, activation) = try forward(model, input, target)
        let probs = withNoGrad { logits.detached().softmax(axis: 1) }.toArray()
        let k = logits.shape[1]
        let chosen = classes ?? (0..<n).map { i in (0..<k).max { probs[i * k + $0] < probs[i * k + $1] }! }
        let score = logits.gather(axis: 1, indices: chosen).sum()
        guard let g = Tensor.gradients(of: score, wrt: [activation])[0] else {
            throw .notASpatialMap(layer: target.description, shape: activation.shape.dims)
        }
        let a = activation.contiguous().toArray(), grads = g.contiguous().toArray()
        let (c, h, w) = (activation.shape[1], activation.shape[2], activation.shape[3])
        let low = (0..<n).map { i in
            weightedMap(activations: a[(i * c * h * w)..<((i + 1) * c * h * w)],
                        gradients: grads[(i * c * h * w)..<((i + 1) * c * h * w)], channels: c, positions: h * w, method: method)
        }
        let (outH, outW) = (x.shape[2], x.shape[3])
        let full = low.map { m in minMaxNormalized(resizeBilinear(minMaxNormalized(m), from: (h, w), to: (outH, outW))) }
        return ClassActivationMaps(width: outW, height: outH, maps: full, lowResolution: (w, h, low), classes: chosen,
                                   probabilities: (0..<n).map { probs[$0 * k + chosen[$0]] })
    }

    /// The logits and the target activation of one recorded forward pass.
    static func forward(_ model: ImageClassifier, _ x: Tensor, _ target: CAMLayer) throws(ExplainError) -> (Tensor, Tensor) {
        let net = model.network
        switch target {
        case .featureMap(let name):
            let (out, maps) = net.outputAndFeatureMaps(x)
            guard let map = maps.first(where: { $0.name == name }) else {
                throw .unknownLayer(name, featureMaps: CAMLayer.featureMapNames(of: net))
            }
            return (model.head.map { $0(out) } ?? out, map.tensor)
        case .module(let path):
            let original: Module
            do { original = try net.module(at: path) } catch {
                throw .unknownLayer(path, featureMaps: CAMLayer.featureMapNames(of: net))
            }
            guard let layer = original as? any UnaryLayer, !path.isEmpty else {
                throw .notALayer(path: path, type: "\(type(of: original))")
            }
            let tap = ActivationTap(layer, requireGradient: true)
            do { try net.replaceModule(at: path, with: tap) } catch { throw .notALayer(path: path, type: "\(type(of: original))") }
            defer { try? net.replaceModule(at: path, with: original) }
            let logits = model.logits(x)
            guard let out = tap.output, out.rank == 4 else {
                throw .notASpatialMap(layer: path, shape: tap.output?.shape.dims ?? [])
            }
            return (logits, out)
        }
    }

    /// ReLU(Σ_k w_k A_k) over `positions` for one image's `channels × positions` activations and gradients.
    static func weightedMap(activations a: ArraySlice<Float>, gradients g: ArraySlice<Float>, channels: Int, positions: Int,
                            method: CAMMethod) -> [Float] {
        let a = Array(a), g = Array(g)
        var cam = [Float](repeating: 0, count: positions)
        for k in 0..<channels {
            let base = k * positions
            let weight: Float
            switch method {
            case .gradcam:
                weight = (0..<positions).reduce(Float(0)) { $0 + g[base + $1] } / Float(positions)
            case .gradcamPlusPlus:
                // pytorch-grad-cam grad_cam_plusplus.py: aij = g² / (2g² + ΣA · g³ + 1e-6), 0 where g = 0;
                // w = Σ max(g, 0) · aij.
                let sumA = (0..<positions).reduce(Float(0)) { $0 + a[base + $1] }
                var s: Float = 0
                for p in 0..<positions {
                    let gv = g[base + p]
                    guard gv != 0 else { continue }
                    let g2 = gv * gv
                    let aij = g2 / (2 * g2 + sumA * g2 * gv + 0.000001)
                    s += Swift.max(gv, 0) * aij
                }
                weight = s
            }
            for p in 0..<positions { cam[p] += weight * a[base + p] }
        }
        return cam.map { Swift.max($0, 0) }
    }

    /// (m − min) / (1e-7 + max(m − min)): pytorch-grad-cam's `scale_cam_image` normalisation.
    public static func minMaxNormalized(_ m: [Float]) -> [Float] {
        guard let lo = m.min() else { return m }
        let shifted = m.map { $0 - lo }
        let hi = shifted.max() ?? 0
        return shifted.map { $0 / (1e-7 + hi) }
    }

    /// Bilinear resize of one `h × w` map with half-pixel centres (``Tensors/Tensor/upsample(size:scaleFactor:mode:alignCorners:)``).
    static func resizeBilinear(_ m: [Float], from: (Int, Int), to: (Int, Int)) -> [Float] {
        let t = Tensor(shape: [1, 1, from.0, from.1], data: m)
        return withNoGrad { t.upsample(size: to, mode: .bilinear, alignCorners: false) }.contiguous().toArray()
    }
}
