import Foundation

/// The one way the tool and its runs write lines. `say` is for what the user reads (stdout), `note` for diagnostics
/// that must stay out of piped results (stderr: `embed`, `tsne`, `linear-eval`'s progress). Under MPI only
/// rank 0 speaks (`Console(leader:)`). Each line is flushed at once, so it keeps its place among child
/// processes' output and the library's progress lines.
public struct Console {
    public var speaks = true

    public init(leader: Bool = true) { speaks = leader }

    public func say(_ line: String) {
        guard speaks else { return }
        print(line)
        fflush(stdout)
    }

    public func note(_ line: String) {
        guard speaks else { return }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
