import Foundation

/// How a thread waits for started collectives (note 'Cheap waiting' in docs/bucket-plan.md).
///
/// A blocking MPI call, or a loop of MPI_Test and sched_yield, keeps its thread running the whole time it
/// waits. On a machine where each rank has one core, the communication thread's wait then competes with the
/// compute thread of the same rank for that core, and compute slows down although the thread does no work.
/// Here a waiting thread tests its collectives and sleeps `pollSeconds` between tests, so it takes the core
/// only when MPI has work for it (copying a fragment, starting the next round). A deadline
/// (`CollectiveDeadline`) still ends the job when a rank stops arriving.
public enum CollectiveWaiting {
    /// Returns when every collective finished. `pollSeconds` 0: test in a loop, yielding the core between tests
    /// (for the compute thread, which has nothing else to do).
    public static func wait(for pending: [PendingCollective], group: any ProcessGroup, pollSeconds: Double) throws {
        let start = monotonicSeconds()
        let deadline = CollectiveDeadline.current()
        for collective in pending {
            while try !collective.isComplete() {
                if let deadline, monotonicSeconds() - start > deadline.limit {
                    group.abort(message: CollectiveDeadline.timeoutMessage(call: collective.call, count: collective.count,
                        waited: monotonicSeconds() - start, phase: deadline.phase, rank: group.rank, size: group.size), code: 1)
                }
                sleep(pollSeconds)
            }
        }
    }

    /// Sleeps `seconds` (0: yields the core instead).
    static func sleep(_ seconds: Double) {
        guard seconds > 0 else { sched_yield(); return }
        var request = timespec(tv_sec: 0, tv_nsec: Int(seconds * 1e9))
        nanosleep(&request, nil)
    }
}
