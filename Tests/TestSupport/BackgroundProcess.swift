import Foundation

/// A child process running while the test acts on it (signals), its output collected in a file.
public final class BackgroundProcess {
    private let process = Process()
    private let log: URL

    public init(_ arguments: [String], environment extra: [String: String] = [:]) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("background-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = ProcessHarness.environment(extra)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit { try? FileManager.default.removeItem(at: log) }

    public var pid: pid_t { process.processIdentifier }
    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    public func waitUntil(timeout: Double, _ what: String, _ condition: () -> Bool) throws {
        let end = Date().addingTimeInterval(timeout)
        while !condition() {
            guard process.isRunning, Date() < end else {
                // Foundation learns of the exit when every copy of a descriptor it gave the child is closed; a
                // process the child left behind can hold one.
                let note = isZombie ? " (it has exited, but a process it left behind holds what Foundation waits on)" : ""
                throw NSError(domain: "BackgroundProcess", code: 1,
                              userInfo: [NSLocalizedDescriptionKey: "never reached: \(what)\(note)\n\(output)"])
            }
            usleep(100_000)
        }
    }

    /// True when the process has exited and not been reaped yet (/proc says state Z).
    private var isZombie: Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    /// The exit status, waiting at most `timeout` seconds (then the process is killed and the test fails).
    public func wait(timeout: Double) throws -> Int32 {
        try waitUntil(timeout: timeout, "exit") { !process.isRunning }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Kills what is left (a failed test must not leave ranks running).
    public func terminate() {
        for child in descendants() { kill(child, SIGKILL) }
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        // Bounded: see waitUntil (a leftover holding a descriptor would make waitUntilExit wait for it).
        for _ in 0..<100 where process.isRunning { usleep(100_000) }
    }

    /// The process below this one whose environment says it is MPI rank `rank`.
    public func descendant(rank: Int) -> pid_t? {
        descendants().first { pid in
            guard let env = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { return false }
            return env.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }
        }
    }

    /// Every process below this one (from /proc's parent links).
    public func descendants() -> [pid_t] {
        var parents: [pid_t: pid_t] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let p = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { parents[p] = parent }
        }
        var found: [pid_t] = [], frontier = [pid]
        while let p = frontier.popLast() {
            let children = parents.filter { $0.value == p }.map(\.key)
            found += children
            frontier += children
        }
        return found
    }
}
