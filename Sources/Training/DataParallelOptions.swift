import Cluster
import Datasets
import Foundation
import NeuralNet
import Runs

/// The data-parallel choices that decide which collectives the ranks issue and what they exchange. One type,
/// so that a field added here (gradient compression, say) is part of every place these choices must show:
/// the ranks' configuration check (`canonicalConfiguration`), config.json (`data_parallel`) and the
/// checkpoint's run identity, where `sameTrainingAs` says which fields a resumed run must keep.
public struct DataParallelSettings: Codable, Equatable, Sendable {
    /// BatchNorm statistics over the global batch (SyncBN); only has an effect with more than one rank.
    public var syncBatchNorm = true
    /// Gradient bucket size (PyTorch DDP's 25 MiB; the first bucket is 1 MiB, docs/bucket-plan.md).
    public var bucketBytes = GradientBucketPlan.defaultBucketBytes
    /// All-reduce buckets on a communication thread while backward goes on.
    public var overlap = true
    /// How gradients travel (docs/gradient-compression.md): float32, bf16, or PowerSGD.
    public var gradCompression = GradientCompression.Method.none
    /// PowerSGD's rank R (`gradCompression` powersgd).
    public var powerSGDRank = GradientCompression.defaultPowerSGDRank
    /// Steps PowerSGD runs uncompressed first (0: compress from the first step); nil: a tenth of the run, at
    /// least 2 (`GradientCompression.defaultStartStep`, resolved by `DataParallel.beginRun`).
    public var compressionStartStep: Int?

    public init() {}

    /// Fields missing from older JSON (settings written before gradient compression) take their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DataParallelSettings()
        syncBatchNorm = try c.decodeIfPresent(Bool.self, forKey: .syncBatchNorm) ?? defaults.syncBatchNorm
        bucketBytes = try c.decodeIfPresent(Int.self, forKey: .bucketBytes) ?? defaults.bucketBytes
        overlap = try c.decodeIfPresent(Bool.self, forKey: .overlap) ?? defaults.overlap
        gradCompression = try c.decodeIfPresent(GradientCompression.Method.self, forKey: .gradCompression) ?? defaults.gradCompression
        powerSGDRank = try c.decodeIfPresent(Int.self, forKey: .powerSGDRank) ?? defaults.powerSGDRank
        compressionStartStep = try c.decodeIfPresent(Int.self, forKey: .compressionStartStep)
    }

    private enum CodingKeys: String, CodingKey {
        case syncBatchNorm, bucketBytes, overlap, gradCompression, powerSGDRank, compressionStartStep
    }

    /// A bucket size given in MiB as bytes. Total: a size that is not a positive number gives 0 and one past 1 TiB
    /// gives 1 TiB + 1, which `validate` refuses (a plain `Int(...)` would trap on NaN or 1e300).
    public static func bucketBytes(megabytes: Double) -> Int {
        guard megabytes > 0 else { return 0 }
        return megabytes <= Double(maximumBucketBytes >> 20) ? Int(megabytes * 1024 * 1024) : maximumBucketBytes + 1
    }

    /// No gradient buffer comes near 1 TiB: one bucket larger than every gradient is one bucket.
    static let maximumBucketBytes = 1 << 40

    /// The limits of the fields; errors name them in backquotes.
    public func validate() throws {
        guard bucketBytes > 0, bucketBytes <= Self.maximumBucketBytes else {
            throw SettingsError("`bucketBytes` must be positive and at most 1 TiB")
        }
        guard powerSGDRank >= 1 else { throw SettingsError("`powerSGDRank` must be at least 1 (got \(powerSGDRank))") }
        if let s = compressionStartStep, s < 0 { throw SettingsError("`compressionStartStep` must be 0 or more (got \(s))") }
    }

    /// Whether a run with these settings continues one with `saved` as the same training. Bucket size and
    /// overlap only change when sums happen; SyncBN may change between a W-rank run and its resumption as
    /// the rank count may (docs/checkpoint-format.md, note 'Resuming'). Gradient compression changes what the
    /// optimizer sees, so a resumed run keeps it (PowerSGD's rank and warm-up too).
    public func sameTrainingAs(_ saved: DataParallelSettings) -> Bool {
        guard gradCompression == saved.gradCompression else { return false }
        guard gradCompression == .powersgd else { return true }
        return powerSGDRank == saved.powerSGDRank && compressionStartStep == saved.compressionStartStep
    }

    /// The reducer's compression for these settings (PowerSGD's default warm-up is set per run).
    var compression: GradientCompression {
        GradientCompression(method: gradCompression, powerSGDRank: powerSGDRank, startStep: compressionStartStep ?? 0)
    }

    /// Every field by its JSON name, its value as JSON text (one line each in the configuration check).
    var fields: [(String, String)] {
        let object = try! JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return object.keys.sorted().map { key in
            let value = object[key]!
            let text = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]))
                .map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
            return (key, text)
        }
    }

    /// The settings as sorted JSON (config.json, the configuration check, checkpoints).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// How to spread a run over ranks (see `DataParallel`): the group, the `settings` every rank must share, and
/// what only this process decides. The default group is `SingleProcess`, the world of one of a process
/// started without an MPI launcher.
public struct DataParallelOptions {
    public var communicator: any ProcessGroup
    public var settings = DataParallelSettings()
    /// Check that all replicas hold bit-identical parameters every this many steps (also at every checkpoint).
    public var verifyReplicasEvery: Int?
    /// Seconds a rank waits in one collective before it ends the job (nil: forever); see `CollectiveDeadline`.
    public var collectiveTimeout: Double?
    /// The wait of a training run or a benchmark that does not choose one.
    public static let defaultCollectiveTimeout = 300.0
    /// A known mistake to make on purpose (tests only, through the hidden `--testing-fault` flag).
    public var fault: DistributedFault?
    /// CPUs for the communication thread (`--comm-cpu`): one for every rank of a node, or one per node-local rank
    /// (`ThreadPlacement.communicationCPU`). Placement only: not part of `settings`, so ranks may differ in it.
    public var communicationCPUs: [Int]?

    public init(communicator: any ProcessGroup = SingleProcess()) { self.communicator = communicator }

    /// Refuses options a run cannot use, naming the setting: the shared `settings`' own checks, and
    /// communication CPUs without overlap (there is no communication thread to place then).
    public func validate() throws {
        try settings.validate()
        if let why = ThreadPlacement.listRefusal(communicationCPUs, overlap: settings.overlap) {
            throw SettingsError("`communicationCPUs`: " + why)
        }
    }

    /// The data-parallel machinery for `model`, after `validate()` and a check that every rank runs the same
    /// configuration (`configuration`, the data and `settings`, hashed and compared with rank 0's). Rank 0's
    /// parameters and buffers are broadcast.
    public func makeDataParallel(model: ResNet, configuration: String, dataset: DatasetIdentity) throws -> DataParallel {
        try validate()
        CollectiveDeadline.configure(seconds: communicator.size > 1 ? collectiveTimeout : nil)
        try ConfigurationCheck.verify(canonicalConfiguration(configuration, dataset: dataset), communicator: communicator)
        let cpu = try communicationCPUs.map {
            try ThreadPlacement.communicationCPU(from: $0, localRank: ThreadPlacement.localRank(of: communicator),
                                                 worldRank: communicator.worldRank)
        }
        let dp = try DataParallel(communicator: communicator, model: model, settings: settings, fault: fault,
                                  communicationCPU: cpu)
        try dp.broadcastState(of: model)
        return dp
    }

    /// The text ranks compare: a rank with other data or other data-parallel settings would issue other
    /// collectives (or the same ones with other sizes) and hang or diverge instead of failing.
    func canonicalConfiguration(_ configuration: String, dataset: DatasetIdentity) -> String {
        var lines = ["world": String(communicator.size), "dataset": dataset.description, "fault": fault?.rawValue ?? "none"]
        for (name, value) in settings.fields { lines[Self.lineNames[name] ?? name] = value }
        return configuration + "\n" + ConfigurationCheck.canonical(lines)
    }

    /// The names the first data-parallel settings had in the check's lines (and in its messages).
    private static let lineNames = ["syncBatchNorm": "sync_bn", "bucketBytes": "bucket_bytes"]
}
