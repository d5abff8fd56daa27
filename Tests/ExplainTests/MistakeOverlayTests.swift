import Datasets
import Foundation
import Models
import Tensors
import Testing
import TransferKit
@testable import Explain

@Suite(.serialized) struct MistakeOverlayTests {
    @Test(.enabled(if: lite0WeightsPresent, "needs the real EfficientNet-Lite0 weights: transfer fetch efficientnet-lite0"))
    func imageMistakesShowTheGradCAMOverlayOfTheWrongClassAndTextsStayAsTheyWere() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tk-mistakes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let photo = fixturePhoto(try fixturePhotos(), 1)
        let file = dir.appendingPathComponent("coffee.png").path
        try Data(PNGEncoder.encode(photo)).write(to: URL(fileURLWithPath: file))
        let backbone = try FeatureBackbone(spec: try ModelRegistry.spec(named: "efficientnet-lite0"), weightsPath: lite0CheckpointPath)
        let model = TransferModel(backbone: backbone, head: Head(.linear, inputs: 1280, outputs: 2), task: .classification,
                                  classNames: ["cup", "cat"], strategy: .features)
        let original = Mistake(thumbnailPNG: Mistake.thumbnail(of: photo), source: file, trueLabel: "cup", predictedLabel: "cat", confidence: 0.9)
        let text = Mistake(text: "not an image", source: "row 2", trueLabel: "cup", predictedLabel: "cat", confidence: 0.8)
        let out = MistakeOverlays.overlaid([original, text], model: model)
        #expect(out.count == 2 && out[1] == text)
        let thumb = try ImageDecoder.decode(data: try #require(out[0].thumbnailPNG), path: "thumbnail")
        #expect(thumb.width == 160 && thumb.height == 160)
        #expect(out[0].thumbnailPNG != original.thumbnailPNG)
        #expect(out[0].predictedLabel == "cat" && out[0].source == file)
    }
}
