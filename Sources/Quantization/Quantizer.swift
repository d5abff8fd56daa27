import CDNNL
import Foundation
import Layers
import Tensors
import TransferKit

/// Post-training static int8 quantisation of a ``TransferModel``'s backbone (Jacob et al., CVPR 2018; Migacz, GTC
/// 2017): every ``Conv2d`` and ``Linear`` of the backbone that runs on the calibration inputs gets per-output-channel
/// symmetric `s8` weights (BatchNorm folded first, as the fp32 inference path folds it) and a fixed input scale
/// from ``CalibrationMethod``; it then runs as a oneDNN int8 convolution or matmul with its bias, residual sum and
/// activation fused and an fp32 output. Everything else stays fp32: normalisation, pooling, attention's softmax
/// products, embeddings, and the head (small, and its outputs are the predictions).
public enum Quantizer {
    /// Why this CPU cannot run oneDNN's int8 kernels at speed, or nil when it can (AVX-512 VNNI, or AVX2 and up).
    public static var unsupportedReason: String? {
        let isa = dnnl_get_effective_cpu_isa()
        let ok: Set<UInt32> = [dnnl_cpu_isa_avx2.rawValue, dnnl_cpu_isa_avx2_vnni.rawValue, dnnl_cpu_isa_avx512_core.rawValue,
                               dnnl_cpu_isa_avx512_core_vnni.rawValue, dnnl_cpu_isa_avx512_core_bf16.rawValue,
                               dnnl_cpu_isa_avx512_core_amx.rawValue]
        return ok.contains(isa.rawValue) ? nil : QuantizationError.unsupportedCPU(isa: DNNL.versionDescription).description
    }

    /// Calibrates `model` on `inputs` (run in batches of `batchSize`, eval mode, no gradients) and returns the plan
    /// for its backbone (the head stays fp32); the model is unchanged. `progress` is called with the number of
    /// inputs done after each batch of each pass.
    public static func calibrate(_ model: TransferModel, inputs: [LabeledInput], method: CalibrationMethod,
                                 batchSize: Int = 32, progress: ((Int, Int) -> Void)? = nil) throws -> QuantizationPlan {
        model.eval()
        let passes = method == .minmax ? 1 : 2
        var pass = 0
        let plan = calibrate(model, method: method, keepFP32: { path, _ in
            path.hasPrefix("backbone.") ? nil : "head (kept fp32)"
        }) {
            var used = 0
            for start in stride(from: 0, to: inputs.count, by: batchSize) {
                let batch = Array(inputs[start..<Swift.min(start + batchSize, inputs.count)])
                used += model.backbone.encoder.pooledFeatures(batch, batchSize: batchSize).kept.count
                progress?(pass * inputs.count + start + batch.count, passes * inputs.count)
            }
            pass += 1
            return used
        }
        guard plan.samples > 0 else { throw QuantizationError.noCalibrationInputs(path: "", reason: "none of the inputs could be read") }
        return plan
    }

    /// Calibrates the convolutions and linear layers of `root`: `run` runs the model on the calibration inputs
    /// (without gradients) and returns how many it used; it is called once for the ranges and, for percentile and
    /// entropy, once more for the histograms. `keepFP32` returns the reason to leave a layer (path, module) in fp32,
    /// or nil to quantise it; layers that did not run, and layers wrapped by an adapter, stay fp32 too.
    public static func calibrate(_ root: Module, method: CalibrationMethod, keepFP32: (String, Module) -> String? = { _, _ in nil },
                                 run: () throws -> Int) rethrows -> QuantizationPlan {
        let observer = InputStatisticsObserver()
        var used = 0
        for pass in method == .minmax ? [InputStatisticsObserver.Pass.range] : [.range, .histogram] {
            observer.pass = pass
            used = try InputObservation.$current.withValue(observer) { try withNoGrad { try run() } }
        }
        return plan(root, statistics: observer.statistics, method: method, samples: used, keepFP32: keepFP32)
    }

    /// The plan for the statistics observed: int8 for each convolution and linear layer that ran.
    static func plan(_ root: Module, statistics: [ObjectIdentifier: InputStatistics], method: CalibrationMethod,
                     samples: Int, keepFP32: (String, Module) -> String?) -> QuantizationPlan {
        var layers: [QuantizationPlan.Layer] = [], fp32: [String: String] = [:]
        var seen = Set<ObjectIdentifier>()
        var wrappers: [String: String] = [:]
        for (path, module) in root.namedModules() where module is WrappingModule { wrappers[path] = "\(type(of: module))" }
        for (path, module) in root.namedModules() where module is Conv2d || module is Linear {
            guard seen.insert(ObjectIdentifier(module)).inserted else { continue }
            if let wrapper = wrappers[path] { fp32[path] = "wrapped by \(wrapper) (kept fp32)"; continue }
            if let reason = keepFP32(path, module) { fp32[path] = reason; continue }
            guard let s = statistics[ObjectIdentifier(module)], s.count > 0 else {
                fp32[path] = "did not run on the calibration inputs"
                continue
            }
            let kind: QuantizationPlan.Layer.Kind = module is Conv2d ? .conv2d : .linear
            layers.append(.init(path: path, kind: kind,
                                input: .symmetric(absMax: s.threshold(method), signed: s.signed)))
        }
        return QuantizationPlan(method: method, samples: samples, layers: layers, fp32Layers: fp32)
    }

    /// Puts `plan` into `model`: each listed layer runs int8 from now on. Throws
    /// ``QuantizationError/layerMismatch(file:path:reason:)`` (naming `file`) when a path does not resolve to a
    /// layer of its kind; nothing is changed then.
    public static func apply(_ plan: QuantizationPlan, to model: Module, file: String) throws(QuantizationError) {
        var targets: [(Module, Int8InputQuantization)] = []
        for layer in plan.layers {
            let module: Module
            do { module = try model.module(at: layer.path) } catch {
                throw .layerMismatch(file: file, path: layer.path, reason: "is not in the model (\(error))")
            }
            let matches = layer.kind == .conv2d ? module is Conv2d : module is Linear
            guard matches else {
                throw .layerMismatch(file: file, path: layer.path, reason: "is a \(type(of: module)), not a \(layer.kind.rawValue)")
            }
            targets.append((module, layer.input))
        }
        for (module, input) in targets {
            if let c = module as? Conv2d { c.int8 = Int8Layer(input: input) }
            if let l = module as? Linear { l.int8 = Int8Layer(input: input) }
        }
    }

    /// Turns int8 off again for every layer of `model` (back to its fp32 path).
    public static func removeQuantization(from model: Module) {
        for (_, module) in model.namedModules() {
            if let c = module as? Conv2d { c.int8 = nil }
            if let l = module as? Linear { l.int8 = nil }
        }
    }
}
