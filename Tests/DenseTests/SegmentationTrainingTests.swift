import Checkpoints
import Datasets
import Dense
import Layers
import Foundation
import Models
import Tensors
import Testing

/// Training on real data: Fashion-MNIST garments composited onto two real photographs (the cat and coffee-cup photos
/// of Tests/ModelsTests/Fixtures), with the real EfficientNet-Lite0 encoder.
@Suite(.serialized) struct SegmentationTrainingTests {
    static func photos() throws -> [RGBImage] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/efficientnet_lite0.safetensors")
        let v = try SafeTensorsFile(path: url.path).tensor("photos").toArray()
        let n = 224 * 224 * 3
        return (0..<2).map { i in RGBImage(width: 224, height: 224, pixels: v[(i * n)..<((i + 1) * n)].map { UInt8($0) }) }
    }

    @Test(.enabled(if: fashionPresent)) func compositeSetMasksMatchWhatWasPainted() throws {
        let dir = try temporaryDirectory("set")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let counts = try CompositeSegmentationSet.build(backgrounds: Self.photos(), garments: FashionMNIST(split: .test), count: 6,
                                                        size: 64, seed: 3, into: dir)
        #expect(counts.reduce(0, +) == 6 * 64 * 64)
        #expect(counts[0] > 0 && counts.dropFirst().reduce(0, +) > 0)
        let data = try SegmentationDataset.load(images: dir + "/images", masks: dir + "/masks")
        #expect(data.pairs.count == 6 && data.classes >= 2 && data.classes <= 11)
    }

    @Test(.enabled(if: fashionPresent && lite0Present))
    func unetOnPretrainedEncoderLearnsAndItsBundleRoundTrips() throws {
        let dir = try temporaryDirectory("train")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try CompositeSegmentationSet.build(backgrounds: Self.photos(), garments: FashionMNIST(split: .test), count: 16, size: 64,
                                           seed: 1, into: dir)
        let data = try SegmentationDataset.load(images: dir + "/images", masks: dir + "/masks", classes: 11)
        Initializer.seed(0)
        let model = try SegmentationBundle.build(encoder: "efficientnet-lite0", architecture: .unet, classes: 11, weights: lite0Weights)
        var options = SegmentationTrainingOptions()
        options.size = 64
        options.epochs = 4
        options.batchSize = 8
        options.learningRate = 3e-3
        let history = try SegmentationTraining.train(model, on: data, options: options, normalization: .efficientNetLite)
        #expect(history.count == 4)
        #expect(history.last!.loss < history.first!.loss * 0.8, "\(history.map(\.loss))")
        let (confusion, _) = SegmentationTraining.evaluate(model, on: data, size: 64, normalization: .efficientNetLite)
        // Background vs garment is learnt within 4 epochs: background IoU above what all-background would give.
        #expect(confusion.iou[0]! > 0.75, "\(confusion.iou)")

        let manifest = SegmentationManifest(encoder: "efficientnet-lite0", architecture: .unet, classes: 11, inputSize: 64,
                                            encoderFrozen: false, loss: .ceDice)
        try SegmentationBundle.save(model, manifest: manifest, to: dir + "/seg.transferkit")
        let (loaded, m) = try SegmentationBundle.load(dir + "/seg.transferkit")
        #expect(m == manifest)
        let image = data.pairs[0].image
        #expect(SegmentationTraining.predict(loaded, image: image, size: 64, normalization: .efficientNetLite)
                == SegmentationTraining.predict(model, image: image, size: 64, normalization: .efficientNetLite))
        try expectBF16AgreesWithFP32(model, data)
    }

    /// bf16 inference (`--precision bf16`) of the trained model: the masks agree with fp32 on ≥ 98% of the pixels
    /// and the mean IoU moves by less than 0.02.
    func expectBF16AgreesWithFP32(_ model: SegmentationModel, _ data: SegmentationDataset) throws {
        guard Precision.bf16.unsupportedReason == nil else { return }
        let (fp32, _) = SegmentationTraining.evaluate(model, on: data, size: 64, normalization: .efficientNetLite)
        let (bf16, _) = withPrecision(.bf16) { SegmentationTraining.evaluate(model, on: data, size: 64, normalization: .efficientNetLite) }
        #expect(abs(fp32.meanIoU - bf16.meanIoU) < 0.02, "fp32 \(fp32.meanIoU), bf16 \(bf16.meanIoU)")
        var same = 0, total = 0
        for pair in data.pairs {
            let a = SegmentationTraining.predict(model, image: pair.image, size: 64, normalization: .efficientNetLite)
            let b = withPrecision(.bf16) { SegmentationTraining.predict(model, image: pair.image, size: 64, normalization: .efficientNetLite) }
            same += zip(a.labels, b.labels).filter { $0 == $1 }.count
            total += a.labels.count
        }
        #expect(Double(same) / Double(total) >= 0.98, "\(same) of \(total) pixels agree")
    }

    @Test func frozenEncoderStaysUnchangedWhileTheDecoderTrains() throws {
        let w = 64
        var labels = [UInt8](repeating: 0, count: w * w)
        for i in 0..<(w * w / 2) { labels[i] = 1 }
        let pairs = (0..<2).map { k in
            SegmentationPair(name: "\(k)", image: RGBImage(width: w, height: w, fill: (UInt8(60 * k), 90, 200)),
                             mask: LabelMask(width: w, height: w, labels: labels))
        }
        let model = SegmentationModel(encoder: ResNet(.resnet18, includeTop: false), architecture: .fpn, classes: 2)
        let before = model.encoder.stateDict().map { $0.tensor.contiguous().toArray() }
        let decoderBefore = model.decoder.stateDict().map { $0.tensor.contiguous().toArray() }
        var options = SegmentationTrainingOptions()
        options.size = 64
        options.epochs = 1
        options.freezeEncoder = true
        try SegmentationTraining.train(model, on: SegmentationDataset(pairs: pairs, classes: 2), options: options, normalization: .imagenet)
        #expect(model.encoder.stateDict().map { $0.tensor.contiguous().toArray() } == before)
        #expect(model.decoder.stateDict().map { $0.tensor.contiguous().toArray() } != decoderBefore)
    }
}
