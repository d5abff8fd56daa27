import Adapters
import ArgumentParser
import Checkpoints
import Export
import Foundation
import Models
import TransferKit

/// The formats `transfer export` writes.
enum ExportFormat: String, CaseIterable, ExpressibleByArgument {
    case onnx
}

/// `transfer export`: a bundle as one ONNX graph (backbone and head), for ONNX Runtime, OpenVINO, TensorRT….
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a bundle as an ONNX model (backbone and head in one graph, preprocessing in its metadata).")

    @Argument(help: "A bundle written by `transfer train`.")
    var bundle: String

    @Option(name: .long, help: "The format to write (onnx).")
    var format: ExportFormat = .onnx

    @Option(name: .long, help: "The file to write (e.g. model.onnx).")
    var out: String

    @Option(name: .long, help: "Backbone weights file for models without a registry source (resnet*), or to override it.")
    var weights: String?

    @Option(name: .long, parsing: .upToNextOption,
            help: "Inputs (image files; texts with --text) whose prepared graph inputs and bundle outputs are written to OUT.sample.safetensors, to check a runtime against.")
    var sample: [String] = []

    @Flag(name: .long, help: "The --sample inputs are texts (for a bundle trained on texts).")
    var text = false

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard !bundle.isEmpty else { throw ValidationError("BUNDLE must be a bundle directory (received an empty string)") }
        guard !out.isEmpty else { throw ValidationError("--out must be a file path (received an empty string)") }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDir), isDir.boolValue {
            throw ValidationError("--out \(echo(out)) is a directory; give the path of the .onnx file to write")
        }
        if let weights, weights.isEmpty { throw ValidationError("--weights must be a file path (received an empty string)") }
        if text && sample.isEmpty { throw ValidationError("--text describes the --sample inputs; give them with --sample") }
    }

    func run() async throws {
        switch modelPathKind(bundle) {
        case .bundle: break
        case let kind: throw notABundleError(bundle, kind)
        }
        let url = URL(fileURLWithPath: bundle)
        let manifest: ModelBundle.Manifest
        do { manifest = try ModelBundle.manifest(at: url) } catch { throw RuntimeError("\(error)") }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch { throw RuntimeError("\(bundle): \(error.description)") }
        if !sample.isEmpty && takesImages(spec) == text {
            throw ValidationError(text ? "\(bundle) was trained on images (\(spec.name)); --text applies to bundles trained on texts"
                                       : "\(bundle) was trained on texts (\(spec.name)): pass --text with --sample texts")
        }
        let weightsPath = takesImages(spec) ? try await resolveVisionWeights(spec, weights: weights) : try await backboneWeights(spec)
        let model = try LoRABundle.load(url, backboneWeights: weightsPath)
        let summary: ExportSummary
        do { summary = try ONNXExport.write(model, to: URL(fileURLWithPath: out)) } catch let error as ExportError {
            throw RuntimeError(error.description)
        } catch {
            throw RuntimeError("cannot write --out \(echo(out)): \(FileErrors.reason(error))")
        }
        var sampleFile: String?
        if !sample.isEmpty { sampleFile = try writeSample(model) }
        if json {
            var obj: [String: Any] = [
                "format": format.rawValue, "file": out, "bytes": summary.bytes, "opset": summary.opset,
                "inputs": summary.inputs, "outputs": summary.outputs, "nodes": summary.nodes,
                "initializers": summary.initializers, "parameters": summary.parameters, "operators": summary.operators,
            ]
            if let sampleFile { obj["sample"] = sampleFile }
            print(try jsonString(obj))
        } else {
            print("wrote \(out): ONNX opset \(summary.opset), \(summary.nodes) nodes, \(summary.parameters) parameters, \(summary.bytes) bytes")
            print("inputs: \(summary.inputs.joined(separator: ", ")); outputs: \(summary.outputs.joined(separator: ", "))")
            if let sampleFile { print("reference sample: \(sampleFile)") }
        }
    }

    private func writeSample(_ model: TransferModel) throws -> String {
        let items: [LabeledInput] = text ? sample.enumerated().map { .text($1, source: "text \($0)") } : sample.map { .image(path: $0) }
        let (tensors, _, failed) = ONNXExport.referenceSample(model, inputs: items)
        for f in failed { printErr("error: \(f.0): \(f.1)") }
        guard failed.isEmpty, !tensors.isEmpty else { throw RuntimeError("--sample: \(failed.count) of \(sample.count) inputs could not be read") }
        let path = out + ".sample.safetensors"
        do { try SafeTensorsWriter.write(tensors, metadata: ["format": "transferkit-onnx-sample"], to: path) } catch {
            throw RuntimeError("cannot write \(echo(path)): \(error.description)")
        }
        return path
    }
}
