import ArgumentParser
import Datasets

extension DatasetSplit: ExpressibleByArgument {}

/// `--format`: detect from the directory, or name it.
enum DataFormatChoice: String, CaseIterable, ExpressibleByArgument {
    case auto, cifar10, stl10

    var format: DatasetFormat? { DatasetFormat(rawValue: rawValue) }
}

/// Turns a Datasets configuration error into the parser's usage error (printed with the command's usage).
func validationError(_ error: Error) -> Error {
    if case DatasetError.invalidConfiguration(let why) = error { return ValidationError(why) }
    return error
}

/// A failure found while running (bad data, a weights file that does not fit): printed as
/// `Error: <text>` without the usage that a `ValidationError` adds.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `--out` of a command that writes a directory: an empty path (an unset shell variable) would write into the
/// current directory.
func checkOutPath(_ out: String) throws {
    guard !out.isEmpty else { throw ValidationError("--out is empty: give the directory to write to") }
}

/// The side of the images a network sees (`--image-size`): 8 px is the least a ResNet's four stages can halve;
/// past 1024 px a single image's activations alone take gigabytes.
func checkImageSize(_ size: Int) throws {
    guard (8...1024).contains(size) else { throw ValidationError("--image-size \(size) must lie in [8, 1024]") }
}
