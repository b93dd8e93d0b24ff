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

/// `--width`, the channel multiplier, of every command: one limit (width 8 already holds 64 times
/// ResNet-18's 11M parameters).
func checkWidth(_ width: Double) throws {
    guard width > 0, width <= 8 else { throw ValidationError("--width \(width) must lie in (0, 8]") }
}
