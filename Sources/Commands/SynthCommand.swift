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
        DIR/stl10_binary/{train_X.bin, train_y.bin, test_X.bin, test_y.bin, class_names.txt}.
        Read them with --data DIR. With --format folder the images are PNG files of any --image-size in \
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
    var trainCount = 50000

    @Option(help: "Test images.")
    var testCount = 10000

    @Option(help: "Image side: 32 (CIFAR-10 layout) or 96 (STL-10 layout).")
    var imageSize = 32

    enum Layout: String, ExpressibleByArgument, CaseIterable { case binary, folder }

    @Option(help: "binary (CIFAR-10/STL-10 files) or folder (PNG files, one subfolder per class).")
    var format: Layout = .binary

    @Option(help: "Seed: the same seed gives the same files.")
    var seed: UInt64 = 0

    @Option(help: "Generation threads (default: all cores).")
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
        let outPath = NSString(string: out).expandingTildeInPath
        let start = Date()
        let (train, test) = SyntheticShapes.generate(classes: classes, trainCount: trainCount, testCount: testCount,
                                                     imageSize: imageSize, seed: seed)
        let directory: String
        if format == .folder {
            for (split, images) in [("train", train), ("test", test)] {
                for i in 0..<images.count {
                    let dir = URL(fileURLWithPath: outPath).appendingPathComponent(split)
                        .appendingPathComponent(images.classNames[images.labels[i]])
                    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                    let image = RGBImage(width: imageSize, height: imageSize, pixels: Array(images.image(at: i)))
                    try ImageFile.write(image, to: dir.appendingPathComponent(String(format: "%06d.png", i)).path)
                }
            }
            print("synthetic shapes: \(classes) classes, \(trainCount) train + \(testCount) test PNG images, "
                  + "\(imageSize)x\(imageSize), seed \(seed), in \(outPath)/{train,test}/<class>/")
            print("read it with: --data \(outPath)/train --resize-to \(imageSize)")
            return
        } else if imageSize == CIFAR10.imageSize {
            // As the official files: 10000 records per training batch file, at most five files.
            let batches = min(5, max(1, trainCount / 10000))
            directory = try CIFAR10.writeDirectory(train: train, test: test, to: outPath, trainBatches: batches)
            // Batch files of an earlier, larger run would be read as part of this training split.
            for name in CIFAR10.trainFiles[batches...] where FileManager.default.fileExists(atPath: "\(directory)/\(name)") {
                try FileManager.default.removeItem(atPath: "\(directory)/\(name)")
                print("removed \(directory)/\(name) (left from an earlier run; it would join the training split)")
            }
        } else {
            directory = URL(fileURLWithPath: outPath).appendingPathComponent(STL10.directoryName).path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try STL10.write(train, imagesPath: "\(directory)/train_X.bin", labelsPath: "\(directory)/train_y.bin")
            try STL10.write(test, imagesPath: "\(directory)/test_X.bin", labelsPath: "\(directory)/test_y.bin")
            let names = train.classNames.joined(separator: "\n") + "\n"
            try Data(names.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(STL10.classNamesFile)"))
            if FileManager.default.fileExists(atPath: "\(directory)/unlabeled_X.bin") {
                print("warning: \(directory)/unlabeled_X.bin is not from this run; the train+unlabeled split would read it")
            }
        }
        print("synthetic shapes: \(classes) classes, \(trainCount) train + \(testCount) test images, "
              + "\(imageSize)x\(imageSize), seed \(seed) (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
        let files = (try FileManager.default.contentsOfDirectory(atPath: directory)).sorted()
        for name in files {
            let size = (try FileManager.default.attributesOfItem(atPath: "\(directory)/\(name)")[.size] as? NSNumber)?.intValue ?? 0
            print("  \(directory)/\(name)  \(size) bytes")
        }
        print("read it with: --data \(outPath)")
    }
}
