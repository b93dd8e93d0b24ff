import Datasets
import Foundation
import XCTest

/// Image folders through the tool: synth writes one, pretraining and kNN read it, bad files stop a run
/// before training unless skipped.
final class ImageFolderCLITests: XCTestCase {
    private let quick = ["--width", "0.125", "--batch-size", "16", "--threads", "1", "--workers", "1", "--warmup-epochs", "0"]

    func testSynthFolderPretrainAndEvaluate() throws {
        let dir = try makeTemporaryDirectory(self)
        func p(_ relative: String) -> String { dir.appendingPathComponent(relative).path }
        let synth = try runSimclr(["synth", "--format", "folder", "--out", p("fd"), "--train-count", "48", "--test-count", "16",
                                   "--image-size", "16", "--classes", "4"], in: dir)
        XCTAssertEqual(synth.status, 0, synth.stderr)
        // The PNG files hold exactly the generated images.
        let (train, _) = SyntheticShapes.generate(classes: 4, trainCount: 48, testCount: 16, imageSize: 16, seed: 0)
        let read = try ImageFolder.load(dir.appendingPathComponent("fd/train").path, size: 16,
                                        cacheDirectory: dir.appendingPathComponent("check-cache").path)
        XCTAssertEqual(read.classNames, train.classNames.prefix(4).sorted())
        XCTAssertEqual(read.count, 48)
        // Same multiset of images per class (the folder orders them by class, then by index).
        for (label, name) in read.classNames.enumerated() {
            let original = train.classNames.firstIndex(of: name)!
            let mine = (0..<read.count).filter { read.labels[$0] == label }.map { Array(read.image(at: $0)) }
            let theirs = (0..<train.count).filter { train.labels[$0] == original }.map { Array(train.image(at: $0)) }
            XCTAssertEqual(mine, theirs, name)
        }
        let cache = ["--image-cache-dir", p("cache"), "--resize-to", "16"]
        let pretrain = try runSimclr(["pretrain", "--data", p("fd/train"), "--out", p("run"), "--steps", "2"] + cache + quick, in: dir)
        XCTAssertEqual(pretrain.status, 0, pretrain.stderr + pretrain.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/model.safetensors").path))
        let knn = try runSimclr(["knn", "--encoder", p("run/model.safetensors"), "--width", "0.125", "--data", p("fd/train"),
                                 "--out", p("knn"), "--threads", "1"] + cache, in: dir)
        XCTAssertEqual(knn.status, 0, knn.stderr + knn.stdout)
        XCTAssertTrue((knn.stdout + knn.stderr).contains("using cached images"), knn.stdout + knn.stderr)
    }

    func testBadImagesAreRefusedBeforeTrainingUnlessSkipped() throws {
        let dir = try makeTemporaryDirectory(self)
        func p(_ relative: String) -> String { dir.appendingPathComponent(relative).path }
        XCTAssertEqual(try runSimclr(["synth", "--format", "folder", "--out", p("fd"), "--train-count", "32", "--test-count", "8",
                                      "--image-size", "16", "--classes", "2"], in: dir).status, 0)
        let bad = dir.appendingPathComponent("fd/train/circle/broken.png")
        try Data("not a png".utf8).write(to: bad)
        let args = ["pretrain", "--data", p("fd/train"), "--out", p("run"), "--steps", "1", "--image-cache-dir", p("cache"),
                    "--resize-to", "16"] + quick
        let refused = try runSimclr(args, in: dir)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("broken.png") && refused.stderr.contains("--skip-bad-images"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/checkpoint.safetensors").path))
        let skipped = try runSimclr(args + ["--skip-bad-images"], in: dir)
        XCTAssertEqual(skipped.status, 0, skipped.stderr)
        XCTAssertTrue((skipped.stdout + skipped.stderr).contains("skipped 1 of 33"), skipped.stdout + skipped.stderr)
        // --max-image-pixels reaches the decoder: below the images' 16 x 16 = 256 pixels every one is refused,
        // named with the limit and the flag, before training.
        let limited = try runSimclr(args + ["--skip-bad-images", "--max-image-pixels", "255", "--out", p("limited")], in: dir)
        XCTAssertNotEqual(limited.status, 0)
        XCTAssertTrue(limited.stderr.contains("256 pixels, more than the limit of 255") && limited.stderr.contains("--max-image-pixels"),
                      limited.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: p("limited/checkpoint.safetensors")))
    }
}
