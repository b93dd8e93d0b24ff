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
    /// (MCA parameter, value) for a world of `worldSize` ranks (nil: not known before MPI_Init).
    ///
    /// libnbc all-reduce 3 = Rabenseifner (reduce-scatter + all-gather), within 11% of the ring for gradient
    /// buckets and 3.6x faster than the ring for SyncBN-sized messages at 16 ranks. On a rank count that is not
    /// a power of two, libnbc's Rabenseifner first folds the extra ranks into partners and sends them the whole
    /// result at the end (2 more vectors on the critical path): at 3, 5 and 6 ranks it moved 32 KiB and more at
    /// about half the ring's speed (33.5 MB at 1 Gbit/s: 840-995 ms vs 377-487 ms), so there the ring
    /// (1) is chosen; SyncBN-sized messages then take 0.1-0.5 ms more each. libnbc all-gather 2 = recursive
    /// doubling (libnbc itself falls back to its linear all-gather on other rank counts).
    public static func defaults(worldSize: Int?) -> [(parameter: String, value: String)] {
        let powerOfTwo = worldSize.map { $0 > 0 && $0 & ($0 - 1) == 0 } ?? true
        return [("coll_libnbc_iallreduce_algorithm", powerOfTwo ? "3" : "1"),
                ("coll_libnbc_iallgather_algorithm", "2")]
    }

    /// The world size the launcher announced in the environment before MPI_Init: mpirun's
    /// OMPI_COMM_WORLD_SIZE, else srun's SLURM_STEP_NUM_TASKS; nil when neither is set (a singleton, or a
    /// launcher that says nothing: then the power-of-two choice stands).
    public static func launcherWorldSize(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        for name in ["OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS"] {
            if let value = environment[name].flatMap(Int.init), value > 0 { return value }
        }
        return nil
    }

    /// Sets each default whose OMPI_MCA_ variable is unset. Call before MPI_Init; later calls change nothing MPI uses.
    public static func applyDefaults() {
        for (parameter, value) in defaults(worldSize: launcherWorldSize()) { setenv("OMPI_MCA_" + parameter, value, 0) }
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
        defaults(worldSize: nil).map { "\($0.parameter)=\(mpiValue(of: $0.parameter).map(String.init) ?? "?")" }.joined(separator: " ")
    }
}
