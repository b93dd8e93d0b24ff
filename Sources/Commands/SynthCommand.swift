import ArgumentParser
import Datasets
import Foundation
import Kernels

/// `simclr synth`: writes the synthetic shapes dataset in CIFAR-10's (or, at 96 px, STL-10's) binary layout.
struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write the synthetic shapes dataset in CIFAR-10 binary layout.",
        discussion: """
        Ten classes of shapes and patterns (circle, square, triangle, cross, ring, horizontal and vertical \
        stripes, checkerboard, line, two dots) drawn in random colours at random position, scale and rotation \
        over textured gradient backgrounds: colour alone does not give the class. Image i of a split depends \
        only on (seed, split, i).

        At --image-size 32 the files are DIR/cifar-10-batches-bin/{data_batch_1..k.bin, test_batch.bin, \
        batches.meta.txt} (k = train count / 10000, 1 to 5 files, as the official layout); at 96 they are \
        DIR/stl10_binary/{train_X.bin, train_y.bin, test_X.bin, test_y.bin, class_names.txt}. Read them with \
        --data DIR. With --format folder the images are PNG files of any --image-size in \
        DIR/train/<class>/<i>.png and DIR/test/<class>/<i>.png (read them with --data DIR/train).

        Example:
          simclr synth --out data/shapes --train-count 5000 --test-count 1000
          simclr pretrain --data data/shapes --out runs/shapes
        """)

    @Option(help: ArgumentHelp("Output directory (created if needed).", valueName: "dir"))
    var out: String

    @Option(help: "Number of classes, 1...10 (label of image i is i % classes).")
    var classes = SyntheticFiles().classes

    @Option(help: "Training images.")
    var trainCount = SyntheticFiles().trainCount

    @Option(help: "Test images.")
    var testCount = SyntheticFiles().testCount

    @Option(help: "Image side: 32 (CIFAR-10 layout) or 96 (STL-10 layout).")
    var imageSize = SyntheticFiles().imageSize

    @Option(help: "binary (CIFAR-10/STL-10 files) or folder (PNG files, one subfolder per class).")
    var format = SyntheticFiles().layout

    @Option(help: "Seed: the same seed gives the same files.")
    var seed = SyntheticFiles().seed

    @Option(help: "Generation threads (default: the cores this process may run on).")
    var threads: Int?

    func validate() throws {
        try SettingFlags.validate(files.validate)
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The flags as the library's request.
    private var files: SyntheticFiles {
        var files = SyntheticFiles()
        (files.layout, files.classes, files.trainCount, files.testCount) = (format, classes, trainCount, testCount)
        (files.imageSize, files.seed) = (imageSize, seed)
        return files
    }

    func run() throws {
        _ = BLASSetup.applyThreads(threads)
        let outPath = DataSelection.expand(out)
        try files.write(to: outPath).lines.forEach { print($0) }
        print("read it with: --data \(outPath)" + (format == .folder ? "/train --resize-to \(imageSize)" : ""))
    }
}
