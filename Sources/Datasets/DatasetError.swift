import Foundation
import Kernels

/// Everything that can go wrong while finding, reading or writing a dataset, or configuring its pipeline.
/// Each description names the file (or directory) and what was expected, so a user can fix it before
/// training starts.
public enum DatasetError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// A file or directory that must exist does not.
    case missing(path: String, expected: String)
    /// A directory exists but holds none of the data files of its format.
    case noDataFiles(directory: String, expected: String)
    /// A file's size is not a whole number of records (or it holds none).
    case badSize(file: String, bytes: Int, recordBytes: Int)
    /// A label byte outside the format's range.
    case labelOutOfRange(file: String, record: Int, label: Int, valid: ClosedRange<Int>)
    /// Two files that must describe the same images disagree on their number.
    case countMismatch(file: String, count: Int, otherFile: String, otherCount: Int)
    /// A class-name file with an unusable list.
    case badClassNames(file: String, found: Int, expected: String)
    /// A file could not be opened, read or written.
    case io(path: String, reason: String)
    /// A path that is neither a CIFAR-10 nor an STL-10 binary directory.
    case unknownFormat(path: String)
    /// A file where a dataset directory was expected.
    case notADirectory(path: String)
    /// The parent of an image folder's splits (it holds `train/`), given where the training split was expected.
    case splitsParent(path: String, train: String)
    /// A split that the format does not have.
    case unsupportedSplit(format: String, split: String)
    /// Images whose shape the target format cannot hold.
    case incompatibleImages(reason: String)
    /// An image file that cannot be decoded (not PNG/JPEG, truncated, corrupt).
    case unreadableImage(file: String, reason: String)
    /// Image files of a folder that do not decode (`names` lists the first of them with the reason).
    case badImages(directory: String, count: Int, total: Int, names: String)
    /// Class folders of an image folder that hold no image (torchvision refuses them too).
    case emptyClasses(directory: String, classes: [String])
    /// An augmentation or loader setting out of range.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case let .missing(path, expected):
            return "\(SystemErrorText.printable(path)): not found (expected \(expected))"
        case let .noDataFiles(directory, expected):
            return "\(SystemErrorText.printable(directory)): no data files (expected \(expected))"
        case let .badSize(file, bytes, recordBytes):
            if bytes == 0 { return "\(SystemErrorText.printable(file)): empty file (expected records of \(recordBytes) bytes)" }
            return "\(SystemErrorText.printable(file)): \(bytes) bytes is not a whole number of \(recordBytes)-byte records "
                + "(\(bytes / recordBytes) records and \(bytes % recordBytes) bytes left over; truncated download?)"
        case let .labelOutOfRange(file, record, label, valid):
            return "\(SystemErrorText.printable(file)): record \(record) has label \(label), expected \(valid.lowerBound)...\(valid.upperBound)"
        case let .countMismatch(file, count, otherFile, otherCount):
            return "\(SystemErrorText.printable(file)): \(count) labels but \(SystemErrorText.printable(otherFile)) holds \(otherCount) images"
        case let .badClassNames(file, found, expected):
            return "\(SystemErrorText.printable(file)): \(found) class names, expected \(expected)"
        case let .io(path, reason):
            return "\(SystemErrorText.printable(path)): \(reason)"
        case let .unknownFormat(path):
            return "\(SystemErrorText.printable(path)): not a dataset directory (expected cifar-10-batches-bin/ with data_batch_*.bin or "
                + "test_batch.bin, stl10_binary/ with train_X.bin, or a directory that contains one of them)"
        case let .notADirectory(path):
            let archive = [".tar.gz", ".tgz", ".tar", ".zip"].contains { path.lowercased().hasSuffix($0) }
            return "\(path) is a file, not a dataset directory (expected cifar-10-batches-bin/, stl10_binary/, a folder of "
                + "images, or a directory that contains one of them)" + (archive ? "; extract the archive first" : "")
        case let .splitsParent(path, train):
            return "\(path) holds the splits of an image folder: give its training split, \(train) (the test split is "
                + "found beside it)"
        case let .unsupportedSplit(format, split):
            return "the \(format) format has no split '\(split)'"
        case let .incompatibleImages(reason):
            return reason
        case let .unreadableImage(file, reason):
            return "\(SystemErrorText.printable(file)): cannot read the image (\(reason))"
        case let .badImages(directory, count, total, names):
            return "\(SystemErrorText.printable(directory)): \(count) of \(total) image files cannot be used: \(names). Fix or remove them, "
                + "or pass --skip-bad-images to leave them out"
        case let .emptyClasses(directory, classes):
            let list = classes.prefix(10).map(SystemErrorText.printable).joined(separator: ", ") + (classes.count > 10 ? ", ..." : "")
            return "\(SystemErrorText.printable(directory)): \(classes.count) class folder(s) hold no PNG or JPEG image: \(list). "
                + "Every subfolder is a class and needs images; remove or fill the empty ones"
        case let .invalidConfiguration(reason):
            return "invalid configuration: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
