import Datasets
import Foundation
import Testing

/// A small image folder (2 classes × 3 images, PNG and JPEG, plus one corrupt file) in a fresh temporary folder.
private struct PreviewData {
    let root: String
    let corrupt: String

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("transfer-augment-\(UUID().uuidString)").path
        let fm = FileManager.default
        for (c, cls) in ["apple", "pear"].enumerated() {
            try fm.createDirectory(atPath: root + "/" + cls, withIntermediateDirectories: true)
            for i in 0..<3 {
                let w = 60 + 10 * i, h = 45 + 5 * c
                var px = [UInt8](repeating: 0, count: w * h * 3)
                for y in 0..<h {
                    for x in 0..<w {
                        let p = (y * w + x) * 3
                        px[p] = UInt8(x * 255 / w)
                        px[p + 1] = UInt8(y * 255 / h)
                        px[p + 2] = UInt8(((x / 8 + y / 8) % 2) * 180 + c * 40 + i * 10)
                    }
                }
                let image = RGBImage(width: w, height: h, pixels: px)
                let bytes = i == 1 ? try JPEGEncoder.encode(image) : PNGEncoder.encode(image)
                try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/\(cls)/\(i).\(i == 1 ? "jpg" : "png")"))
            }
        }
        corrupt = root + "/pear/broken.jpg"
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46]).write(to: URL(fileURLWithPath: corrupt))
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: root) }
}

@Suite struct AugmentPreviewCommandTests {
    @Test func writesAGridOfOriginalsAndAugmentedVersions() throws {
        let d = try PreviewData()
        defer { d.cleanup() }
        let out = d.root + "/grid.png"
        let args = ["augment-preview", "--data", d.root, "--out", out, "--policy", "strong", "--count", "7",
                    "--variants", "3", "--size", "40", "--seed", "5"]
        let r = try runTransfer(args)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        // 6 readable images (the corrupt one is skipped and listed), 1 + 3 columns of 40 px with 4 px gaps.
        let grid = try ImageDecoder.decode(contentsOf: out)
        #expect(grid.width == 4 * 40 + 5 * 4)
        #expect(grid.height == 6 * 40 + 7 * 4)
        #expect(r.stderr.contains(d.corrupt))
        #expect(r.stdout.contains("6 images × (original + 3 augmented), policy strong"))
        // The gap is the background colour; tiles are not blank.
        #expect(grid[x: 0, y: 0] == SIMD3(24, 24, 24))
        #expect(grid[x: 4 + 40 + 2, y: 10] == SIMD3(24, 24, 24))
        // Deterministic for a seed.
        let again = d.root + "/again.png"
        let r2 = try runTransfer(args.map { $0 == out ? again : $0 })
        #expect(r2.status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: again)))
    }

    @Test func rejectsAnUnknownPolicyAndAMissingFolder() throws {
        let d = try PreviewData()
        defer { d.cleanup() }
        let bad = try runTransfer(["augment-preview", "--data", d.root, "--out", d.root + "/x.png", "--policy", "wild"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("'wild'") && bad.stderr.contains("none") && bad.stderr.contains("strong"), "\(bad.stderr)")
        let missing = try runTransfer(["augment-preview", "--data", d.root + "/nope", "--out", d.root + "/x.png"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains(d.root + "/nope"))
    }
}
