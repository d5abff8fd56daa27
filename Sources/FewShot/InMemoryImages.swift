import Datasets
import Foundation
import Tensors

/// Small greyscale images held in memory (e.g. Fashion-MNIST) turned into inputs of an ImageNet-pretrained CNN:
/// resized bilinearly to `size` × `size`, the grey channel replicated to RGB, and normalised as the model expects.
public struct InMemoryImages: Sendable {
    /// `[count, side, side]` values in 0…1, row-major.
    public let pixels: [Float]
    public let side: Int
    public let labels: [Int]
    /// The side of the model inputs.
    public let size: Int
    public let normalization: Normalization

    public init(pixels: [Float], side: Int, labels: [Int], size: Int, normalization: Normalization) {
        precondition(pixels.count == labels.count * side * side, "InMemoryImages: \(pixels.count) values for \(labels.count) images of \(side)²")
        self.pixels = pixels; self.side = side; self.labels = labels; self.size = size; self.normalization = normalization
    }

    /// `perClass` images of each of `classes` from a Fashion-MNIST split (the first ones after a seeded shuffle).
    public static func fashionMNIST(_ split: FashionMNIST.Split, classes: [Int], perClass: Int, size: Int,
                                    normalization: Normalization, seed: UInt64, directory: String? = nil) throws -> InMemoryImages {
        let data = try FashionMNIST(split: split, directory: directory)
        var g = SeededGenerator(seed: seed)
        let n = FashionMNIST.imageSide * FashionMNIST.imageSide
        var pixels: [Float] = [], labels: [Int] = []
        for c in classes {
            let rows = data.labels.indices.filter { data.labels[$0] == c }.shuffled(using: &g).prefix(perClass)
            for r in rows {
                pixels += data.pixels[(r * n)..<((r + 1) * n)].map { Float($0) / 255 }
                labels.append(c)
            }
        }
        return InMemoryImages(pixels: pixels, side: FashionMNIST.imageSide, labels: labels, size: size, normalization: normalization)
    }

    public var count: Int { labels.count }

    /// Model inputs `[idx.count, 3, size, size]` of images `idx`.
    public func batch(_ idx: [Int]) -> Tensor {
        let n = side * side
        var v = [Float](); v.reserveCapacity(idx.count * n)
        for i in idx { v += pixels[(i * n)..<((i + 1) * n)] }
        var x = Tensor(shape: [idx.count, 1, side, side], data: v)
        if size != side { x = x.upsample(size: (size, size), mode: .bilinear) }
        let grey = x.toArray(), m = size * size, nz = normalization
        var out = [Float](repeating: 0, count: idx.count * 3 * m)
        for b in 0..<idx.count {
            for c in 0..<3 {
                for p in 0..<m { out[(b * 3 + c) * m + p] = (grey[b * m + p] * 255 / nz.divisor - nz.mean[c]) / nz.std[c] }
            }
        }
        return Tensor(shape: [idx.count, 3, size, size], data: out)
    }
}
