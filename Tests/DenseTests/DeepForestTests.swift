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
            // OSBS_029.xml names OSBS_029.tif; the boxes are found by stem for the PNG.
            #expect(a.boxes(for: stem + ".png")?.count == count)
            #expect(Set(a.classNames) == (stem == "SOAP_061" ? ["Alive", "Dead"] : ["Tree"]))
            total += a.boxes(for: stem + ".png")?.count ?? 0
        }
        #expect(total == 951)
    }

    /// A detector trains on one photograph's tiles (its loss falls) and predicts, tile by tile, boxes inside another
    /// photograph that the COCO evaluation scores. (How well it finds trees needs far longer training: see
    /// docs/dense.md for the `make dense-bench` figures.)
    @Test(.enabled(if: fetched && lite0Present, "needs the deepforest set and EfficientNet-Lite0 weights"))
    func detectorTrainsOnOnePhotographAndPredictsAnotherByTiles() throws {
        let train = try BoxAnnotations.read(Self.root + "/SOAP_061/SOAP_061.xml").merged(into: "Tree")
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
        #expect(e.map50 >= 0 && e.map50 <= 1 && e.recall50 >= 0 && e.recall50 <= 1)
        #expect(!found.isEmpty && found.allSatisfy { $0.x0 >= 0 && $0.y0 >= 0 && $0.x1 <= 400 && $0.y1 <= 400 && $0.score > 0 && $0.score <= 1 })
    }
}
