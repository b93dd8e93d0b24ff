/// The longest run a training command accepts. A number of steps or epochs past it is a typo or a test of the
/// limits, not a run anyone waits for: SimCLR's longest schedule (1000 ImageNet epochs at batch 4096) is about
/// 313,000 steps. Refusing it while the flags are parsed beats a run that never ends (and keeps
/// `epochs` x steps per epoch inside `Int`).
public enum RunLength {
    public static let maximumSteps = 100_000_000

    /// Refuses `steps`, or `epochs` when no `steps` is given, past `maximumSteps` (an epoch is at least one step).
    public static func validate(epochs: Int, steps: Int?) throws {
        if let steps {
            guard steps <= maximumSteps else { throw SettingsError("`steps` \(steps) \(Self.tooMany)") }
        } else if epochs > maximumSteps {
            throw SettingsError("`epochs` \(epochs) \(Self.tooMany)")
        }
    }

    /// The run's steps: `steps`, else `epochs` x `stepsPerEpoch`; refused past `maximumSteps`.
    public static func totalSteps(epochs: Int, steps: Int?, stepsPerEpoch: Int) throws -> Int {
        if let steps {
            try validate(epochs: epochs, steps: steps)
            return steps
        }
        let (total, overflow) = epochs.multipliedReportingOverflow(by: stepsPerEpoch)
        guard !overflow, total <= maximumSteps else {
            throw SettingsError("`epochs` \(epochs) of \(stepsPerEpoch) steps each \(Self.tooMany)")
        }
        return total
    }

    static var tooMany: String {
        "is more than the \(maximumSteps) steps a run may take (SimCLR's longest schedule, 1000 ImageNet epochs "
            + "at batch 4096, is about 313,000 steps)"
    }
}
