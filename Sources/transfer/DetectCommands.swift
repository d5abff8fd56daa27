import ArgumentParser
import Datasets
import Dense
import Foundation
import Models
import TransferKit

/// The options of `transfer train --task detect` (and `evaluate` of a detection bundle).
struct DetectionCLIOptions: ParsableArguments {
    /// Refuses the detection options outside `--task detect`.
    func requireUnused() throws {
        for (flag, given) in [("--boxes", boxes != nil), ("--tile", tile != nil), ("--overlap", overlap != nil),
                              ("--crops-per-epoch", cropsPerEpoch != nil),
                              ("--merge-classes", mergeClasses != nil), ("--color-jitter", colorJitter != nil),
                              ("--hue-jitter", hueJitter != nil), ("--scale-jitter", scaleJitter != nil),
                              ("--test-boxes", testBoxes != nil)] where given {
            throw ValidationError("\(flag) applies to --task detect")
        }
    }

    @Option(name: .long, help: "Ground-truth boxes (--task detect; evaluate): a CSV (image_path,xmin,ymin,xmax,ymax,label), a Pascal VOC .xml, or a folder of .xml files.") var boxes: String?
    @Option(name: .long, help: "The boxes of the --test images (--task detect), as --boxes: scored after training, and the page of --report.") var testBoxes: String?
    @Option(name: .long, help: "Side of the training crops and prediction tiles in pixels (--task detect), a multiple of 32 in 32…2048.") var tile: Int?
    @Option(name: .long, help: "Pixels shared by neighbouring prediction tiles (--task detect), 0…tile − 1.") var overlap: Int?
    @Option(name: .long, help: "Relabel every box as this one class (e.g. Tree for DeepForest's Alive/Dead boxes) (--task detect).") var mergeClasses: String?
    @Option(name: .long, help: "Random training crops per epoch, half shared equally by the images and half by area (--task detect; default: one pass over the pixels), 1…100000.") var cropsPerEpoch: Int?
    @Option(name: .long, help: "Brightness, contrast and saturation jitter of the training crops (--task detect): factors uniform in [1 − c, 1 + c], 0…1 (default 0: off).") var colorJitter: Double?
    @Option(name: .long, help: "Hue jitter of the training crops (--task detect): a shift uniform in [−h, h] of a turn, 0…0.5 (default 0: off).") var hueJitter: Double?
    @Option(name: .long, help: "Scale jitter of the training crops (--task detect): each crop rescaled by a factor uniform in [1 − s, 1 + s], its boxes with it, 0…0.9 (default 0: off).") var scaleJitter: Double?
}

/// Per image name: `map50`, `map`, `recall50`, `boxes` (ground truth) and `detections`.
func detectionPerImage(_ samples: [DetectionSample], _ scores: DetectionScores) -> [String: Any] {
    var out: [String: Any] = [:]
    for (i, s) in samples.enumerated() {
        let e = scores.perImage[i]
        out[s.name] = ["map50": e.map50, "map": e.map, "recall50": e.recall50, "boxes": s.boxes.count, "detections": scores.detections[i].count]
    }
    return out
}

/// `{"x0","y0","x1","y1","label","score"}` rows.
func boxRows(_ boxes: [DetectionBox], classNames: [String]) -> [[String: Any]] {
    boxes.map { ["x0": Double($0.x0), "y0": Double($0.y0), "x1": Double($0.x1), "y1": Double($0.y1),
                 "label": $0.label < classNames.count ? classNames[$0.label] : "\($0.label)", "score": Double($0.score)] }
}

extension TrainCommand {
    func detectionOptions() -> DetectionOptions {
        var o = DetectionOptions()
        o.tile = detection.tile ?? o.tile
        o.overlap = detection.overlap ?? o.overlap
        o.cropsPerEpoch = detection.cropsPerEpoch
        o.epochs = epochs ?? 20
        o.batchSize = batchSize
        if let lr { o.learningRate = lr; o.encoderLearningRate = lr / 10 }
        o.freezeEncoder = strategy == .features
        o.seed = seed
        o.augmentation = DetectionAugmentation(colorJitter: detection.colorJitter ?? 0, hueJitter: detection.hueJitter ?? 0,
                                               scaleJitter: detection.scaleJitter ?? 0)
        return o
    }

    func validateDetection() throws {
        try validateDenseCommon()
        try segmentation.requireUnused()
        guard let b = detection.boxes, !b.isEmpty else { throw ValidationError("--task detect needs --boxes (a CSV, a VOC .xml or a folder of them)") }
        do { try detectionOptions().validate() } catch { throw ValidationError(error.description) }
    }

    /// `transfer train --task detect`: CenterNet on an FPN over the registry encoder `--model`; writes a detection bundle.
    func executeDetection() async throws {
        let spec = try pretrainedSpec(model)
        guard spec.preprocessing != nil else { throw ValidationError("--task detect needs an image model; \(model) is a text model") }
        let all: [DetectionSample], annotations: BoxAnnotations
        do {
            let read = try BoxAnnotations.read(detection.boxes!)
            annotations = detection.mergeClasses.map { read.merged(into: $0) } ?? read
            all = try DetectionBundle.samples(images: data, annotations: annotations)
        } catch { throw ValidationError(error.description) }
        let (samples, heldOut) = try detectionHeldOut(all, classNames: annotations.classNames)
        guard samples.contains(where: { !$0.boxes.isEmpty }) else { throw ValidationError("no image of \(data) has a box in \(detection.boxes!) (boxes are matched by file name)") }
        let o = detectionOptions()
        let net = try DetectionBundle.build(encoder: spec.name, classes: annotations.classNames.count, weights: try await backboneWeights(spec))
        let normalization = try SegmentationBundle.normalization(encoder: spec.name)
        let quiet = json || ProcessInfo.processInfo.environment["CI"] != nil || isatty(STDERR_FILENO) != 1
        let losses = try DetectionTraining.train(net, on: samples, options: o, normalization: normalization) { e, loss in
            if !quiet { printErr(String(format: "epoch %d/%d  loss %.4f", e, o.epochs, loss)) }
        }
        try DetectionBundle.save(net, manifest: DetectionManifest(encoder: spec.name, classNames: annotations.classNames, options: o), to: out)
        let held = try heldOut.map {
            try detectionHeldOutScores(net, $0, classNames: annotations.classNames, options: o, normalization: normalization, losses: losses)
        }
        if json {
            var object: [String: Any] = ["bundle": out, "task": "detect", "classes": annotations.classNames, "images": samples.count,
                                         "boxes": samples.reduce(0) { $0 + $1.boxes.count }, "tile": o.tile, "epochs_run": losses.count, "losses": losses,
                                         "augmentation": ["color_jitter": o.augmentation.colorJitter, "hue_jitter": o.augmentation.hueJitter,
                                                          "scale_jitter": o.augmentation.scaleJitter]]
            if let held { object["held_out"] = held }
            if let report { object["report"] = URL(fileURLWithPath: report).appendingPathComponent("report.html").path }
            print(try jsonString(object))
        } else {
            print("wrote \(out): CenterNet on \(spec.name), classes \(annotations.classNames.joined(separator: ", ")), final loss \(String(format: "%.4f", losses.last ?? .nan))")
            if let held, let m = held["map50"] as? Double { print("held-out (\(heldOutSource)) mAP@0.5 \(String(format: "%.4f", m))") }
        }
    }
}

extension EvaluateCommand {
    /// `transfer evaluate --model DETECT_BUNDLE --data IMAGES --boxes FILE`: COCO mAP and mAP@0.5, per image too.
    func executeDetection() throws {
        if masks != nil { throw ValidationError("--masks applies to segmentation bundles; \(model) is a detection bundle") }
        guard let file = boxes, !file.isEmpty else { throw ValidationError("\(model) is a detection bundle: give --boxes with the ground truth of --data") }
        let (net, manifest): (DetectionModel, DetectionManifest)
        do { (net, manifest) = try DetectionBundle.load(model) } catch { throw RuntimeError(error.description) }
        let annotations: BoxAnnotations
        do { annotations = try BoxAnnotations.read(file).labelled(as: manifest.classNames, file: file) } catch { throw ValidationError(error.description) }
        let samples: [DetectionSample]
        do { samples = try DetectionBundle.samples(images: data, annotations: annotations) } catch { throw ValidationError(error.description) }
        let normalization = try SegmentationBundle.normalization(encoder: manifest.encoder)
        let scores = DetectionScores(net, on: samples, options: manifest.options, normalization: normalization)
        let all = scores.all, maxDets = scores.maxDetections
        try writeDetectionReport(manifest, samples: samples, scores: scores)
        let perImage = detectionPerImage(samples, scores)
        if json {
            print(try jsonString(["map": all.map, "map50": all.map50, "recall50": all.recall50, "max_detections": maxDets, "per_image": perImage]))
        } else {
            print(String(format: "mAP@[.5:.95] %.4f  mAP@0.5 %.4f  recall@0.5 %.4f  (%d images)", all.map, all.map50, all.recall50, samples.count))
        }
    }
}

extension PredictCommand {
    /// `transfer predict --model DETECT_BUNDLE --output DIR IMAGES…`: boxes JSON and drawn PNGs.
    func executeDetection() throws {
        guard let output, !output.isEmpty else { throw ValidationError("\(model) is a detection bundle: give --output DIR for the boxes and drawings") }
        let (net, manifest): (DetectionModel, DetectionManifest)
        do { (net, manifest) = try DetectionBundle.load(model) } catch { throw RuntimeError(error.description) }
        let normalization = try SegmentationBundle.normalization(encoder: manifest.encoder)
        var rows: [[String: Any]] = []
        try forEachDenseInput(output: output) { file, stem, image in
            let boxes = DetectionTraining.predict(net, image: image, options: manifest.options, normalization: normalization)
            let jsonPath = output + "/" + stem + ".boxes.json", drawn = output + "/" + stem + ".boxes.png"
            let object: [String: Any] = ["input": file, "width": image.width, "height": image.height, "boxes": boxRows(boxes, classNames: manifest.classNames)]
            do {
                try jsonString(object).write(toFile: jsonPath, atomically: true, encoding: .utf8)
                try PNGEncoder.write(DetectionTraining.draw(boxes, on: image), to: drawn)
            } catch { throw RuntimeError("cannot write into \(output): \(error)") }
            rows.append(["input": file, "boxes_json": jsonPath, "drawing": drawn, "detections": boxes.count])
            if !json { print("\(file): \(boxes.count) boxes → \(jsonPath), \(drawn)") }
        }
        if json { print(try jsonString(["predictions": rows])) }
    }
}
