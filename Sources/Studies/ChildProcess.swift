import Foundation

/// Runs one command line of a study as a child process: its output (both streams) goes to our standard
/// output, indented, and to the run's log.
public struct ChildProcess {
    /// The study's MPI launcher (as root it needs Open MPI's permission to run).
    public let launcher: String

    public init(launcher: String) { self.launcher = launcher }

    public func run(_ arguments: [String], log: URL, name: String) throws {
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw StudyError("cannot create the log file \(log.path)")
        }
        let logHandle = try FileHandle(forWritingTo: log)
        defer { try? logHandle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.resolve(arguments[0]))
        process.arguments = Array(arguments.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["SIMCLR_PROGRESS"] = "lines"
        if arguments[0] == launcher, getuid() == 0 {
            environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let lock = NSLock()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else { return }
            lock.lock(); defer { lock.unlock() }
            logHandle.write(data)
            let text = String(decoding: data, as: UTF8.self)
            let indented = text.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.isEmpty ? "" : "    " + $0 }.joined(separator: "\n")
            FileHandle.standardOutput.write(Data(indented.utf8))
        }
        try process.run()
        process.waitUntilExit()
        pipe.fileHandleForReading.readabilityHandler = nil
        // Whatever arrived between the last callback and the end.
        let rest = pipe.fileHandleForReading.readDataToEndOfFile()
        lock.lock(); logHandle.write(rest); lock.unlock()
        if !rest.isEmpty { FileHandle.standardOutput.write(rest) }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw StudyError("step \(name) failed (exit status \(process.terminationStatus)); "
                             + "its output is in \(log.path). Run the command again to continue from there.")
        }
    }

    /// The absolute path of a program named on the command line (as a shell would find it on PATH).
    static func resolve(_ name: String) throws -> String {
        if name.contains("/") { return name }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw StudyError("\(name) not found on PATH (deploy/setup.sh installs openmpi-bin for mpirun)")
    }
}
