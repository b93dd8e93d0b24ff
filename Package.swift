// swift-tools-version:5.10
// SimCLR with ResNet-18, data-parallel over MPI.
// Dependency direction: CBLAS/CMPI <- Kernels <- NeuralNet <- (cluster, data) <- SimCLR <- simclr (CLI).
import PackageDescription

// Numeric loops are written with unsafe pointers already; exclusivity checks only cost time there.
let fastMath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "SimCLRSwift",
    products: [
        .executable(name: "simclr", targets: ["simclr"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // C half of the kernels: oneDNN convolutions, AVX-512 element-wise kernels, bf16, cpuid.
        .target(name: "CKernels", linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        .target(name: "Kernels", dependencies: ["CBLAS", "CKernels"], swiftSettings: fastMath),
        // PNG and JPEG decoding over the system's libpng and libjpeg-turbo (error handling needs C's setjmp).
        .target(name: "ImageCodecs", linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        .target(name: "NeuralNet", dependencies: ["Kernels"], swiftSettings: fastMath),
        .target(name: "Optimizers", dependencies: ["Kernels"], swiftSettings: fastMath),
        .target(name: "Contrastive", dependencies: ["Kernels"], swiftSettings: fastMath),
        .target(name: "Datasets", dependencies: ["Kernels", "ImageCodecs"], swiftSettings: fastMath),
        // Step timelines: spans per thread, written as Chrome trace JSON (no dependencies).
        .target(name: "Tracing"),
        .target(name: "Cluster", dependencies: ["CMPI", "Kernels", "NeuralNet", "Tracing"], swiftSettings: fastMath),
        // The latency-bandwidth scaling model: collective costs fitted to size sweeps, a step's measured
        // timeline replayed against them, predictions past what this machine can run.
        .target(name: "ScalingModel", dependencies: ["Cluster"]),
        .executableTarget(name: "cluster-check", dependencies: ["Cluster", "Kernels", "NeuralNet", "Tracing"], swiftSettings: fastMath),
        // The files a run directory holds (results.json, metrics.csv rows), shared by the writers and the reports.
        .target(name: "RunFiles"),
        // Reports: SVG charts (no dependencies), run reports and t-SNE (Kernels for BLAS and threads).
        .target(name: "SVG"),
        .target(name: "Reports", dependencies: ["SVG", "Kernels", "RunFiles"], swiftSettings: fastMath),
        // TensorBoard event files (TFRecord + hand-encoded protobuf; no dependencies).
        .target(name: "TensorBoard"),
        .target(name: "SimCLR", dependencies: ["NeuralNet", "Kernels", "Optimizers", "Contrastive", "Datasets", "Cluster",
                                              "RunFiles", "TensorBoard", "Reports"],
                swiftSettings: fastMath),
        .executableTarget(name: "simclr", dependencies: [
            "SimCLR", "NeuralNet", "Kernels", "Optimizers", "Contrastive", "Datasets", "CMPI", "Reports", "SVG", "RunFiles",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/SimCLRTool", swiftSettings: fastMath),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Kernels", "Contrastive", "Optimizers"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Kernels"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ContrastiveTests", dependencies: ["Contrastive", "Kernels"],
                    resources: [.copy("Fixtures")]),
        // Helpers shared by the tests that run the built tools as processes (not part of any product).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SimCLRTests", dependencies: ["SimCLR", "NeuralNet", "Datasets", "Kernels", "Optimizers",
                                                        "Cluster", "Contrastive", "TestSupport", "RunFiles", "Reports"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Kernels", "TestSupport"]),
        .testTarget(name: "TracingTests", dependencies: ["Tracing"]),
        .testTarget(name: "ScalingModelTests", dependencies: ["ScalingModel"]),
        .testTarget(name: "CLITests", dependencies: ["Datasets", "NeuralNet", "Kernels", "TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "SVG", "Kernels", "Datasets", "TestSupport", "RunFiles"]),
        .testTarget(name: "RunFilesTests", dependencies: ["RunFiles"]),
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Kernels"],
                    resources: [.copy("Fixtures")]),
    ]
)
