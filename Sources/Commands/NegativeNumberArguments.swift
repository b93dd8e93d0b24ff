/// ArgumentParser reads a token like "-1" or "-0.5" as a short option, so `--temperature -1` failed with
/// "missing value" instead of reaching the check that explains why -1 is wrong. A negative number right after
/// a long option is joined to it (`--temperature=-1`), which the parser reads as that option's value. So is a
/// comma-separated list that starts with one (`--blur-sigma -1,2`, `--jitter-strength -1,0,0,0`).
public enum NegativeNumberArguments {
    public static func joined(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a.hasPrefix("--"), a.count > 2, !a.contains("="), i + 1 < arguments.count,
               isNegativeNumber(arguments[i + 1]) {
                out.append(a + "=" + arguments[i + 1])
                i += 2
            } else {
                out.append(a)
                i += 1
            }
        }
        return out
    }

    static func isNegativeNumber(_ token: String) -> Bool {
        token.count > 1 && token.hasPrefix("-")
            && token.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { Double($0) != nil }
    }
}
