import Foundation

/// One measured collective: `cluster-check bandwidth --sweep`'s row.
public struct SweepPoint: Codable, Equatable, Sendable {
    public enum Collective: String, Codable, Sendable { case allReduce = "allreduce", allGather = "allgather" }
    /// The link it was measured on (a tc rate such as "1gbit", or "local").
    public var link: String
    public var collective: Collective
    public var ranks: Int
    public var bytes: Int
    /// Seconds per call (the slowest rank's mean).
    public var seconds: Double
    /// The MPI path and algorithm, e.g. "nbc:3" (empty when not recorded).
    public var algorithm: String
    /// The host's CPU use during the run (0...1 of all its cores; `deploy/collectives.sh`'s host_cpu), when
    /// recorded. Near 1 the machine, not the emulated link, set the time.
    public var hostCPU: Double?

    public init(link: String, collective: Collective, ranks: Int, bytes: Int, seconds: Double, algorithm: String = "",
                hostCPU: Double? = nil) {
        self.link = link; self.collective = collective; self.ranks = ranks; self.bytes = bytes
        self.seconds = seconds; self.algorithm = algorithm; self.hostCPU = hostCPU
    }

    /// Reads the CSV `deploy/collectives.sh` writes (`link,world,algorithm,collective,ranks,bytes,iterations,seconds,...`)
    /// or the plain sweep CSV (`collective,ranks,bytes,iterations,seconds,...`, then `link` names the file's link).
    public static func read(csv text: String, link: String? = nil) throws -> [SweepPoint] {
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let header = lines.first?.split(separator: ",").map(String.init) else { return [] }
        lines.removeFirst()
        func column(_ name: String) -> Int? { header.firstIndex(of: name) }
        guard let c = column("collective"), let r = column("ranks"), let b = column("bytes"), let s = column("seconds") else {
            throw ScalingModelError.badInput("sweep CSV needs the columns collective, ranks, bytes and seconds; its header is '\(header.joined(separator: ","))'")
        }
        let l = column("link"), a = column("algorithm"), cpu = column("host_cpu")
        guard l != nil || link != nil else {
            throw ScalingModelError.badInput("sweep CSV has no link column: say which link it was measured on")
        }
        return try lines.enumerated().map { (i, line) in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count == header.count, let collective = Collective(rawValue: f[c]), let ranks = Int(f[r]),
                  let bytes = Int(f[b]), let seconds = Double(f[s]) else {
                throw ScalingModelError.badInput("sweep CSV line \(i + 2) is not a measurement: '\(line)'")
            }
            return SweepPoint(link: link ?? f[l!], collective: collective, ranks: ranks, bytes: bytes, seconds: seconds,
                              algorithm: a.map { f[$0] } ?? "", hostCPU: cpu.flatMap { Double(f[$0]) })
        }
    }
}
