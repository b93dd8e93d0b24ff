import Foundation

/// What the MPI launcher (mpirun/mpiexec, srun, the MPI Operator's mpirun) says in this process's environment,
/// read before MPI is initialized. Without a launcher the tool runs as a single process and does not initialize
/// MPI at all.
public enum MPILauncher {
    private static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Whether a launcher started this process.
    public static var isPresent: Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"].contains { environment[$0] != nil }
    }

    /// The number of ranks the launcher started (nil without a launcher).
    public static var worldSize: Int? {
        (environment["OMPI_COMM_WORLD_SIZE"] ?? environment["PMI_SIZE"] ?? environment["SLURM_NTASKS"]).flatMap { Int($0) }
    }

    /// The ranks the launcher started on this host (1 without a launcher, or when it does not say).
    public static var ranksOnThisHost: Int {
        (environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? environment["MPI_LOCALNRANKS"] ?? environment["SLURM_NTASKS_PER_NODE"])
            .flatMap { Int($0) } ?? 1
    }

    /// This process's rank as the launcher numbered it, when it started more than one.
    public static var rank: Int? {
        guard isPresent, (worldSize ?? 2) > 1 else { return nil }
        return (environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMIX_RANK"] ?? environment["PMI_RANK"]
                    ?? environment["SLURM_PROCID"]).flatMap { Int($0) }
    }
}

/// How a rank other than 0 reports an error every rank meets: after rank 0.
extension MPILauncher {
    /// Seconds a rank other than 0 waits before reporting an error: long enough for rank 0, meeting the same
    /// error at the same point, to report it and end the job (mpirun and `srun --kill-on-bad-exit` then stop
    /// this rank before it prints); an error of this rank alone is printed after the pause.
    public static let leaderHead: UInt32 = 3

    public static func pauseForLeader() { sleep(leaderHead) }

    /// On a rank other than 0, before printing an error with `exitCode`: waits for rank 0 to end the job first.
    /// Help and `--version` (exit code 0) are printed by rank 0 alone.
    public static func deferToLeader(exitCode: Int32) {
        guard let rank, rank != 0 else { return }
        if exitCode == 0 { Foundation.exit(0) }
        pauseForLeader()
    }
}
