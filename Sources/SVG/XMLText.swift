/// Text and attribute values for XML/HTML output.
public enum XMLText {
    /// `s` with `&`, `<`, `>`, `"` and `'` replaced by entities, safe in element text and in quoted
    /// attribute values. Control characters XML 1.0 forbids (all below U+0020 except tab, newline and
    /// carriage return) are dropped, so any input yields well-formed XML.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value >= 0x20 && scalar.value != 0xFFFE && scalar.value != 0xFFFF { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
