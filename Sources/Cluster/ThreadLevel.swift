import CMPI

/// MPI's thread-support levels, ordered from least to most.
///
/// The gradient reducer runs its all-reduces on a communication thread while the compute thread may do small
/// collectives (SyncBN statistics) on the world communicator at the same time, so training needs `.multiple`.
public enum ThreadLevel: Int, Comparable, CustomStringConvertible, Sendable {
    case single = 0, funneled, serialized, multiple

    var mpiValue: Int32 {
        switch self {
        case .single: return cmpi_thread_single()
        case .funneled: return cmpi_thread_funneled()
        case .serialized: return cmpi_thread_serialized()
        case .multiple: return cmpi_thread_multiple()
        }
    }

    init(mpiValue: Int32) {
        switch mpiValue {
        case cmpi_thread_multiple(): self = .multiple
        case cmpi_thread_serialized(): self = .serialized
        case cmpi_thread_funneled(): self = .funneled
        default: self = .single
        }
    }

    public static func < (a: ThreadLevel, b: ThreadLevel) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .single: return "MPI_THREAD_SINGLE"
        case .funneled: return "MPI_THREAD_FUNNELED"
        case .serialized: return "MPI_THREAD_SERIALIZED"
        case .multiple: return "MPI_THREAD_MULTIPLE"
        }
    }
}
