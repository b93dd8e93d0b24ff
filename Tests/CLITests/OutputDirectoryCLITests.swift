import Foundation
import TestSupport
import XCTest

/// An `--out` the tool cannot write (a file, a path through a file, a read-only file system, a read-only
/// `tb/`) printed Foundation's error dumps (`NSCocoaErrorDomain Code=512 "(null)"`), some only after the data
/// was read. Each is now one line naming the directory and the system's reason, before anything is written.
final class OutputDirectoryCLITests: XCTestCase {
    private func pretrain(_ dir: URL, out: URL, _ extra: [String] = []) -> [String] {
        ["pretrain", "--data", dir.path, "--out", out.path, "--width", "0.125", "--batch-size", "8", "--steps", "1",
         "--threads", "1", "--workers", "0"] + extra
    }

    /// The commands' output lines, checked for the one-line message and for no Foundation dump.
    private func expectRefusal(_ arguments: [String], in dir: URL, status: Int32 = 1, mentions: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try runSimclr(arguments, in: dir)
        let text = run.stderr + run.stdout
        XCTAssertEqual(run.status, status, "\(arguments):\n\(text)", file: file, line: line)
        XCTAssertTrue(text.contains(mentions), "\(arguments): no '\(mentions)' in\n\(text)", file: file, line: line)
        for dump in ["NSCocoaErrorDomain", "NSPOSIXErrorDomain", "UserInfo=", "(null)"] {
            XCTAssertFalse(text.contains(dump), "\(arguments): a Foundation dump in\n\(text)", file: file, line: line)
        }
    }

    func testAnOutThatIsAFileOrRunsThroughOneIsRefusedByName() throws {
        let dir = try makeSyntheticDataDirectory(self)
        let file = dir.appendingPathComponent("notes.txt")
        try Data("x".utf8).write(to: file)
        try expectRefusal(pretrain(dir, out: file), in: dir,
                          mentions: "cannot use \(file.path) as the output directory: it is a file, not a directory")
        try expectRefusal(pretrain(dir, out: file.appendingPathComponent("run")), in: dir,
                          mentions: "output directory: \(file.path) is a file, not a directory")
        try expectRefusal(["knn", "--random-init", "--width", "0.125", "--data", dir.path, "--out", file.path,
                           "--threads", "1"], in: dir,
                          mentions: "cannot use \(file.path) as the output directory: it is a file, not a directory")
        try expectRefusal(["sweep", "--data", dir.path, "--out", file.path, "--studies", "temperature"], in: dir,
                          mentions: "cannot use \(file.path) as the output directory: it is a file, not a directory")
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "x")
    }

    /// A read-only file system (a tmpfs mounted read-only; chmod does not stop root, which the tests run as).
    func testAReadOnlyOutAndAReadOnlyTensorBoardFolderAreOneLine() throws {
        let dir = try makeSyntheticDataDirectory(self)
        let readOnly = dir.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: true)
        let mount = try ProcessHarness.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", readOnly.path], timeout: 20)
        guard mount.status == 0 else { throw XCTSkip("cannot mount a tmpfs here (not root?): \(mount.output)") }
        defer { _ = try? ProcessHarness.run(["umount", readOnly.path], timeout: 20) }
        try expectRefusal(pretrain(dir, out: readOnly), in: dir,
                          mentions: "cannot use \(readOnly.path) as the output directory: cannot write in it (Read-only file system)")
        try expectRefusal(pretrain(dir, out: readOnly.appendingPathComponent("run")), in: dir,
                          mentions: "output directory: cannot create it (Read-only file system)")
        try expectRefusal(["linear-eval", "--random-init", "--width", "0.125", "--data", dir.path, "--epochs", "1",
                           "--out", readOnly.path, "--threads", "1"], in: dir,
                          mentions: "cannot write in it (Read-only file system)")

        // A run whose tb/ became read-only: the resumed run stops before its first step, naming tb/ and the way out.
        let run = dir.appendingPathComponent("run")
        let first = try runSimclr(pretrain(dir, out: run), in: dir)
        XCTAssertEqual(first.status, 0, first.stderr)
        let tb = run.appendingPathComponent("tb")
        let tbMount = try ProcessHarness.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", tb.path], timeout: 20)
        XCTAssertEqual(tbMount.status, 0, tbMount.output)
        defer { _ = try? ProcessHarness.run(["umount", tb.path], timeout: 20) }
        try expectRefusal(pretrain(dir, out: run, ["--steps", "2", "--resume"]), in: dir, status: 2,
                          mentions: "cannot write TensorBoard events in \(tb.path): Read-only file system (--no-tensorboard trains without them)")
        let resumed = try runSimclr(pretrain(dir, out: run, ["--steps", "2", "--resume", "--no-tensorboard"]), in: dir)
        XCTAssertEqual(resumed.status, 0, resumed.stderr + resumed.stdout)
    }
}
