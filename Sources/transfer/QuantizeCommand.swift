import ArgumentParser
import Foundation
import Models
import Quantization
import TransferKit

extension CalibrationMethod: ExpressibleByArgument {}

/// `transfer quantize`: post-training static int8 quantisation of a bundle (the `Quantization` target).
struct QuantizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantise a bundle's backbone to int8 (calibrated on a few hundred inputs); the result predicts and evaluates like any bundle.")

    @Argument(help: "A bundle written by `transfer train`.")
    var bundle: String

    @Option(name: .long, help: "Calibration inputs: a folder of class folders (images or .txt texts), as for --data.")
    var calibration: String

    @Option(name: .long, help: "The quantised bundle to write (must not exist).")
    var out: String

    @Option(name: .long, help: "How input ranges are chosen: minmax, percentile (99.99th) or entropy (KL).")
    var calibrationMethod: CalibrationMethod = .percentile

    @Option(name: .long, help: "Calibration inputs to use (1…100000; spread evenly over the folder).")
    var samples = 300

    @Option(name: .long, help: "Backbone weights file for models without a registry source (resnet*).")
    var weights: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func validate() throws {
        guard !bundle.isEmpty else { throw ValidationError("BUNDLE must be a bundle directory (received an empty string)") }
        guard !calibration.isEmpty else { throw ValidationError("--calibration must be a folder (received an empty string)") }
        guard !out.isEmpty else { throw ValidationError("--out must be a path (received an empty string)") }
        guard (1...100_000).contains(samples) else { throw ValidationError("--samples must be in 1…100000 (received \(samples))") }
        if let weights, weights.isEmpty { throw ValidationError("--weights must be a file path (received an empty string)") }
        if FileManager.default.fileExists(atPath: out) {
            throw ValidationError("--out \(echo(out)) already exists; give a new path for the quantised bundle")
        }
    }

    func run() async throws {
        switch modelPathKind(bundle) {
        case .bundle: break
        case let kind: throw notABundleError(bundle, kind)
        }
        if let reason = Quantizer.unsupportedReason { throw RuntimeError(reason) }
        let url = URL(fileURLWithPath: bundle)
        let manifest: ModelBundle.Manifest
        do { manifest = try ModelBundle.manifest(at: url) } catch { throw RuntimeError("\(error)") }
        if manifest.training[QuantizedBundle.hashKey] != nil {
            throw RuntimeError("\(bundle) is already quantised (training.\(QuantizedBundle.hashKey)); quantise the fp32 bundle it came from")
        }
        let spec: ModelSpec
        do { spec = try ModelRegistry.spec(named: manifest.backbone) } catch { throw RuntimeError("\(bundle): \(error.description)") }
        let weightsPath = takesImages(spec) ? try await resolveVisionWeights(spec, weights: weights) : try await backboneWeights(spec)
        let data = try loadData(calibration, task: nil)
        guard !data.inputs.isEmpty else { throw RuntimeError("--calibration \(echo(calibration)): no inputs") }
        if data.isText == takesImages(spec) {
            throw RuntimeError("--calibration \(echo(calibration)) holds \(data.isText ? "texts" : "images") but \(bundle) was trained on \(takesImages(spec) ? "images" : "texts")")
        }
        let inputs = Self.spread(data.inputs, count: samples)
        let (model, _) = try QuantizedBundle.load(url, backboneWeights: weightsPath)
        let start = Date()
        let quiet = json || !ProgressLine.isEnabled
        let plan = try Quantizer.calibrate(model, inputs: inputs, method: calibrationMethod,
                                           progress: quiet ? nil : { ProgressLine.draw("calibrating", done: $0, total: $1, start: start) })
        do { try QuantizedBundle.write(model, plan: plan, source: manifest, to: URL(fileURLWithPath: out)) } catch {
            throw RuntimeError("cannot write --out \(echo(out)): \(error)")
        }
        let seconds = Date().timeIntervalSince(start)
        if json {
            print(try jsonString([
                "bundle": out, "method": plan.method.rawValue, "samples": plan.samples,
                "int8_layers": plan.layers.count, "fp32_layers": plan.fp32Layers, "seconds": seconds,
            ] as [String: Any]))
        } else {
            print("wrote \(out): \(plan.layers.count) int8 layers (\(plan.method.rawValue), \(plan.samples) calibration inputs), \(plan.fp32Layers.count) kept fp32")
            for (path, reason) in plan.fp32Layers.sorted(by: { $0.key < $1.key }) { print("  fp32 \(path): \(reason)") }
        }
    }

    /// `count` inputs spread evenly over `inputs` (all of them when there are no more).
    static func spread(_ inputs: [LabeledInput], count: Int) -> [LabeledInput] {
        guard inputs.count > count else { return inputs }
        return (0..<count).map { inputs[$0 * inputs.count / count] }
    }
}
