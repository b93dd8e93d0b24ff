import Foundation
import XCTest

/// A fresh temporary directory, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("CLITests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

func fileSize(_ url: URL) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue
}

/// Bytes from a hex string (what `bytes.hex()` prints in Python).
func hexBytes(_ hex: String) -> [UInt8] {
    let chars = Array(hex.utf8)
    return stride(from: 0, to: chars.count, by: 2).map { UInt8(String(bytes: chars[$0..<($0 + 2)], encoding: .ascii)!, radix: 16)! }
}

/// The result of running the `simclr` tool.
struct ToolRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The built `simclr` executable: beside the test bundle (same build configuration), else
/// `<package>/.build/release/simclr`.
func simclrExecutable() throws -> URL {
    var candidates = [Bundle.main.bundleURL, Bundle(for: CommandLineTests.self).bundleURL.deletingLastPathComponent(),
                      URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        .map { $0.appendingPathComponent("simclr") }
    var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while dir.path != "/" {
        candidates.append(dir.appendingPathComponent(".build/release/simclr"))
        dir = dir.deletingLastPathComponent()
    }
    for url in candidates where FileManager.default.isExecutableFile(atPath: url.path) { return url }
    throw MissingExecutable(searched: candidates.map(\.path))
}

struct MissingExecutable: Error, CustomStringConvertible {
    let searched: [String]
    var description: String {
        "the simclr executable was not found (build it with `swift build -c release`); looked at: "
            + searched.joined(separator: ", ")
    }
}

/// Runs `simclr arguments...`, output captured through files (pipes could fill up and block).
func runSimclr(_ arguments: [String], in directory: URL) throws -> ToolRun {
    let process = Process()
    process.executableURL = try simclrExecutable()
    process.arguments = arguments
    let out = directory.appendingPathComponent(".stdout-\(UUID().uuidString)")
    let err = directory.appendingPathComponent(".stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    process.waitUntilExit()
    return ToolRun(status: process.terminationStatus,
                   stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                   stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}
