import Foundation
import RunFiles
import XCTest

/// Two runs on one directory exclude each other; the lock of a process that died is taken over.
final class RunDirectoryLockTests: XCTestCase {
    private func directory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testASecondHolderIsRefusedAndNamesTheFirst() throws {
        let dir = try directory()
        var logged: [String] = []
        let first = try RunDirectoryLock(directory: dir) { logged.append($0) }
        XCTAssertEqual(logged, [], "a new lock file is nothing to take over")
        // flock locks belong to the open file description: a second open in this process conflicts like
        // another process would.
        XCTAssertThrowsError(try RunDirectoryLock(directory: dir)) { error in
            guard case let RunDirectoryLock.Failure.held(directory, holder)? = error as? RunDirectoryLock.Failure else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(directory, dir.path)
            XCTAssertEqual(holder?.pid, getpid())
            XCTAssertEqual(holder?.host, ProcessInfo.processInfo.hostName)
            XCTAssertTrue("\(error)".contains("in use by another run (process \(getpid()) on "), "\(error)")
        }
        first.release()
        XCTAssertNil(RunDirectoryLock.recordedHolder(of: dir), "a released lock names no holder")
        let second = try RunDirectoryLock(directory: dir) { logged.append($0) }
        XCTAssertEqual(logged, [], "a released lock is not stale")
        XCTAssertEqual(RunDirectoryLock.recordedHolder(of: dir)?.pid, getpid())
        second.release()
    }

    /// A process killed while it holds the lock leaves the file naming it; the lock itself is free.
    func testTheLockOfAKilledProcessIsTakenOverWithALogLine() throws {
        let dir = try directory()
        let file = dir.appendingPathComponent(RunDirectoryLock.fileName).path
        // One process (the shell, then sleep, sharing its descriptor 9) takes the lock with flock(1), writes a
        // holder line and waits; SIGKILL ends it with nothing left behind.
        guard let flock = ["/usr/bin/flock", "/bin/flock"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("no flock(1)")
        }
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec 9>>'\(file)' && \(flock) -x 9 && "
                            + "echo 'host=elsewhere pid=4242 started=2026-01-01T00:00:00Z' > '\(file)' && exec sleep 60"]
        try holder.run()
        let deadline = Date().addingTimeInterval(10)
        while RunDirectoryLock.recordedHolder(of: dir)?.pid != 4242 && Date() < deadline { usleep(20_000) }
        XCTAssertThrowsError(try RunDirectoryLock(directory: dir)) { error in
            XCTAssertTrue("\(error)".contains("process 4242 on elsewhere"), "\(error)")
        }
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        var logged: [String] = []
        let lock = try RunDirectoryLock(directory: dir) { logged.append($0) }
        defer { lock.release() }
        XCTAssertEqual(logged.count, 1)
        XCTAssertTrue(logged.first?.contains("taking over the lock of process 4242 on elsewhere") == true, "\(logged)")
        XCTAssertEqual(RunDirectoryLock.recordedHolder(of: dir)?.pid, getpid())
    }

    func testADirectoryThatCannotHoldTheFileIsNamed() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString)")
        XCTAssertThrowsError(try RunDirectoryLock(directory: missing)) { error in
            XCTAssertTrue("\(error)".contains("cannot lock the run directory (No such file or directory)"), "\(error)")
        }
    }
}
