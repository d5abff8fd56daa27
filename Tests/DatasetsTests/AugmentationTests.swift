import Datasets
import Foundation
import Tensors
import Testing

/// One case of Fixtures/augment/manifest.json (written by tools/make_augment_fixtures.py).
struct AugmentCase: Decodable, CustomTestStringConvertible, Sendable {
    struct Params: Decodable, Sendable {
        let angle: Double?
        let interpolation: String?
        let translate: [Double]?
        let scale: Double?
        let shear: [Double]?
        let center: [Double]?
        let factor: Double?
        let bits: Int?
        let threshold: Double?
        let kernel: Int?
        let sigma: Double?
        let top: Int?
        let left: Int?
        let height: Int?
        let width: Int?
        let size: Int?
    }
    let name: String
    let op: String
    let params: Params
    let width: Int
    let height: Int
    let square: Bool
    let tolerance: Int
    var testDescription: String { name }
}

private struct AugmentManifest: Decodable {
    let cases: [AugmentCase]
}

private func augmentFixtureDirectory() throws -> String {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/augment", withExtension: nil),
                           "Fixtures/augment missing from the test bundle")
    return url.path
}

private func augmentCases() -> [AugmentCase] {
    guard let url = Bundle.module.url(forResource: "Fixtures/augment/manifest", withExtension: "json"),
          let data = try? Data(contentsOf: url),
          let manifest = try? JSONDecoder().decode(AugmentManifest.self, from: data) else { return [] }
    return manifest.cases
}

/// A deterministic test image with structure in every channel.
func syntheticImage(width: Int, height: Int, seed: UInt64 = 1) -> RGBImage {
    var g = SeededGenerator(seed: seed)
    var px = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 3
            let noise = Int(g.next() % 40)
            px[i] = UInt8((x * 255 / Swift.max(width - 1, 1) + noise) / 2 + 40)
            px[i + 1] = UInt8((y * 255 / Swift.max(height - 1, 1) + noise) / 2 + 30)
            px[i + 2] = UInt8(((x / 4 + y / 4) % 2 == 0 ? 200 : 60) - noise)
        }
    }
    return RGBImage(width: width, height: height, pixels: px)
}

@Suite("Augmentation: operations match torchvision on PIL images, randomness is seeded")
struct AugmentationTests {
    @Test("each operation reproduces torchvision's functional transform on a PIL image", arguments: augmentCases())
    func matchesTorchvision(_ c: AugmentCase) throws {
        let dir = try augmentFixtureDirectory()
        var source = try ImageDecoder.decode(contentsOf: dir + "/source.png")
        if c.square { source = source.cropped(to: CropBox(x: 0, y: 0, width: 17, height: 17)) }
        let p = c.params
        let interpolation = p.interpolation.flatMap(InterpolationMode.init(rawValue:)) ?? .nearest
        let out: RGBImage
        switch c.op {
        case "rotate", "rotate_square": out = source.rotated(degrees: p.angle!, interpolation: interpolation)
        case "affine":
            out = source.affine(angle: p.angle!, translate: (p.translate![0], p.translate![1]), scale: p.scale!,
                                shear: (p.shear![0], p.shear![1]), center: p.center.map { ($0[0], $0[1]) },
                                interpolation: interpolation)
        case "brightness": out = source.adjustingBrightness(p.factor!)
        case "contrast": out = source.adjustingContrast(p.factor!)
        case "saturation": out = source.adjustingSaturation(p.factor!)
        case "hue": out = source.adjustingHue(p.factor!)
        case "sharpness": out = source.adjustingSharpness(p.factor!)
        case "posterize": out = source.posterized(bits: p.bits!)
        case "solarize": out = source.solarized(threshold: p.threshold!)
        case "autocontrast": out = source.autocontrasted()
        case "equalize": out = source.equalized()
        case "grayscale": out = source.grayscale()
        case "blur": out = source.gaussianBlurred(kernelSize: p.kernel!, sigma: p.sigma!)
        case "resized_crop":
            out = source.resizedCrop(CropBox(x: p.left!, y: p.top!, width: p.width!, height: p.height!),
                                     width: p.size!, height: p.size!)
        default:
            Issue.record("unknown op \(c.op)")
            return
        }
        #expect(out.width == c.width && out.height == c.height)
        let expected = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/\(c.name).rgb")))
        let diff = byteDifference(out.pixels, expected)
        #expect(diff.max <= c.tolerance, "\(c.name): max difference \(diff.max), mean \(diff.mean)")
    }

    @Test("flips are exact mirrors and their own inverses")
    func flips() {
        let img = syntheticImage(width: 7, height: 5)
        let h = img.flippedHorizontally(), v = img.flippedVertically()
        for y in 0..<5 {
            for x in 0..<7 {
                #expect(h[x: x, y: y] == img[x: 6 - x, y: y])
                #expect(v[x: x, y: y] == img[x: x, y: 4 - y])
            }
        }
        #expect(h.flippedHorizontally() == img)
        #expect(v.flippedVertically() == img)
        let f = img.normalized(.imagenet)
        #expect(f.flippedHorizontally() == img.flippedHorizontally().normalized(.imagenet))
    }

    @Test("rotation by multiples of 90° is an exact transposition")
    func rotate90() {
        let sq = syntheticImage(width: 6, height: 6, seed: 3)
        let r90 = sq.rotated(degrees: 90)
        for y in 0..<6 {
            for x in 0..<6 {
                // Counter-clockwise: the input's right column becomes the output's top row.
                #expect(r90[x: x, y: y] == sq[x: 5 - y, y: x])
            }
        }
        #expect(sq.rotated(degrees: -270) == r90)
        #expect(r90.rotated(degrees: 90).rotated(degrees: 90).rotated(degrees: 90) == sq)
        #expect(sq.rotated(degrees: 360) == sq)
        let wide = syntheticImage(width: 8, height: 5, seed: 4)
        #expect(wide.rotated(degrees: 180) == wide.flippedHorizontally().flippedVertically())
        #expect(wide.rotated(degrees: 180, interpolation: .nearest).rotated(degrees: 180) == wide)
    }

    @Test("colour adjustments with the neutral factor are the identity")
    func neutralJitter() {
        let img = syntheticImage(width: 9, height: 7, seed: 5)
        #expect(img.adjustingBrightness(1) == img)
        #expect(img.adjustingContrast(1) == img)
        #expect(img.adjustingSaturation(1) == img)
        #expect(img.adjustingSharpness(1) == img)
        #expect(img.adjustingHue(0) == img)
        var jitter = ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1)
        jitter.brightness = 1...1
        jitter.contrast = 1...1
        jitter.saturation = 1...1
        jitter.hue = 0...0
        var g = SeededGenerator(seed: 9)
        for _ in 0..<5 { #expect(jitter.apply(img, generator: &g) == img) }
        // Factor 0 of saturation is greyscale; brightness 0 is black.
        #expect(img.adjustingSaturation(0) == img.grayscale())
        #expect(img.adjustingBrightness(0).pixels.allSatisfy { $0 == 0 })
    }

    @Test("random resized crop and random erasing boxes stay inside the image")
    func boxesInBounds() {
        let rrc = RandomResizedCrop(32)
        let erase = RandomErasing(probability: 1)
        var g = SeededGenerator(seed: 11)
        for trial in 0..<2000 {
            let w = 1 + g.nextInt(below: 300), h = 1 + g.nextInt(below: 300)
            let box = rrc.sampleBox(width: w, height: h, generator: &g)
            #expect(box.isInside(width: w, height: h), "trial \(trial): \(box) outside \(w)×\(h)")
            if let e = erase.sampleBox(width: w, height: h, generator: &g) {
                #expect(e.width < w && e.height < h && e.x >= 0 && e.y >= 0 && e.x + e.width <= w && e.y + e.height <= h)
            }
        }
        // An extreme aspect ratio takes the centre fallback, clamped to the ratio range.
        let box = rrc.sampleBox(width: 1000, height: 10, generator: &g)
        #expect(box == CropBox(x: 493, y: 0, width: 13, height: 10))
        // Output size.
        let out = rrc.apply(syntheticImage(width: 50, height: 40), generator: &g)
        #expect(out.width == 32 && out.height == 32)
    }

    @Test("TrivialAugmentWide's magnitude bins are torchvision's (float32 linspace)")
    func trivialAugmentBins() {
        let ta = TrivialAugmentWide()
        let t = ta.magnitudes(.translateX)
        #expect(t.count == 31)
        #expect(t[1] == Double(Float(1.0666667222976685)))
        #expect(t[15] == 15.999999046325684)  // so int(m) is 15, as in torchvision
        #expect(t[30] == 32)
        #expect(ta.magnitudes(.rotate)[1] == 4.5)
        #expect(ta.magnitudes(.shearX)[29] == Double(Float(0.9570000171661377)))
        #expect(ta.magnitudes(.posterize).prefix(4) == [8, 8, 8, 7])
        #expect(ta.magnitudes(.posterize).last == 2)
        #expect(ta.magnitudes(.solarize)[1] == 246.5)
        #expect(ta.magnitudes(.identity).isEmpty)
        // Every operation is reached, with both signs for signed ones.
        var g = SeededGenerator(seed: 2)
        var seen = Set<String>(), negative = false
        for _ in 0..<2000 {
            let (op, m) = ta.sample(generator: &g)
            seen.insert(op.rawValue)
            if m < 0 { negative = true }
        }
        #expect(seen.count == 14)
        #expect(negative)
        // Every operation keeps the size.
        let img = syntheticImage(width: 21, height: 13)
        for op in TrivialAugmentWide.Operation.allCases {
            for m in [ta.magnitudes(op).last ?? 0, -(ta.magnitudes(op).dropFirst().first ?? 0)] {
                let out = ta.apply(op, magnitude: op == .posterize || op == .solarize ? abs(m) : m, to: img)
                #expect(out.width == 21 && out.height == 13, "\(op)")
            }
        }
    }

    @Test("pipelines are deterministic for a seed and differ between seeds, epochs and samples")
    func determinism() {
        let img = syntheticImage(width: 64, height: 48, seed: 8)
        let pipeline = ImagePipeline.training(.strong, size: 32)
        let a = pipeline.apply(img, seed: 42, epoch: 0, index: 3)
        let b = pipeline.apply(img, seed: 42, epoch: 0, index: 3)
        #expect(a == b)
        #expect(a.channels == 3 && a.height == 32 && a.width == 32)
        var distinct = Set<[Float]>()
        for s in 0..<6 { distinct.insert(pipeline.apply(img, seed: UInt64(s), epoch: 0, index: 3).data) }
        #expect(distinct.count == 6)
        #expect(pipeline.apply(img, seed: 42, epoch: 1, index: 3) != a)
        #expect(pipeline.apply(img, seed: 42, epoch: 0, index: 4) != a)
        // Every random transform on its own is deterministic too.
        let transforms: [any ImageTransform] = [
            RandomResizedCrop(24), RandomHorizontalFlip(), RandomVerticalFlip(), RandomRotation(30),
            RandomAffine(degrees: -10...10, translate: (0.1, 0.1), scale: 0.9...1.1, shearX: -5...5),
            ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1), RandomGrayscale(probability: 0.5),
            GaussianBlur(kernelSize: 5), TrivialAugmentWide(),
        ]
        for t in transforms {
            var g1 = SeededGenerator.forSample(seed: 7, epoch: 2, index: 5)
            var g2 = SeededGenerator.forSample(seed: 7, epoch: 2, index: 5)
            #expect(t.apply(img, generator: &g1) == t.apply(img, generator: &g2), "\(t)")
        }
        // The evaluation pipeline has no randomness at all.
        let eval = ImagePipeline.evaluation(size: 32)
        #expect(eval.apply(img, seed: 1, epoch: 0, index: 0) == eval.apply(img, seed: 2, epoch: 5, index: 9))
    }

    @Test("policies: what each one runs and the JPEG decode size it asks for")
    func policies() {
        #expect(ImagePipeline.training(.none, size: 224).decodeTarget == .shorterSide(256))
        // ⌈224 / √(0.35 · 3/4)⌉ = 438: the smallest light crop still spans 224 source pixels.
        #expect(ImagePipeline.training(.light, size: 224).decodeTarget == .shorterSide(438))
        #expect(ImagePipeline.training(.strong, size: 224).transforms.count == 3)
        #expect(ImagePipeline.training(.strong, size: 224).floatTransforms.count == 1)
        #expect(ImagePipeline.training(.light, size: 160).description.contains("RandomResizedCrop(160, scale=(0.35, 1)"))
        #expect(AugmentationPolicy(rawValue: "strong") == .strong)
    }

    @Test("random erasing sets a box to the value and leaves the rest")
    func erasing() {
        let img = syntheticImage(width: 20, height: 16).normalized(.imagenet)
        var g = SeededGenerator(seed: 4)
        let out = RandomErasing(probability: 1, value: [0]).apply(img, generator: &g)
        let changed = zip(out.data, img.data).filter { $0 != $1 }.count
        #expect(changed > 0)
        #expect(out.data.filter { $0 == 0 }.count >= changed)
        var g2 = SeededGenerator(seed: 4)
        #expect(RandomErasing(probability: 0).apply(img, generator: &g2) == img)
    }

    @Test("mixup and cutmix targets sum to 1 and mix images in the same proportion")
    func mixing() {
        let n = 5, k = 4
        let images = Tensor(shape: [n, 3, 8, 8], data: (0..<(n * 192)).map { Float($0 / 192) })  // image i is all i
        let targets = BatchMixing.oneHot([0, 1, 2, 3, 1], classCount: k)
        var g = SeededGenerator(seed: 3)
        for mixing in [BatchMixing.mixup(alpha: 1), .cutmix(alpha: 1), .mixupOrCutmix(mixupAlpha: 0.2, cutmixAlpha: 1)] {
            for _ in 0..<20 {
                let m = mixing.apply(images: images, targets: targets, generator: &g)
                #expect(m.lambda >= 0 && m.lambda <= 1)
                let t = m.targets.toArray()
                for i in 0..<n {
                    let row = t[(i * k)..<((i + 1) * k)]
                    #expect(abs(row.reduce(0, +) - 1) < 1e-6)
                }
                // Sample i's mean pixel is λ·i + (1 − λ)·(i − 1 mod n) in both cases.
                let x = m.images.toArray()
                for i in 0..<n {
                    let mean = x[(i * 192)..<((i + 1) * 192)].reduce(0, +) / 192
                    let j = (i + n - 1) % n
                    let expected = Float(m.lambda) * Float(i) + Float(1 - m.lambda) * Float(j)
                    #expect(abs(mean - expected) < 1e-4, "\(mixing) sample \(i)")
                }
            }
        }
        // Cutmix's box is pasted from the previous sample.
        let c = BatchMixing.cutmix(images: images, targets: targets, box: CropBox(x: 2, y: 1, width: 4, height: 4))
        #expect(c.lambda == 1 - 16.0 / 64)
        let x = c.images.toArray()
        #expect(x[(1 * 3 * 64) + 1 * 8 + 2] == 0)  // sample 1, channel 0, (2, 1) came from sample 0
        #expect(x[(1 * 3 * 64) + 0] == 1)
    }

    @Test("derived generators: Beta(1, 1) is uniform, Gamma has the right mean, permutations are permutations")
    func generators() {
        var g = SeededGenerator(seed: 1)
        let betas = (0..<4000).map { _ in g.nextBeta(1, 1) }
        let mean = betas.reduce(0, +) / Double(betas.count)
        #expect(abs(mean - 0.5) < 0.03)
        #expect(betas.allSatisfy { $0 >= 0 && $0 <= 1 })
        let gammas = (0..<4000).map { _ in g.nextGamma(shape: 0.4) }
        #expect(abs(gammas.reduce(0, +) / 4000 - 0.4) < 0.05)
        #expect(g.permutation(50).sorted() == Array(0..<50))
        let a = SeededGenerator.forSample(seed: 1, epoch: 0, index: 0), b = SeededGenerator.forSample(seed: 1, epoch: 0, index: 1)
        var a1 = a, b1 = b
        #expect(a1.next() != b1.next())
    }
}
