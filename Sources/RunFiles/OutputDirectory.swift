import Foundation

/// The directory a command writes its results into (`--out`): made with its parents, and checked to be
/// writable before anything else happens, so a bad `--out` is refused by name in one line instead of by a file
/// system error from deep inside the first write.
public enum OutputDirectory {
    /// `directory` cannot be made or written: it is a file, a part of its path is a file, or the file system
    /// refuses (read-only, no permission). The reason is the system's own.
    public struct Unusable: Error, CustomStringConvertible {
        public var directory: String
        public var reason: String

        public var description: String { "cannot use \(directory) as the output directory: \(reason)" }
    }

    /// Creates `directory` and its missing parents (mode 0777 less the umask, as `mkdir -p`) and checks that
    /// this process may create files in it.
    public static func prepare(_ directory: URL) throws {
        let path = directory.standardizedFileURL.path
        let shown = path.unicodeScalars.contains { $0.properties.generalCategory == .control }
            ? path.debugDescription : path
        func refuse(_ reason: String) -> Unusable { Unusable(directory: shown, reason: reason) }

        // Each prefix of the path, shortest first: mkdir(2) tells why, where FileManager wraps the reason.
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            var info = stat()
            if stat(prefix, &info) == 0 {
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    throw refuse(prefix == path ? "it is a file, not a directory"
                                                : "\(prefix) is a file, not a directory")
                }
                continue
            }
            guard mkdir(prefix, 0o777) == 0 || errno == EEXIST else {
                throw refuse("cannot create \(prefix == path ? "it" : prefix) (\(String(cString: strerror(errno))))")
            }
        }
        // access(2) answers for this process's rights, and EROFS even for root on a read-only mount.
        guard access(path, W_OK | X_OK) == 0 else {
            throw refuse("cannot write in it (\(String(cString: strerror(errno))))")
        }
    }
}
