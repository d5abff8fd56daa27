import Dense
import Foundation
import Layers
import Models
import Tensors
import Testing
import TransferKit

let mobileNetWeights = realCache + "/mobilenet-v2/mobilenet_v2-b0353104.pth"
let mobileNetPresent = FileManager.default.fileExists(atPath: mobileNetWeights)

/// MobileNetV2's `featureMaps` give the decoders the right stages: the pyramid levels equal the outputs of
/// segmentation_models.pytorch's MobileNetV2 stage split of torchvision's `features` (features[:2], [2:4], [4:7],
/// [7:14], [:18]) on the real ImageNet weights (`tools/make_mobilenet_pyramid_fixture.py`).
@Suite struct MobileNetPyramidTests {
    @Test(.enabled(if: mobileNetPresent, "needs `transfer fetch mobilenet-v2`"))
    func mobileNetV2PyramidLevelsEqualTorchvisionStageOutputs() throws {
        let f = try denseFixture("mobilenet_pyramid")
        let spec = try ModelRegistry.spec(named: "mobilenet-v2")
        let net = try Pretrained.visionModel(spec, includeTop: false)
        try net.loadBackbone(Pretrained.readWeights(mobileNetWeights))
        net.eval()
        let levels = withNoGrad { net.pyramid(try! f.tensor("x")) }
        #expect(levels.map(\.stride) == [2, 4, 8, 16, 32])
        #expect(levels.map(\.channels) == [16, 24, 32, 96, 320])
        #expect(levels.map(\.name) == ["stage0", "stage1", "stage2", "stage4", "stage6"])
        for (i, level) in levels.enumerated() {
            let expected = try f.tensor("level\(i)")
            #expect(level.tensor.shape == expected.shape, "level \(i)")
            #expect(maxAbsDifference(level.tensor, expected) < 1e-3, "level \(i): stride \(level.stride)")
        }
    }

    @Test func decodersOnMobileNetV2GiveOutputsAtTheirStrides() {
        for arch in SegmentationArchitecture.allCases {
            let model = SegmentationModel(encoder: MobileNetV2(includeTop: false), architecture: arch, classes: 2)
            model.eval()
            #expect(withNoGrad { model(Tensor.zeros([1, 3, 64, 96]) ) }.shape.dims == [1, 2, 64, 96], "\(arch)")
        }
        let detector = DetectionModel(encoder: MobileNetV2(includeTop: false), classes: 1)
        detector.eval()
        #expect(withNoGrad { detector(Tensor.zeros([1, 3, 64, 96])) }.heatmap.shape.dims == [1, 1, 16, 24])
    }
}
