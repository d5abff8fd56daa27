import ArgumentParser
import Datasets
import Dense
import Foundation

/// `transfer segmentation-set`: builds a segmentation set with exact masks from Fashion-MNIST garments composited
/// onto photographs (``CompositeSegmentationSet``).
struct SegmentationSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segmentation-set",
        abstract: "Build a segmentation set with exact masks: Fashion-MNIST garments composited onto photographs.")
    @Option(name: .long, help: "A folder of JPEG/PNG photographs used as backgrounds (repeatable).") var backgrounds: [String] = []
    @Option(name: .long, help: "Which Fashion-MNIST split the garments come from: train or test.") var split: String = "train"
    @Option(name: .long, help: "Number of images, 1…100000.") var count = 200
    @Option(name: .long, help: "Side of the square images in pixels, 32…1024.") var size = 128
    @Option(name: .long, help: "Random seed, 0…18446744073709551615.") var seed: UInt64 = 0
    @Option(name: .long, help: "Output folder (gets images/ and masks/).") var out: String
    @Flag(name: .long, help: "Label every garment 1 (garment vs background) instead of its Fashion-MNIST class + 1.") var binary = false
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        guard !backgrounds.isEmpty && !backgrounds.contains("") else { throw ValidationError("--backgrounds FOLDER is required (a folder of photographs; repeatable)") }
        try requireWhole("--count", count, in: 1...100_000)
        try requireWhole("--size", size, in: 32...1024)
        guard ["train", "test"].contains(split) else { throw ValidationError("--split must be train or test (received \(split))") }
        guard !out.isEmpty else { throw ValidationError("--out must be a folder path (received an empty string)") }
    }

    func run() throws {
        var files: [String] = []
        for folder in backgrounds {
            do { files += try SegmentationDataset.imageFiles(folder) } catch { throw ValidationError("--backgrounds: \(error.description)") }
        }
        var photos: [RGBImage] = []
        for f in files {
            do { photos.append(try ImageDecoder.decode(contentsOf: f)) } catch { throw RuntimeError(error.description) }
        }
        let garments: FashionMNIST
        do { garments = try FashionMNIST(split: split == "train" ? .train : .test) } catch { throw RuntimeError(error.description) }
        let counts: [Int]
        do { counts = try CompositeSegmentationSet.build(backgrounds: photos, garments: garments, count: count, size: size, seed: seed,
                                                             binary: binary, into: out) } catch {
            throw RuntimeError(error.description)
        }
        if json {
            print(try jsonString(["out": out, "images": count, "size": size, "classes": binary ? ["background", "garment"] : CompositeSegmentationSet.classNames,
                                  "class_pixels": counts, "backgrounds": files]))
        } else {
            let names = binary ? ["background", "garment"] : CompositeSegmentationSet.classNames
            print("wrote \(count) images and masks (\(size)×\(size)) into \(out); classes: \(names.joined(separator: ", "))")
        }
    }
}
