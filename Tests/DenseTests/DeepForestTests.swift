import Datasets
import Dense
import Foundation
import Layers
import Testing

/// DeepForest's real aerial photographs and tree boxes (`transfer datasets fetch deepforest`).
@Suite(.serialized) struct DeepForestTests {
    static let root = realCache + "/datasets/deepforest"
    static let fetched = FileManager.default.fileExists(atPath: root + "/.transferkit-verified")

    @Test(.enabled(if: fetched, "needs `transfer datasets fetch deepforest`"))
    func theFourPhotographsHoldNineHundredFiftyOneTrees() throws {
        var total = 0
        let expected = ["2019_YELL_2_528000_4978000_image_crop2": 574, "2019_YELL_2_541000_4977000_image_crop": 279, "OSBS_029": 61, "SOAP_061": 37]
        for (stem, count) in expected {
            let a = try BoxAnnotations.read(Self.root + "/\(stem)/\(stem).xml")
            #expect(a.boxes[stem + ".png"]?.count == count && a.classNames == ["Tree"])
            total += a.boxes[stem + ".png"]?.count ?? 0
        }
        #expect(total == 951)
    }

    /// A detector trained a few epochs on one photograph's tiles finds trees in another: its heatmap learns where
    /// trees are, so mAP@0.5 on the held-out photograph is clearly above zero.
    @Test(.enabled(if: fetched && lite0Present, "needs the deepforest set and EfficientNet-Lite0 weights"))
    func detectorTrainedOnOnePhotographFindsTreesInAnother() throws {
        let train = try BoxAnnotations.read(Self.root + "/SOAP_061/SOAP_061.xml")
        let test = try BoxAnnotations.read(Self.root + "/OSBS_029/OSBS_029.xml")
        let trainSet = try DetectionBundle.samples(images: Self.root + "/SOAP_061", annotations: train)
        let testSet = try DetectionBundle.samples(images: Self.root + "/OSBS_029", annotations: test)
        Initializer.seed(0)
        let model = try DetectionBundle.build(encoder: "efficientnet-lite0", classes: 1, weights: lite0Weights)
        var o = DetectionOptions()
        o.tile = 128
        o.overlap = 32
        o.epochs = 6
        o.cropsPerEpoch = 8
        o.batchSize = 4
        o.learningRate = 2e-3
        let losses = try DetectionTraining.train(model, on: trainSet, options: o, normalization: .efficientNetLite)
        #expect(losses.last! < losses.first!, "\(losses)")
        let found = DetectionTraining.predict(model, image: testSet[0].image, options: o, normalization: .efficientNetLite)
        let e = DetectionEvaluation(truths: [testSet[0].boxes], detections: [found], classes: 1, maxDetections: 1000)
        #expect(e.map50 > 0.05, "mAP@0.5 \(e.map50), recall \(e.recall50), \(found.count) detections")
    }
}
