import ArgumentParser
import Checkpoints
import Foundation
import Tensors

/// `transfer inspect FILE`: what a checkpoint holds, without loading its data.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show a checkpoint's format, tensor names, dtypes, shapes and parameter count.")

    @Argument(help: "A safetensors file or a PyTorch checkpoint (.pth/.pt/.bin, zip or legacy format).")
    var file: String

    @Flag(name: .long, help: "Print one JSON object.")
    var json = false

    func run() throws {
        let (format, entries) = try Self.read(file)
        let total = entries.reduce(0) { $0 + $1.shape.reduce(1, *) }
        if json {
            let obj: [String: Any] = [
                "file": file, "format": format, "tensors": entries.count, "elements": total,
                "entries": entries.map { ["name": $0.name, "dtype": $0.dtype, "shape": $0.shape] as [String: Any] },
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("\(file): \(format), \(entries.count) tensors, \(total.formatted()) elements")
        printTable(header: ["name", "dtype", "shape"],
                   rows: entries.map { [$0.name, $0.dtype, "[" + $0.shape.map(String.init).joined(separator: ", ") + "]"] })
    }

    /// Reads the tensor table of `path`, choosing the reader by the file's structure (``CheckpointFormat/detect(path:)``),
    /// not its extension or one byte; a FIFO, device or directory is refused without blocking.
    static func read(_ path: String) throws(RuntimeError) -> (format: String, entries: [(name: String, dtype: String, shape: [Int])]) {
        do {
            switch try CheckpointFormat.detect(path: path) {
            case .pytorchZip, .pytorchLegacy:
                let ckpt = try TorchCheckpoint(path: path)
                return (ckpt.format, ckpt.entries.map { ($0.key, $0.torchDType.replacingOccurrences(of: "torch.", with: ""), $0.shape) })
            case .safetensors:
                let st = try SafeTensorsFile(path: path)
                return ("safetensors", st.keys.compactMap { k in st.info(k).map { (k, $0.dtype.rawValue, $0.shape) } })
            }
        } catch {
            throw RuntimeError(error.description)
        }
    }
}
