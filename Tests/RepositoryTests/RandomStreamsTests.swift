import Foundation
import XCTest

/// Every random stream of the program is made through the one API (`RandomStream(_:seed:key:)`,
/// `SplitMix64(_:seed:key:)`) from a domain of Sources/Kernels/RandomDomain.swift, and docs/random-streams.md
/// lists every domain. A generator seeded by hand elsewhere in Sources/ (cluster-check's simulated gradients
/// aside: test data of that tool) is a stream the list misses.
final class RandomStreamsTests: XCTestCase {
    static let root = LayerTests.root

    func testEveryStreamHasADomainTheDocsList() throws {
        let domains = try String(contentsOf: Self.root.appendingPathComponent("Sources/Kernels/RandomDomain.swift"), encoding: .utf8)
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/random-streams.md"), encoding: .utf8)
        var sources: [(file: String, text: String)] = []
        let top = Self.root.appendingPathComponent("Sources")
        for case let file as String in FileManager.default.enumerator(atPath: top.path)! where file.hasSuffix(".swift") {
            sources.append(("Sources/\(file)", try String(contentsOf: top.appendingPathComponent(file), encoding: .utf8)))
        }
        let check = RandomStreamsCheck(domainsSource: domains, doc: doc)
        XCTAssertGreaterThan(check.domains.count, 10, "RandomDomain's cases were not found")
        XCTAssertGreaterThan(sources.count, 100, "Sources/ not found")
        XCTAssertEqual(check.problems(in: sources), [])
    }

    /// The check can fail: a domain the docs do not list and a generator seeded by hand are reported.
    func testCheckReportsMissingDomainsAndHandSeededGenerators() {
        let check = RandomStreamsCheck(domainsSource: """
            case sampler = 0x5341_4D50            // "SAMP"
            case pca = 0x5043_4100                // "PCA"
            """, doc: "| `sampler` | epoch order | ... |")
        XCTAssertEqual(check.domains, ["sampler", "pca"])
        XCTAssertEqual(check.problems(in: [
            ("Sources/A/Fine.swift", "var r = RandomStream(.sampler, seed: s, key: e)"),
            ("Sources/B/Raw.swift", "var r = SplitMix64(seed: 42)"),
            ("Sources/C/Raw.swift", "var r = RandomStream(seed: 42)"),
            ("Sources/Kernels/RandomStream.swift", "var splitMix = SplitMix64(seed: seed)"),
        ]), [
            "docs/random-streams.md does not list the domain `pca`",
            "Sources/B/Raw.swift seeds a generator by hand (SplitMix64(seed:)): give it a RandomDomain",
            "Sources/C/Raw.swift seeds a generator by hand (RandomStream(seed:)): give it a RandomDomain",
        ])
    }
}

struct RandomStreamsCheck {
    /// RandomDomain's cases, in order.
    let domains: [String]
    let doc: String

    init(domainsSource: String, doc: String) {
        let pattern = try! NSRegularExpression(pattern: #"^\s*case (\w+) = 0x"#, options: .anchorsMatchLines)
        domains = pattern.matches(in: domainsSource, range: NSRange(domainsSource.startIndex..., in: domainsSource))
            .map { String(domainsSource[Range($0.range(at: 1), in: domainsSource)!]) }
        self.doc = doc
    }

    /// Domains missing from the docs, and files outside Kernels (where the generators are built) and cluster-check
    /// that seed a generator without a domain.
    func problems(in sources: [(file: String, text: String)]) -> [String] {
        var problems = domains.filter { !doc.contains("`\($0)`") }.map { "docs/random-streams.md does not list the domain `\($0)`" }
        for (file, text) in sources where !file.hasPrefix("Sources/Kernels/") && !file.hasPrefix("Sources/cluster-check/") {
            for generator in ["SplitMix64", "RandomStream"] where text.contains("\(generator)(seed:") {
                problems.append("\(file) seeds a generator by hand (\(generator)(seed:)): give it a RandomDomain")
            }
        }
        return problems
    }
}
