import Evaluation
import Foundation
import Kernels
import RunFiles
import Studies
import XCTest

/// The studies' plans, the runner's skip/resume rules and the tables, with a recording stand-in for the
/// child processes (no process is started).
final class StudyRunnerTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("study-runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// What the stand-in saw, and the accuracy it reports for each run (by its --out directory's name).
    private final class Recorder {
        var commands: [[String]] = []
        var top1: [String: Double] = [:]
        /// Pretrainings (by setting directory) that diverge at this step, as the pretrain command does.
        var diverges: [String: Int] = [:]

        func execute(_ command: [String], log: URL, name: String) throws {
            commands.append(command)
            let out = URL(fileURLWithPath: command[command.firstIndex(of: "--out")! + 1])
            let subcommand = command[command.firstIndex(of: "/bin/simclr")! + 1]
            if subcommand == "pretrain", let step = diverges[out.deletingLastPathComponent().lastPathComponent] {
                try RunDivergence(step: step, loss: .infinity).write(to: out)
                throw StudyError("step \(name) failed (exit status 1)")
            }
            if subcommand == "pretrain" {
                try Data().write(to: out.appendingPathComponent("model.safetensors"))
                let csv = "step,epoch,loss,acc_top1,acc_top5,mean_pos,lr,img_per_s,data_wait_s,knn_top1\n"
                    + "1,0,4.0,0.1,0.3,1,0.1,10,0,\n2,0,3.0,0.3,0.5,1,0.1,10,0,\n"
                try Data(csv.utf8).write(to: out.appendingPathComponent("metrics.csv"))
            } else {
                var results = RunResults()
                results.method = subcommand
                results.testTop1 = top1[out.lastPathComponent] ?? 0.5
                results.testTop5 = 0.875
                try results.encoded().write(to: out.appendingPathComponent("results.json"))
            }
        }
    }

    private func runner(_ recorder: Recorder, ranks: Int = 1, force: Bool = false) -> ChildRunner {
        ChildRunner(launch: StudyLaunch(ranks: ranks, threadsPerRank: 2, force: force, program: "/bin/simclr", cores: 2),
                    studyDirectory: root, say: { _ in }, execute: recorder.execute)
    }

    func testCommandLineAddsTheLauncherOnlyForSeveralRanks() {
        let run = ChildRun(name: "knn", subcommand: "knn", arguments: ["--random-init"])
        let dir = URL(fileURLWithPath: "/s/knn")
        let one = StudyLaunch(ranks: 1, threadsPerRank: 3, program: "/bin/simclr", cores: 2)
        XCTAssertEqual(one.commandLine(of: run, in: dir), ["/bin/simclr", "knn", "--random-init", "--out", "/s/knn", "--threads", "3"])
        let four = StudyLaunch(ranks: 4, launcherArguments: ["--hostfile=h"], program: "/bin/simclr", cores: 2)
        XCTAssertEqual(four.threadsPerRank, 1, "2 cores over 4 ranks, at least 1")
        XCTAssertEqual(four.commandLine(of: run, in: dir),
                       ["mpirun", "-np", "4", "-x", "SIMCLR_PROGRESS", "--oversubscribe", "--hostfile=h",
                        "/bin/simclr", "knn", "--random-init", "--out", "/s/knn", "--threads", "1"])
        let srun = StudyLaunch(ranks: 2, launcher: "/usr/bin/srun", program: "/bin/simclr", cores: 2)
        XCTAssertEqual(Array(srun.commandLine(of: run, in: dir).prefix(4)), ["/usr/bin/srun", "-np", "2", "/bin/simclr"],
                       "no Open MPI flags for another launcher")
        XCTAssertEqual(shellQuoted("a b'c"), "'a b'\\''c'")
        XCTAssertEqual(shellQuoted("--x=1,2"), "--x=1,2")
    }

    /// A finished run with the same command is skipped; a changed command runs again; an interrupted
    /// pretraining resumes from its checkpoint; --force runs everything again.
    func testRunnerSkipsFinishedRunsAndResumesPretraining() throws {
        let recorder = Recorder()
        let probe = ChildRun(name: "linear", subcommand: "linear-eval", arguments: ["--epochs", "3"])
        var first = runner(recorder)
        XCTAssertEqual(try first.run(probe, of: 1)?.testTop1, 0.5)
        XCTAssertEqual(try String(contentsOf: root.appendingPathComponent("linear/command.txt"), encoding: .utf8),
                       "/bin/simclr linear-eval --epochs 3 --out \(root.path)/linear --threads 2\n")
        var again = runner(recorder)
        XCTAssertEqual(try again.run(probe, of: 1)?.testTop1, 0.5)
        XCTAssertEqual(recorder.commands.count, 1, "skipped: same command, results.json present")
        var changed = runner(recorder)
        try changed.run(ChildRun(name: "linear", subcommand: "linear-eval", arguments: ["--epochs", "4"]), of: 1)
        XCTAssertEqual(recorder.commands.count, 2, "another command runs again")
        var forced = runner(recorder, force: true)
        try forced.run(ChildRun(name: "linear", subcommand: "linear-eval", arguments: ["--epochs", "4"]), of: 1)
        XCTAssertEqual(recorder.commands.count, 3)

        let pretrain = ChildRun(name: "pretrain", subcommand: "pretrain", arguments: [], product: "model.safetensors")
        var p = runner(recorder)
        XCTAssertNil(try p.run(pretrain, of: 1))
        XCTAssertFalse(recorder.commands.last!.contains("--resume"))
        XCTAssertEqual(recorder.commands.last!.last, "--overwrite", "a trainer started over is told so (it refuses otherwise)")
        XCTAssertFalse(recorder.commands[0].contains("--overwrite"), "linear-eval takes no --overwrite")
        // Interrupted: a checkpoint but no model.
        try FileManager.default.removeItem(at: root.appendingPathComponent("pretrain/model.safetensors"))
        try Data().write(to: root.appendingPathComponent("pretrain/checkpoint.safetensors"))
        var resumed = runner(recorder)
        try resumed.run(pretrain, of: 1)
        XCTAssertEqual(recorder.commands.last!.last, "--resume")
        XCTAssertEqual(recorder.commands.count, 5)
    }

    func testRunnerRefusesAResultsFileItCannotRead() throws {
        var r = ChildRunner(launch: StudyLaunch(ranks: 1, program: "/bin/simclr", cores: 1), studyDirectory: root,
                            say: { _ in }, execute: { command, _, _ in
                                let out = command[command.firstIndex(of: "--out")! + 1]
                                try Data("{\"test_top1\": \"high\"}".utf8).write(to: URL(fileURLWithPath: out + "/results.json"))
                            })
        XCTAssertThrowsError(try r.run(ChildRun(name: "knn", subcommand: "knn", arguments: []), of: 1)) {
            XCTAssert("\($0)".contains("is not a results.json"), "\($0)")
        }
    }

    func testComparisonPlanAndTableFromRecordedResults() throws {
        var study = ComparisonStudy(dataArguments: ["--synthetic-train-count", "8"], modelArguments: ["--width", "0.25"],
                                    labelFractions: [0.1, 1], evaluations: [.linear, .supervised], encoder: nil,
                                    studyDirectory: root)
        (study.pretrainEpochs, study.probeEpochs, study.supervisedEpochs) = (2, 3, 4)
        study.probeArguments = ["--lr=0.5"]
        XCTAssertEqual(study.runs.map(\.run.name), ["pretrain", "linear-simclr-10pct", "linear-random-10pct", "supervised-10pct",
                                                    "linear-simclr-100pct", "linear-random-100pct", "supervised-100pct"])
        XCTAssertEqual(study.runs[1].run.arguments,
                       ["--synthetic-train-count", "8", "--width", "0.25", "--encoder", root.path + "/pretrain/model.safetensors",
                        "--label-fraction", "0.1", "--epochs", "3", "--lr=0.5"])
        XCTAssertEqual(study.runs[3].run.arguments.suffix(4), ["--epochs", "4", "--label-fraction", "0.1"])
        var given = study
        given.encoder = "/models/e.safetensors"
        XCTAssertEqual(given.runs.first?.run.name, "linear-simclr-10pct", "no pretraining with a given encoder")

        let recorder = Recorder()
        recorder.top1 = ["linear-simclr-10pct": 0.25, "linear-random-100pct": 0.125]
        var r = runner(recorder)
        let table = try study.run(with: &r)
        XCTAssertEqual(recorder.commands.count, 7)
        XCTAssertEqual(table.entries.count, 6, "every run but the pretraining")
        XCTAssertEqual(table.csv.split(separator: "\n")[1], "simclr,linear,0.1,0.25,0.875,\(root.path)/linear-simclr-10pct")
        let markdown = ComparisonStudy.markdown(table, data: "tiny data", model: "ResNet-18")
        XCTAssert(markdown.hasPrefix("# Random init vs SimCLR vs supervised\n\nTest top-1 (top-5) on tiny data; ResNet-18.\n\n"))
        let cells = markdown.replacingOccurrences(of: " +", with: " ", options: .regularExpression)
        XCTAssert(cells.contains("| random init | linear probe | 50.0% (87.5%) | 12.5% (87.5%) |"), markdown)
    }

    /// `compare --method moco`: the pretraining runs MoCo (before the user's own pretrain arguments, which win),
    /// and the pretrained rows and runs are MoCo's.
    func testComparisonWithMoCoPretrainsWithMoCo() throws {
        var study = ComparisonStudy(dataArguments: ["--d"], modelArguments: ["--m"], labelFractions: [0.1],
                                    evaluations: [.linear, .finetune], encoder: nil, studyDirectory: root)
        study.method = .moco
        study.pretrainEpochs = 2
        study.pretrainArguments = ["--queue-size=64"]
        XCTAssertEqual(study.runs.map(\.run.name), ["pretrain", "linear-moco-10pct", "linear-random-10pct", "finetune-moco-10pct"])
        XCTAssertEqual(study.runs[0].run.arguments, ["--d", "--m", "--epochs", "2", "--method", "moco", "--queue-size=64"])
        XCTAssertEqual(study.runs.map(\.source), ["moco", "moco", "random-init", "moco"])

        let recorder = Recorder()
        recorder.top1 = ["linear-moco-10pct": 0.25]
        var r = runner(recorder)
        let table = try study.run(with: &r)
        let markdown = ComparisonStudy.markdown(table, data: "tiny data", model: "ResNet-18", method: .moco)
        XCTAssert(markdown.hasPrefix("# Random init vs MoCo v2 vs supervised\n\n"), markdown)
        let cells = markdown.replacingOccurrences(of: " +", with: " ", options: .regularExpression)
        XCTAssert(cells.contains("| MoCo v2 | linear probe | 25.0% (87.5%) |"), markdown)
        XCTAssert(cells.contains("| MoCo v2 | fine-tune |"), markdown)
    }

    func testSweepRowsFromRecordedRuns() throws {
        let plan = SweepPlan(studies: ["temperature"], temperatures: ["0.1", "0.5"], batchSizes: [], ablations: [], heads: [])
        var study = SweepStudy(plan: plan, dataArguments: ["--d"], modelArguments: ["--m"], studyDirectory: root)
        (study.pretrainEpochs, study.probeEpochs, study.pretrainArguments) = (1, 2, ["--temperature=9", "--batch-size=16"])
        let runs = study.runs
        XCTAssertEqual(runs.map(\.pretrain.name), ["temperature-0.1/pretrain", "temperature-0.5/pretrain"])
        XCTAssertEqual(runs[0].pretrain.arguments,
                       ["--d", "--m", "--epochs", "1", "--temperature=9", "--batch-size=16", "--temperature", "0.1"],
                       "the setting's own argument last, so it wins over the base's")
        XCTAssertEqual(runs[1].knn?.arguments,
                       ["--d", "--m", "--encoder", root.path + "/temperature-0.5/pretrain/model.safetensors", "--label-fraction", "1.0"])
        let recorder = Recorder()
        recorder.top1 = ["linear": 0.75]
        var r = runner(recorder)
        let rows = try study.run(with: &r)
        XCTAssertEqual(recorder.commands.count, 6)
        XCTAssertEqual(SweepStudy.csv(rows), SweepRow.csvHeader + "temperature,\"0.1\",0,3.5,0.2,0.4,0.75,0.875,0.5\n"
                           + "temperature,\"0.5\",0,3.5,0.2,0.4,0.75,0.875,0.5\n", "probe 0.75, kNN 0.5 (the stand-in's default)")
        study.knn = false
        XCTAssertNil(study.runs[0].knn)
        XCTAssertEqual(study.runsPerSetting, 2)
    }

    /// A diverged pretraining is a row saying so; its evaluations are skipped and the next setting runs. Any
    /// other failure ends the sweep.
    func testSweepReportsADivergedSettingAndGoesOn() throws {
        let plan = SweepPlan(studies: ["similarity", "temperature"], temperatures: ["0.5"], batchSizes: [], ablations: [],
                             heads: [], l2Temperature: "0.5")
        let study = SweepStudy(plan: plan, dataArguments: [], modelArguments: [], studyDirectory: root)
        XCTAssertEqual(study.runs.map(\.pretrain.name), ["similarity-cosine/pretrain", "similarity-l2-T-0.5/pretrain",
                                                         "temperature-0.5/pretrain"])
        XCTAssertEqual(study.runs[1].pretrain.arguments.suffix(4), ["--similarity", "l2", "--temperature", "0.5"])
        let recorder = Recorder()
        recorder.diverges = ["similarity-l2-T-0.5": 10]
        var said: [String] = []
        var r = runner(recorder)
        let rows = try study.run(with: &r, say: { said.append($0) })
        XCTAssertEqual(recorder.commands.count, 1 + 3 + 3, "cosine, the diverged pretraining alone, temperature")
        XCTAssertEqual(r.completed, 9)
        XCTAssertEqual(rows.map(\.diverged), [nil, RunDivergence(step: 10, loss: .infinity), nil])
        XCTAssertEqual(rows[1].csvLine, "similarity,\"l2 T=0.5\",,inf,,,,,\n")
        XCTAssertEqual(rows[1].markdownCells[2], "diverged at step 10 (loss inf)")
        XCTAssertEqual(said, ["similarity-l2-T-0.5/pretrain: diverged at step 10 (loss inf); its evaluations are skipped and the sweep goes on"])
        let summary = try XCTUnwrap(SweepStudy.divergenceSummary(rows))
        XCTAssert(summary.hasPrefix("1 of 3 settings diverged: similarity l2 T=0.5 (step 10, loss inf)."), summary)
        XCTAssert(study.markdown(rows, data: "d", model: "m").contains(summary))
        XCTAssertNil(SweepStudy.divergenceSummary([rows[0]]))

        // A failure without divergence.json is not a result.
        var failing = ChildRunner(launch: StudyLaunch(ranks: 1, force: true, program: "/bin/simclr", cores: 1), studyDirectory: root,
                                  say: { _ in }, execute: { _, _, _ in throw StudyError("step failed (exit status 2)") })
        XCTAssertThrowsError(try study.run(with: &failing)) { XCTAssert("\($0)".contains("exit status 2"), "\($0)") }
    }

    /// The entries every feature evaluation writes, from the encoder and the features.
    func testFeatureEvaluationResults() throws {
        let set = EvaluationFeatureSet(train: (Tensor(shape: [3, 4]), [0, 1, 2]), test: (Tensor(shape: [2, 4]), [1, 0]),
                                       classCount: 5, trainTotal: 30)
        let random = EncoderSource(weights: nil, stem: .cifar, width: 0.25, seed: 7, precision: .fp32, batchSize: 8)
        let r = FeatureEvaluation.results(method: "knn", encoder: random, data: "shapes", labelFraction: 0.1, features: set)
        XCTAssertEqual(r.method, "knn")
        XCTAssertEqual(r.encoder, "random-init")
        XCTAssertEqual(r.randomInit, true)
        XCTAssertEqual([r.trainCount, r.testCount, r.classes, r.featureDim], [3, 2, 5, 4])
        XCTAssertEqual(r.labelFraction, 0.1)
        XCTAssertEqual(r.data, "shapes")
        XCTAssertEqual([r.arch, r.stem], ["resnet18", "cifar"])
        XCTAssertEqual(r.width, 0.25)
        XCTAssertEqual(r.seed, 7)
        var file = random
        file.weights = "/m.safetensors"
        let w = FeatureEvaluation.results(method: "linear-eval", encoder: file, data: "d", labelFraction: 1, features: set)
        XCTAssertEqual(w.encoder, "/m.safetensors")
        XCTAssertEqual(w.randomInit, false)
    }

    /// kNN's entries on features whose nearest neighbours are known.
    func testKNNEvaluationFillsItsEntries() {
        let train = Tensor(shape: [4, 2], values: [1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9])
        let test = Tensor(shape: [2, 2], values: [1, 0.05, 0.05, 1])
        let set = EvaluationFeatureSet(train: (train, [0, 0, 1, 1]), test: (test, [0, 1]), classCount: 2, trainTotal: 4)
        var results = RunResults()
        var notes: [String] = []
        let line = KNNEvaluation(k: 10, temperature: 0.1).run(set, into: &results, log: { notes.append($0) })
        XCTAssertEqual(results.testTop1, 1)
        XCTAssertEqual(results.k, 4)
        XCTAssertEqual(results.kRequested, 10)
        XCTAssertEqual(results.temperature, 0.1)
        XCTAssertEqual(notes, ["k capped at 4, the number of training images"])
        XCTAssert(line.hasPrefix("knn (k 4, T 0.1): test top-1 1.0000"), line)
    }
}
