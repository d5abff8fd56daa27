import ArgumentParser
import Datasets
import Dense
import Foundation
import Reports

/// The held-out data of `transfer train --task segment|detect`: `--test IMAGES` with `--test-masks` or
/// `--test-boxes`, else the `--val-split` images held out of `--data`. It is scored after training (JSON
/// `held_out`) and is what `--report DIR` draws, beside the training-loss curve.
extension TrainCommand {
    /// `--test`, `--test-masks`/`--test-boxes`, `--val-split` and `--report` of a dense task.
    func validateDenseHeldOut() throws {
        let t = task?.rawValue ?? ""
        let (labelFlag, labels) = task == .segment ? ("--test-masks", segmentation.testMasks) : ("--test-boxes", detection.testBoxes)
        if let valSplit, !(0..<1).contains(valSplit) { throw ValidationError("--val-split must be a fraction in [0, 1) (received \(valSplit))") }
        if let test, test.isEmpty { throw ValidationError("--test must be a folder of images (received an empty string)") }
        if test != nil && (labels ?? "").isEmpty {
            throw ValidationError("--test with --task \(t) needs \(labelFlag) (the ground truth of the --test images)")
        }
        if test == nil && labels != nil { throw ValidationError("\(labelFlag) applies with --test IMAGES") }
        if report != nil && test == nil && (valSplit ?? 0) == 0 {
            throw ValidationError("--report with --task \(t) needs held-out data to score: give --test IMAGES with \(labelFlag), or --val-split FRACTION")
        }
        try requireDirectoryPath("--report", report, holds: "the report")
    }

    /// What the held-out data is, for the page and the JSON.
    var heldOutSource: String { test.map { "test \($0)" } ?? "validation split \(valSplit ?? 0) of \(data)" }

    /// The indices of `count` training items kept for training and held out by `--val-split` (all kept without it).
    func denseSplit(count: Int) throws -> (train: [Int], heldOut: [Int]) {
        guard let f = valSplit, f > 0 else { return (Array(0..<count), []) }
        do { return try DenseSplit.indices(count: count, fraction: f, seed: seed) } catch { throw ValidationError(error.description) }
    }

    /// `all` split by `--val-split`, and the held-out set: `--test` with `--test-masks` if given, else the split's.
    func segmentationHeldOut(_ all: SegmentationDataset) throws -> (train: SegmentationDataset, heldOut: SegmentationDataset?) {
        let (t, h) = try denseSplit(count: all.pairs.count)
        let train = SegmentationDataset(pairs: t.map { all.pairs[$0] }, classes: all.classes)
        guard let test else { return (train, h.isEmpty ? nil : SegmentationDataset(pairs: h.map { all.pairs[$0] }, classes: all.classes)) }
        do { return (train, try SegmentationDataset.load(images: test, masks: segmentation.testMasks ?? "", classes: all.classes)) } catch {
            throw ValidationError(error.description)
        }
    }

    /// `all` split by `--val-split`, and the held-out samples: `--test` with `--test-boxes` (relabelled as the
    /// training classes) if given, else the split's.
    func detectionHeldOut(_ all: [DetectionSample], classNames: [String]) throws -> (train: [DetectionSample], heldOut: [DetectionSample]?) {
        let (t, h) = try denseSplit(count: all.count)
        let train = t.map { all[$0] }
        var held: [DetectionSample]? = h.isEmpty ? nil : h.map { all[$0] }
        if let test, let file = detection.testBoxes {
            do {
                let read = try BoxAnnotations.read(file)
                let merged = detection.mergeClasses.map { read.merged(into: $0) } ?? read
                held = try DetectionBundle.samples(images: test, annotations: merged.labelled(as: classNames, file: file))
            } catch { throw ValidationError(error.description) }
        }
        if let held, !held.contains(where: { !$0.boxes.isEmpty }) {
            throw ValidationError("no held-out image (\(heldOutSource)) has a box to score: the held-out images need ground-truth boxes")
        }
        return (train, held)
    }

    /// Scores the trained segmenter on the held-out set; writes `--report`. Returns the JSON `held_out` object.
    func segmentationHeldOutScores(_ net: SegmentationModel, _ held: SegmentationDataset, size: Int, normalization: Normalization,
                                   losses: [Double]) throws -> [String: Any] {
        let (confusion, perImage) = SegmentationTraining.evaluate(net, on: held, size: size, normalization: normalization)
        if let report {
            let page = DenseReports.segmentation(
                title: "Segmentation: \(out) on the held-out \(test == nil ? "validation images" : "test images")", net, inputSize: size,
                data: held, confusion: confusion, perImage: perImage, normalization: normalization,
                config: ["bundle": out, "data": data, "masks": segmentation.masks ?? "", "held-out data": heldOutSource, "encoder": model,
                         "decoder": (segmentation.decoder ?? .unet).rawValue, "input size": "\(size)", "epochs": "\(losses.count)",
                         "strategy": strategy.rawValue],
                trainingLoss: losses)
            try DenseReports.write(page, to: report, json: json, bundle: out)
        }
        var object = segmentationScores(confusion)
        object["source"] = heldOutSource
        object["images"] = held.pairs.count
        return object
    }

    /// Scores the trained detector on the held-out samples; writes `--report`. Returns the JSON `held_out` object.
    func detectionHeldOutScores(_ net: DetectionModel, _ held: [DetectionSample], classNames: [String], options o: DetectionOptions,
                                normalization: Normalization, losses: [Double]) throws -> [String: Any] {
        let scores = DetectionScores(net, on: held, options: o, normalization: normalization)
        if let report {
            let a = o.augmentation
            let page = DenseReports.detection(
                title: "Detection: \(out) on the held-out \(test == nil ? "validation images" : "test images")", classNames: classNames,
                samples: held, scores: scores,
                config: ["bundle": out, "data": data, "boxes": detection.boxes ?? "", "held-out data": heldOutSource, "encoder": model,
                         "tile": "\(o.tile)", "overlap": "\(o.overlap)", "epochs": "\(losses.count)", "strategy": strategy.rawValue,
                         "augmentation": "colour \(a.colorJitter), hue \(a.hueJitter), scale \(a.scaleJitter)"],
                trainingLoss: losses)
            try DenseReports.write(page, to: report, json: json, bundle: out)
        }
        return ["map": scores.all.map, "map50": scores.all.map50, "recall50": scores.all.recall50, "max_detections": scores.maxDetections,
                "per_image": detectionPerImage(held, scores), "source": heldOutSource, "images": held.count]
    }
}
