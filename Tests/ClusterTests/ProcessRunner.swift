import Foundation
import XCTest

/// Output and exit status of a child process.
struct RunResult {
    let status: Int32
    let output: String
    /// True when the deadline passed and the process was killed.
    var timedOut: Bool { status == 124 || status == 137 }
    func lines(startingWith prefix: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }
}

enum TestSupport {
    /// The package root (this file is Tests/ClusterTests/ProcessRunner.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The built `cluster-check`: next to the test executable in .build/<config>/, else in the package's
    /// .build/release or .build/debug.
    static func clusterCheck() throws -> URL {
        var candidates: [URL] = []
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for config in ["release", "debug"] { candidates.append(packageRoot.appendingPathComponent(".build/\(config)")) }
        for dir in candidates {
            let binary = dir.appendingPathComponent("cluster-check")
            if FileManager.default.isExecutableFile(atPath: binary.path) { return binary }
        }
        throw XCTSkip("cluster-check is not built: run `swift build -c release` first (looked in \(candidates.map(\.path)))")
    }

    /// An executable on PATH, or nil.
    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func requireMpirun() throws -> String {
        guard let mpirun = which("mpirun") else {
            throw XCTSkip("mpirun not installed (deploy/setup.sh installs openmpi-bin): multi-process tests skipped")
        }
        return mpirun
    }

    static var isRoot: Bool { getuid() == 0 }

    /// Runs `arguments` under coreutils `timeout` so a hang ends as a failure (status 124) instead of blocking.
    /// stdout and stderr go to one temporary file (no pipe to fill up).
    static func run(_ arguments: [String], timeout seconds: Int, environment extra: [String: String] = [:]) throws -> RunResult {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-test-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: which("timeout") ?? "/usr/bin/timeout")
        process.arguments = ["--kill-after=5", String(seconds)] + arguments
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OPENBLAS_NUM_THREADS"] = "1"
        for (k, v) in extra { env[k] = v }
        process.environment = env
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return RunResult(status: process.terminationStatus, output: output)
    }

    /// mpirun on this host with shared memory, oversubscribing when asked for more ranks than cores.
    static func mpirun(np: Int, _ arguments: [String], timeout: Int = 60) throws -> RunResult {
        let mpirun = try requireMpirun()
        let binary = try clusterCheck()
        return try run([mpirun, "-np", String(np), "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader",
                        binary.path] + arguments, timeout: timeout)
    }
}
