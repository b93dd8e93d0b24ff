import Foundation
import XCTest

/// The design notes the code points to exist: every `docs/NAME.md` a source, script or README names is a file,
/// every note it names (`docs/NAME.md, note 'Gather'`, or `note 'Gather'` in a file that names its docs file
/// elsewhere) is a heading of that file, and docs/README.md's table of one pretraining step lists real files,
/// at most ten.
final class DocsTests: XCTestCase {
    static let root = LayerTests.root

    func testEveryNamedNoteExists() throws {
        let docs = try DocsIndex(root: Self.root)
        XCTAssertGreaterThan(docs.headings.count, 5, "docs/ not found")
        var references = 0
        var problems: [String] = []
        for file in try Self.filesNamingNotes() {
            let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            var found = NoteReferences(text)
            // A note names its own headings without naming itself.
            if file.hasPrefix("docs/") { found.files.append(String(file.dropFirst(5))) }
            references += found.files.count + found.notes.count
            problems += docs.problems(found, in: file)
        }
        XCTAssertGreaterThan(references, 50, "no references to docs/ found")
        XCTAssertEqual(problems, [])
    }

    func testStepTableListsRealFilesInAtMostTen() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("docs/README.md"), encoding: .utf8)
        let files = StepTable(readme).files
        XCTAssertGreaterThanOrEqual(files.count, 5, "docs/README.md has no step table")
        XCTAssertLessThanOrEqual(files.count, 10, "one pretraining step should read in at most ten files: \(files)")
        for file in files {
            XCTAssertTrue(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(file).path),
                          "docs/README.md's step table lists \(file), which does not exist")
        }
    }

    /// The checks can fail: a missing file, a missing heading and a bare note the file's docs lack are reported.
    func testChecksReportMissingNotes() {
        let docs = DocsIndex(headings: ["a.md": ["Gather", "Loss rows"]])
        let text = """
            // docs/a.md, note 'Gather'; docs/a.md, notes 'Loss rows' and 'Nope'
            let x = 1  // note 'Missing'
            // docs/b.md
            """
        XCTAssertEqual(docs.problems(NoteReferences(text), in: "x.swift"), [
            "x.swift names docs/a.md, note 'Nope': no such heading",
            "x.swift names docs/b.md, which does not exist",
            "x.swift names note 'Missing', a heading of none of the docs it names (docs/a.md, docs/b.md)",
        ])
        let table = """
            ## One pretraining step

            | # | file | what |
            | --- | --- | --- |
            | 1 | `Sources/A/One.swift` | x |
            | 2 | `Sources/B/Two.swift` (`Three.swift`) | y |
            """
        XCTAssertEqual(StepTable(table).files, ["Sources/A/One.swift", "Sources/B/Two.swift"])
    }

    /// Swift sources and tests, scripts, README.md and the notes themselves.
    static func filesNamingNotes() throws -> [String] {
        var files = ["README.md"]
        for top in ["Sources", "Tests", "deploy", "docs"] {
            guard let walk = FileManager.default.enumerator(atPath: root.appendingPathComponent(top).path) else { continue }
            for case let file as String in walk where [".swift", ".sh", ".md"].contains(where: file.hasSuffix) {
                if file.hasPrefix("Fixtures") || file.contains("/Fixtures/") { continue }
                files.append("\(top)/\(file)")
            }
        }
        return files.filter { $0 != "Tests/RepositoryTests/DocsTests.swift" }
    }
}

/// The `## ` headings of every file in docs/ and its subfolders.
struct DocsIndex {
    var headings: [String: Set<String>]

    init(headings: [String: Set<String>]) { self.headings = headings }

    init(root: URL) throws {
        let dir = root.appendingPathComponent("docs")
        var headings: [String: Set<String>] = [:]
        // Subfolders too (docs/scaling-study/ holds a study's generated tables), by their path under docs/.
        let names = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String } ?? []
        for name in names where name.hasSuffix(".md") {
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            headings[name] = Set(text.split(separator: "\n").filter { $0.hasPrefix("## ") }.map { String($0.dropFirst(3)) })
        }
        self.init(headings: headings)
    }

    func problems(_ found: NoteReferences, in file: String) -> [String] {
        var problems: [String] = []
        for name in found.files where headings[name] == nil {
            problems.append("\(file) names docs/\(name), which does not exist")
        }
        for (name, note) in found.notes {
            if let name {
                if let own = headings[name], !own.contains(note) {
                    problems.append("\(file) names docs/\(name), note '\(note)': no such heading")
                }
            } else if !found.files.contains(where: { headings[$0]?.contains(note) ?? false }) {
                let named = found.files.map { "docs/\($0)" }.joined(separator: ", ")
                problems.append("\(file) names note '\(note)', a heading of none of the docs it names (\(named))")
            }
        }
        return problems.sorted()
    }
}

/// The docs files and notes a text names: `docs/NAME.md`, `docs/NAME.md, note 'X'`,
/// `docs/NAME.md, notes 'X', 'Y' and 'Z'`, and a bare `note 'X'` (its file: nil).
struct NoteReferences {
    var files: [String] = []
    var notes: [(file: String?, note: String)] = []

    init(_ raw: String) {
        // Comments wrap: join lines so that a reference split over two comment lines reads as one.
        let text = raw.replacingOccurrences(of: #"\n[ \t]*(///?|#)[ \t]*"#, with: " ", options: .regularExpression)
        let docs = try! NSRegularExpression(pattern: #"docs/([A-Za-z0-9_-]+\.md)(,? notes? ('[^']+'(?:(?:, | and )'[^']+')*))?"#)
        let bare = try! NSRegularExpression(pattern: #"\bnotes? ('[^']+'(?:(?:, | and )'[^']+')*)"#)
        let quoted = try! NSRegularExpression(pattern: #"'([^']+)'"#)
        func names(_ list: Substring) -> [String] {
            let s = String(list)
            return quoted.matches(in: s, range: NSRange(s.startIndex..., in: s)).map { String(s[Range($0.range(at: 1), in: s)!]) }
        }
        let whole = NSRange(text.startIndex..., in: text)
        var covered: [Range<String.Index>] = []
        for m in docs.matches(in: text, range: whole) {
            let file = String(text[Range(m.range(at: 1), in: text)!])
            if !files.contains(file) { files.append(file) }
            if let list = Range(m.range(at: 3), in: text) {
                notes += names(text[list]).map { (file, $0) }
                covered.append(Range(m.range, in: text)!)
            }
        }
        for m in bare.matches(in: text, range: whole) {
            let range = Range(m.range, in: text)!
            if covered.contains(where: { $0.overlaps(range) }) { continue }
            notes += names(text[Range(m.range(at: 1), in: text)!]).map { (nil, $0) }
        }
        files.sort()
    }
}

/// The files of docs/README.md's table of one pretraining step: the first backquoted `Sources/` path of each row.
struct StepTable {
    var files: [String] = []

    init(_ readme: String) {
        guard let start = readme.range(of: "## One pretraining step") else { return }
        for line in readme[start.upperBound...].split(separator: "\n").dropFirst() {
            if line.hasPrefix("## ") { break }
            guard line.hasPrefix("|"), let open = line.range(of: "`Sources/") else { continue }
            let rest = line[line.index(after: open.lowerBound)...]
            if let close = rest.firstIndex(of: "`") { files.append(String(rest[..<close])) }
        }
    }
}
