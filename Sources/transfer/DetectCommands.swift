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
                              ("--merge-classes", mergeClasses != nil)] where given {
            throw ValidationError("\(flag) applies to --task detect")
        }
    }

    @Option(name: .long, help: "Ground-truth boxes (--task detect; evaluate): a CSV (image_path,xmin,ymin,xmax,ymax,label), a Pascal VOC .xml, or a folder of .xml files.") var boxes: String?
    @Option(name: .long, help: "Side of the training crops and prediction tiles in pixels (--task detect), a multiple of 32 in 32…2048.") var tile: Int?
    @Option(name: .long, help: "Pixels shared by neighbouring prediction tiles (--task detect), 0…tile − 1.") var overlap: Int?
    @Option(name: .long, help: "Relabel every box as this one class (e.g. Tree for DeepForest's Alive/Dead boxes) (--task detect).") var mergeClasses: String?
    @Option(name: .long, help: "Random training crops per epoch, half shared equally by the images and half by area (--task detect; default: one pass over the pixels), 1…100000.") var cropsPerEpoch: Int?
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
        let samples: [DetectionSample], annotations: BoxAnnotations
        do {
            let read = try BoxAnnotations.read(detection.boxes!)
            annotations = detection.mergeClasses.map { read.merged(into: $0) } ?? read
            samples = try DetectionBundle.samples(images: data, annotations: annotations)
        } catch { throw ValidationError(error.description) }
        guard samples.contains(where: { !$0.boxes.isEmpty }) else { throw ValidationError("no image of \(data) has a box in \(detection.boxes!) (boxes are matched by file name)") }
        let o = detectionOptions()
        let net = try DetectionBundle.build(encoder: spec.name, classes: annotations.classNames.count, weights: try await backboneWeights(spec))
        let normalization = try SegmentationBundle.normalization(encoder: spec.name)
        let quiet = json || ProcessInfo.processInfo.environment["CI"] != nil || isatty(STDERR_FILENO) != 1
        let losses = try DetectionTraining.train(net, on: samples, options: o, normalization: normalization) { e, loss in
            if !quiet { printErr(String(format: "epoch %d/%d  loss %.4f", e, o.epochs, loss)) }
        }
        try DetectionBundle.save(net, manifest: DetectionManifest(encoder: spec.name, classNames: annotations.classNames, options: o), to: out)
        if json {
            print(try jsonString(["bundle": out, "task": "detect", "classes": annotations.classNames, "images": samples.count,
                                  "boxes": samples.reduce(0) { $0 + $1.boxes.count }, "tile": o.tile, "epochs_run": losses.count, "losses": losses]))
        } else {
            print("wrote \(out): CenterNet on \(spec.name), classes \(annotations.classNames.joined(separator: ", ")), final loss \(String(format: "%.4f", losses.last ?? .nan))")
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
        var annotations: BoxAnnotations
        do { annotations = try BoxAnnotations.read(file) } catch { throw ValidationError(error.description) }
        if manifest.classNames.count == 1 && annotations.classNames != manifest.classNames {
            // A one-class detector (e.g. trained with --merge-classes) scores every ground-truth box as its class.
            annotations = annotations.merged(into: manifest.classNames[0])
        }
        // Labels follow the bundle's class order; a class the bundle does not know is an error.
        for (name, boxes) in annotations.boxes {
            annotations.boxes[name] = try boxes.map { b in
                guard let i = manifest.classNames.firstIndex(of: annotations.classNames[b.label]) else {
                    throw ValidationError("--boxes \(file): class \(annotations.classNames[b.label]) is not one of the bundle's \(manifest.classNames)")
                }
                var c = b
                c.label = i
                return c
            }
        }
        let samples: [DetectionSample]
        do { samples = try DetectionBundle.samples(images: data, annotations: annotations) } catch { throw ValidationError(error.description) }
        let normalization = try SegmentationBundle.normalization(encoder: manifest.encoder)
        let detections = samples.map { DetectionTraining.predict(net, image: $0.image, options: manifest.options, normalization: normalization) }
        let maxDets = Swift.max(DetectionEvaluation.defaultMaxDetections, detections.map(\.count).max() ?? 0)
        let all = DetectionEvaluation(truths: samples.map(\.boxes), detections: detections, classes: manifest.classNames.count, maxDetections: maxDets)
        var perImage: [String: Any] = [:], imageAP: [Double] = []
        for (s, d) in zip(samples, detections) {
            let e = DetectionEvaluation(truths: [s.boxes], detections: [d], classes: manifest.classNames.count, maxDetections: maxDets)
            perImage[s.name] = ["map50": e.map50, "map": e.map, "recall50": e.recall50, "boxes": s.boxes.count, "detections": d.count]
            imageAP.append(e.map50)
        }
        try writeDetectionReport(manifest, samples: samples, detections: detections, all: all, perImage: imageAP)
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
