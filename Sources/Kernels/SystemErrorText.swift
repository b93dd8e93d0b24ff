import Foundation

/// What went wrong with a file, in words: Foundation wraps POSIX errors (ENOSPC, EACCES, ...) in Cocoa errors
/// whose own description can be "The operation could not be completed" or `(null)`; the POSIX reason under
/// them is what a user can act on.
public enum SystemErrorText {
    /// The POSIX reason (e.g. "No space left on device") when Foundation wraps one, else the error's own text.
    public static func reason(_ error: Error) -> String {
        let ns = error as NSError
        // On Linux the underlying error may be stored as a Swift `Error` (POSIXError), which `as? NSError` misses.
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? Error, (underlying as NSError).domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32((underlying as NSError).code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }

    /// One line for a Foundation file error (`NSCocoaErrorDomain`, with the file's path), such as a command
    /// meets when it writes into a read-only or missing place: "PATH: REASON". nil for any other error, whose
    /// own description is already meant for a reader.
    public static func fileErrorLine(_ error: Error) -> String? {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain,
              let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        else { return nil }
        return "\(printable(path)): \(reason(error))"
    }

    /// A path as text that stays on one line and shows what it holds: control characters (a newline in a
    /// file name) are written as escapes, as `ls -b` does.
    public static func printable(_ path: String) -> String {
        guard path.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return path }
        return path.unicodeScalars.map { scalar -> String in
            guard scalar.properties.generalCategory == .control else { return String(scalar) }
            switch scalar {
            case "\n": return "\\n"
            case "\t": return "\\t"
            case "\r": return "\\r"
            default: return String(format: "\\x%02x", scalar.value)
            }
        }.joined()
    }
}
