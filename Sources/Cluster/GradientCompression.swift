/// How gradients travel between ranks (docs/gradient-compression.md): `--grad-compression none|bf16|powersgd`,
/// `--powersgd-rank R`, `--compression-start-step S`.
///
/// - `none`: the float32 sum.
/// - `bf16`: each rank's contribution travels as bfloat16 (half the bytes); partial sums are added in float32
///   (a reduce-scatter by all-to-all whose adds are float32, then an all-gather of the bf16-rounded sums), so
///   every rank gets the same sum, within bf16 rounding of the float32 sum.
/// - `powersgd`: every gradient matrix that rank R compresses is sent as P and Q of one power iteration
///   (Vogels et al., 2019) with error feedback; vectors and matrices R would not shrink go as float32. The
///   error feedback is defined so that W ranks train exactly what one process trains with the same
///   compression (see `PowerSGD`). The first `startStep` steps are not compressed.
public struct GradientCompression: Equatable, Sendable, Codable, CustomStringConvertible {
    public enum Method: String, CaseIterable, Codable, Sendable {
        case none, bf16, powersgd
    }

    public var method: Method
    /// PowerSGD's rank R (used by `powersgd` only).
    public var powerSGDRank: Int
    /// Steps reduced uncompressed before PowerSGD starts (used by `powersgd` only; 0 compresses from the first).
    public var startStep: Int

    /// Tests only: compress every matrix rank R fits (R < min(rows, columns) is not required: R = min side
    /// works too), even where P and Q are not smaller than the matrix. Not saved, not a flag.
    public var compressEveryMatrix = false
    /// Tests only: a known mistake, to show the rank-count check can fail. Not saved.
    public var fault: PowerSGDFault?

    /// Rank 8, not the PowerSGD paper's 4: on the compression study (synthetic shapes, width 0.25, AdamW, 2 ranks,
    /// seeds 1 and 2) rank 4 ended 2.0% / 3.0% above the uncompressed loss, rank 8 1.4% / 1.0%, for 1.3 MB of P
    /// and Q per step instead of 0.6 MB out of 46 MB (docs/gradient-compression.md, note 'Which rank').
    public static let defaultPowerSGDRank = 8

    public init(method: Method = .none, powerSGDRank: Int = GradientCompression.defaultPowerSGDRank, startStep: Int = 0) {
        self.method = method; self.powerSGDRank = powerSGDRank; self.startStep = startStep
    }

    public static let none = GradientCompression()

    /// The default warm-up of a run of `totalSteps` steps: a tenth of the run, at least 2 steps.
    public static func defaultStartStep(totalSteps: Int) -> Int { max(2, totalSteps / 10) }

    /// Why these settings cannot be used (nil: they can).
    public var refusal: String? {
        guard method == .powersgd else { return nil }
        if powerSGDRank < 1 { return "--powersgd-rank must be at least 1 (got \(powerSGDRank))" }
        if startStep < 0 { return "--compression-start-step must be 0 or more (got \(startStep))" }
        return nil
    }

    public var description: String {
        switch method {
        case .none: return "none"
        case .bf16: return "bf16"
        case .powersgd: return "powersgd (rank \(powerSGDRank), from step \(startStep + 1))"
        }
    }

    private enum CodingKeys: String, CodingKey { case method, powerSGDRank = "powersgd_rank", startStep = "start_step" }
}

/// Error-feedback mistakes that break W ranks = 1 process (for tests that must fail; `DistributedFault` in
/// training maps the hidden `--testing-fault` values here).
public enum PowerSGDFault: String, CaseIterable, Sendable {
    /// e_i <- N_i - A: every rank keeps the whole approximation's error (per-worker error feedback).
    case perRankErrorFeedback = "powersgd-per-rank-error"
    /// Q is not summed over ranks: each rank keeps its own N_i^T P.
    case perRankQ = "powersgd-per-rank-q"
}

/// The shape a gradient has as a matrix, for PowerSGD: a convolution weight [out, in, kh, kw] is
/// [out, in*kh*kw], a Linear weight [out, in]; vectors (biases, BatchNorm) have none.
public struct GradientMatrixShape: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    public init(rows: Int, columns: Int) { self.rows = rows; self.columns = columns }

    /// The matrix view of a parameter of `shape`: its first dimension by the product of the others; nil for
    /// tensors of fewer than two dimensions.
    public init?(parameterShape shape: [Int]) {
        guard shape.count >= 2 else { return nil }
        self.init(rows: shape[0], columns: shape.dropFirst().reduce(1, *))
    }
}
