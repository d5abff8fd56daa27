import Checkpoints
import Datasets
import Foundation
import Layers
import Models
import Tensors

// Fixtures: Tests/ExplainTests/Fixtures/gradcam.safetensors from tools/make_gradcam_fixtures.py; the photos are those
// of Tests/ModelsTests/Fixtures/efficientnet_lite0.safetensors (tools/make_vision_fixtures.py), read in place.

/// A safetensors fixture of this target.
func explainFixture(_ name: String) throws -> SafeTensorsFile {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "safetensors") else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Fixtures/\(name).safetensors"])
    }
    return try SafeTensorsFile(path: url.path)
}

/// The two real photos (scikit-image's cat and coffee cup, resize 256 + centre crop 224) as `[2, 224, 224, 3]` bytes.
func fixturePhotos() throws -> Tensor {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelsTests/Fixtures/efficientnet_lite0.safetensors")
    return try SafeTensorsFile(path: url.path).tensor("photos")
}

/// Photo `i` as an RGB image.
func fixturePhoto(_ photos: Tensor, _ i: Int) -> RGBImage {
    let v = photos.toArray(), n = 224 * 224 * 3
    return RGBImage(width: 224, height: 224, pixels: v[(i * n)..<((i + 1) * n)].map { UInt8($0) })
}

/// The real EfficientNet-Lite0 checkpoint where `transfer fetch efficientnet-lite0` puts it.
let lite0CheckpointPath: String = {
    let env = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
    let root = env.map { URL(fileURLWithPath: $0) }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit")
    return root.appendingPathComponent("efficientnet-lite0/efficientnet-lite0-57934424.pth").path
}()

/// Tests that need the real weights run when `make test` has fetched them.
let lite0WeightsPresent = FileManager.default.fileExists(atPath: lite0CheckpointPath)

func pretrainedLite0() throws -> EfficientNetLite {
    let model = EfficientNetLite(.lite0)
    try model.load(TorchCheckpoint.load(path: lite0CheckpointPath))
    model.eval()
    return model
}

/// `formula_values` of tools/make_vision_fixtures.py (SplitMix64 of (t, k) scaled to [−1, 1)).
func formulaValues(_ count: Int, _ t: Int) -> [Double] {
    let base = 0x9E37_79B9_7F4A_7C15 &* UInt64(t + 1)
    return (0..<count).map { k in
        var z = UInt64(k) &+ base
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 40) / Double(1 << 24) * 2 - 1
    }
}

/// A ResNet-18 with the deterministic formula weights of `formula_state` (tools/make_vision_fixtures.py).
func formulaResNet18() throws -> ResNet {
    let model = ResNet(.resnet18)
    var state: [String: Tensor] = [:]
    for (t, entry) in model.stateDict().enumerated() {
        let shape = entry.tensor.shape
        let name = entry.key.split(separator: ".").last.map(String.init) ?? entry.key
        if name == "num_batches_tracked" { state[entry.key] = .zeros(shape); continue }
        let f: (Double) -> Double
        switch (shape.rank, name) {
        case (4, _): let s = (6 / Double(shape[1] * shape[2] * shape[3])).squareRoot(); f = { $0 * s }
        case (2, _): let s = (3 / Double(shape[1])).squareRoot(); f = { $0 * s }
        case (_, "weight"): f = { 0.8 + 0.25 * $0 }
        case (_, "bias"), (_, "running_mean"): f = { 0.1 * $0 }
        case (_, "running_var"): f = { 1.25 + 0.25 * $0 }
        default: preconditionFailure("formula: no rule for \(entry.key)")
        }
        state[entry.key] = Tensor(shape: shape, data: formulaValues(shape.count, t).map { Float(f($0)) })
    }
    try model.load(state)
    model.eval()
    return model
}

/// Every 4th row and column of `224 × 224` maps, as the fixture stores them.
func subsampled(_ map: [Float], side: Int = 224, step: Int = 4) -> [Float] {
    stride(from: 0, to: side, by: step).flatMap { r in stride(from: 0, to: side, by: step).map { c in map[r * side + c] } }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}
