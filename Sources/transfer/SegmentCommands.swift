import ArgumentParser
import Datasets
import Dense
import Foundation
import Models
import Tensors
import TransferKit

/// The options `transfer train`, `evaluate` and `predict` take for segmentation (`--task segment`).
struct SegmentationOptions: ParsableArguments {
    @Option(name: .long, help: "A folder of mask PNGs (palette or 8-bit greyscale, one class index per pixel, 255 ignored) named like the images of --data (a.jpg ↔ a.png): segmentation (--task segment; evaluate).") var masks: String?
    @Option(name: .long, help: "The segmentation decoder (--task segment): unet or fpn.") var decoder: SegmentationArchitecture?
    @Option(name: .long, help: "The segmentation loss (--task segment): ce, dice, focal or ce+dice.") var segmentationLoss: SegmentationLoss?
    @Option(name: .long, help: "Input channels (--task segment): 3 (RGB) or 1 (greyscale: the first convolution's pretrained kernels summed over R, G, B).") var inputChannels: Int?

    /// Refuses the segmentation options outside `--task segment`.
    func requireUnused() throws {
        for (flag, given) in [("--masks", masks != nil), ("--decoder", decoder != nil), ("--segmentation-loss", segmentationLoss != nil),
                              ("--classes", classes != nil), ("--input-channels", inputChannels != nil),
                              ("--test-masks", testMasks != nil)] where given {
            throw ValidationError("\(flag) applies to --task segment")
        }
    }

    @Option(name: .long, help: "The masks of the --test images (--task segment): scored after training, and the page of --report.") var testMasks: String?
    @Option(name: .long, help: "Number of classes of the masks, background included, 2…255 (--task segment; default: the largest label + 1).") var classes: Int?
}

extension SegmentationArchitecture: ExpressibleByArgument {}
extension SegmentationLoss: ExpressibleByArgument {}

extension TrainCommand {
    /// Refuses the classification options that dense training (`--task segment|detect`) does not use, and checks
    /// the paths every task needs.
    func validateDenseCommon() throws {
        let unused: [(String, Bool)] = [
            ("--head", head != nil), ("--logistic-c", logisticC != nil),
            ("--head-lr", headLr != nil), ("--head-cv", headCv), ("--views", views != 0), ("--mixup", mixup != 0),
            ("--cutmix", cutmix != 0), ("--label-smoothing", labelSmoothing != 0), ("--resume", resume),
            ("--early-stopping", earlyStopping != 0)]
        if let flag = unused.first(where: \.1)?.0 { throw ValidationError("\(flag) does not apply to --task \(task?.rawValue ?? "")") }
        try loraOptions.validate(strategy: strategy)
        guard strategy == .features || strategy == .fineTune else {
            throw ValidationError("--strategy with --task \(task?.rawValue ?? ""): features (frozen encoder) or fine-tune")
        }
        guard !multiTask.isRequested else { throw ValidationError("--tasks / --label-columns do not apply to --task \(task?.rawValue ?? "")") }
        guard !model.isEmpty else { throw ValidationError("--model must name a pretrained model (received an empty string; see `transfer models`)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a folder of images (received an empty string)") }
        try requireDirectoryPath("--out", out, holds: "the bundle")
        try validateDenseHeldOut()
    }

    func validateSegmentation() throws {
        try validateDenseCommon()
        try detection.requireUnused()
        guard let masks = segmentation.masks, !masks.isEmpty else { throw ValidationError("--task segment needs --masks FOLDER (mask PNGs named like the images)") }
        if let classes = segmentation.classes { try requireWhole("--classes", classes, in: 2...255) }
        if let c = segmentation.inputChannels, c != 1 && c != 3 { throw ValidationError("--input-channels must be 1 (greyscale) or 3 (RGB) (received \(c))") }
        try requireWhole("--batch-size", batchSize, in: 1...4096)
        if let epochs { try requireWhole("--epochs", epochs, in: 1...100_000) }
        if let inputSize, !(inputSize >= 32 && inputSize <= 1024 && inputSize % 32 == 0) {
            throw ValidationError("--input-size \(inputSize) with --task segment must be a multiple of 32 in 32…1024")
        }
        if let lr { try requireRate("--lr", lr, maximum: 10) }
    }

    /// `transfer train --task segment`: an encoder–decoder on the registry encoder `--model`, frozen with
    /// `--strategy features`, fine-tuned otherwise; writes a segmentation bundle.
    func executeSegmentation() async throws {
        let spec = try pretrainedSpec(model)
        guard spec.preprocessing != nil else { throw ValidationError("--task segment needs an image model; \(model) is a text model") }
        let all: SegmentationDataset
        do { all = try SegmentationDataset.load(images: self.data, masks: segmentation.masks!, classes: segmentation.classes) } catch {
            throw ValidationError(error.description)
        }
        let (data, heldOut) = try segmentationHeldOut(all)
        var o = SegmentationTrainingOptions()
        o.size = inputSize ?? 128
        o.epochs = epochs ?? 10
        o.batchSize = batchSize
        if let lr { o.learningRate = lr; o.encoderLearningRate = lr / 10 }
        o.freezeEncoder = strategy == .features
        o.loss = segmentation.segmentationLoss ?? .ceDice
        o.seed = seed
        if augment == .none { o.augmentation = .none }
        let weights = try await backboneWeights(spec)
        let net = try SegmentationBundle.build(encoder: spec.name, architecture: segmentation.decoder ?? .unet, classes: data.classes, weights: weights,
                                                inputChannels: segmentation.inputChannels ?? 3)
        let normalization = try SegmentationBundle.normalization(encoder: spec.name)
        let quiet = json || ProcessInfo.processInfo.environment["CI"] != nil || isatty(STDERR_FILENO) != 1
        let history = try SegmentationTraining.train(net, on: data, options: o, normalization: normalization) { e in
            if !quiet { printErr(String(format: "epoch %d/%d  loss %.4f  (%.1f s)", e.epoch, o.epochs, e.loss, e.seconds)) }
        }
        var manifest = SegmentationManifest(encoder: spec.name, architecture: segmentation.decoder ?? .unet, classes: data.classes,
                                            inputSize: o.size, encoderFrozen: o.freezeEncoder, loss: o.loss)
        manifest.inputChannels = segmentation.inputChannels ?? 3
        try SegmentationBundle.save(net, manifest: manifest, to: out)
        let (confusion, _) = SegmentationTraining.evaluate(net, on: data, size: o.size, normalization: normalization)
        let held = try heldOut.map { try segmentationHeldOutScores(net, $0, size: o.size, normalization: normalization, losses: history.map(\.loss)) }
        if json {
            var object: [String: Any] = ["bundle": out, "task": "segment", "decoder": (segmentation.decoder ?? .unet).rawValue,
                                         "encoder_frozen": o.freezeEncoder, "classes": data.classes, "images": data.pairs.count,
                                         "input_size": o.size, "epochs_run": history.count,
                                         "losses": history.map(\.loss), "train": segmentationScores(confusion)]
            if let held { object["held_out"] = held }
            if let report { object["report"] = URL(fileURLWithPath: report).appendingPathComponent("report.html").path }
            print(try jsonString(object))
        } else {
            print("wrote \(out): \((segmentation.decoder ?? .unet).rawValue) on \(spec.name), \(data.classes) classes; train mean IoU \(String(format: "%.4f", confusion.meanIoU))")
            if let held, let miou = held["mean_iou"] as? Double { print("held-out (\(heldOutSource)) mean IoU \(String(format: "%.4f", miou))") }
        }
    }
}

/// `mean_iou`, `per_class_iou`, `mean_dice`, `per_class_dice`, `pixel_accuracy` (null for a class neither labelled
/// nor predicted).
func segmentationScores(_ c: SegmentationConfusion) -> [String: Any] {
    ["mean_iou": c.meanIoU, "per_class_iou": c.iou.map { $0 as Any? ?? NSNull() },
     "mean_dice": c.meanDice, "per_class_dice": c.dice.map { $0 as Any? ?? NSNull() }, "pixel_accuracy": c.pixelAccuracy]
}

extension EvaluateCommand {
    /// `transfer evaluate --model SEG_BUNDLE --data IMAGES --masks MASKS`.
    func executeSegmentation() throws {
        if boxes != nil { throw ValidationError("--boxes applies to detection bundles; \(model) is a segmentation bundle") }
        guard let masks, !masks.isEmpty else {
            throw ValidationError("\(model) is a segmentation bundle: give --masks FOLDER with the masks of --data")
        }
        let (net, manifest): (SegmentationModel, SegmentationManifest)
        do { (net, manifest) = try SegmentationBundle.load(model) } catch { throw RuntimeError(error.description) }
        let data: SegmentationDataset
        do { data = try SegmentationDataset.load(images: self.data, masks: masks, classes: manifest.classes) } catch {
            throw ValidationError(error.description)
        }
        let normalization = try SegmentationBundle.normalization(encoder: manifest.encoder)
        let (confusion, perImage) = SegmentationTraining.evaluate(net, on: data, size: manifest.inputSize, normalization: normalization)
        try writeSegmentationReport(net, manifest, data: data, confusion: confusion, perImage: perImage, normalization: normalization)
        if json {
            var object = segmentationScores(confusion)
            object["images"] = data.pairs.count
            object["input_size"] = manifest.inputSize
            object["per_image_iou"] = Dictionary(uniqueKeysWithValues: zip(data.pairs.map(\.name), perImage))
            print(try jsonString(object))
        } else {
            print(String(format: "mean IoU %.4f  mean Dice %.4f  pixel accuracy %.4f  (%d images at %d×%d)", confusion.meanIoU,
                         confusion.meanDice, confusion.pixelAccuracy, data.pairs.count, manifest.inputSize, manifest.inputSize))
            for (c, iou) in confusion.iou.enumerated() { print("  class \(c): IoU \(iou.map { String(format: "%.4f", $0) } ?? "n/a")") }
        }
    }
}

extension PredictCommand {
    /// `transfer predict --model SEG_BUNDLE --output DIR IMAGES…`: `DIR/<stem>.mask.png` (palette PNG of class
    /// indices) and `DIR/<stem>.overlay.png` per image.
    func executeSegmentation() throws {
        guard let output, !output.isEmpty else { throw ValidationError("\(model) is a segmentation bundle: give --output DIR for the mask PNGs") }
        let (net, manifest): (SegmentationModel, SegmentationManifest)
        do { (net, manifest) = try SegmentationBundle.load(model) } catch { throw RuntimeError(error.description) }
        let normalization = try SegmentationBundle.normalization(encoder: manifest.encoder)
        var rows: [[String: Any]] = []
        try forEachDenseInput(output: output) { file, stem, image in
            let mask = SegmentationTraining.predict(net, image: image, size: manifest.inputSize, normalization: normalization)
            let maskPath = output + "/" + stem + ".mask.png", overlayPath = output + "/" + stem + ".overlay.png"
            guard FileManager.default.createFile(atPath: maskPath, contents: Data(mask.pngData())) else { throw RuntimeError("cannot write \(maskPath)") }
            do { try PNGEncoder.write(mask.overlay(on: image), to: overlayPath) } catch { throw RuntimeError("\(error)") }
            var fractions = [Double](repeating: 0, count: manifest.classes)
            for l in mask.labels where Int(l) < manifest.classes { fractions[Int(l)] += 1 / Double(mask.labels.count) }
            rows.append(["input": file, "mask": maskPath, "overlay": overlayPath, "class_fractions": fractions])
            if !json { print("\(file): \(maskPath), \(overlayPath)") }
        }
        if json { print(try jsonString(["predictions": rows])) }
    }
}
