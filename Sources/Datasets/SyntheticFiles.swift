import Foundation

/// The file layouts `SyntheticShapes.write` can produce.
public enum SyntheticLayout: String, CaseIterable, Sendable {
    /// CIFAR-10's binary files at 32 px, STL-10's at 96 px.
    case binary
    /// PNG files `train/<class>/<i>.png` and `test/<class>/<i>.png`, any size.
    case folder
}

/// The synthetic shapes dataset as files (`simclr synth`): what to write, checked before anything is written.
/// Errors name the settings in backquotes.
public struct SyntheticFiles: Sendable {
    public var layout = SyntheticLayout.binary
    /// 1...10; the label of image i is i % classes.
    public var classes = SyntheticShapes.classNames.count
    public var trainCount = SyntheticShapes.defaultTrainCount
    public var testCount = SyntheticShapes.defaultTestCount
    /// 32 (CIFAR-10 layout) or 96 (STL-10 layout); any size in the folder layout.
    public var imageSize = CIFAR10.imageSize
    public var seed: UInt64 = 0

    public init() {}

    public func validate() throws {
        func fail(_ why: String) -> DatasetError { .invalidConfiguration(why) }
        guard (1...SyntheticShapes.classNames.count).contains(classes) else {
            throw fail("`classes` \(classes) must lie in 1...\(SyntheticShapes.classNames.count)")
        }
        guard trainCount >= 1, testCount >= 1 else { throw fail("`trainCount` and `testCount` must be at least 1") }
        guard layout == .folder || imageSize == CIFAR10.imageSize || imageSize == STL10.imageSize else {
            throw fail("`imageSize` \(imageSize): the CIFAR-10 layout holds 32x32 images and the STL-10 layout 96x96; "
                       + "other sizes have no file format here")
        }
    }

    /// What `write` wrote: the directory a reader takes (`DIR/cifar-10-batches-bin`, `DIR/stl10_binary`, or
    /// `DIR/train` for the folder layout), notes about files it removed or found in the way, and the lines that
    /// say so.
    public struct Written: Sendable {
        public var directory: String
        public var notes: [String]
        public var lines: [String] = []
    }

    /// Writes the dataset (image i of a split depending only on (seed, split, i)) under `root`. The binary layout
    /// holds 32 px images as CIFAR-10 (10000 records per training batch file, one to five files) and 96 px images
    /// as STL-10; the folder layout any size.
    public func write(to root: String) throws -> Written {
        try validate()
        let start = Date()
        var written = try writeFiles(to: root)
        let images = "\(classes) classes, \(trainCount) train + \(testCount) test"
        let size = "\(imageSize)x\(imageSize), seed \(seed)"
        written.lines = written.notes
        if layout == .folder {
            written.lines.append("synthetic shapes: \(images) PNG images, \(size), in \(root)/{train,test}/<class>/")
            return written
        }
        written.lines.append("synthetic shapes: \(images) images, \(size) (\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
        for name in try FileManager.default.contentsOfDirectory(atPath: written.directory).sorted() {
            let path = "\(written.directory)/\(name)"
            let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            written.lines.append("  \(path)  \(bytes) bytes")
        }
        return written
    }

    private func writeFiles(to root: String) throws -> Written {
        let (train, test) = SyntheticShapes.generate(classes: classes, trainCount: trainCount, testCount: testCount,
                                                     imageSize: imageSize, seed: seed)
        var notes: [String] = []
        switch layout {
        case .folder:
            for (split, images) in [("train", train), ("test", test)] {
                for i in 0..<images.count {
                    let dir = URL(fileURLWithPath: root).appendingPathComponent(split)
                        .appendingPathComponent(images.classNames[images.labels[i]])
                    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                    let image = RGBImage(width: imageSize, height: imageSize, pixels: Array(images.image(at: i)))
                    try ImageFile.write(image, to: dir.appendingPathComponent(String(format: "%06d.png", i)).path)
                }
            }
            return Written(directory: URL(fileURLWithPath: root).appendingPathComponent("train").path, notes: [])
        case .binary where imageSize == CIFAR10.imageSize:
            let batches = min(5, max(1, trainCount / 10000))
            let directory = try CIFAR10.writeDirectory(train: train, test: test, to: root, trainBatches: batches)
            // Batch files of an earlier, larger run would be read as part of this training split.
            for name in CIFAR10.trainFiles[batches...] where FileManager.default.fileExists(atPath: "\(directory)/\(name)") {
                try FileManager.default.removeItem(atPath: "\(directory)/\(name)")
                notes.append("removed \(directory)/\(name) (left from an earlier run; it would join the training split)")
            }
            return Written(directory: directory, notes: notes)
        case .binary:
            let directory = URL(fileURLWithPath: root).appendingPathComponent(STL10.directoryName).path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try STL10.write(train, imagesPath: "\(directory)/train_X.bin", labelsPath: "\(directory)/train_y.bin")
            try STL10.write(test, imagesPath: "\(directory)/test_X.bin", labelsPath: "\(directory)/test_y.bin")
            let names = train.classNames.joined(separator: "\n") + "\n"
            try Data(names.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(STL10.classNamesFile)"))
            if FileManager.default.fileExists(atPath: "\(directory)/unlabeled_X.bin") {
                notes.append("warning: \(directory)/unlabeled_X.bin is not from this run; the train+unlabeled split would read it")
            }
            return Written(directory: directory, notes: notes)
        }
    }
}
