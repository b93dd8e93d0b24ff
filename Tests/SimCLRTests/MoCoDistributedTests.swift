import Contrastive
import Foundation
import TestSupport
import XCTest

/// MoCo under mpirun: two ranks with per-rank batch b train what one process trains with batch 2b, including
/// the key encoder and the queue (docs/moco.md, note 'The invariant'), and the CLI's files feed the evaluations.
final class MoCoDistributedTests: XCTestCase {
    private var root: URL!
    private var simclr: String { get throws { try ProcessHarness.executable("simclr").path } }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("moco-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func data(train: Int = 64, test: Int = 8) throws -> String {
        let data = root.appendingPathComponent("data").path
        if !FileManager.default.fileExists(atPath: data + "/cifar-10-batches-bin/test_batch.bin") {
            let r = try ProcessHarness.run([try simclr, "synth", "--out", data, "--train-count", String(train), "--test-count", String(test)])
            XCTAssertEqual(r.status, 0, r.output)
        }
        return data
    }

    private func pretrain(_ out: String, steps: Int = 3, extra: [String] = []) throws -> [String] {
        [try simclr, "pretrain", "--method", "moco", "--queue-size", "32", "--data", try data(), "--out", root.appendingPathComponent(out).path,
         "--width", "0.125", "--proj-dims", "32,16", "--batch-size", "16", "--steps", String(steps), "--augment", "none",
         "--no-shuffle", "--threads", "1", "--workers", "0", "--warmup-epochs", "0", "--lr", "0.05"] + extra
    }

    private func file(_ out: String, _ name: String) -> URL { root.appendingPathComponent(out).appendingPathComponent(name) }

    /// The checkpoint's metadata entry `key`.
    private func metadata(_ url: URL, _ key: String) throws -> String? {
        let data = try Data(contentsOf: url)
        let length = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + length))) as? [String: Any]
        return (header?["__metadata__"] as? [String: String])?[key]
    }

    /// Three steps (the queue of 32 wraps after two global batches of 16) with direct convolutions, as the
    /// SimCLR invariant test runs them (Winograd's rounding is amplified by the tiny network's BatchNorm).
    func testTwoRanksMatchOneProcessIncludingKeyEncoderAndQueue() throws {
        let direct = ["SIMCLR_CONV_ALGORITHM": "direct"]
        let one = try ProcessHarness.run(try pretrain("w1"), environment: direct)
        XCTAssertEqual(one.status, 0, one.output)
        let two = try ProcessHarness.mpirun(np: 2, try pretrain("w2"), environment: direct)
        XCTAssertEqual(two.status, 0, two.output)

        let query1 = try SafetensorsFloats.read(file("w1", "model.safetensors")), query2 = try SafetensorsFloats.read(file("w2", "model.safetensors"))
        XCTAssertLessThan(WeightDifference.modelRelative(query1, query2), 1e-3, "query encoder")
        let c1 = try SafetensorsFloats.read(file("w1", "checkpoint.safetensors")), c2 = try SafetensorsFloats.read(file("w2", "checkpoint.safetensors"))
        let key1 = c1.filter { $0.key.hasPrefix("moco.key_encoder.") }, key2 = c2.filter { $0.key.hasPrefix("moco.key_encoder.") }
        XCTAssertEqual(key1.count, query1.count, "the key encoder holds every parameter and buffer")
        XCTAssertEqual(Set(key1.keys), Set(key2.keys))
        XCTAssertLessThan(WeightDifference.modelRelative(key1, key2), 1e-3, "key encoder")
        let queue1 = try XCTUnwrap(c1["moco.queue"]), queue2 = try XCTUnwrap(c2["moco.queue"])
        XCTAssertEqual(queue1.count, 32 * 16)
        let largest = zip(queue1, queue2).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(largest, 1e-4, "queue rows (unit vectors) in the same order")
        XCTAssertEqual(try metadata(file("w1", "checkpoint.safetensors"), "moco"), #"{"queuePointer":16}"#)
        XCTAssertEqual(try metadata(file("w2", "checkpoint.safetensors"), "moco"), #"{"queuePointer":16}"#)

        // What the comparison compares moved: every row of the queue was replaced (rows 0..<16 at step 3, rows
        // 16..<32 at step 2; the queue starts from --seed 0), and the key encoder is not the query encoder.
        let initial = MoCoQueue(size: 32, dim: 16, seed: 0).keys.array
        for row in 0..<32 {
            let range = (row * 16)..<((row + 1) * 16)
            XCTAssertGreaterThan(zip(initial[range], queue1[range]).map { abs($0 - $1) }.max()!, 1e-2, "queue row \(row) was not written")
        }
        let keyAsQuery = Dictionary(uniqueKeysWithValues: key1.map { (String($0.key.dropFirst("moco.key_encoder.".count)), $0.value) })
        XCTAssertGreaterThan(WeightDifference.modelRelative(query1, keyAsQuery), 1e-7)
        let losses = { (out: String) throws -> [Double] in
            try String(contentsOf: self.file(out, "metrics.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
                .map { Double($0.split(separator: ",")[2])! }
        }
        for (a, b) in zip(try losses("w1"), try losses("w2")) { XCTAssertEqual(a, b, accuracy: 1e-4 * abs(a)) }
    }

    /// Resume under MPI: rank 0 reads the checkpoint and broadcasts the key encoder, the queue and its pointer
    /// with the model; halting two ranks after step 2 and resuming gives bit for bit what two ranks give
    /// without a stop.
    func testResumeOnTwoRanksEqualsTheUninterruptedRun() throws {
        let straight = try ProcessHarness.mpirun(np: 2, try pretrain("straight", steps: 4))
        XCTAssertEqual(straight.status, 0, straight.output)
        let halted = try ProcessHarness.mpirun(np: 2, try pretrain("halted", steps: 4, extra: ["--testing-halt-after", "2"]))
        XCTAssertEqual(halted.status, 0, halted.output)
        let resumed = try ProcessHarness.mpirun(np: 2, try pretrain("halted", steps: 4, extra: ["--resume"]))
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssert(resumed.output.contains("resuming from step 2 of 4"), resumed.output)
        let a = try SafetensorsFloats.read(file("straight", "checkpoint.safetensors"))
        let b = try SafetensorsFloats.read(file("halted", "checkpoint.safetensors"))
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        XCTAssertNotNil(a["moco.queue"])
        for (name, values) in a { XCTAssertEqual(values, b[name], "\(name) differs after resume") }
        XCTAssertEqual(try metadata(file("halted", "checkpoint.safetensors"), "moco"), #"{"queuePointer":0}"#)
    }

    /// The comparison above can fail: with the key encoder's BatchNorm per rank (the leak SyncBN avoids) the
    /// key encoder's running statistics and the queue's rows differ from one process's after a single step.
    func testPerRankKeyBatchNormDoesNotMatchOneProcess() throws {
        let one = try ProcessHarness.run(try pretrain("f1", steps: 1))
        XCTAssertEqual(one.status, 0, one.output)
        let two = try ProcessHarness.mpirun(np: 2, try pretrain("f2", steps: 1, extra: ["--testing-fault", "local-key-batchnorm"]))
        XCTAssertEqual(two.status, 0, two.output)
        let c1 = try SafetensorsFloats.read(file("f1", "checkpoint.safetensors")), c2 = try SafetensorsFloats.read(file("f2", "checkpoint.safetensors"))
        let queueDifference = zip(c1["moco.queue"]!, c2["moco.queue"]!).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(queueDifference, 1e-2, "per-rank key BatchNorm should not give one process's keys")
        let (diff, _) = WeightDifference.perTensor(c1.filter { $0.key.hasPrefix("moco.key_encoder.") && $0.key.contains("running") },
                                                   c2.filter { $0.key.hasPrefix("moco.key_encoder.") && $0.key.contains("running") })
        XCTAssertGreaterThan(diff, 1e-2, "per-rank key BatchNorm running statistics")
    }

    /// `simclr pretrain --method moco` writes its checkpoint and a model that `knn` and `linear-eval` read;
    /// config.json and results.json say which method and temperature.
    func testCLIRunFeedsKNNAndLinearEval() throws {
        let run = try ProcessHarness.run(try pretrain("cli", steps: 2, extra: ["--augment", "full"]))
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssert(run.output.contains("MoCo v2's default"), run.output)
        XCTAssert(FileManager.default.fileExists(atPath: file("cli", "checkpoint.safetensors").path))
        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: file("cli", "config.json"))) as? [String: Any])
        XCTAssertEqual(config["method"] as? String, "moco")
        let settings = try XCTUnwrap(config["settings"] as? [String: Any])
        XCTAssertEqual(settings["temperature"] as? Double ?? 0, 0.2, accuracy: 1e-6)
        XCTAssertEqual((settings["moco"] as? [String: Any])?["queueSize"] as? Int, 32)
        let results = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: file("cli", "results.json"))) as? [String: Any])
        XCTAssertEqual(results["method"] as? String, "moco-pretrain")

        let model = file("cli", "model.safetensors").path
        let common = ["--encoder", model, "--width", "0.125", "--data", try data(), "--threads", "1"]
        let knn = try ProcessHarness.run([try simclr, "knn", "--out", root.appendingPathComponent("knn").path] + common)
        XCTAssertEqual(knn.status, 0, knn.output)
        let le = try ProcessHarness.run([try simclr, "linear-eval", "--out", root.appendingPathComponent("le").path, "--epochs", "1"] + common)
        XCTAssertEqual(le.status, 0, le.output)

        // A queue that is not a multiple of the global batch is refused before anything runs.
        let bad = try ProcessHarness.run(try pretrain("bad", extra: ["--queue-size", "40"]))
        XCTAssertNotEqual(bad.status, 0)
        XCTAssert(bad.output.contains("multiple of the global batch"), bad.output)
    }
}
