// swift-tools-version:5.10
// SimCLR with ResNet-18, data-parallel over MPI.
import PackageDescription

// One direction of dependency. A target depends only on targets of lower layers (never on one of its own
// layer); Tests/RepositoryTests fails when a dependency below or an `import` in Sources/ goes against this list.
// docs/README.md draws the same picture.
let layers: [[String]] = [
    ["CBLAS", "CMPI", "CKernels", "ImageCodecs", "SVG", "TensorBoard", "RunFiles", "Tracing"],  // C libraries; leaf formats; spans
    ["Kernels"],                                                   // tensors, BLAS, convolutions, threads
    ["NeuralNet", "Optimizers", "Contrastive", "Datasets", "Cluster"],  // network, updates, losses, data, MPI
    ["Checkpoints", "Reports", "ScalingModel", "Runs"],            // checkpoint file (no MPI); reports; scaling model; around a run
    ["Training", "Evaluation"],                                    // the engine: data-parallel step, loop; frozen-encoder evaluation
    ["Pretraining", "Classification"],                             // the methods
    ["Studies", "Benchmarks"],                                     // compare and sweep: runs of the tool; bench
    ["Commands"],                                                  // the commands: flags -> settings -> library
    ["simclr", "cluster-check"],                                   // executables
]

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
        .target(name: "NeuralNet", dependencies: ["Kernels", "Tracing"], swiftSettings: fastMath),
        .target(name: "Optimizers", dependencies: ["Kernels"], swiftSettings: fastMath),
        .target(name: "Contrastive", dependencies: ["Kernels"], swiftSettings: fastMath),
        .target(name: "Datasets", dependencies: ["Kernels", "ImageCodecs"], swiftSettings: fastMath),
        // Step timelines: spans per thread, written as Chrome trace JSON (no dependencies).
        .target(name: "Tracing"),
        .target(name: "Cluster", dependencies: ["CMPI", "CKernels", "Kernels", "Tracing"], swiftSettings: fastMath),
        // The latency-bandwidth scaling model: collective costs fitted to size sweeps, a step's measured
        // timeline replayed against them, predictions past what this machine can run.
        .target(name: "ScalingModel", dependencies: ["Cluster", "SVG", "Tracing"]),
        // The files a run directory holds (results.json, metrics.csv rows), shared by the writers and the reports.
        .target(name: "RunFiles"),
        // Reports: SVG charts (no dependencies), run reports and t-SNE (Kernels for BLAS and threads).
        .target(name: "SVG"),
        .target(name: "Reports", dependencies: ["SVG", "Kernels", "Datasets", "RunFiles"], swiftSettings: fastMath),
        // TensorBoard event files (TFRecord + hand-encoded protobuf; no dependencies).
        .target(name: "TensorBoard"),
        // The checkpoint file: model, optimizer state, position and attachments in one checksummed safetensors
        // file. No MPI, so deploy/fuzz.sh builds it as a module of its own.
        .target(name: "Checkpoints", dependencies: ["Kernels", "NeuralNet", "Optimizers", "Datasets"],
                swiftSettings: fastMath),
        // What every run of the tool has around its work: the MPI job and its exit status, the console and
        // progress lines, the run directory's claim, config.json and metrics.csv, the errors that end a run,
        // the memory a step will need, the encoder a command builds.
        .target(name: "Runs", dependencies: ["Kernels", "NeuralNet", "Optimizers", "Datasets", "Cluster",
                                             "RunFiles", "TensorBoard"]),
        // The training engine: the data-parallel step's machinery (SyncBN, gathers, gradient buckets, step
        // totals), the training loop, stop policies, checkpoints and resuming.
        .target(name: "Training", dependencies: ["Kernels", "NeuralNet", "Optimizers", "Datasets", "Cluster",
                                                 "Checkpoints", "RunFiles", "Runs", "Tracing"],
                swiftSettings: fastMath),
        // Frozen-encoder evaluation: features, linear probe, kNN, label fractions, results.json.
        .target(name: "Evaluation", dependencies: ["Kernels", "NeuralNet", "Optimizers", "Datasets", "Cluster",
                                                   "RunFiles", "Runs"],
                swiftSettings: fastMath),
        // Contrastive pretraining methods: SimCLR (with multi-crop) and MoCo v2, their settings and steps.
        .target(name: "Pretraining", dependencies: ["Kernels", "NeuralNet", "Optimizers", "Contrastive", "Datasets",
                                                    "Cluster", "Checkpoints", "RunFiles", "Training", "Evaluation", "Tracing", "Runs"],
                swiftSettings: fastMath),
        // The supervised baseline and fine-tuning.
        .target(name: "Classification", dependencies: ["Kernels", "NeuralNet", "Optimizers", "Datasets", "Cluster",
                                                       "Checkpoints", "RunFiles", "Training", "Evaluation", "Tracing", "Runs"],
                swiftSettings: fastMath),
        // `compare` and `sweep`: plans of tool runs, run as child processes, and their tables.
        .target(name: "Studies", dependencies: ["Kernels", "NeuralNet", "Contrastive", "RunFiles", "Reports", "Runs", "Pretraining"]),
        // `simclr bench`: training steps timed through the data-parallel step, and where the time goes.
        .target(name: "Benchmarks", dependencies: ["Kernels", "NeuralNet", "Optimizers", "Contrastive", "Datasets", "Cluster",
                                                   "Training", "Pretraining", "Tracing", "ScalingModel", "Runs"],
                swiftSettings: fastMath),
        // The commands of the `simclr` tool (a library, so tests can reach them).
        .target(name: "Commands", dependencies: [
            "Kernels", "NeuralNet", "Optimizers", "Contrastive", "Datasets", "Cluster", "RunFiles", "SVG", "Reports",
            "Checkpoints", "Runs", "Training", "Evaluation", "Pretraining", "Classification", "Studies", "Benchmarks",
            "ScalingModel", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fastMath),
        .executableTarget(name: "simclr", dependencies: ["Commands", "Kernels"]),
        .executableTarget(name: "cluster-check", dependencies: ["Cluster", "Kernels", "NeuralNet", "Training", "Tracing"],
                          swiftSettings: fastMath),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Kernels", "Contrastive", "Optimizers"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Kernels"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ContrastiveTests", dependencies: ["Contrastive", "Kernels"],
                    resources: [.copy("Fixtures")]),
        // Helpers shared by the tests that run the built tools as processes (not part of any product).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SimCLRTests", dependencies: ["Checkpoints", "Runs", "Training", "Evaluation", "Pretraining",
                                                        "Classification", "Studies", "NeuralNet", "Datasets", "Kernels",
                                                        "Optimizers", "Cluster", "Contrastive", "TestSupport", "RunFiles",
                                                        "Reports"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Kernels", "TestSupport", "Tracing"]),
        .testTarget(name: "TracingTests", dependencies: ["Tracing"]),
        .testTarget(name: "ScalingModelTests", dependencies: ["ScalingModel", "Tracing"]),
        .testTarget(name: "CLITests", dependencies: ["Commands", "Datasets", "NeuralNet", "Kernels", "Pretraining", "RunFiles", "TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "SVG", "Kernels", "Datasets", "TestSupport", "RunFiles"]),
        .testTarget(name: "RunFilesTests", dependencies: ["RunFiles"]),
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Kernels"],
                    resources: [.copy("Fixtures")]),
        // The repository itself: the layers above (every dependency and import in Sources/), the design notes that
        // comments name, docs/README.md's step table.
        .testTarget(name: "RepositoryTests"),
    ]
)
