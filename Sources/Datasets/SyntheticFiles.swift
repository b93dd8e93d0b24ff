import Foundation

/// The file layouts `SyntheticShapes.write` can produce.
public enum SyntheticLayout: String, CaseIterable, Sendable {
    /// CIFAR-10's binary files at 32 px, STL-10's at 96 px.
    case binary
    /// PNG files `train/<class>/<i>.png` and `test/<class>/<i>.png`, any size.
    case folder
}

extension SyntheticShapes {
    /// What `write` wrote: the directory a reader takes (`DIR/cifar-10-batches-bin`, `DIR/stl10_binary`, or
    /// `DIR/train` for the folder layout) and notes about files it removed or found in the way.
    public struct Written: Sendable {
        public var directory: String
        public var notes: [String]
    }

    /// Writes the dataset (`classes` classes, image i of a split depending only on (seed, split, i)) under
    /// `root`. The binary layout holds 32 px images as CIFAR-10 (10000 records per training batch file, one to
    /// five files) and 96 px images as STL-10; the folder layout any size.
    public static func write(to root: String, layout: SyntheticLayout, classes: Int, trainCount: Int, testCount: Int,
                             imageSize: Int, seed: UInt64) throws -> Written {
        guard layout == .folder || imageSize == CIFAR10.imageSize || imageSize == STL10.imageSize else {
            throw DatasetError.invalidConfiguration("images of \(imageSize) px: the CIFAR-10 layout holds 32x32 images and "
                                                    + "the STL-10 layout 96x96; other sizes have no file format here")
        }
        let (train, test) = generate(classes: classes, trainCount: trainCount, testCount: testCount, imageSize: imageSize,
                                     seed: seed)
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
