import Foundation

/// Runs the package's built executables as child processes (directly or under mpirun), with a deadline
/// so a hang becomes a failure instead of blocking the test run.
public enum ProcessHarness {
    public struct Result {
        public let status: Int32
        public let output: String
        public var timedOut: Bool { status == 124 || status == 137 }
    }

    public enum Failure: Error, CustomStringConvertible {
        case notBuilt(String, looked: [String])
        case missingTool(String)
        public var description: String {
            switch self {
            case let .notBuilt(name, looked): return "\(name) is not built (looked in \(looked)); run `swift build -c release`"
            case let .missingTool(name): return "\(name) is not installed (deploy/setup.sh installs it)"
            }
        }
    }

    /// The package root (this file is Tests/TestSupport/ProcessHarness.swift).
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// A built executable of this package: next to the running test bundle first, else in .build/release.
    public static func executable(_ name: String) throws -> URL {
        var dirs: [URL] = []
        if let exe = Bundle.main.executableURL { dirs.append(exe.deletingLastPathComponent()) }
        dirs.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        dirs.append(packageRoot.appendingPathComponent(".build/release"))
        for dir in dirs {
            let candidate = dir.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw Failure.notBuilt(name, looked: dirs.map(\.path))
    }

    public static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// OpenMPI's kill sequence for the jobs tests start: its default (1 s), whatever the user's OpenMPI
    /// parameter file says (deploy/setup.sh writes 30 s there, and OpenMPI then waits twice that at the end of
    /// every job a rank ends with an error; the tests end many such jobs on purpose).
    public static let sigkillTimeout = "1"

    /// The environment of the processes tests start: this one's, plus what OpenMPI needs to run as root (tests
    /// run as root in CI), one BLAS thread, the kill sequence above, and `extra`.
    public static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["OMPI_MCA_odls_base_sigkill_timeout"] = sigkillTimeout
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Runs `arguments` under coreutils `timeout`; stdout and stderr go to one file (no pipe to fill up).
    public static func run(_ arguments: [String], timeout seconds: Int = 120, environment extra: [String: String] = [:]) throws -> Result {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("harness-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)   // FileHandle below reports a failure
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: which("timeout") ?? "/usr/bin/timeout")
        process.arguments = ["--kill-after=5", String(seconds)] + arguments
        process.environment = environment(extra)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return Result(status: process.terminationStatus, output: (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// `mpirun -np N` on this host over shared memory, oversubscribing the cores when N is larger.
    /// `programs` may hold several argument lists (MPMD: `prog a : prog b`), one per `ranksEach` ranks.
    /// `environment` is set for mpirun and exported to every rank.
    public static func mpirun(np: Int, _ arguments: [String], timeout: Int = 120,
                              environment: [String: String] = [:]) throws -> Result {
        guard let mpirun = which("mpirun") else { throw Failure.missingTool("mpirun") }
        let exports = environment.keys.sorted().flatMap { ["-x", $0] }
        return try run([mpirun, "-np", String(np), "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader"]
                       + exports + arguments, timeout: timeout, environment: environment)
    }

    /// Several programs in one MPI job, one rank each (mpirun's colon syntax).
    public static func mpirunMPMD(_ programs: [[String]], timeout: Int = 120) throws -> Result {
        guard let mpirun = which("mpirun") else { throw Failure.missingTool("mpirun") }
        var args = [mpirun, "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader"]
        for (i, p) in programs.enumerated() { args += (i > 0 ? [":"] : []) + ["-np", "1"] + p }
        return try run(args, timeout: timeout)
    }
}
