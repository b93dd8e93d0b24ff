import Foundation

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

    /// The file's bytes, memory-mapped when possible (STL-10's unlabeled split is 2.7 GB).
    static func read(_ path: String, expected: String) throws -> Data {
        guard isFile(path) else { throw DatasetError.missing(path: path, expected: expected) }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw DatasetError.io(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
    }

    static func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw DatasetError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    static func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw DatasetError.io(path: path, reason: "cannot create directory: \(error.localizedDescription)")
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
