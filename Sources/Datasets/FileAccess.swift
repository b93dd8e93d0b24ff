import Foundation
import Kernels

/// Small file helpers shared by the readers and writers; all failures become `DatasetError`s.
enum FileAccess {
    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    static func isFile(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
    }

    static func join(_ directory: String, _ name: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent(name).path
    }

    /// The file's bytes, memory-mapped when possible (STL-10's unlabeled split is 2.7 GB). Only regular
    /// files are read: a FIFO would block and a device (/dev/zero) never ends.
    static func read(_ path: String, expected: String) throws -> Data {
        guard isFile(path) else { throw DatasetError.missing(path: path, expected: expected) }
        if let why = notARegularFile(path) { throw DatasetError.io(path: path, reason: "cannot read: \(why)") }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw DatasetError.io(path: path, reason: "cannot read: \(reason(error))")
        }
    }

    /// Why `path` is not a regular file to read (following symbolic links), nil when it is one.
    static func notARegularFile(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let failure = String(cString: strerror(errno))
            return brokenLink(path) ?? failure
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO (named pipe), not a regular file"
        case S_IFCHR, S_IFBLK: return "a device, not a regular file"
        case S_IFSOCK: return "a socket, not a regular file"
        default: return "not a regular file"
        }
    }

    /// Why the symbolic link `path` leads nowhere (dangling, or a loop), nil when it is no such link.
    static func brokenLink(_ path: String) -> String? {
        var link = stat(), target = stat()
        guard lstat(path, &link) == 0, link.st_mode & S_IFMT == S_IFLNK, stat(path, &target) != 0 else { return nil }
        if errno == ELOOP { return "a symbolic link loop" }
        let destination = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
        return "a dangling symbolic link (to \(SystemErrorText.printable(destination)), which does not exist)"
    }

    /// A file error's POSIX reason when Foundation wraps one.
    static func reason(_ error: Error) -> String { SystemErrorText.reason(error) }

    /// A path for a message, on one line.
    static func printable(_ path: String) -> String { SystemErrorText.printable(path) }

    static func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DatasetError.io(path: path, reason: "cannot write: \(reason(error))")
        }
    }

    static func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw DatasetError.io(path: path, reason: "cannot create directory: \(reason(error))")
        }
    }

    /// Class names from a text file, one per line; blank lines (CIFAR's meta file ends with some) are skipped.
    static func readClassNames(_ path: String, allowed: ClosedRange<Int>) throws -> [String]? {
        guard isFile(path) else { return nil }
        let data = try read(path, expected: "class names, one per line")
        guard let text = String(data: data, encoding: .utf8) else {
            throw DatasetError.io(path: path, reason: "not UTF-8 text")
        }
        let names = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard allowed.contains(names.count) else {
            throw DatasetError.badClassNames(file: path, found: names.count,
                                             expected: "\(allowed.lowerBound)...\(allowed.upperBound)")
        }
        return names
    }
}
