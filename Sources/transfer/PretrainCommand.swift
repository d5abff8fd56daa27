import ArgumentParser
import Foundation
import Models
import SelfSupervised
import TransferKit

/// The self-supervised methods of `transfer pretrain`.
enum PretrainMethod: String, ExpressibleByArgument, CaseIterable {
    case simclr
}

/// `transfer pretrain`: self-supervised continued pre-training of an image backbone on unlabelled target images.
struct PretrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Adapt an image backbone to unlabelled images (SimCLR); `transfer train --model OUT` then starts from it.")

    @Option(name: .long, help: "An image model of the registry (see `transfer models`).")
    var model: String
    @Option(name: .long, help: "A folder of images (files directly inside, or class folders whose labels are ignored).")
    var data: String
    @Option(name: .long, help: "The self-supervised method.")
    var method: PretrainMethod = .simclr
    @Option(name: .long, help: "Epochs, 1…1000.")
    var epochs = 5
    @Option(name: .long, help: "Images per batch (two views each), 2…1024.")
    var batchSize = 32
    @Option(name: .long, help: "NT-Xent temperature, in (0, 10].")
    var temperature: Float = 0.5
    @Option(name: .long, help: "Side of the augmented views in pixels, 32…512.")
    var imageSize = 96
    @Option(name: .long, help: "Adam learning rate, in (0, 10].")
    var lr: Float = 3e-4
    @Option(name: .long, help: "Block groups of the backbone that train, from the top (1…20).")
    var unfreeze = 3
    @Option(name: .long, help: "Random seed, 0…18446744073709551615.")
    var seed: UInt64 = 0
    @Option(name: .long, help: "Output directory of the adapted backbone.")
    var out: String
    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard !model.isEmpty else { throw ValidationError("--model must name an image model (received an empty string)") }
        guard !data.isEmpty else { throw ValidationError("--data must be a folder of images (received an empty string)") }
        try requireWhole("--epochs", epochs, in: 1...1000)
        try requireWhole("--batch-size", batchSize, in: 2...1024)
        try requireRate("--temperature", temperature, maximum: 10)
        try requireWhole("--image-size", imageSize, in: 32...512)
        try requireRate("--lr", lr, maximum: 10)
        try requireWhole("--unfreeze", unfreeze, in: 1...20)
        try requireDirectoryPath("--out", out, holds: "the adapted backbone")
    }

    func run() async throws {
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: model) } catch { throw ValidationError(error.description) }
        guard takesImages(spec) else { throw ValidationError("\(model) is a text model; pretrain adapts image backbones") }
        let files = try imageFiles(data)
        guard files.count >= 2 else { throw ValidationError("--data \(echo(data)): \(files.count) images; SimCLR needs at least 2") }
        let backbone = try FeatureBackbone(spec: spec, weightsPath: try await backboneWeights(spec))
        guard let encoder = backbone.encoder as? ImageEncoder else { throw ValidationError("\(model) is not an image model") }
        var o = SimCLROptions()
        o.epochs = epochs; o.batchSize = batchSize; o.temperature = temperature; o.imageSize = imageSize
        o.learningRate = lr; o.unfreeze = unfreeze; o.seed = seed
        let start = Date()
        let losses = try SimCLR.pretrain(encoder, images: files, options: o) { epoch, step, steps, loss in
            guard !json else { return }
            ProgressLine.draw(String(format: "epoch %d loss %.3f", epoch + 1, loss), done: step, total: steps, start: start)
        }
        let settings = ["epochs": "\(epochs)", "batch_size": "\(batchSize)", "temperature": "\(temperature)", "image_size": "\(imageSize)",
                        "lr": "\(lr)", "unfreeze": "\(unfreeze)", "seed": "\(seed)", "images": "\(files.count)", "data": data]
        try AdaptedBackbone.save(backbone, method: method.rawValue, settings: settings, losses: losses, to: URL(fileURLWithPath: out))
        let seconds = Date().timeIntervalSince(start)
        if json {
            print(try jsonString(jsonSafe(["out": out, "method": method.rawValue, "images": files.count, "losses": losses, "seconds": seconds])))
        } else {
            print("SimCLR on \(files.count) images: loss per epoch " + losses.map { String(format: "%.4f", $0) }.joined(separator: ", "))
            print(String(format: "%.0f s → %@ (train from it: transfer train --model %@ ...)", seconds, out, out))
        }
    }

    /// The .jpg/.jpeg/.png files directly in `path` or one level down (class folders), in name order.
    func imageFiles(_ path: String) throws -> [String] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("--data \(echo(path)) is not a directory")
        }
        let isImage = { (n: String) in ["jpg", "jpeg", "png"].contains((n as NSString).pathExtension.lowercased()) }
        var files: [String] = []
        for name in try fm.contentsOfDirectory(atPath: path).sorted() where !name.hasPrefix(".") {
            let full = (path as NSString).appendingPathComponent(name)
            if isImage(name) { files.append(full); continue }
            if fm.fileExists(atPath: full, isDirectory: &isDir), isDir.boolValue {
                files += try fm.contentsOfDirectory(atPath: full).sorted().filter(isImage).map { (full as NSString).appendingPathComponent($0) }
            }
        }
        return files
    }
}
