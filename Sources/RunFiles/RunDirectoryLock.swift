import Foundation

/// One run per directory: an exclusive `flock` on `DIR/run.lock`, held for as long as the run lives. The file
/// says who holds it (host, process id, start time), so a second run can name the holder when it refuses.
///
/// The kernel releases the lock when its process ends, however it ends (a crash, SIGKILL, a node that
/// reboots with a local disk). A lock file that still names a holder when the lock is free was left by such a
/// process: it is taken over, with a log line. A run that ends normally empties the file. The file is never
/// deleted: a run that opened it just before the deletion would lock a file nobody else sees.
///
/// Shared file systems: `flock` on NFS (Linux 2.6.12 and later) is a whole-file POSIX lock on the server, so two
/// nodes exclude each other too; a file system without locking support fails with an error that says so.
public final class RunDirectoryLock {
    public static let fileName = "run.lock"

    /// What the lock file says about its holder.
    public struct Holder: Equatable, CustomStringConvertible {
        public var host: String
        public var pid: Int32
        public var started: String

        /// This process, now.
        public static var current: Holder {
            let formatter = ISO8601DateFormatter()
            return Holder(host: ProcessInfo.processInfo.hostName, pid: getpid(), started: formatter.string(from: Date()))
        }

        /// The lock file's text: `host=H pid=P started=T` on one line.
        var line: String { "host=\(host) pid=\(pid) started=\(started)\n" }

        /// The holder a lock file names, nil for an empty (released) or unreadable one.
        init?(line: String) {
            var fields: [Substring: Substring] = [:]
            for word in line.split(whereSeparator: \.isWhitespace) {
                guard let eq = word.firstIndex(of: "=") else { continue }
                fields[word[..<eq]] = word[word.index(after: eq)...]
            }
            guard let host = fields["host"], let pid = fields["pid"].flatMap({ Int32($0) }) else { return nil }
            self.init(host: String(host), pid: pid, started: fields["started"].map(String.init) ?? "?")
        }

        public init(host: String, pid: Int32, started: String) {
            (self.host, self.pid, self.started) = (host, pid, started)
        }

        public var description: String { "process \(pid) on \(host), started \(started)" }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Another process holds the lock (`holder` nil when its file could not be read).
        case held(directory: String, holder: Holder?)
        /// The lock file cannot be opened or locked (permissions, a file system without locks).
        case unavailable(path: String, reason: String)

        public var description: String {
            switch self {
            case let .held(directory, holder):
                return "\(directory) is in use by another run (\(holder.map(\.description) ?? "its holder is not recorded")); "
                    + "give another `out`, or wait for that run to end"
            case let .unavailable(path, reason):
                return "\(path): cannot lock the run directory (\(reason))"
            }
        }
    }

    public let path: String
    private var descriptor: Int32

    /// Takes the lock of `directory` (which must exist) without waiting. `log` hears of a stale lock taken over.
    public init(directory: URL, log: (String) -> Void = { _ in }) throws {
        path = directory.appendingPathComponent(Self.fileName).path
        // O_CLOEXEC: processes this one starts (a study's child runs) must not inherit the lock.
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Failure.unavailable(path: path, reason: String(cString: strerror(errno))) }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let error = errno
            let holder = Self.holder(readingFrom: descriptor)
            close(descriptor)
            if error == EWOULDBLOCK { throw Failure.held(directory: directory.path, holder: holder) }
            throw Failure.unavailable(path: path, reason: String(cString: strerror(error)))
        }
        if let stale = Self.holder(readingFrom: descriptor) {
            log("\(path): taking over the lock of \(stale), which ended without releasing it")
        }
        let line = Array(Holder.current.line.utf8)
        guard ftruncate(descriptor, 0) == 0, pwrite(descriptor, line, line.count, 0) == line.count else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw Failure.unavailable(path: path, reason: reason)
        }
        fsync(descriptor)
    }

    /// Empties the file (the run ended normally) and releases the lock. Also done at deinit.
    public func release() {
        guard descriptor >= 0 else { return }
        _ = ftruncate(descriptor, 0)
        close(descriptor)   // releases the flock
        descriptor = -1
    }

    deinit { release() }

    private static func holder(readingFrom descriptor: Int32) -> Holder? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(descriptor, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return Holder(line: String(decoding: buffer.prefix(n), as: UTF8.self))
    }

    /// The holder `directory`'s lock file names, nil when it names none. For messages only: the file says who
    /// took the lock last, not whether it is still held.
    public static func recordedHolder(of directory: URL) -> Holder? {
        guard let text = try? String(contentsOf: directory.appendingPathComponent(fileName), encoding: .utf8) else { return nil }
        return Holder(line: text)
    }
}
