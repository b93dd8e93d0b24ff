/// Which split of a dataset to read. CIFAR-10 has train and test; STL-10 also unlabeled and
/// train+unlabeled (the 105k images used for pretraining).
public enum DatasetSplit: String, CaseIterable, Sendable {
    case train
    case test
    case unlabeled
    case trainPlusUnlabeled = "train+unlabeled"

    /// The split contrastive pretraining reads: train+unlabeled for STL-10, train for CIFAR-10.
    public static func pretraining(for format: DatasetFormat) -> DatasetSplit {
        format == .stl10 ? .trainPlusUnlabeled : .train
    }
}

public enum DatasetFormat: String, CaseIterable, Sendable {
    case cifar10
    case stl10

    /// Image side length of the format.
    public var imageSize: Int { self == .cifar10 ? CIFAR10.imageSize : STL10.imageSize }

    /// Finds the format and data directory of `path`: a directory holding `data_batch_*.bin` or
    /// `test_batch.bin` is CIFAR-10, one holding `train_X.bin` (or `test_X.bin`, `unlabeled_X.bin`) is STL-10;
    /// a directory that contains `cifar-10-batches-bin/` or `stl10_binary/` is accepted too.
    public static func detect(at path: String) throws -> DatasetLocation {
        guard FileAccess.isDirectory(path) else {
            if FileAccess.isFile(path) { throw DatasetError.notADirectory(path: path) }
            throw DatasetError.missing(path: path, expected: "a dataset directory")
        }
        func has(_ dir: String, _ names: [String]) -> Bool {
            names.contains { FileAccess.isFile(FileAccess.join(dir, $0)) }
        }
        let cifarFiles = CIFAR10.trainFiles + [CIFAR10.testFile]
        let stlFiles = ["train_X.bin", "test_X.bin", "unlabeled_X.bin"]
        if has(path, cifarFiles) { return DatasetLocation(format: .cifar10, directory: path) }
        if has(path, stlFiles) { return DatasetLocation(format: .stl10, directory: path) }
        let cifarDir = FileAccess.join(path, CIFAR10.directoryName)
        if FileAccess.isDirectory(cifarDir) {
            guard has(cifarDir, cifarFiles) else {
                throw DatasetError.noDataFiles(directory: cifarDir, expected: "data_batch_1..5.bin or test_batch.bin")
            }
            return DatasetLocation(format: .cifar10, directory: cifarDir)
        }
        let stlDir = FileAccess.join(path, STL10.directoryName)
        if FileAccess.isDirectory(stlDir) {
            guard has(stlDir, stlFiles) else {
                throw DatasetError.noDataFiles(directory: stlDir, expected: "train_X.bin, test_X.bin or unlabeled_X.bin")
            }
            return DatasetLocation(format: .stl10, directory: stlDir)
        }
        let train = FileAccess.join(path, "train")
        if ImageFolder.isImageFolder(train) { throw DatasetError.splitsParent(path: path, train: train) }
        throw DatasetError.unknownFormat(path: path)
    }
}

/// A dataset directory whose format is known.
public struct DatasetLocation: Equatable, Sendable {
    public var format: DatasetFormat
    public var directory: String

    public init(format: DatasetFormat, directory: String) {
        self.format = format
        self.directory = directory
    }

    /// Resolves `path` with an explicit format (a parent holding the format's directory is accepted),
    /// or detects the format when `format` is nil.
    public static func resolve(_ path: String, format: DatasetFormat? = nil) throws -> DatasetLocation {
        guard let format else { return try DatasetFormat.detect(at: path) }
        let child = FileAccess.join(path, format == .cifar10 ? CIFAR10.directoryName : STL10.directoryName)
        return DatasetLocation(format: format, directory: FileAccess.isDirectory(child) ? child : path)
    }

    public func load(_ split: DatasetSplit, limit: Int? = nil) throws -> LabeledImages {
        switch format {
        case .cifar10: return try CIFAR10.load(directory: directory, split: split, limit: limit)
        case .stl10: return try STL10.load(directory: directory, split: split, limit: limit)
        }
    }
}

/// Reads a split of the dataset at `path` (format detected unless given).
public func loadDataset(at path: String, format: DatasetFormat? = nil, split: DatasetSplit,
                        limit: Int? = nil) throws -> LabeledImages {
    try DatasetLocation.resolve(path, format: format).load(split, limit: limit)
}
