import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a rank's CPU time went between two points, read from Linux's /proc and /sys (nil fields where the
/// kernel does not say): this thread's run time and the time it waited runnable for the core
/// (`/proc/thread-self/schedstat`), the whole process's run time (every thread's schedstat), and, when the
/// rank is bound to one core, that core's busy time (wall minus its idle states' residency) and the kernel's
/// share of it sampled at ticks (`/proc/stat`: system, softirq, irq). Emulated compute uses it to tell what
/// real compute on that core would have lost (docs/scaling-model.md, note 'Emulated compute').
public struct HostCPUSample {
    public var wall: Double
    public var threadRun: Double?, threadRunqueue: Double?
    public var processRun: Double?
    /// The one core this thread may run on (nil: more than one).
    public var core: Int?
    public var coreIdle: Double?
    /// Seconds the core spent in the kernel (system), softirq and hard irq, by `/proc/stat`'s tick sampling, and
    /// the time a hypervisor ran something else on it (steal: a virtual machine's core that was not there).
    public var coreSystem: Double?, coreSoftirq: Double?, coreIrq: Double?, coreSteal: Double?
    /// Counts: times this thread was preempted (nonvoluntary context switches), and the core's interrupts
    /// (`/proc/interrupts`, local timer included) and softirqs (`/proc/softirqs`) handled.
    public var threadPreemptions: Double?, coreInterrupts: Double?, coreSoftirqs: Double?

    /// Now, for the calling thread.
    public static func now() -> HostCPUSample {
        var s = HostCPUSample(wall: Double(DispatchTime.now().uptimeNanoseconds) * 1e-9)
        if let (run, wait) = schedstat("/proc/thread-self/schedstat") { (s.threadRun, s.threadRunqueue) = (run, wait) }
        s.processRun = processRunSeconds()
        s.core = boundCore()
        s.threadPreemptions = statusField("/proc/thread-self/status", "nonvoluntary_ctxt_switches:")
        if let core = s.core {
            s.coreInterrupts = columnSum("/proc/interrupts", core)
            s.coreSoftirqs = columnSum("/proc/softirqs", core)
            s.coreIdle = coreIdleSeconds(core)
            if let ticks = procStatTicks(core) {
                let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
                (s.coreSystem, s.coreIrq, s.coreSoftirq, s.coreSteal) = (ticks[2] / hz, ticks[5] / hz, ticks[6] / hz, ticks[7] / hz)
            }
        }
        return s
    }

    /// The core's busy seconds since `earlier` (nil unless both were bound to the same core).
    public func coreBusy(since earlier: HostCPUSample) -> Double? {
        guard let core, core == earlier.core, let idle = coreIdle, let idle0 = earlier.coreIdle else { return nil }
        return max(0, (wall - earlier.wall) - (idle - idle0))
    }

    /// The core's idle seconds, from cpuidle's residency counters (microseconds, updated when the core leaves idle:
    /// current whenever this thread runs on it).
    public static func coreIdleSeconds(_ core: Int) -> Double? {
        let dir = "/sys/devices/system/cpu/cpu\(core)/cpuidle"
        guard let states = try? FileManager.default.contentsOfDirectory(atPath: dir), !states.isEmpty else { return nil }
        var micros = 0.0
        for state in states where state.hasPrefix("state") {
            guard let text = try? String(contentsOfFile: "\(dir)/\(state)/time", encoding: .utf8),
                  let value = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
            micros += value
        }
        return micros * 1e-6
    }

    /// The only core this thread's affinity allows (`Cpus_allowed_list` in /proc/thread-self/status), or nil.
    static func boundCore() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        return Int(line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces))
    }

    /// A number after `key` in a /proc status file.
    static func statusField(_ path: String, _ key: String) -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return nil }
        return Double(line.dropFirst(key.count).trimmingCharacters(in: .whitespaces))
    }

    /// The sum of one CPU's column in a per-CPU counter table (/proc/interrupts, /proc/softirqs: a header line
    /// of CPU names, then `NAME: count count ... [description]`).
    static func columnSum(_ path: String, _ core: Int) -> Double? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var lines = text.split(separator: "\n")
        guard let header = lines.first?.split(separator: " "), let column = header.firstIndex(of: Substring("CPU\(core)")) else { return nil }
        lines.removeFirst()
        var sum = 0.0
        for line in lines {
            let fields = line.split(separator: " ")
            if fields.count > column + 1, let v = Double(fields[column + 1]) { sum += v }
        }
        return sum
    }

    /// (run seconds, runqueue-wait seconds) from a schedstat file.
    static func schedstat(_ path: String) -> (Double, Double)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let f = text.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return f.count >= 2 ? (f[0] * 1e-9, f[1] * 1e-9) : nil
    }

    /// Every thread's run time, summed.
    static func processRunSeconds() -> Double? {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return nil }
        return tasks.compactMap { schedstat("/proc/self/task/\($0)/schedstat")?.0 }.reduce(0, +)
    }

    /// `/proc/stat`'s line for one core: user nice system idle iowait irq softirq steal ... (ticks).
    static func procStatTicks(_ core: Int) -> [Double]? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        let prefix = "cpu\(core) "
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        return values.count >= 8 ? values : nil
    }
}

/// Per-step means of the difference between two samples, in ms, for the bench's JSON.
public struct HostCPUUse: Codable {
    /// Wall time per step between the two samples (the interval every other figure covers).
    public var msWall: Double?
    public var msThreadCPU: Double?, msThreadRunqueue: Double?, msProcessCPU: Double?
    public var core: Int?, msCoreBusy: Double?, msCoreSystem: Double?, msCoreSoftirq: Double?, msCoreIrq: Double?
    public var msCoreSteal: Double?
    /// Per step: preemptions of the main thread, interrupts and softirqs handled by its core.
    public var threadPreemptions: Double?, coreInterrupts: Double?, coreSoftirqs: Double?

    enum CodingKeys: String, CodingKey {
        case msWall = "ms_wall", msThreadCPU = "ms_main_thread_cpu", msThreadRunqueue = "ms_main_thread_runqueue", msProcessCPU = "ms_process_cpu"
        case core, msCoreBusy = "ms_core_busy", msCoreSystem = "ms_core_system", msCoreSoftirq = "ms_core_softirq", msCoreIrq = "ms_core_irq"
        case msCoreSteal = "ms_core_steal", threadPreemptions = "main_thread_preemptions", coreInterrupts = "core_interrupts"
        case coreSoftirqs = "core_softirqs"
    }

    public init(from a: HostCPUSample, to b: HostCPUSample, steps: Int) {
        let n = Double(max(steps, 1))
        func ms(_ x: Double?, _ y: Double?) -> Double? {
            guard let x, let y else { return nil }
            return ((y - x) / n * 1e6).rounded() / 1000
        }
        func count(_ x: Double?, _ y: Double?) -> Double? {
            guard let x, let y else { return nil }
            return ((y - x) / n * 10).rounded() / 10
        }
        msWall = ms(a.wall, b.wall)
        threadPreemptions = count(a.threadPreemptions, b.threadPreemptions)
        msThreadCPU = ms(a.threadRun, b.threadRun)
        msThreadRunqueue = ms(a.threadRunqueue, b.threadRunqueue)
        msProcessCPU = ms(a.processRun, b.processRun)
        core = a.core == b.core ? a.core : nil
        msCoreBusy = b.coreBusy(since: a).map { ($0 / n * 1e6).rounded() / 1000 }
        if core != nil {
            msCoreSystem = ms(a.coreSystem, b.coreSystem)
            msCoreSoftirq = ms(a.coreSoftirq, b.coreSoftirq)
            msCoreIrq = ms(a.coreIrq, b.coreIrq)
            msCoreSteal = ms(a.coreSteal, b.coreSteal)
            coreInterrupts = count(a.coreInterrupts, b.coreInterrupts)
            coreSoftirqs = count(a.coreSoftirqs, b.coreSoftirqs)
        }
    }
}

/// The time one core spent running anything but the calling thread, read cheaply and often: the core's
/// wall time minus its idle residency (cpuidle's counters) minus this thread's run time (schedstat), from
/// files kept open and re-read with `pread`. Emulated compute stretches its sleeps by it (`ComputePacer`):
/// what ran on the core meanwhile (the rank's communication thread, the kernel's network work in softirq,
/// other processes) is what real compute on that core would have waited for.
final class CoreShareClock {
    let core: Int
    private let idleFiles: [Int32]
    private let threadFile: Int32

    /// Nil unless the calling thread is bound to one core whose idle counters and schedstat can be read.
    init?() {
        guard let core = HostCPUSample.boundCore() else { return nil }
        let dir = "/sys/devices/system/cpu/cpu\(core)/cpuidle"
        guard let states = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        let files = states.filter { $0.hasPrefix("state") }.map { open("\(dir)/\($0)/time", O_RDONLY) }
        let thread = open("/proc/thread-self/schedstat", O_RDONLY)
        guard !files.isEmpty, !files.contains(where: { $0 < 0 }), thread >= 0 else {
            files.filter { $0 >= 0 }.forEach { close($0) }
            if thread >= 0 { close(thread) }
            return nil
        }
        self.core = core
        idleFiles = files
        threadFile = thread
        guard othersSeconds() != nil else { return nil }
    }

    deinit {
        idleFiles.forEach { close($0) }
        close(threadFile)
    }

    /// The first number in a file (re-read from its start).
    private func leadingNumber(_ fd: Int32) -> Double? {
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 63, 0) }
        guard n > 0 else { return nil }
        var value = 0.0, digits = 0
        for byte in buffer[0..<n] {
            guard byte >= 48 && byte <= 57 else { if digits > 0 { break } else { continue } }
            value = value * 10 + Double(byte - 48); digits += 1
        }
        return digits > 0 ? value : nil
    }

    /// Seconds (from an arbitrary origin) the core ran something other than this thread.
    func othersSeconds() -> Double? {
        let wall = Double(DispatchTime.now().uptimeNanoseconds) * 1e-9
        var idleMicros = 0.0
        for fd in idleFiles {
            guard let v = leadingNumber(fd) else { return nil }
            idleMicros += v
        }
        guard let ownNanos = leadingNumber(threadFile) else { return nil }
        return wall - idleMicros * 1e-6 - ownNanos * 1e-9
    }
}
