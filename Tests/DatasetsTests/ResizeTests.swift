import Datasets
import Foundation
import Tensors
import Testing

private func floats(_ bytes: [UInt8]) -> [Float] {
    stride(from: 0, to: bytes.count, by: 4).map { i in
        Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
    }
}

@Suite("Resize, crop and normalisation against PIL and torchvision")
struct ResizeTests {
    /// Tolerance against PIL's `Image.resize` on 0…255 values. The implementation mirrors Pillow's fixed-point
    /// arithmetic and was measured byte-identical on every fixture; the bound leaves room for nothing more than
    /// rounding differences.
    static let meanTolerance = 1.0
    static let maxTolerance = 3

    @Test("8-bit resize matches PIL's Image.resize (bilinear and bicubic, shrink and enlarge)",
          arguments: fixtureCases("resize"))
    func resizeMatchesPIL(_ c: FixtureCase) throws {
        let src = RGBImage(width: c.source_width!, height: c.source_height!, pixels: try fixtureBytes(c.file))
        let filter = try #require(ResizeFilter(rawValue: c.filter!))
        let expected = try ImageDecoder.decode(data: try fixtureBytes(c.expected), path: c.expected)
        let out = src.resize(width: c.width, height: c.height, filter: filter)
        #expect(out.width == c.width && out.height == c.height)
        let diff = byteDifference(out.pixels, expected.pixels)
        #expect(diff.mean <= Self.meanTolerance && diff.max <= Self.maxTolerance, "mean \(diff.mean), max \(diff.max)")
        #expect(diff.max == 0, "measured: identical to Pillow (mean \(diff.mean), max \(diff.max))")
    }

    @Test("float resize matches PIL's mode-F Image.resize", arguments: fixtureCases("resize_float"))
    func floatResizeMatchesPIL(_ c: FixtureCase) throws {
        let src = FloatImage(channels: 1, width: c.source_width!, height: c.source_height!, data: floats(try fixtureBytes(c.file)))
        let filter = try #require(ResizeFilter(rawValue: c.filter!))
        let out = src.resize(width: c.width, height: c.height, filter: filter)
        let expected = floats(try fixtureBytes(c.expected))
        let worst = zip(out.data, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5, "max abs diff \(worst)")
    }

    @Test("bilinear float resize of an RGB image stays within one level of the 8-bit resize")
    func floatAndByteResizeAgree() throws {
        let c = try #require(fixtureCases("resize").first)
        let src = RGBImage(width: c.source_width!, height: c.source_height!, pixels: try fixtureBytes(c.file))
        for (w, h) in [(13, 9), (45, 34), (77, 7), (5, 24)] {
            let bytes = src.resize(width: w, height: h, filter: .bilinear).floatImage().data
            let f = src.floatImage().resize(width: w, height: h, filter: .bilinear).data
            // The 8-bit path rounds after each pass (≤ ½ level each; bilinear weights are non-negative, so the
            // first rounding is not amplified). Bicubic is not compared: its 8-bit intermediate clips overshoot.
            let worst = zip(bytes, f).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1.0, "\(w)×\(h): \(worst)")
        }
    }

    @Test("resizeShorter keeps the aspect ratio with torchvision's truncation")
    func resizeShorterFollowsTorchvision() {
        let wide = RGBImage(width: 640, height: 480)
        let r = wide.resizeShorter(to: 256)
        #expect(r.width == 341 && r.height == 256)  // int(256 * 640 / 480) = int(341.33)
        let tall = RGBImage(width: 333, height: 500)
        let t = tall.resizeShorter(to: 224)
        #expect(t.width == 224 && t.height == 336)  // int(224 * 500 / 333) = int(336.3)
        let square = RGBImage(width: 300, height: 300).resizeShorter(to: 100)
        #expect(square.width == 100 && square.height == 100)
    }

    @Test("centerCrop places the window like torchvision (round half to even) and pads with black")
    func centerCropFollowsTorchvision() {
        // 5 wide, values = column index.
        let img = RGBImage(width: 5, height: 4, pixels: (0..<20).flatMap { i in [UInt8(i % 5), UInt8(i / 5), 0] })
        let c = img.centerCrop(width: 2, height: 2)
        // left = round(3 / 2) = round(1.5) = 2, top = round(2 / 2) = 1.
        #expect(c[x: 0, y: 0] == SIMD3(2, 1, 0))
        #expect(c[x: 1, y: 1] == SIMD3(3, 2, 0))
        let c2 = img.centerCrop(width: 4, height: 3)
        // left = round(0.5) = 0, top = round(0.5) = 0.
        #expect(c2[x: 0, y: 0] == SIMD3(0, 0, 0))
        let padded = img.centerCrop(width: 8, height: 4)
        // pad left (8 − 5) / 2 = 1, right 2.
        #expect(padded[x: 0, y: 0] == SIMD3(0, 0, 0))
        #expect(padded[x: 1, y: 2] == SIMD3(0, 2, 0))
        #expect(padded[x: 5, y: 0] == SIMD3(4, 0, 0))
        #expect(padded[x: 6, y: 0] == SIMD3(0, 0, 0) && padded[x: 7, y: 3] == SIMD3(0, 0, 0))
        let f = img.floatImage().centerCrop(width: 2, height: 2)
        #expect(f.data == c.floatImage().data)
    }

    @Test("normalisation presets compute ToTensor + Normalize and (x − 127) / 128")
    func normalizationPresets() {
        let img = RGBImage(width: 2, height: 1, pixels: [0, 128, 255, 10, 20, 30])
        let t = Normalization.imagenet.tensor(img)
        #expect(t.shape == [3, 1, 2])
        let v = t.toArray()
        // CHW: R0, R1, G0, G1, B0, B1.
        #expect(v[0] == (Float(0) / 255 - 0.485) / 0.229)
        #expect(v[1] == (Float(10) / 255 - 0.485) / 0.229)
        #expect(v[2] == (Float(128) / 255 - 0.456) / 0.224)
        #expect(v[5] == (Float(30) / 255 - 0.406) / 0.225)
        let lite = Normalization.efficientNetLite.tensor(img).toArray()
        let expectedLite: [Float] = [-127, -117, 1, -107, 128, -97].map { $0 / 128 }
        #expect(lite == expectedLite)
        let unit: [Float] = [0, 10, 128, 20, 255, 30].map { $0 / 255 }
        #expect(img.tensor().toArray() == unit)
        let fromFloat = Normalization.imagenet.tensor(img.floatImage()).toArray()
        #expect(zip(fromFloat, v).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test("a 4000×3000 photo resizes to 256 on the shorter side and crops to 224")
    func largeResizeShapes() {
        var px = [UInt8](repeating: 0, count: 4000 * 3000 * 3)
        for i in stride(from: 0, to: px.count, by: 7) { px[i] = UInt8(truncatingIfNeeded: i) }
        let img = RGBImage(width: 4000, height: 3000, pixels: px)
        let r = img.resizeShorter(to: 256).centerCrop(size: 224)
        #expect(r.width == 224 && r.height == 224)
        let t = Normalization.imagenet.tensor(r)
        #expect(t.shape == [3, 224, 224])
    }
}
