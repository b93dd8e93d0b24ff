extension Tensor {
    /// The Euclidean norm of all elements, summed in double precision (a float32 sum of squares overflows
    /// past 1.8e19, which is where a diverged run's weights are). NaN when an element is NaN, infinity when
    /// one is infinite.
    public var euclideanNorm: Double {
        // Four running sums per pass keep the additions independent (the loop is bound by memory, not by them).
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        let p = base, n = count, whole = n - n % 4
        var i = 0
        while i < whole {
            let a = Double(p[i]), b = Double(p[i + 1]), c = Double(p[i + 2]), d = Double(p[i + 3])
            s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d
            i += 4
        }
        while i < n { s0 += Double(p[i]) * Double(p[i]); i += 1 }
        return ((s0 + s1) + (s2 + s3)).squareRoot()
    }
}
