import Foundation
import TestSupport
import XCTest

/// Every command's --help reads at 80 columns: paragraphs wrapped once (by the parser, not also by hard line
/// breaks in the source), examples whole (long ones continued with a shell backslash, never broken by the
/// wrap), and every listed value described.
final class HelpTextTests: XCTestCase {
    static let commands = ["", "pretrain", "supervised", "finetune", "linear-eval", "knn", "compare", "sweep", "report",
                           "tsne", "bench", "scaling-model", "synth", "augment-preview", "embed"]
    static let columns = 80

    private func help(_ command: String) throws -> [String] {
        let args = [try simclrExecutable().path] + (command.isEmpty ? [] : [command]) + ["--help"]
        let run = try ProcessHarness.run(args, environment: ["COLUMNS": String(Self.columns)])
        XCTAssertEqual(run.status, 0, run.output)
        return run.output.components(separatedBy: "\n")
    }

    func testHelpReadsAtEightyColumns() throws {
        for command in Self.commands {
            let lines = try help(command)
            let overview = Array(lines.prefix { !$0.hasPrefix("USAGE:") })
            XCTAssertFalse(overview.isEmpty || overview.count == lines.count, "\(command): no overview or usage")
            for (i, line) in overview.enumerated() {
                XCTAssertLessThanOrEqual(line.count, Self.columns, "\(command): too long: \(line)")
                // A prose line followed by more of its paragraph must have been full: the next word did not fit.
                guard !line.isEmpty, !line.hasPrefix(" "), i + 1 < overview.count else { continue }
                let next = overview[i + 1]
                guard !next.isEmpty, !next.hasPrefix(" "), !line.hasSuffix(":") else { continue }
                let word = next.split(separator: " ").first.map(String.init) ?? ""
                // (The parser keeps lines under the width: a line ends where the next word would reach it.)
                XCTAssertGreaterThanOrEqual(line.count + 1 + word.count, Self.columns,
                                     "\(command): a line broken before the wrap width:\n\(line)\n\(next)")
            }
            // Examples: every line indented (a wrapped command would continue at column 0), continued with "\".
            if let start = overview.firstIndex(where: { $0.hasPrefix("Example") }) {
                for line in overview[(start + 1)...] where !line.isEmpty {
                    XCTAssertTrue(line.hasPrefix("  "), "\(command): an example broken by the wrap: \(line)")
                }
            } else {
                XCTFail("\(command): no examples")
            }
            for line in lines where line.trimmingCharacters(in: .whitespaces).hasSuffix(" -") {
                XCTFail("\(command): a value without a description: \(line)")
            }
        }
    }
}
