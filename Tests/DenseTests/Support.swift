import Checkpoints
import Foundation
import Layers
import Tensors

// Fixtures: Fixtures/dense_golden.safetensors from tools/make_segmentation_fixtures.py.

func denseFixture(_ name: String) throws -> SafeTensorsFile {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "safetensors") else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Fixtures/\(name).safetensors"])
    }
    return try SafeTensorsFile(path: url.path)
}

/// The fixture's tensors whose keys start with `prefix`, the prefix removed, plus the batch-norm step counters of
/// `module` (PyTorch's `num_batches_tracked`, which the fixture leaves out: they do not change the output).
func fixtureState(_ file: SafeTensorsFile, prefix: String, for module: Module) throws -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for (k, t) in try file.tensors() where k.hasPrefix(prefix) { out[String(k.dropFirst(prefix.count))] = t }
    for (k, t) in module.stateDict() where k.hasSuffix("num_batches_tracked") { out[k] = t }
    return out
}

func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.contiguous().toArray(), b.contiguous().toArray()).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1)) }
}

let realCache: String = ProcessInfo.processInfo.environment["TRANSFERKIT_CACHE"]
    ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/transferkit").path
let lite0Weights = realCache + "/efficientnet-lite0/efficientnet-lite0-57934424.pth"
let lite0Present = FileManager.default.fileExists(atPath: lite0Weights)
let fashionPresent = FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")

func temporaryDirectory(_ tag: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tk-dense-\(tag)-\(UUID())")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}
