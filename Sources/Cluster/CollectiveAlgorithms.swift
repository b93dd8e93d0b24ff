import CMPI
import Foundation

/// OpenMPI's collective algorithms this project chooses, as MCA defaults set in the environment before
/// MPI_Init (docs/collective-algorithms.md has the measurements behind each choice). A value the user set
/// (`mpirun --mca NAME VALUE`, `-x OMPI_MCA_NAME`, an MCA parameter file read into the environment) is
/// never replaced: only unset variables get these defaults.
///
/// Training waits in collectives with MPI_Test (under a deadline), so its calls are non-blocking and
/// OpenMPI runs them with libnbc, whose own choice for an in-place all-reduce is a binomial tree: at 16
/// ranks on 1 Gbit/s links that moved 32 MiB 6.3x slower than Rabenseifner's algorithm.
public enum CollectiveAlgorithms {
    /// (MCA parameter, value): libnbc all-reduce 3 = Rabenseifner (reduce-scatter + all-gather), within 11% of
    /// the ring for gradient buckets and 3.6x faster than the ring for SyncBN-sized messages at 16 ranks;
    /// libnbc all-gather 2 = recursive doubling.
    public static let defaults: [(parameter: String, value: String)] = [
        ("coll_libnbc_iallreduce_algorithm", "3"),
        ("coll_libnbc_iallgather_algorithm", "2"),
    ]

    /// Sets each default whose OMPI_MCA_ variable is unset. Call before MPI_Init; later calls change nothing MPI uses.
    public static func applyDefaults() {
        for (parameter, value) in defaults { setenv("OMPI_MCA_" + parameter, value, 0) }
    }

    /// The value MPI uses for the integer MCA parameter `parameter`, read through the MPI tool interface
    /// (MPI_T), or nil when MPI does not know it. Works before and after MPI_Init.
    public static func mpiValue(of parameter: String) -> Int? {
        var provided: Int32 = 0
        guard MPI_T_init_thread(cmpi_thread_single(), &provided) == cmpi_success() else { return nil }
        defer { MPI_T_finalize() }
        var index: Int32 = 0
        guard MPI_T_cvar_get_index(parameter, &index) == cmpi_success() else { return nil }
        var handle: MPI_T_cvar_handle? = nil
        var count: Int32 = 0
        guard MPI_T_cvar_handle_alloc(index, nil, &handle, &count) == cmpi_success(), count == 1 else { return nil }
        defer { MPI_T_cvar_handle_free(&handle) }
        var value: Int32 = 0
        guard MPI_T_cvar_read(handle, &value) == cmpi_success() else { return nil }
        return Int(value)
    }

    /// "parameter=value" for each chosen parameter as MPI runs it, for logs.
    public static var summary: String {
        defaults.map { "\($0.parameter)=\(mpiValue(of: $0.parameter).map(String.init) ?? "?")" }.joined(separator: " ")
    }
}
