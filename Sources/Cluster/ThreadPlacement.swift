import CKernels
import Foundation

/// Which CPU a rank's communication thread runs on (`--comm-cpu`).
///
/// A rank bound to one core shares it between compute and its gradient thread: socket copies, reductions and
/// PowerSGD's passes then take 5% and more of a step from compute, which overlap cannot hide (docs/bucket-plan.md,
/// note 'A core for communication'). Nodes with more cores than ranks can give each rank's communication thread a
/// core of its own, as Horovod's HOROVOD_THREAD_AFFINITY does. Placement is per process: it does not change what
/// the ranks compute, so it is neither in the configuration check nor in config.json.
public enum ThreadPlacement {
    /// The CPU for the process of node-local rank `localRank` from a `--comm-cpu` list: the list's only entry
    /// for every rank of the node, else entry `localRank`.
    public static func communicationCPU(from list: [Int], localRank: Int, worldRank: Int) throws -> Int {
        precondition(!list.isEmpty, "an empty --comm-cpu list")
        if list.count == 1 { return list[0] }
        guard localRank < list.count else {
            throw ClusterError.invalidArgument(call: "--comm-cpu", message:
                "local rank \(localRank) has no CPU in the list \(list.map(String.init).joined(separator: ",")): "
                + "give one CPU per rank of the node, or one for all", rank: worldRank)
        }
        return list[localRank]
    }

    /// A `--comm-cpu` list from its text ("3", "2,3"), nil when it is not a comma-separated list of CPU numbers.
    public static func parseList(_ text: String) -> [Int]? {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !items.isEmpty, items.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
        return items.map { $0! }
    }

    /// Why a list of communication CPUs cannot apply (nil: it can): with `overlap` off there is no thread.
    public static func listRefusal(_ list: [Int]?, overlap: Bool) -> String? {
        guard let list else { return nil }
        if list.isEmpty || list.contains(where: { $0 < 0 }) {
            return "communication CPUs must be CPU numbers (0 or more), not \(list)"
        }
        if !overlap {
            return "communication CPUs place the thread that overlaps gradient all-reduces with backward; without overlap there is none"
        }
        return nil
    }

    /// The rank among the processes of `group` on this node (MPI_COMM_TYPE_SHARED); a group that is not an MPI
    /// communicator (tests' in-process ranks, the world of one) has all its ranks on this node.
    public static func localRank(of group: any ProcessGroup) -> Int {
        var inner = group
        while let traced = inner as? TracedGroup { inner = traced.inner }
        return (inner as? Communicator)?.localRank ?? group.rank
    }

    /// The CPUs the calling thread may run on.
    public static var currentThreadCPUs: [Int] { cpus(ofThread: 0) ?? [] }

    /// The CPUs kernel thread `tid` may run on (0: the calling thread), nil when it cannot be read.
    static func cpus(ofThread tid: Int32) -> [Int]? {
        var cpus = [Int32](repeating: 0, count: 1024)
        let n = Int(sk_thread_cpus(tid, &cpus, Int32(cpus.count)))
        return n < 0 ? nil : cpus.prefix(min(n, cpus.count)).map(Int.init)
    }

    /// Names the calling thread as ps, top -H and perf show it (15 characters at most).
    static func nameCurrentThread(_ name: String) { sk_name_current_thread(name) }

    /// The calling thread's kernel id, for `cpus(ofThread:)` from another thread.
    static var currentThreadID: Int32 { sk_current_thread_id() }

    /// Binds the calling thread to `cpu`; nil, or why it cannot be bound.
    static func bindCurrentThread(toCPU cpu: Int) -> String? {
        let status = sk_bind_current_thread(Int32(clamping: cpu))
        return status == 0 ? nil : refusal(cpu: cpu, errno: status)
    }

    /// Whether the calling thread could be bound to `cpu` (it is tried, then the thread's CPUs are restored):
    /// nil, or why not. Checked before anything collective, so a bad CPU fails on its rank before the others wait.
    static func bindingRefusal(cpu: Int) -> String? {
        let before = currentThreadCPUs.map(Int32.init)
        if let why = bindCurrentThread(toCPU: cpu) { return why }
        _ = sk_set_current_thread_cpus(before, Int32(before.count))
        return nil
    }

    private static func refusal(cpu: Int, errno status: Int32) -> String {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return "cannot bind the communication thread to CPU \(cpu): \(String(cString: strerror(status))) "
            + "(this machine has CPUs 0-\(max(online - 1, 0)); this thread may run on \(describe(currentThreadCPUs)))"
    }

    /// "0-3,6" for [0, 1, 2, 3, 6].
    public static func describe(_ cpus: [Int]) -> String {
        var parts: [String] = [], i = 0
        while i < cpus.count {
            var j = i
            while j + 1 < cpus.count && cpus[j + 1] == cpus[j] + 1 { j += 1 }
            parts.append(j == i ? "\(cpus[i])" : "\(cpus[i])-\(cpus[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}
