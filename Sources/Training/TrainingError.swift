public enum TrainingError: Error, CustomStringConvertible {
    case nonFiniteLoss(step: Int, loss: Double)
    case invalidSettings(String)
    case checkpointNotWritten(step: Int, reason: String)
    case writeFailed(String)

    public var description: String {
        switch self {
        case let .nonFiniteLoss(step, loss):
            return "loss became \(loss) at step \(step); stopping. The last good checkpoint is kept (try a lower --lr; in pretraining also a higher --temperature)."
        case let .invalidSettings(why): return "invalid settings: \(why)"
        case let .checkpointNotWritten(step, reason):
            return "the checkpoint of step \(step) was not written: \(reason); stopping (free space, then --resume)"
        case let .writeFailed(what): return what
        }
    }
}
