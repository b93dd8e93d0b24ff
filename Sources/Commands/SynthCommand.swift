import ArgumentParser
import Datasets
import Foundation

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
    var classes = 10

    @Option(help: "Training images.")
    var trainCount = SyntheticShapes.defaultTrainCount

    @Option(help: "Test images.")
    var testCount = SyntheticShapes.defaultTestCount

    @Option(help: "Image side: 32 (CIFAR-10 layout) or 96 (STL-10 layout).")
    var imageSize = 32

    @Option(help: "binary (CIFAR-10/STL-10 files) or folder (PNG files, one subfolder per class).")
    var format: SyntheticLayout = .binary

    @Option(help: "Seed: the same seed gives the same files.")
    var seed: UInt64 = 0

    @Option(help: "Generation threads (default: the cores this process may run on).")
    var threads: Int?

    func validate() throws {
        guard (1...SyntheticShapes.classNames.count).contains(classes) else {
            throw ValidationError("--classes \(classes) must lie in 1...\(SyntheticShapes.classNames.count)")
        }
        guard trainCount >= 1, testCount >= 1 else {
            throw ValidationError("--train-count and --test-count must be at least 1")
        }
        guard format == .folder || imageSize == CIFAR10.imageSize || imageSize == STL10.imageSize else {
            throw ValidationError("--image-size \(imageSize): the CIFAR-10 layout holds 32x32 images and the "
                                  + "STL-10 layout 96x96; other sizes have no file format here")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        _ = applyThreads(threads)
        let outPath = DataSelection.expand(out)
        let start = Date()
        let written = try SyntheticShapes.write(to: outPath, layout: format, classes: classes, trainCount: trainCount,
                                                testCount: testCount, imageSize: imageSize, seed: seed)
        written.notes.forEach { print($0) }
        if format == .folder {
            print("synthetic shapes: \(classes) classes, \(trainCount) train + \(testCount) test PNG images, "
                  + "\(imageSize)x\(imageSize), seed \(seed), in \(outPath)/{train,test}/<class>/")
            print("read it with: --data \(outPath)/train --resize-to \(imageSize)")
            return
        }
        print("synthetic shapes: \(classes) classes, \(trainCount) train + \(testCount) test images, "
              + "\(imageSize)x\(imageSize), seed \(seed) (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
        for name in try FileManager.default.contentsOfDirectory(atPath: written.directory).sorted() {
            let size = (try FileManager.default.attributesOfItem(atPath: "\(written.directory)/\(name)")[.size] as? NSNumber)?.intValue ?? 0
            print("  \(written.directory)/\(name)  \(size) bytes")
        }
        print("read it with: --data \(outPath)")
    }
}
