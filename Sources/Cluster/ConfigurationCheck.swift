import Kernels

/// Checks at start that every rank runs with the same configuration as rank 0.
///
/// Each rank hashes a canonical text of its configuration (FNV-1a 64; this guards against accidents, not
/// attacks). The hashes are all-gathered, so every rank knows which ranks differ from rank 0 and all of them
/// throw the same error together (no rank is left waiting in a later collective). On a mismatch rank 0's text
/// is broadcast and each differing rank names its first differing line, which every rank's message includes.
public enum ConfigurationCheck {
    public static func hash(_ canonical: String) -> UInt64 { FNV1a64.hash(canonical.utf8) }

    /// A canonical text for key/value settings: one `key=value` line per key, sorted by key.
    public static func canonical(_ settings: [String: String]) -> String {
        settings.keys.sorted().map { "\($0)=\(settings[$0]!)" }.joined(separator: "\n")
    }

    /// Collective. Returns the common hash, or throws `ClusterError.configurationMismatch` on every rank,
    /// naming the ranks whose configuration differs from rank 0's and what differs.
    @discardableResult
    public static func verify(_ canonical: String, communicator: any ProcessGroup) throws -> UInt64 {
        let local = hash(canonical)
        let hashes = try communicator.allGather([local])
        let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
        guard !differing.isEmpty else { return local }

        let reference = try communicator.broadcast(canonical, root: 0)
        let detail = differing.contains(communicator.rank) ? firstDifference(reference, canonical) : ""
        let details = try communicator.allGatherV(Array(detail.utf8)).map { String(decoding: $0, as: UTF8.self) }
        let hex = { (h: UInt64) in String(h, radix: 16) }
        var message = "configuration of rank(s) \(differing.map(String.init).joined(separator: ", ")) differs from rank 0's"
            + " (rank 0 hash \(hex(hashes[0])))"
        for r in differing { message += "; rank \(r) hash \(hex(hashes[r])): \(details[r])" }
        throw ClusterError.configurationMismatch(message: message, rank: communicator.worldRank, differingRanks: differing)
    }

    /// The first line where `mine` differs from `reference`, described for a human.
    static func firstDifference(_ reference: String, _ mine: String) -> String {
        let a = reference.split(separator: "\n", omittingEmptySubsequences: false)
        let b = mine.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? String(a[i]) : "<none>", y = i < b.count ? String(b[i]) : "<none>"
            if x != y { return "line \(i + 1) is '\(y)', rank 0 has '\(x)'" }
        }
        return "same text, different hash"
    }
}
