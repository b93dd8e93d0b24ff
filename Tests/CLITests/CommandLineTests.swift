import Datasets
import Foundation
import Kernels
import NeuralNet
import XCTest

/// Runs the built `simclr` tool as a subprocess, on tiny data.
final class CommandLineTests: XCTestCase {
    /// `simclr synth` with 40 + 20 images into a fresh directory; returns the directory.
    func synthesize() throws -> URL {
        let dir = try makeTemporaryDirectory(self)
        let run = try runSimclr(["synth", "--out", dir.path, "--train-count", "40", "--test-count", "20"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        return dir
    }

    func testSynthWritesCIFARLayout() throws {
        let dir = try synthesize()
        let cifar = dir.appendingPathComponent("cifar-10-batches-bin")
        XCTAssertEqual(fileSize(cifar.appendingPathComponent("data_batch_1.bin")), 40 * 3073)
        XCTAssertEqual(fileSize(cifar.appendingPathComponent("test_batch.bin")), 20 * 3073)
        XCTAssertNil(fileSize(cifar.appendingPathComponent("data_batch_2.bin")))
        let meta = try String(contentsOf: cifar.appendingPathComponent("batches.meta.txt"), encoding: .utf8)
        XCTAssertEqual(meta.split(separator: "\n").map(String.init), SyntheticShapes.classNames)
        // The files hold exactly the generator's images for seed 0.
        let expected = SyntheticShapes.generate(trainCount: 40, testCount: 20, seed: 0)
        let train = try loadDataset(at: dir.path, split: .train), test = try loadDataset(at: dir.path, split: .test)
        XCTAssertEqual(train.pixels, expected.train.pixels)
        XCTAssertEqual(test.labels, expected.test.labels)
        XCTAssertEqual(test.pixels, expected.test.pixels)
    }

    func testAugmentPreviewWritesPNGGrid() throws {
        let dir = try synthesize()
        let png = dir.appendingPathComponent("g.png")
        let run = try runSimclr(["augment-preview", "--data", dir.path, "--out", png.path], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let parsed = try ParsedPNG([UInt8](try Data(contentsOf: png)))
        // 4 rows of (original + 6 views) tiles of 32 px x 4, 2 px gaps around and between.
        XCTAssertEqual(parsed.width, 7 * 128 + 8 * 2)
        XCTAssertEqual(parsed.height, 4 * 128 + 5 * 2)
        XCTAssertEqual(parsed.scanlines.count, parsed.height * (1 + parsed.width * 3))

        let ppm = dir.appendingPathComponent("g.ppm")
        let plain = try runSimclr(["augment-preview", "--data", dir.path, "--out", ppm.path, "--augment", "none",
                                   "--images", "2", "--views", "1", "--scale", "1"], in: dir)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let bytes = [UInt8](try Data(contentsOf: ppm))
        let header = Array("P6\n70 70\n255\n".utf8)
        XCTAssertEqual(Array(bytes.prefix(header.count)), header)
        XCTAssertEqual(bytes.count, header.count + 70 * 70 * 3)
    }

    func testBadFlagsFailWithClearMessages() throws {
        let dir = try synthesize()
        let cases: [([String], String)] = [
            (["augment-preview", "--data", dir.path, "--out", "g.jpg"], "must end in .ppm or .png"),
            (["augment-preview", "--data", dir.path, "--out", "g.png", "--blur-kernel", "4"], "--blur-kernel 4 must be odd"),
            (["augment-preview", "--data", dir.path, "--out", "g.png", "--grayscale-prob", "2"], "--grayscale-prob 2.0"),
            (["augment-preview", "--data", dir.appendingPathComponent("missing").path, "--out", "g.png"], "not found"),
            (["synth", "--out", dir.path, "--image-size", "48"], "--image-size 48"),
            (["embed", "--weights", "nope.safetensors", "--data", dir.path, "--out", "x.npy"], "file not found"),
            // The library names the setting (`multiCrop`); the tool says the flag.
            (["pretrain", "--data", dir.path, "--out", "moco", "--method", "moco", "--small-crops", "2", "--width", "0.125",
              "--batch-size", "8", "--steps", "1"], "--small-crops works with the SimCLR method only"),
        ]
        for (arguments, message) in cases {
            let run = try runSimclr(arguments, in: dir)
            XCTAssertNotEqual(run.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(run.stderr.contains(message), "stderr of \(arguments): \(run.stderr)")
        }
    }

    /// The common mistakes get an error that says what to do.
    func testCommonErrorsSuggestTheFix() throws {
        let dir = try makeTemporaryDirectory(self)
        let cases: [([String], String)] = [
            (["pretrain", "--data", dir.appendingPathComponent("missing").path, "--out", "r"],
             "Download CIFAR-10 with deploy/get-cifar10.sh"),
            (["knn", "--random-init", "--data", dir.path, "--out", "r"], "or leave out --data to train on the synthetic shapes"),
            (["pretrain", "--batch-size", "1", "--out", "r"], "(try 256, or 16 for a quick check)"),
            (["supervised", "--batch-size", "1", "--out", "r"], "BatchNorm needs two images per batch"),
        ]
        for (arguments, message) in cases {
            let run = try runSimclr(arguments, in: dir)
            XCTAssertNotEqual(run.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(run.stderr.contains(message), "stderr of \(arguments): \(run.stderr)")
        }
    }

    func testSyntheticDataIsGeneratedOnceThenCached() throws {
        let dir = try makeTemporaryDirectory(self)
        let arguments = ["augment-preview", "--out", dir.appendingPathComponent("g.ppm").path, "--images", "2",
                         "--views", "1", "--synthetic-dir", dir.appendingPathComponent("cache").path,
                         "--synthetic-train-count", "30", "--synthetic-test-count", "10"]
        let first = try runSimclr(arguments, in: dir)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("generating synthetic dataset"), first.stderr)
        XCTAssertTrue(first.stderr.contains("(no --data given)"), first.stderr)
        let second = try runSimclr(arguments, in: dir)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stderr.contains("using cached synthetic dataset at"), second.stderr)
        XCTAssertEqual(fileSize(dir.appendingPathComponent("cache/cifar-10-batches-bin/data_batch_1.bin")), 30 * 3073)
    }

    /// `simclr embed` equals an in-process eval-mode forward of the same images.
    func testEmbedMatchesInProcessForward() throws {
        let dir = try synthesize()
        let config = ResNetConfig(stem: .cifar, width: 0.125, headDims: [32, 16])
        let model = ResNet(config: config, seed: 5)
        let test = try loadDataset(at: dir.path, split: .test)
        let images = Tensor(shape: [test.count, 3, 32, 32], values: (0..<test.count).flatMap { test.floatImage(at: $0).data })
        // A few training-mode passes move the BatchNorm running statistics away from their initial values,
        // so eval mode is really exercised.
        for _ in 0..<3 { model.forward(images) }
        let weights = dir.appendingPathComponent("w.safetensors")
        try model.save(to: weights)
        model.isTraining = false
        let projection = model.forward(images, throughHead: true).array
        let backbone = model.features.array

        // The encoder flag has two names: --encoder (as the other evaluation commands) and its older --weights.
        let common = ["embed", "--data", dir.path, "--split", "test", "--width", "0.125",
                      "--proj-dims", "32,16", "--threads", "1", "--batch-size", "8"]
        let p = dir.appendingPathComponent("p.npy"), b = dir.appendingPathComponent("b.npy"), y = dir.appendingPathComponent("y.npy")
        let run1 = try runSimclr(common + ["--encoder", weights.path, "--features", "projection", "--out", p.path,
                                           "--labels-out", y.path], in: dir)
        XCTAssertEqual(run1.status, 0, run1.stderr)
        let run2 = try runSimclr(common + ["--weights", weights.path, "--features", "backbone", "--out", b.path], in: dir)
        XCTAssertEqual(run2.status, 0, run2.stderr)

        let (pShape, pValues) = try NumpyFile.read(from: p)
        XCTAssertEqual(pShape, [20, 16])
        XCTAssertLessThanOrEqual(zip(pValues, projection).map { abs($0 - $1) }.max()!, 1e-5)
        let (bShape, bValues) = try NumpyFile.read(from: b)
        XCTAssertEqual(bShape, [20, 64])
        XCTAssertLessThanOrEqual(zip(bValues, backbone).map { abs($0 - $1) }.max()!, 1e-5)
        XCTAssertEqual(try NumpyFile.readInt64s(from: y).values, test.labels.map { Int64($0) })

        // A model description that does not match the file fails before any work, naming the flags.
        let wrong = try runSimclr(["embed", "--weights", weights.path, "--data", dir.path, "--width", "0.25",
                                   "--features", "projection", "--proj-dims", "32,16", "--out", p.path], in: dir)
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("--width 0.25"), wrong.stderr)

        // A directory as the encoder is named as one, as in linear-eval and knn.
        let directory = try runSimclr(common + ["--encoder", dir.path, "--out", p.path], in: dir)
        XCTAssertNotEqual(directory.status, 0)
        XCTAssertTrue(directory.stderr.contains("--encoder \(dir.path) is a directory"), directory.stderr)

        // An output in a directory that does not exist yet: the directory is made, as --out is elsewhere.
        let nested = dir.appendingPathComponent("new/sub/x.npy")
        let made = try runSimclr(common + ["--encoder", weights.path, "--out", nested.path], in: dir)
        XCTAssertEqual(made.status, 0, made.stderr)
        XCTAssertEqual(try NumpyFile.read(from: nested).shape, [20, 64])
    }
}

/// `--precision`: bf16 is refused on a CPU without bf16 instructions (never a silent slowdown), the
/// reference path runs everywhere, and the run records what it used.
final class PrecisionFlagTests: XCTestCase {
    func testBF16IsRefusedWithoutBF16InstructionsAndRecordedWhenUsed() throws {
        let dir = try makeSyntheticDataDirectory(self)
        setenv("SIMCLR_HIDE_CPU_FEATURES", "avx512_bf16,amx", 1)
        let refused = try runSimclr(["pretrain", "--data", dir.path, "--out", dir.appendingPathComponent("r").path,
                                     "--width", "0.125", "--batch-size", "8", "--steps", "1", "--precision", "bf16"], in: dir)
        let bench = try runSimclr(["bench", "--precision", "bf16", "--steps", "1", "--width", "0.125"], in: dir)
        unsetenv("SIMCLR_HIDE_CPU_FEATURES")
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--precision bf16 needs bf16 instructions"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("bf16-reference"), "the message names the alternative: \(refused.stderr)")
        XCTAssertNotEqual(bench.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("r/model.safetensors").path))

        let run = dir.appendingPathComponent("ref")
        let ok = try runSimclr(["pretrain", "--data", dir.path, "--out", run.path, "--width", "0.125", "--batch-size", "8",
                                "--steps", "1", "--precision", "bf16-reference", "--workers", "0"], in: dir)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("config.json"))) as! [String: Any]
        let text = String(describing: config)
        XCTAssertTrue(text.contains("bf16-reference"), "config.json records the precision")
        XCTAssertNotNil(text.range(of: "bf16_instructions"), "config.json says whether the CPU has bf16 instructions")
    }
}
