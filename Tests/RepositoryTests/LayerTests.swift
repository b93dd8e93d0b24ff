import Foundation
import XCTest

/// The package's one direction of dependency: Package.swift lists its targets in `layers`, lowest first, and
/// a target may depend on (and import) only targets of lower layers. These tests read Package.swift and every
/// Swift file under Sources/ and fail on a dependency or an `import` that goes sideways or up.
final class LayerTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testEveryTargetDirectoryHasALayer() throws {
        let manifest = try PackageManifest(root: Self.root)
        let directories = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources").path)
            .filter { !$0.hasPrefix(".") }
        let unplaced = Set(directories).subtracting(manifest.layer.keys).sorted()
        XCTAssertEqual(unplaced, [], "Sources/ directories missing from Package.swift's layers")
        let unknown = Set(manifest.dependencies.keys).subtracting(manifest.layer.keys).sorted()
        XCTAssertEqual(unknown, [], "targets missing from Package.swift's layers")
    }

    func testManifestDependenciesPointDown() throws {
        let manifest = try PackageManifest(root: Self.root)
        XCTAssertGreaterThan(manifest.dependencies.count, 10, "Package.swift's targets were not found")
        XCTAssertEqual(manifest.wrongDependencies(), [])
    }

    func testImportsPointDown() throws {
        let manifest = try PackageManifest(root: Self.root)
        var imports: [SourceImport] = []
        let sources = Self.root.appendingPathComponent("Sources")
        for target in manifest.layer.keys {
            let directory = sources.appendingPathComponent(target)
            guard let files = FileManager.default.enumerator(atPath: directory.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                for module in SourceImport.modules(in: text) {
                    imports.append(SourceImport(file: "Sources/\(target)/\(file)", target: target, module: module))
                }
            }
        }
        XCTAssertGreaterThan(imports.count, 100, "no imports found under Sources/")
        XCTAssertEqual(manifest.wrongImports(imports), [])
    }

    /// docs/README.md draws the same layers: each line of its picture that names targets names exactly one
    /// layer's, from the executables at the top down to the leaves, and every layer has its line.
    func testReadmePictureDrawsTheLayers() throws {
        let manifest = try PackageManifest(root: Self.root)
        let readme = try String(contentsOf: Self.root.appendingPathComponent("docs/README.md"), encoding: .utf8)
        let drawn = try PackageManifest.pictureLayers(in: readme, targets: Set(manifest.layer.keys))
        XCTAssertEqual(drawn, manifest.layers.reversed().map(Set.init), "docs/README.md's picture of the targets")
        let missingOne = readme.replacingOccurrences(of: "Studies   Benchmarks", with: "Studies")
        XCTAssertNotEqual(try PackageManifest.pictureLayers(in: missingOne, targets: Set(manifest.layer.keys)), drawn)
    }

    /// README.md's table of modules ("What is here") has a row for every target of the package and no other.
    func testReadmeTableListsEveryTarget() throws {
        let manifest = try PackageManifest(root: Self.root)
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        XCTAssertEqual(try PackageManifest.tableTargets(in: readme), Set(manifest.layer.keys), "README.md's table of modules")
        let missingOne = readme.replacingOccurrences(of: "| `Runs` |", with: "| Runs |")
        XCTAssertNotEqual(try PackageManifest.tableTargets(in: missingOne), Set(manifest.layer.keys))
    }

    /// The checks can fail: an import of a higher layer, an import of a same-layer target, an import the
    /// manifest does not declare, and an upward dependency are all reported.
    func testChecksReportViolations() throws {
        let manifest = PackageManifest(layers: [["Low"], ["MidA", "MidB"], ["High"]],
                                       dependencies: ["Low": [], "MidA": ["Low"], "MidB": ["Low", "High"], "High": ["MidA"]])
        XCTAssertEqual(manifest.wrongDependencies(), ["MidB (layer 1) depends on High (layer 2)"])
        let imports = [SourceImport(file: "a.swift", target: "Low", module: "MidA"),
                       SourceImport(file: "b.swift", target: "MidA", module: "MidB"),
                       SourceImport(file: "c.swift", target: "High", module: "Low"),
                       SourceImport(file: "d.swift", target: "High", module: "MidA"),
                       SourceImport(file: "e.swift", target: "High", module: "Foundation")]
        XCTAssertEqual(manifest.wrongImports(imports), [
            "a.swift: Low (layer 0) imports MidA (layer 1)",
            "b.swift: MidA (layer 1) imports MidB (layer 1)",
            "c.swift: High imports Low, which Package.swift does not list among its dependencies",
        ])
        XCTAssertEqual(SourceImport.modules(in: "import Foundation\n@_exported import A\n  import struct B.C\n// import D\nlet x = 1"),
                       ["Foundation", "A", "B"])
    }
}

/// One `import` statement of a source file.
struct SourceImport {
    var file: String
    var target: String
    var module: String

    /// The modules a Swift source imports (plain, `@_exported`, `@testable` and `import struct M.T` forms).
    static func modules(in text: String) -> [String] {
        let pattern = try! NSRegularExpression(
            pattern: #"^\s*(?:@\w+\s+)*import\s+(?:(?:struct|class|enum|protocol|typealias|func|var|let)\s+)?(\w+)"#,
            options: [.anchorsMatchLines])
        let range = NSRange(text.startIndex..., in: text)
        return pattern.matches(in: text, range: range).map { String(text[Range($0.range(at: 1), in: text)!]) }
    }
}

/// What the tests need of Package.swift: the layers and each target's dependencies on other targets.
struct PackageManifest {
    /// Layer index of every target named in `layers`.
    var layer: [String: Int]
    /// The package targets each (non-test) target depends on.
    var dependencies: [String: [String]]

    /// The targets of each layer, lowest first.
    var layers: [[String]]

    init(layers: [[String]], dependencies: [String: [String]]) {
        self.layers = layers
        var index: [String: Int] = [:]
        for (i, names) in layers.enumerated() { for name in names { index[name] = i } }
        layer = index
        self.dependencies = dependencies
    }

    /// Reads `let layers: [[String]] = [ ... ]` (one layer per line) and the `.target`, `.executableTarget` and
    /// `.systemLibrary` declarations of Package.swift.
    init(root: URL) throws {
        let text = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        guard let start = text.range(of: "let layers: [[String]] = [\n") else {
            throw ManifestError("Package.swift has no `let layers: [[String]] = [` list")
        }
        var layers: [[String]] = []
        for line in text[start.upperBound...].split(separator: "\n") {
            let code = line.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0]
            if code.trimmingCharacters(in: .whitespaces) == "]" { break }
            guard !Self.quoted(code).isEmpty else {
                throw ManifestError("Package.swift's layers: the line '\(line)' names no target (one layer per line)")
            }
            layers.append(Self.quoted(code))
        }
        var dependencies: [String: [String]] = [:]
        let declaration = try NSRegularExpression(pattern: #"\.(target|executableTarget|systemLibrary|testTarget)\(name: "([^"]+)""#)
        let matches = declaration.matches(in: text, range: NSRange(text.startIndex..., in: text))
        for (i, match) in matches.enumerated() {
            let kind = String(text[Range(match.range(at: 1), in: text)!])
            let name = String(text[Range(match.range(at: 2), in: text)!])
            let end = i + 1 < matches.count ? Range(matches[i + 1].range, in: text)!.lowerBound : text.endIndex
            let body = text[Range(match.range, in: text)!.upperBound..<end]
            // Test targets and their helpers (under Tests/) are not layers of the package.
            guard kind != "testTarget", !body.contains("path: \"Tests/") else { continue }
            var listed: [String] = []
            if let open = body.range(of: "dependencies: [") {
                var depth = 1, close = open.upperBound
                while depth > 0, close < body.endIndex {
                    if body[close] == "[" { depth += 1 } else if body[close] == "]" { depth -= 1 }
                    close = body.index(after: close)
                }
                listed = Self.quoted(body[open.upperBound..<close])
            }
            dependencies[name] = listed
        }
        self.init(layers: layers, dependencies: dependencies)
        // Products of other packages (ArgumentParser) are not targets of ours.
        for (name, listed) in self.dependencies { self.dependencies[name] = listed.filter { layer[$0] != nil } }
    }

    /// Dependencies on a target of the same or a higher layer.
    func wrongDependencies() -> [String] {
        dependencies.keys.sorted().flatMap { target -> [String] in
            guard let own = layer[target] else { return [] }
            return dependencies[target]!.compactMap { dependency in
                guard let other = layer[dependency], other >= own else { return nil }
                return "\(target) (layer \(own)) depends on \(dependency) (layer \(other))"
            }
        }
    }

    /// Imports of a target of the same or a higher layer, and imports of a package target that the importing
    /// target does not declare as a dependency.
    func wrongImports(_ imports: [SourceImport]) -> [String] {
        imports.sorted { ($0.file, $0.module) < ($1.file, $1.module) }.compactMap { i in
            guard let other = layer[i.module], let own = layer[i.target], i.module != i.target else { return nil }
            if other >= own { return "\(i.file): \(i.target) (layer \(own)) imports \(i.module) (layer \(other))" }
            if !(dependencies[i.target] ?? []).contains(i.module) {
                return "\(i.file): \(i.target) imports \(i.module), which Package.swift does not list among its dependencies"
            }
            return nil
        }
    }

    /// The targets named by each line of the first code block under the "## Targets" heading of `readme`, top
    /// line first (lines that name none, such as a description's continuation, are skipped).
    static func pictureLayers(in readme: String, targets: Set<String>) throws -> [Set<String>] {
        guard let section = readme.range(of: "\n## Targets"),
              let open = readme.range(of: "```\n", range: section.upperBound..<readme.endIndex),
              let close = readme.range(of: "```", range: open.upperBound..<readme.endIndex) else {
            throw ManifestError("docs/README.md has no picture of the targets under '## Targets'")
        }
        let word = try NSRegularExpression(pattern: #"[A-Za-z][A-Za-z0-9_-]*"#)
        return readme[open.upperBound..<close.lowerBound].split(separator: "\n").compactMap { line in
            let text = String(line)
            let names = word.matches(in: text, range: NSRange(text.startIndex..., in: text))
                .map { String(text[Range($0.range, in: text)!]) }.filter(targets.contains)
            return names.isEmpty ? nil : Set(names)
        }
    }

    /// The backquoted names in the first column of the table under README.md's "## What is here".
    static func tableTargets(in readme: String) throws -> Set<String> {
        guard let section = readme.range(of: "\n## What is here\n") else {
            throw ManifestError("README.md has no '## What is here' section")
        }
        var names: Set<String> = []
        for line in readme[section.upperBound...].split(separator: "\n").drop(while: { !$0.hasPrefix("|") }) {
            guard line.hasPrefix("|") else { break }
            let cell = line.split(separator: "|", omittingEmptySubsequences: false)[1]
            names.formUnion(cell.split(separator: "`", omittingEmptySubsequences: false).enumerated()
                .filter { $0.offset % 2 == 1 }.map { String($0.element) })
        }
        return names
    }

    private static func quoted<S: StringProtocol>(_ text: S) -> [String] {
        text.split(separator: "\"", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
    }
}

struct ManifestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
