import Foundation
import RunFiles
import TestSupport
import XCTest

/// One run per --out: two runs started together on one directory both exited 0 and the last writer won;
/// rerunning without --resume silently replaced a finished run.
final class RunDirectoryCLITests: XCTestCase {
    private let quick = ["--width", "0.125", "--proj-dims", "32,16", "--batch-size", "8", "--threads", "1", "--workers", "0",
                         "--warmup-epochs", "0", "--log-every", "1"]

    private func pretrain(_ dir: URL, steps: Int, _ extra: [String] = []) -> [String] {
        ["pretrain", "--data", dir.appendingPathComponent("data").path, "--out", dir.appendingPathComponent("run").path,
         "--steps", String(steps)] + quick + extra
    }

    private func synthesize(_ dir: URL) throws {
        let synth = try runSimclr(["synth", "--out", dir.appendingPathComponent("data").path, "--train-count", "32",
                                   "--test-count", "8"], in: dir)
        XCTAssertEqual(synth.status, 0, synth.stderr)
    }

    /// A second run on a directory in use refuses and names the first; after the first is killed (SIGKILL: no
    /// chance to release anything) its lock is taken over with a log line, and so are its half-written files.
    func testASecondRunIsRefusedWhileTheFirstHoldsTheDirectory() throws {
        let dir = try makeTemporaryDirectory(self)
        try synthesize(dir)
        let first = try BackgroundProcess([try simclrExecutable().path] + pretrain(dir, steps: 100_000))
        defer { first.terminate() }
        let metrics = dir.appendingPathComponent("run/metrics.csv")
        try first.waitUntil(timeout: 120, "a step logged") {
            ((try? String(contentsOf: metrics, encoding: .utf8)) ?? "").split(separator: "\n").count >= 2
        }
        let second = try runSimclr(pretrain(dir, steps: 1, ["--overwrite"]), in: dir)
        XCTAssertNotEqual(second.status, 0)
        XCTAssertTrue(second.stderr.contains("is in use by another run (process \(first.pid) on "), second.stderr)
        kill(first.pid, SIGKILL)
        _ = try first.wait(timeout: 30)
        let junk = dir.appendingPathComponent("run/.checkpoint.safetensors.tmp-999999")
        try Data(count: 100).write(to: junk)
        let third = try runSimclr(pretrain(dir, steps: 1, ["--overwrite"]), in: dir)
        let text = third.stdout + third.stderr
        XCTAssertEqual(third.status, 0, text)
        XCTAssertTrue(text.contains("taking over the lock of process \(first.pid) on "), text)
        // The junk file, and the killed run's own temporary checkpoint when SIGKILL came during a write.
        XCTAssertTrue(text.contains("temporary file(s) an interrupted write left"), text)
        XCTAssertTrue(text.contains(".checkpoint.safetensors.tmp-999999"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: junk.path))
    }

    /// Starting over a finished run needs --resume or --overwrite; --overwrite deletes the old run first.
    func testAnExistingRunIsReplacedOnlyWhenAsked() throws {
        let dir = try makeTemporaryDirectory(self)
        try synthesize(dir)
        let model = dir.appendingPathComponent("run/model.safetensors")
        XCTAssertEqual(try runSimclr(pretrain(dir, steps: 2), in: dir).status, 0)
        let finished = try Data(contentsOf: model)
        let again = try runSimclr(pretrain(dir, steps: 2, ["--seed", "7"]), in: dir)
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("already holds a run (") && again.stderr.contains("--resume")
                      && again.stderr.contains("--overwrite"), again.stderr)
        XCTAssertEqual(try Data(contentsOf: model), finished, "the refused run changed the finished one")
        let replaced = try runSimclr(pretrain(dir, steps: 2, ["--seed", "7", "--overwrite"]), in: dir)
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertTrue((replaced.stdout + replaced.stderr).contains("overwrite: deleted the previous run's"), replaced.stdout)
        XCTAssertNotEqual(try Data(contentsOf: model), finished)
    }

    /// A rerun over a finished run is refused before anything else is said: it once printed the BLAS, CPU,
    /// memory, data, model and schedule lines of a run it then refused to start.
    func testARefusedRerunSaysNothingBeforeTheRefusal() throws {
        let dir = try makeTemporaryDirectory(self)
        try synthesize(dir)
        let supervised = ["supervised", "--data", dir.appendingPathComponent("data").path, "--out",
                          dir.appendingPathComponent("sup").path, "--epochs", "1", "--width", "0.125", "--batch-size", "8",
                          "--threads", "1", "--workers", "0"]
        for arguments in [pretrain(dir, steps: 2), supervised] {
            let first = try runSimclr(arguments, in: dir)
            XCTAssertEqual(first.status, 0, first.stderr)
            let again = try runSimclr(arguments, in: dir)
            XCTAssertNotEqual(again.status, 0)
            XCTAssertEqual(again.stdout, "", "\(arguments[0]) spoke before refusing")
            XCTAssertTrue(again.stderr.hasPrefix("Error: \(arguments[arguments.firstIndex(of: "--out")! + 1]) already holds a run ("),
                          again.stderr)
        }
    }

    /// linear-eval, knn, sweep and compare lock their --out as the training commands do: while another process
    /// holds it they refuse before writing anything there, naming the holder (two of them once wrote the same
    /// feature cache and results.json, or ran the same child runs side by side). Released, the evaluation runs.
    func testEvaluationsAndStudiesRefuseADirectoryInUse() throws {
        let dir = try makeTemporaryDirectory(self)
        try synthesize(dir)
        let data = dir.appendingPathComponent("data").path
        let encoder = ["--random-init", "--data", data, "--width", "0.125", "--threads", "1"]
        let commands: [(String, [String])] = [
            ("knn", ["knn"] + encoder), ("linear-eval", ["linear-eval", "--epochs", "1"] + encoder),
            ("sweep", ["sweep", "--data", data, "--studies", "temperature", "--temperatures", "0.1,0.5"]),
            ("compare", ["compare", "--data", data]),
        ]
        for (name, arguments) in commands {
            let out = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let lock = try RunDirectoryLock(directory: out)
            let refused = try runSimclr(arguments + ["--out", out.path], in: dir)
            XCTAssertNotEqual(refused.status, 0, "\(name): \(refused.stdout)")
            XCTAssertTrue(refused.stderr.contains("\(out.path) is in use by another run (process \(getpid()) on "),
                          "\(name): \(refused.stderr)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [RunDirectoryLock.fileName],
                           "\(name) wrote into a directory in use")
            lock.release()
        }
        let knn = try runSimclr(commands[0].1 + ["--out", dir.appendingPathComponent("knn").path], in: dir)
        XCTAssertEqual(knn.status, 0, knn.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("knn/results.json").path))
    }
}
