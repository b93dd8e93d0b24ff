import Foundation

/// The study's settings as text gives them (comma-separated lists, values per link) and their limits. Errors
/// name the setting in backquotes (`ranks`, `computeFactor`); a front end says its own name for it.
extension ScalingModelStudy {
    /// The limits of the scalar settings: a fit needs two ranks (one rank sends nothing).
    public func validate() throws {
        guard fitMaxRanks >= 2 else { throw ScalingModelError.badInput("`fitMaxRanks` must be at least 2 (one rank sends nothing)") }
        guard bucketMB > 0 else { throw ScalingModelError.badInput("`bucketMB` must be positive") }
        guard powerSGDRank >= 1 else { throw ScalingModelError.badInput("`powerSGDRank` must be at least 1") }
        guard tolerance > 0 else { throw ScalingModelError.badInput("`tolerance` must be positive") }
    }

    /// "none,bf16,powersgd": the compression modes, PowerSGD at `rank`.
    public static func compressions(parsing text: String, rank: Int) throws -> [GradientCompression] {
        try list(text, { "unknown compression '\($0)': use none, bf16 or powersgd" }) { GradientCompression(name: $0, rank: rank) }
    }

    /// "1,2,4": positive counts (rank or node counts) of `setting`.
    public static func counts(parsing text: String, setting: String) throws -> [Int] {
        try list(text, { "`\(setting)`: '\($0)' is not a positive count" }) { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
    }

    /// "1,10,25": link rates in Gbit/s of `setting`.
    public static func rates(parsing text: String, setting: String) throws -> [Double] {
        try list(text, { "`\(setting)`: '\($0)' is not a rate in Gbit/s" }) { Double($0).flatMap { $0 > 0 ? $0 : nil } }
    }

    /// "LINK=X,...", or one X for every link not named: the values per link and the one for the others
    /// (`fallback` when no plain X is given). X must lie in `allowed`, which `rule` says in words (">= 0").
    public static func perLink(parsing text: String, setting: String, fallback: Double, allowed: ClosedRange<Double>,
                               rule: String) throws -> (perLink: [String: Double], others: Double) {
        var (perLink, others) = ([String: Double](), fallback)
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let value = Double(parts.last ?? ""), allowed.contains(value), parts.count <= 2 else {
                throw ScalingModelError.badInput("`\(setting)`: '\(item)' is not LINK=X or X with X \(rule)")
            }
            if parts.count == 2 { perLink[parts[0]] = value } else { others = value }
        }
        return (perLink, others)
    }

    /// A comma-separated list; an item `parse` refuses is the error `refusal(item)`.
    private static func list<T>(_ text: String, _ refusal: (Substring) -> String, _ parse: (String) -> T?) throws -> [T] {
        try text.split(separator: ",").map { item in
            guard let value = parse(item.trimmingCharacters(in: .whitespaces)) else { throw ScalingModelError.badInput(refusal(item)) }
            return value
        }
    }
}
