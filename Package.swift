// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "TransferKit",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "Layers", targets: ["Layers"]),
        .library(name: "Checkpoints", targets: ["Checkpoints"]),
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
        .target(name: "Checkpoints", dependencies: ["Tensors"]),
        .target(name: "Layers", dependencies: ["Tensors"]),
        .executableTarget(
            name: "transfer",
            dependencies: ["Tensors", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "transfer-bench",
            dependencies: ["Tensors", "CBLAS", "CDNNL", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "Tensors", "Checkpoints"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TransferCLITests", dependencies: ["transfer"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "Checkpoints", "CKernels"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Tensors"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
