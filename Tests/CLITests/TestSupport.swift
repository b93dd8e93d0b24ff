import Foundation
import TestSupport
import XCTest

/// A fresh temporary directory, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("CLITests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// A fresh temporary directory holding `simclr synth`'s smallest data set (32 train / 8 test images), the data
/// the CLI tests train and evaluate on.
func makeSyntheticDataDirectory(_ test: XCTestCase) throws -> URL {
    let dir = try makeTemporaryDirectory(test)
    let synth = try runSimclr(["synth", "--out", dir.path, "--train-count", "32", "--test-count", "8"], in: dir)
    XCTAssertEqual(synth.status, 0, synth.stderr)
    return dir
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

/// The built `simclr` executable (located by the shared test harness).
func simclrExecutable() throws -> URL { try ProcessHarness.executable("simclr") }

/// Runs `simclr arguments...` with `directory` as its working directory (so a relative `--out` lands there,
/// not in the package), output captured through files (pipes could fill up and block).
func runSimclr(_ arguments: [String], in directory: URL) throws -> ToolRun {
    let process = Process()
    process.currentDirectoryURL = directory
    // Under coreutils `timeout`, so a hang fails the test instead of blocking the run.
    process.executableURL = URL(fileURLWithPath: ProcessHarness.which("timeout") ?? "/usr/bin/timeout")
    process.arguments = ["--kill-after=5", "300", try simclrExecutable().path] + arguments
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
