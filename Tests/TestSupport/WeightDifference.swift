/// How far apart two sets of model tensors (name -> values, e.g. from `SafetensorsFloats.read`) are: what the
/// data-parallel tests compare a W-rank run with a single process by.
public enum WeightDifference {
    /// Largest difference relative to each tensor's own largest magnitude, and that tensor's name
    /// (infinity when names or sizes differ).
    public static func perTensor(_ a: [String: [Float]], _ b: [String: [Float]]) -> (Double, String) {
        var worst = (0.0, "")
        for (name, x) in a {
            guard let y = b[name], y.count == x.count else { return (.infinity, name) }
            let scale = max(x.map { abs(Double($0)) }.max() ?? 0, 1e-12)
            let d = zip(x, y).map { abs(Double($0) - Double($1)) }.max() ?? 0
            if d / scale > worst.0 { worst = (d / scale, name) }
        }
        return worst
    }

    /// Largest difference relative to the largest magnitude in the whole model.
    public static func modelRelative(_ a: [String: [Float]], _ b: [String: [Float]]) -> Double {
        var diff = 0.0, scale = 1e-12
        for (name, x) in a {
            guard let y = b[name], y.count == x.count else { return .infinity }
            for (u, v) in zip(x, y) { diff = max(diff, abs(Double(u) - Double(v))); scale = max(scale, abs(Double(u))) }
        }
        return diff / scale
    }
}
