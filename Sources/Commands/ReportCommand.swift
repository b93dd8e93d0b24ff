import ArgumentParser
import Datasets
import Foundation
import Reports

/// `simclr report`: plots and summary tables of run directories.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Plot the training curves of run directories and write report.md / report.html with a summary table.",
        discussion: """
        Reads each RUN_DIR's metrics.csv (by its header: pretraining rows per step, supervised / fine-tuning / \
        linear-probe rows per epoch; unknown columns are ignored), results.json and config.json, whichever are \
        present, and writes SVG plots (the reference SimCLR notebook's plot_loss_and_acc), report.md and a \
        self-contained report.html (the SVGs inline). The table has one row per run: method, encoder, label \
        fraction, test top-1/top-5, final loss, epochs, img/s (a pretraining run's top-1 is its last kNN-monitor \
        value).

        Pretraining curves: loss and contrastive top-1/top-5 per step (faint; means of buckets of steps beyond \
        2000 steps) with the mean of each epoch (dots), and kNN top-1 at the monitor steps. Epoch runs: train \
        and test loss, train top-1 and test top-1/top-5 per epoch.

        Without --out each run gets RUN_DIR/report.md, RUN_DIR/report.html and RUN_DIR/plots/*.svg, and with \
        several runs the combined table is printed. With --out DIR one combined report (table, comparison \
        charts, every run's plots under DIR/plots/<run>/) is written to DIR. A directory with neither \
        metrics.csv nor results.json is an error; with several directories it is skipped with a warning as long \
        as one is usable.

        Examples:
          simclr report runs/cifar
          simclr report runs/cifar runs/cifar-linear-10pct runs/random-linear \\
              --out runs/report
        """)

    @Argument(help: ArgumentHelp("Run directories.", valueName: "run-dir"))
    var runDirs: [String]

    @Option(help: ArgumentHelp("Write one combined report into this directory instead of a report per run.",
                               valueName: "dir"))
    var out: String?

    func validate() throws {
        guard !runDirs.isEmpty else { throw ValidationError("give at least one run directory") }
    }

    func run() throws {
        let (written, table) = try ReportWriter.write(
            runDirectories: runDirs.map { URL(fileURLWithPath: DataSelection.expand($0)) },
            combined: out.map { URL(fileURLWithPath: DataSelection.expand($0)) }) {
            FileHandle.standardError.write(Data("\($0)\n".utf8))
        }
        if let table { print(table.markdown()) }
        for url in written { print("wrote \(url.path)") }
    }
}
