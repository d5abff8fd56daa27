import Checkpoints
import Datasets
import Foundation
import Models
import Tensors
import Testing
import TransferKit
@testable import Explain

/// Grad-CAM against pytorch-grad-cam 1.5.7 on the same weights and photos (tools/make_gradcam_fixtures.py).
/// Tolerance: max |Swift − pytorch-grad-cam| ≤ 1e-4 on the final [0, 1] maps (measured: ≤ 2.6e-6; float32 on both sides).
@Suite(.serialized) struct GradCAMTests {
    static let tolerance: Float = 1e-4

    func lite0Classifier() throws -> ImageClassifier {
        ImageClassifier(network: try pretrainedLite0(), head: nil, classNames: ImageNetClasses.names,
                        preprocessing: try ModelRegistry.spec(named: "efficientnet-lite0").preprocessing!)
    }

    func lite0Inputs() throws -> Tensor { (try fixturePhotos().permuted([0, 3, 1, 2]).contiguous() - 127) / 128 }

    func check(_ maps: ClassActivationMaps, _ f: SafeTensorsFile, _ key: String, classesKey: String) throws {
        let expected = try f.tensor(key).toArray()
        let classes = try f.int64s(classesKey).map(Int.init)
        #expect(maps.classes == classes, "\(key): classes")
        let ours = maps.maps.flatMap { subsampled($0) }
        let d = maxAbsDiff(ours, expected)
        print("Grad-CAM \(key): max |Swift − pytorch-grad-cam| = \(d)")
        #expect(d <= Self.tolerance, "\(key): \(d)")
    }

    @Test(.enabled(if: lite0WeightsPresent, "needs the real EfficientNet-Lite0 weights: transfer fetch efficientnet-lite0"))
    func lite0MapsEqualPytorchGradCAMsOnRealPhotosBatched() throws {
        let f = try explainFixture("gradcam")
        let model = try lite0Classifier(), x = try lite0Inputs()
        try check(try GradCAM.maps(model, images: x), f, "lite0_gradcam_maps", classesKey: "lite0_classes")
        try check(try GradCAM.maps(model, images: x, method: .gradcamPlusPlus), f, "lite0_gradcampp_maps", classesKey: "lite0_classes")
        try check(try GradCAM.maps(model, images: x, layer: .module("_blocks.15")), f, "lite0blocks15_gradcam_maps",
                  classesKey: "lite0_classes")
        // The tap was removed again: the model's parameter keys and outputs are as before.
        #expect(try model.network.module(at: "_blocks.15") is MBConvBlock)
    }

    @Test func resnet18MapsEqualPytorchGradCAMsAndTheTapOfLayer4EqualsItsFeatureMap() throws {
        let f = try explainFixture("gradcam")
        let net = try formulaResNet18()
        let model = ImageClassifier(network: net, head: nil, classNames: ImageNetClasses.names,
                                    preprocessing: ImagePreprocessing(inputSize: 224, resizeShorterTo: 256, normalization: .imagenet))
        let mean = Tensor(shape: [1, 3, 1, 1], data: [0.485, 0.456, 0.406]), std = Tensor(shape: [1, 3, 1, 1], data: [0.229, 0.224, 0.225])
        let x = (try fixturePhotos().permuted([0, 3, 1, 2]).contiguous() / 255 - mean) / std
        let byMap = try GradCAM.maps(model, images: x)
        try check(byMap, f, "resnet18_gradcam_maps", classesKey: "resnet18_classes")
        try check(try GradCAM.maps(model, images: x, method: .gradcamPlusPlus), f, "resnet18_gradcampp_maps", classesKey: "resnet18_classes")
        let byTap = try GradCAM.maps(model, images: x, layer: .module("layer4"))
        #expect(maxAbsDiff(byMap.maps.flatMap { $0 }, byTap.maps.flatMap { $0 }) < 1e-5)
    }

    @Test func jetColormapIsOpenCVsWithinOneLevelAndOverlayIsShowCamOnImage() throws {
        let f = try explainFixture("gradcam")
        let lut = try f.tensor("jet").toArray()
        var worst: Float = 0
        for (k, c) in CAMOverlay.jet.enumerated() {
            for (ch, v) in [c.r, c.g, c.b].enumerated() { worst = Swift.max(worst, Swift.abs(Float(v) - lut[3 * k + ch])) }
        }
        #expect(worst <= 1)
        // The overlay of the fixture's own map (upsampled from nothing: the reference map is given at 56 × 56, so
        // compare on a 56 × 56 image made of the subsampled photo pixels).
        let photo = fixturePhoto(try fixturePhotos(), 0)
        let small = RGBImage(width: 56, height: 56, pixels: stride(from: 0, to: 224, by: 4).flatMap { r in
            stride(from: 0, to: 224, by: 4).flatMap { c in (0..<3).map { photo.pixels[(r * 224 + c) * 3 + $0] } }
        })
        let map = Array(try f.tensor("lite0_gradcam_maps").toArray()[0..<(56 * 56)])
        let ours = CAMOverlay.overlay(map, on: small).pixels.map { Float($0) }
        let expected = try f.tensor("overlay").toArray()
        let d = maxAbsDiff(ours, expected)
        // The maximum of the blend is taken over the subsampled image here and over the whole one in the fixture,
        // and jet differs by up to one level: a few levels apart at most.
        #expect(d <= 6, "overlay differs by \(d) levels")
    }

    @Test func unknownLayersAndClassesAreTypedErrorsNamingTheValue() throws {
        let net = ResNet(.resnet18, numClasses: 3)
        net.eval()
        let model = ImageClassifier(network: net, head: nil, classNames: ["a", "b", "c"],
                                    preprocessing: ImagePreprocessing(inputSize: 32, resizeShorterTo: 32, normalization: .imagenet))
        let x = Tensor.zeros([1, 3, 32, 32])
        #expect(throws: ExplainError.self) { try GradCAM.maps(model, images: x, layer: .module("layer9")) }
        #expect(throws: ExplainError.self) { try GradCAM.maps(model, images: x, layer: .featureMap("stage3")) }
        #expect(throws: ExplainError.self) { try GradCAM.maps(model, images: x, classes: [5]) }
        #expect(throws: ExplainError.unknownClass("zebra", known: 3, examples: ["a", "b", "c"])) { try model.classIndex("zebra") }
        #expect(try model.classIndex("B") == 1)
        #expect(CAMLayer.parse("layer3", for: net) == .featureMap("layer3"))
        #expect(CAMLayer.parse("layer3.1.conv2", for: net) == .module("layer3.1.conv2"))
    }

    @Test(.enabled(if: lite0WeightsPresent, "needs the real EfficientNet-Lite0 weights: transfer fetch efficientnet-lite0"))
    func deletionCurveOfGradCAMFallsFasterThanRandomOnRealPhotos() throws {
        let model = try lite0Classifier(), x = try lite0Inputs()
        let maps = try GradCAM.maps(model, images: x)
        // Blur fill, 32-px patches (the defaults): Grad-CAM's order lowers the confidence faster than random orders.
        let curve = try DeletionCurve.measure(model, images: x, maps: maps, steps: 10, randomOrders: 3)
        print("Deletion AUC (Lite0, 2 photos, 10 steps, blur): Grad-CAM \(curve.salientAUC) vs random \(curve.randomAUC)")
        #expect(curve.fractions.count == 11)
        for i in 0..<2 {
            #expect(abs(curve.salient[i][0] - Double(maps.probabilities[i])) < 1e-4)
            #expect(curve.salientAUC[i] < curve.randomAUC[i])
        }
    }
}
