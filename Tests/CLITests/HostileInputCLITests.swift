import Foundation
import NeuralNet
import XCTest

/// The tool on inputs an operator gets wrong or a file that was tampered with: each must end with a message
/// that names the problem (and the file), never a trap, a silent NaN or a late failure.
final class HostileInputCLITests: XCTestCase {
    private func pretrain(_ dir: URL, _ extra: [String]) -> [String] {
        ["pretrain", "--data", dir.path, "--out", dir.appendingPathComponent("run").path, "--width", "0.125",
         "--batch-size", "8", "--steps", "1", "--threads", "1", "--workers", "0"] + extra
    }

    private func expectFailure(_ arguments: [String], in dir: URL, mentions: [String],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let run = try runSimclr(arguments, in: dir)
        let text = run.stderr + run.stdout
        XCTAssertTrue(run.status == 1 || run.status == 2 || run.status == 64, "status \(run.status) (a trap?) for \(arguments):\n\(text)",
                      file: file, line: line)
        for m in mentions { XCTAssertTrue(text.contains(m), "\(arguments): no '\(m)' in\n\(text)", file: file, line: line) }
    }

    /// A safetensors file of this JSON header (after its 8-byte little-endian length) and these data bytes.
    private func weightsFile(in dir: URL, named name: String, header json: String, body: Data = Data()) throws -> URL {
        var data = Data()
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(json.utf8))
        data.append(body)
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    /// Each of these was read as something else: a negative number as a missing value, an empty head as no
    /// head, NaN weight decay as a negative one.
    func testFlagValuesGetTheirOwnMessage() throws {
        let dir = try makeSyntheticDataDirectory(self)
        try expectFailure(pretrain(dir, ["--temperature", "-1"]), in: dir, mentions: ["--temperature must be positive"])
        try expectFailure(pretrain(dir, ["--proj-dims", ""]), in: dir, mentions: ["--proj-dims is empty"])
        try expectFailure(pretrain(dir, ["--weight-decay", "nan"]), in: dir, mentions: ["--weight-decay nan is not a number"])
        try expectFailure(pretrain(dir, ["--collective-timeout", "-5"]), in: dir, mentions: ["--collective-timeout"])
    }

    /// The library checks these settings and names them; each command says its own flag (linear-eval's --lr, knn's
    /// --knn-temperature), while parsing (status 64).
    func testLibraryChecksSpeakOfEachCommandsFlags() throws {
        let dir = try makeTemporaryDirectory(self)
        let probe = ["linear-eval", "--random-init", "--out", "unused"], knn = ["knn", "--random-init", "--out", "unused"]
        for (arguments, message) in [(probe + ["--lr", "0"], "--lr must be positive"),
                                     (probe + ["--momentum", "1"], "--momentum must lie in [0, 1)"),
                                     (knn + ["--k", "0"], "--k must be at least 1"),
                                     (knn + ["--knn-temperature", "0"], "--knn-temperature must be positive"),
                                     (["synth", "--out", "unused", "--classes", "11"], "--classes 11 must lie in 1...10"),
                                     (["synth", "--out", "unused", "--image-size", "33"], "--image-size 33: the CIFAR-10 layout"),
                                     (["pretrain", "--out", "unused", "--bucket-mb", "nan"], "--bucket-mb must be positive and at most 1 TiB"),
                                     (["supervised", "--out", "unused", "--bucket-mb", "1e300"], "--bucket-mb must be positive and at most 1 TiB"),
                                     (["bench", "--bucket-mb", "-3"], "--bucket-mb must be positive and at most 1 TiB"),
                                     (["bench", "--powersgd-rank", "0"], "--powersgd-rank must be at least 1 (got 0)"),
                                     (["pretrain", "--out", "unused", "--compression-start-step", "-1"],
                                      "--compression-start-step must be 0 or more (got -1)")] {
            let run = try runSimclr(arguments, in: dir)
            let text = run.stderr + run.stdout
            XCTAssertEqual(run.status, 64, "\(arguments):\n\(text)")
            XCTAssertTrue(text.contains(message), "\(arguments): no '\(message)' in\n\(text)")
        }
    }

    /// A comma-separated value starting with a negative number ("-1,2") was read as a group of short flags, so
    /// `--blur-sigma -1,2` said "Missing value"; a negative --steps started a run with nothing to train. Each now
    /// reaches the check that says what is wrong with it.
    func testNegativeValuesReachTheirRangeCheck() throws {
        let dir = try makeSyntheticDataDirectory(self)
        for (extra, message) in [(["--blur-sigma", "-1,2"], "--blur-sigma -1,2: sigma must be positive"),
                                 (["--crop-scale", "-1,2"], "--crop-scale -1,2: both ends must lie in (0, 1]"),
                                 (["--jitter-strength", "-1,0,0,0"], "--jitter-strength -1,0,0,0: strengths must be non-negative"),
                                 (["--small-crops", "2", "--small-crop-scale", "-0.5,0.1"],
                                  "--small-crop-scale -0.5,0.1: both ends must lie in (0, 1]"),
                                 (["--proj-dims", "-1,2"], "--proj-dims '-1,2': expected comma-separated positive sizes"),
                                 (["--steps", "-3"], "--steps -3 must be at least 1")] {
            let run = try runSimclr(pretrain(dir, extra), in: dir)
            let text = run.stderr + run.stdout
            XCTAssertEqual(run.status, 64, "\(extra):\n\(text)")
            XCTAssertTrue(text.contains(message), "\(extra): no '\(message)' in\n\(text)")
            XCTAssertFalse(text.contains("Missing value"), "\(extra):\n\(text)")
        }
    }

    /// Values that make no sense were accepted and crashed late (an allocation of gigabytes, a trap) or ran
    /// something else (a one-channel network, a run written into the current directory): each is refused while
    /// parsing, naming the flag and its range.
    func testValuesOutsideTheirRangeAreRefusedNamingTheRange() throws {
        let dir = try makeSyntheticDataDirectory(self)
        try expectFailure(pretrain(dir, ["--image-size", "100000"]), in: dir, mentions: ["--image-size 100000 must lie in [8, 1024]"])
        try expectFailure(pretrain(dir, ["--small-crops", "1000000"]), in: dir, mentions: ["--small-crops 1000000 must lie in [0, 32]"])
        try expectFailure(pretrain(dir, ["--small-crops", "2", "--small-crop-size", "100000"]), in: dir,
                          mentions: ["--small-crop-size 100000 must lie in [4, 32]"])
        try expectFailure(pretrain(dir, ["--proj-dims", "100000000"]), in: dir, mentions: ["--proj-dims 100000000: each size must lie in [1, 65536]"])
        try expectFailure(pretrain(dir, ["--blur-kernel", "100001"]), in: dir, mentions: ["--blur-kernel 100001 must lie in [1, 32]"])
        try expectFailure(pretrain(dir, ["--width", "1e-9"]), in: dir, mentions: ["--width 1e-09 must lie in [0.015625, 8]"])
        try expectFailure(pretrain(dir, ["--log-every", "0"]), in: dir, mentions: ["--log-every must be at least 1"])
        var empty = pretrain(dir, [])
        empty[empty.firstIndex(of: "--out")! + 1] = ""
        try expectFailure(empty, in: dir, mentions: ["--out is empty"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path))
    }

    /// A step that cannot fit the machine's memory is refused before anything large is allocated, with the
    /// estimate and the machine's memory (it aborted in an allocation, or was killed, before).
    func testAStepLargerThanTheMachinesMemoryIsRefusedWithTheEstimate() throws {
        let dir = try makeSyntheticDataDirectory(self)
        let run = try runSimclr(pretrain(dir, ["--image-size", "1024", "--batch-size", "512", "--width", "1"]), in: dir)
        XCTAssertEqual(run.status, 1, run.stderr + run.stdout)
        let text = run.stderr + run.stdout
        for m in ["this run needs about", "GB activations", "this machine has", "--batch-size"] {
            XCTAssertTrue(text.contains(m), "no '\(m)' in\n\(text)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/config.json").path))
        // bench times the same step: it allocated it and aborted (exit 134) with --image-size 1024.
        let bench = try runSimclr(["bench", "--image-size", "1024", "--batch-size", "512", "--no-roofline", "--steps", "1",
                                   "--warmup", "0", "--threads", "1"], in: dir)
        let benchText = bench.stderr + bench.stdout
        XCTAssertEqual(bench.status, 1, benchText)
        for m in ["this run needs about", "GB activations", "this machine has", "--image-size"] {
            XCTAssertTrue(benchText.contains(m), "bench: no '\(m)' in\n\(benchText)")
        }
    }

    /// Feature extraction (knn, linear-eval, embed, tsne) runs a whole batch through the network at once: 8
    /// images resized to 2048 px at full width need about 100 GB and aborted in an allocation. Refused before
    /// the pass with the estimate, naming --feature-batch-size; `--resize-to 100000` is refused while parsing.
    func testAFeaturePassLargerThanTheMachinesMemoryIsRefused() throws {
        let dir = try makeTemporaryDirectory(self)
        let folder = dir.appendingPathComponent("folder")
        let synth = try runSimclr(["synth", "--format", "folder", "--out", folder.path, "--image-size", "16",
                                   "--train-count", "8", "--test-count", "8"], in: dir)
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let knn = ["knn", "--random-init", "--width", "1", "--data", folder.appendingPathComponent("train").path,
                   "--image-cache-dir", dir.appendingPathComponent("cache").path, "--threads", "1",
                   "--out", dir.appendingPathComponent("knn").path]
        let run = try runSimclr(knn + ["--resize-to", "2048"], in: dir)
        let text = run.stderr + run.stdout
        XCTAssertNotEqual(run.status, 0, text)
        XCTAssertLessThan(run.status, 64, "a trap? \(text)")
        for m in ["this run needs about", "GB activations", "this machine has", "--feature-batch-size"] {
            XCTAssertTrue(text.contains(m), "no '\(m)' in\n\(text)")
        }
        XCTAssertFalse(text.contains("computed train features"), text)
        try expectFailure(knn + ["--resize-to", "100000"], in: dir,
                          mentions: ["--resize-to 100000 makes images of 10000000000 pixels, more than --max-image-pixels 89478485"])
    }

    /// `--steps 1000000000000` started a run that would never end; so did epochs past the limit (and epochs x
    /// steps per epoch could pass `Int`). Refused while parsing, for pretrain and the classifiers.
    func testARunLongerThanAnyTrainingIsRefusedWhileParsing() throws {
        let dir = try makeSyntheticDataDirectory(self)
        let withoutSteps = Array(pretrain(dir, []).dropLast(6)) + ["--threads", "1", "--workers", "0"]
        XCTAssertFalse(withoutSteps.contains("--steps"))
        for (arguments, message) in [(withoutSteps + ["--steps", "1000000000000"],
                                      "--steps 1000000000000 is more than the 100000000 steps a run may take"),
                                     (withoutSteps + ["--epochs", "9223372036854775807"], "--epochs 9223372036854775807 is more than the 100000000 steps"),
                                     (["supervised", "--data", dir.path, "--out", dir.appendingPathComponent("sup").path, "--epochs", "100000001"],
                                      "--epochs 100000001 is more than the 100000000 steps")] {
            let run = try runSimclr(arguments, in: dir)
            let text = run.stderr + run.stdout
            XCTAssertEqual(run.status, 64, "\(arguments):\n\(text)")
            XCTAssertTrue(text.contains(message), "\(arguments): no '\(message)' in\n\(text)")
        }
    }

    /// A shape of [2^40, 2^40, 8, 3] in a weights file header trapped (element count overflow) in `embed`
    /// and `--init`; `--init` errors did not name the file.
    func testOverflowingShapeInAWeightsFileIsAnErrorNamingTheFile() throws {
        let dir = try makeSyntheticDataDirectory(self)
        let crafted = try weightsFile(in: dir, named: "crafted.safetensors",
                                      header: #"{"conv1.weight":{"dtype":"F32","shape":[1099511627776,1099511627776,8,3],"data_offsets":[0,0]}}"#)
        try expectFailure(["embed", "--weights", crafted.path, "--data", dir.path, "--width", "0.125",
                           "--out", dir.appendingPathComponent("x.npy").path], in: dir, mentions: ["crafted.safetensors", "conv1.weight"])
        try expectFailure(pretrain(dir, ["--init", crafted.path]), in: dir, mentions: ["--init", "crafted.safetensors", "conv1.weight"])
    }

    /// `data_offsets` of 2^60 were reported as "must be two integers" (the parser gave up on numbers past 2^53);
    /// they are integers that lie outside the file, and the message says so with the values as written.
    func testDataOffsetsFarBeyondTheFileAreNamedAsOutsideIt() throws {
        let dir = try makeSyntheticDataDirectory(self)
        let crafted = try weightsFile(in: dir, named: "offsets.safetensors",
                                      header: #"{"conv1.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,1152921504606846976]}}"#,
                                      body: Data(count: 8))
        try expectFailure(["embed", "--weights", crafted.path, "--data", dir.path, "--width", "0.125",
                           "--out", dir.appendingPathComponent("x.npy").path], in: dir,
                          mentions: ["offsets.safetensors", "conv1.weight",
                                     "data_offsets [0, 1152921504606846976] lie outside the file's 8 data bytes"])
    }

    /// `embed` with NaN weights wrote NaN features and exited 0; `pretrain --init` with them trained a NaN model
    /// and exited 0. Every command that loads weights refuses them and names the tensor.
    func testNonFiniteWeightsAreRefusedNamingTheTensor() throws {
        let dir = try makeSyntheticDataDirectory(self)
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: 0.125, headDims: [32, 16]), seed: 1)
        let parameter = try XCTUnwrap(model.parameters.first { $0.name == "layer2.0.conv1.weight" })
        var values = parameter.value.array
        values[3] = .nan
        values[7] = -.infinity
        parameter.value.copy(from: values)
        let weights = dir.appendingPathComponent("nan.safetensors")
        try model.save(to: weights)
        let out = dir.appendingPathComponent("x.npy")
        let named = ["nan.safetensors", "layer2.0.conv1.weight", "holds 2 NaN or infinite value(s)"]
        try expectFailure(["embed", "--weights", weights.path, "--data", dir.path, "--width", "0.125", "--out", out.path],
                          in: dir, mentions: named)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        try expectFailure(pretrain(dir, ["--init", weights.path, "--proj-dims", "32,16"]), in: dir, mentions: ["--init"] + named)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/model.safetensors").path))
        try expectFailure(["knn", "--encoder", weights.path, "--width", "0.125", "--data", dir.path,
                           "--out", dir.appendingPathComponent("knn").path, "--threads", "1"], in: dir, mentions: named)
    }

    /// `linear-eval` reported a missing test split only after computing all training features.
    func testLinearEvalReportsAMissingTestSplitBeforeAnyFeatures() throws {
        let dir = try makeSyntheticDataDirectory(self)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("cifar-10-batches-bin/test_batch.bin"))
        let run = try runSimclr(["linear-eval", "--random-init", "--width", "0.125", "--data", dir.path,
                                 "--out", dir.appendingPathComponent("eval").path, "--threads", "1"], in: dir)
        XCTAssertNotEqual(run.status, 0)
        let text = run.stderr + run.stdout
        XCTAssertTrue(text.contains("test_batch.bin"), text)
        XCTAssertFalse(text.contains("computed train features"), "features were computed first:\n\(text)")
    }
}
