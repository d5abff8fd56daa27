import Foundation
import Tensors

/// Fashion-MNIST (Zalando; 28×28 greyscale clothing images, 10 classes) read from the IDX files of the Debian
/// package `dataset-fashion-mnist`: `/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`
/// (60,000 training and 10,000 test images).
public struct FashionMNIST: Dataset {
    /// Which of the two files sets to read.
    public enum Split: String, Sendable, Equatable {
        /// 60,000 images (`train-*`).
        case train
        /// 10,000 images (`t10k-*`).
        case test

        var filePrefix: String { self == .train ? "train" : "t10k" }
    }

    /// The class names in label order (0 = T-shirt/top … 9 = Ankle boot), as in torchvision's `FashionMNIST.classes`.
    public static let labelNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                    "Sneaker", "Bag", "Ankle boot"]
    /// Where Debian installs the files.
    public static let systemDirectory = "/usr/share/datasets/fashion-mnist"
    /// An environment variable that, when set, names the folder to read instead of ``systemDirectory``.
    public static let environmentVariable = "TRANSFERKIT_FASHION_MNIST"
    /// Images are `imageSide × imageSide` (28).
    public static let imageSide = 28

    public let split: Split
    /// The folder the files were read from.
    public let directory: String
    /// `count × 28 × 28` bytes, row-major, 0 = background.
    public let pixels: [UInt8]
    /// Labels 0…9.
    public let labels: [Int]
    public let samples: [Sample]
    public var classNames: [String] { Self.labelNames }
    public var task: TaskKind { .classification }

    /// Reads one split. `directory` defaults to `$TRANSFERKIT_FASHION_MNIST`, else ``systemDirectory``. Each file is
    /// looked for gzip-compressed (`.gz`) first, then uncompressed. A missing file throws `.datasetNotInstalled`
    /// naming the path and the fix; a malformed one `.malformedIDX`.
    public init(split: Split, directory: String? = nil) throws(DatasetError) {
        let dir = directory ?? ProcessInfo.processInfo.environment[Self.environmentVariable] ?? Self.systemDirectory
        let imagesPath = try Self.locate(dir, "\(split.filePrefix)-images-idx3-ubyte")
        let labelsPath = try Self.locate(dir, "\(split.filePrefix)-labels-idx1-ubyte")
        let images = try IDX.read(path: imagesPath)
        let labelFile = try IDX.read(path: labelsPath)
        let side = Self.imageSide
        guard images.elementType == .uint8, images.dimensions.count == 3,
              images.dimensions[1] == side, images.dimensions[2] == side else {
            throw .malformedIDX(path: imagesPath, reason: "expected unsigned bytes of shape [N, 28, 28], found \(images.elementType) \(images.dimensions)")
        }
        guard labelFile.elementType == .uint8, labelFile.dimensions.count == 1 else {
            throw .malformedIDX(path: labelsPath, reason: "expected unsigned bytes of shape [N], found \(labelFile.elementType) \(labelFile.dimensions)")
        }
        guard labelFile.dimensions[0] == images.dimensions[0] else {
            throw .malformedIDX(path: labelsPath, reason: "\(labelFile.dimensions[0]) labels for \(images.dimensions[0]) images in \(imagesPath)")
        }
        if let bad = labelFile.data.firstIndex(where: { $0 >= 10 }) {
            throw .malformedIDX(path: labelsPath, reason: "label \(labelFile.data[bad]) at index \(bad) is outside 0…9")
        }
        self.split = split
        self.directory = dir
        self.pixels = images.data
        self.labels = labelFile.data.map(Int.init)
        self.samples = labels.enumerated().map { Sample(source: .index($0.offset), target: .classIndex($0.element)) }
    }

    private static func locate(_ dir: String, _ name: String) throws(DatasetError) -> String {
        let gz = FileIO.join(dir, name + ".gz")
        if FileManager.default.fileExists(atPath: gz) { return gz }
        let plain = FileIO.join(dir, name)
        if FileManager.default.fileExists(atPath: plain) { return plain }
        throw .datasetNotInstalled(
            path: gz,
            fix: "install the Debian package with `sudo apt-get install dataset-fashion-mnist` (or run `make setup`), "
                + "or set \(environmentVariable) to a folder holding \(name).gz")
    }

    /// All images as a `[N, 1, 28, 28]` tensor of values x / 255 in 0…1 (torchvision's `ToTensor()`).
    public func imagesTensor() -> Tensor {
        Tensor(shape: [count, 1, Self.imageSide, Self.imageSide], data: pixels.map { Float($0) / 255 })
    }

    /// Image `index` as a `[1, 28, 28]` tensor of values in 0…1.
    public func load(_ index: Int) throws(DatasetError) -> Tensor {
        try checkIndex(index)
        let n = Self.imageSide * Self.imageSide
        return Tensor(shape: [1, Self.imageSide, Self.imageSide], data: pixels[(index * n)..<((index + 1) * n)].map { Float($0) / 255 })
    }

    /// Image `index` as an RGB image (grey replicated), e.g. for writing a PNG grid.
    public func rgbImage(_ index: Int) -> RGBImage {
        precondition(index >= 0 && index < count, "FashionMNIST.rgbImage: index \(index) outside 0..<\(count)")
        let n = Self.imageSide * Self.imageSide
        var rgb = [UInt8](repeating: 0, count: n * 3)
        for i in 0..<n {
            let v = pixels[index * n + i]
            rgb[3 * i] = v
            rgb[3 * i + 1] = v
            rgb[3 * i + 2] = v
        }
        return RGBImage(width: Self.imageSide, height: Self.imageSide, pixels: rgb)
    }
}
