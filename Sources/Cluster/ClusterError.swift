import CMPI

/// Everything the cluster layer can report. Every case names the (world) rank that saw it, so a message
/// printed by any one process of a job says where the failure happened.
public enum ClusterError: Error, CustomStringConvertible, Equatable {
    /// An MPI call returned an error code (communicators use MPI_ERRORS_RETURN, so MPI does not abort).
    case mpi(call: String, code: Int32, message: String, rank: Int)
    /// MPI_Init_thread provided less thread support than requested.
    case threadLevel(requested: ThreadLevel, provided: ThreadLevel, rank: Int)
    /// A call was refused before reaching MPI (sizes that do not fit, counts that exceed Int32, ...).
    case invalidArgument(call: String, message: String, rank: Int)
    /// The ranks were started with different configurations.
    case configurationMismatch(message: String, rank: Int, differingRanks: [Int])
    /// Replicated parameters are no longer bit-identical across ranks.
    case replicasDiffer(message: String, rank: Int, differingRanks: [Int])

    public var description: String {
        switch self {
        case let .mpi(call, code, message, rank):
            return "\(call) failed on rank \(rank): \(message) (MPI error code \(code))"
        case let .threadLevel(requested, provided, rank):
            return "MPI_Init_thread on rank \(rank): requested \(requested), the MPI library provides only \(provided)"
        case let .invalidArgument(call, message, rank):
            return "\(call) refused on rank \(rank): \(message)"
        case let .configurationMismatch(message, rank, _):
            return "configuration check on rank \(rank): \(message)"
        case let .replicasDiffer(message, rank, _):
            return "replica check on rank \(rank): \(message)"
        }
    }
}

/// The text MPI gives for an error code.
func mpiErrorString(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(code, &buffer, &length) == cmpi_success() else { return "unknown MPI error" }
    return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Throws `ClusterError.mpi` when `code` is not MPI_SUCCESS.
@inline(__always)
func checkMPI(_ code: Int32, _ call: String, rank: Int) throws {
    if code != MPI_SUCCESS { throw ClusterError.mpi(call: call, code: code, message: mpiErrorString(code), rank: rank) }
}
