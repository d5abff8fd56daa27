// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "TransferKit",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "Layers", targets: ["Layers"]),
        .library(name: "Assets", targets: ["Assets"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Checkpoints", targets: ["Checkpoints"]),
        .library(name: "Optimizers", targets: ["Optimizers"]),
        .library(name: "TransferKit", targets: ["TransferKit"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "HeadFitting", targets: ["HeadFitting"]),
        .library(name: "Tuning", targets: ["Tuning"]),
        .executable(name: "transfer", targets: ["transfer"]),
        .executable(name: "transfer-bench", targets: ["transfer-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CDNNL", path: "Sources/CDNNL",
            providers: [.apt(["libdnnl-dev"])]),
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "Tensors", dependencies: ["CBLAS", "CDNNL", "CKernels"]),
        .target(name: "Optimizers", dependencies: ["Tensors", "CKernels"]),
        .target(name: "TransferKit", dependencies: ["Tensors", "Layers", "Optimizers", "Models", "Datasets", "Checkpoints"]),
        .target(name: "Reports", dependencies: ["TransferKit", "Datasets", "Tensors"]),
        .target(name: "HeadFitting", dependencies: ["TransferKit", "Tensors", "CBLAS"]),
        .target(name: "Tuning", dependencies: ["HeadFitting", "TransferKit", "Tensors", "Datasets"]),
        .target(name: "Checkpoints", dependencies: ["Tensors", "CZlib"]),
        .systemLibrary(
            name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(
            name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng16",
            providers: [.apt(["libpng-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CImageCodec", dependencies: ["CJPEG", "CPNG"], path: "Sources/CImageCodec"),
        .target(name: "Datasets", dependencies: ["Tensors", "Assets", "Checkpoints", "CImageCodec", "CJPEG", "CPNG", "CZlib"]),
        .target(name: "Layers", dependencies: ["Tensors"]),
        .target(name: "Assets", dependencies: ["Checkpoints"]),
        .target(name: "Models", dependencies: ["Tensors", "Layers", "Checkpoints", "Assets"]),
        .executableTarget(
            name: "transfer",
            dependencies: ["Tensors", "Assets", "Checkpoints", "Models", "TransferKit", "Reports", "Datasets", "HeadFitting", "Tuning", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "transfer-bench",
            dependencies: ["Tensors", "Layers", "Optimizers", "Datasets", "Models", "TransferKit", "CBLAS", "CDNNL", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "consistency-example", dependencies: ["TransferKit", "Models", "Datasets", "Tensors"],
            path: "Examples/ConsistencyTraining"),
        .target(name: "TestSupport", path: "Tests/Support"),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Tensors", "Checkpoints"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Layers", "Tensors", "Checkpoints"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AssetsTests", dependencies: ["Assets", "Checkpoints"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TransferKitTests", dependencies: ["TestSupport", "TransferKit", "Reports", "Tensors", "Layers", "Optimizers", "Datasets", "Checkpoints"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HeadFittingTests", dependencies: ["TestSupport", "HeadFitting", "TransferKit", "Tensors", "Datasets", "Models"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TuningTests", dependencies: ["Tuning", "HeadFitting", "TransferKit", "Tensors"]),
        .testTarget(name: "TransferCLITests", dependencies: ["transfer", "Datasets", "TransferKit", "Models", "Checkpoints", "HeadFitting"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "Checkpoints", "CKernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointsTests", dependencies: ["TestSupport", "Checkpoints", "Tensors"], resources: [.copy("Fixtures")]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Tensors", "Checkpoints"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetsTests", dependencies: ["TestSupport", "Datasets", "Tensors"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
