import Foundation
import TestSupport
import XCTest

/// deploy/Containerfile must build simclr and its runtime stage must start it. Its build stage once lacked
/// oneDNN, libpng and libjpeg (no compile) and its runtime stage their libraries (no start); no container
/// engine runs where the tests run, so this checks what an image build would find: the build stage installs
/// deploy/packages/build.txt, the list deploy/setup.sh installs here, and every library the built binaries
/// need (ELF NEEDED) is in a package of deploy/packages/runtime.txt, in one they depend on, or in the base
/// image, as dpkg says on this (Debian bookworm) machine.
final class ContainerImageTests: XCTestCase {
    private let root = ProcessHarness.packageRoot

    private func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// The package names of a list in deploy/packages ('#' comments, names separated by blanks).
    private func packageList(_ name: String) throws -> [String] {
        try text("deploy/packages/\(name)").split(separator: "\n")
            .flatMap { $0.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].split(whereSeparator: \.isWhitespace) }
            .map(String.init)
    }

    private struct CommandFailed: Error, CustomStringConvertible { var description: String }

    private func run(_ arguments: [String]) throws -> String {
        guard let tool = ProcessHarness.which(arguments[0]) else { throw ProcessHarness.Failure.missingTool(arguments[0]) }
        let r = try ProcessHarness.run([tool] + arguments.dropFirst(), timeout: 60)
        guard r.status == 0 else { throw CommandFailed(description: "`\(arguments.joined(separator: " "))` failed: \(r.output)") }
        return r.output
    }

    func testTheImageAndSetupInstallFromTheSharedLists() throws {
        let containerfile = try text("deploy/Containerfile"), setup = try text("deploy/setup.sh")
        XCTAssertTrue(containerfile.contains("COPY deploy/packages/build.txt"), "the build stage must install deploy/packages/build.txt")
        XCTAssertTrue(containerfile.contains("COPY deploy/packages/runtime.txt"), "the runtime stage must install deploy/packages/runtime.txt")
        XCTAssertTrue(setup.contains("read_list build.txt"), "deploy/setup.sh must install deploy/packages/build.txt")
        // The manifest's system libraries (pkg-config and linked libraries) are built from these packages.
        let build = Set(try packageList("build.txt"))
        for needed in ["libopenmpi-dev", "libopenblas-dev", "libdnnl-dev", "libpng-dev", "libjpeg62-turbo-dev", "pkg-config"] {
            XCTAssertTrue(build.contains(needed), "deploy/packages/build.txt lacks \(needed)")
        }
    }

    func testEveryLibraryTheBinariesNeedComesFromTheRuntimePackages() throws {
        guard ProcessHarness.which("dpkg-query") != nil else { throw XCTSkip("not a Debian system: no dpkg") }
        let containerfile = try text("deploy/Containerfile")
        XCTAssertTrue(containerfile.contains("--static-swift-stdlib"), "the image is meant to link the Swift runtime statically")
        let installed = try InstalledPackages(dpkgQuery: try run(["dpkg-query", "-W", "-f",
            "${Package}\t${Status}\t${Essential}\t${Pre-Depends}, ${Depends}\t${Provides}\n"]))

        // What the runtime stage holds: its packages, what they depend on, and debian:bookworm-slim itself
        // (the essential packages and apt, with their dependencies).
        let runtime = try packageList("runtime.txt")
        for p in runtime { XCTAssertTrue(installed.isInstalled(p), "\(p) (runtime.txt) is not installed here, so it cannot be checked") }
        let image = installed.closure(of: runtime + installed.essential + ["apt"])

        let toolchain = Self.swiftToolchain()
        let swiftRuntime = toolchain.appendingPathComponent("lib/swift/linux")
        var libraries: [String] = []
        for program in ["simclr", "cluster-check"] {
            let binary = try ProcessHarness.executable(program)
            libraries += try run(["readelf", "-d", binary.path]).split(separator: "\n")
                .filter { $0.contains("(NEEDED)") }
                .compactMap { line in line.split(separator: "[").last?.split(separator: "]").first.map(String.init) }
        }
        // Swift's runtime comes from the toolchain and is linked into the image's binaries; what that static
        // link needs in turn, the toolchain lists in static-stdlib-args.lnk (-lstdc++, -lm, ...).
        let staticArgs = try String(contentsOf: toolchain.appendingPathComponent("lib/swift_static/linux/static-stdlib-args.lnk"),
                                    encoding: .utf8)
        let cache = try run(["ldconfig", "-p"])
        var needed = Set(libraries.filter { !FileManager.default.fileExists(atPath: swiftRuntime.appendingPathComponent($0).path) })
        for flag in staticArgs.split(whereSeparator: \.isWhitespace) where flag.hasPrefix("-l") && !flag.hasPrefix("-lswift") {
            let name = "lib\(flag.dropFirst(2)).so."
            if let soname = Self.ldconfigEntries(cache).first(where: { $0.soname.hasPrefix(name) && !$0.path.contains("swift") })?.soname {
                needed.insert(soname)
            }
        }
        XCTAssertTrue(needed.contains("libdnnl.so.2") && needed.contains("libmpi.so.40"), "readelf found too little: \(needed.sorted())")

        for library in needed.sorted() {
            guard let path = Self.ldconfigEntries(cache).first(where: { $0.soname == library })?.path else {
                XCTFail("\(library): not in the dynamic linker's cache (ldconfig -p)"); continue
            }
            guard let package = try owner(of: path) else { XCTFail("\(library) (\(path)): no Debian package holds it"); continue }
            XCTAssertTrue(image.contains(package),
                          "\(library) comes from \(package), which neither deploy/packages/runtime.txt, what its packages depend on, nor debian:bookworm-slim provides")
        }
    }

    /// The package that holds `path` (tried as found, resolved, and under /usr for merged-/usr systems).
    private func owner(of path: String) throws -> String? {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var candidates = [path, resolved]
        for p in [path, resolved] {
            candidates.append(p.hasPrefix("/usr/") ? String(p.dropFirst(4)) : "/usr" + p)
        }
        for candidate in candidates {
            let r = try ProcessHarness.run(["/usr/bin/dpkg-query", "-S", candidate], timeout: 30)
            if r.status == 0, let line = r.output.split(separator: "\n").first, let colon = line.firstIndex(of: ":") {
                return String(line[..<colon])
            }
        }
        return nil
    }

    private static func swiftToolchain() -> URL {
        if let swift = ProcessHarness.which("swift") {
            return URL(fileURLWithPath: swift).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "/opt/swift/usr")
    }

    /// `ldconfig -p` lines `\tlibfoo.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libfoo.so.1` of this machine's
    /// architecture.
    private static func ldconfigEntries(_ output: String) -> [(soname: String, path: String)] {
        output.split(separator: "\n").compactMap { line in
            guard line.contains("x86-64") || !line.contains("("), let arrow = line.range(of: " => ") else { return nil }
            let soname = line[..<arrow.lowerBound].trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init)
            return soname.map { ($0, String(line[arrow.upperBound...])) }
        }
    }
}

/// The installed Debian packages and their dependencies, as `dpkg-query -W` reports them.
private struct InstalledPackages {
    private var depends: [String: [[String]]] = [:]
    private var providers: [String: String] = [:]
    private(set) var essential: [String] = []

    init(dpkgQuery output: String) throws {
        for line in output.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 5, f[1].hasSuffix(" installed") else { continue }
            depends[f[0]] = Self.groups(f[3])
            if f[2] == "yes" { essential.append(f[0]) }
            for provided in Self.groups(f[4]).flatMap({ $0 }) where providers[provided] == nil { providers[provided] = f[0] }
        }
    }

    func isInstalled(_ package: String) -> Bool { depends[package] != nil }

    /// `packages` and everything they depend on. Of alternatives (`a | b`) the first installed one counts,
    /// as apt installs the first that it can; a virtual package counts as its installed provider.
    func closure(of packages: [String]) -> Set<String> {
        var seen = Set<String>(), todo = packages
        while let p = todo.popLast() {
            guard !seen.contains(p) else { continue }
            seen.insert(p)
            for group in depends[p] ?? [] {
                if let chosen = group.lazy.compactMap({ name in isInstalled(name) ? name : providers[name] }).first {
                    todo.append(chosen)
                }
            }
        }
        return seen
    }

    /// "a (>= 1), b:any | c" -> [["a"], ["b", "c"]].
    private static func groups(_ field: String) -> [[String]] {
        field.split(separator: ",").map { group in
            group.split(separator: "|").compactMap { alternative in
                alternative.split(separator: "(").first?.trimmingCharacters(in: .whitespaces)
                    .split(separator: ":").first.map(String.init)
            }.filter { !$0.isEmpty }
        }.filter { !$0.isEmpty }
    }
}
