import Foundation

/// The tool's one way to write lines. `say` is for what the user reads (stdout), `note` for diagnostics
/// that must stay out of piped results (stderr: `embed`, `tsne`, `linear-eval`'s progress). Under MPI only
/// rank 0 speaks (`Console(leader:)`). Each line is flushed at once, so it keeps its place among child
/// processes' output and the library's progress lines.
struct Console {
    var speaks = true

    init(leader: Bool = true) { speaks = leader }

    func say(_ line: String) {
        guard speaks else { return }
        print(line)
        fflush(stdout)
    }

    func note(_ line: String) {
        guard speaks else { return }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// `Console().say`: for commands that never run under MPI (compare, sweep, synth, report).
func say(_ line: String) { Console().say(line) }
