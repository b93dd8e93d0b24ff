import Kernels
import NeuralNet
import XCTest

/// Finite-difference checking of explicit backward passes, in float32.
///
/// The scalar under test is L = sum(output * G) for a fixed random G, so dL/doutput = G.
/// We compare the analytic directional derivative <grad, v> with the central difference
/// (L(x + eps v) - L(x - eps v)) / (2 eps), for random directions v and for single coordinates.
///
/// Tolerance: relative 1e-2 of (|analytic| + a typical gradient scale). Float32 rounds each output to
/// ~6e-8 relative; summed over <= 10^4 terms in Double the noise in L is ~1e-5 absolute, so the
/// central difference carries ~1e-5 / (2 eps) of noise: 5e-4 at eps = 1e-2 (smooth layers such as BN,
/// where the O(eps^2) truncation term is ~1e-4). Layers that are linear or piecewise linear use
/// eps = 0.5 or 1e-3 with inputs spaced so no kink is crossed, where the difference is exact up to
/// rounding. A wrong backward (a missing term, a transposed index) is off by O(1) relative, far outside.
struct FiniteDifference {
    var rng = SplitMix64(seed: 42)

    mutating func randomTensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t[i] = Float(2 * rng.nextUnit() - 1) * scale }
        return t
    }

    /// Distinct values spaced by `spacing` (random order), away from zero: no ReLU kink or max-pool
    /// tie is crossed by perturbations smaller than spacing / 2.
    mutating func spacedTensor(_ shape: [Int], spacing: Float = 0.01) -> Tensor {
        let n = shape.reduce(1, *)
        var values = (0..<n).map { Float($0 - n / 2) * spacing + spacing / 2 }
        values.shuffle(using: &rng)
        return Tensor(shape: shape, values: values)
    }

    static func dot(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.count == b.count)
        var s = 0.0
        for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
        return s
    }

    /// Checks that `gradient` is dL/dx where `loss()` evaluates L at the current contents of `x`.
    mutating func check(_ label: String, x: Tensor, gradient: Tensor, eps: Float, directions: Int = 3,
                        coordinates: Int = 6, loss: () -> Double, file: StaticString = #filePath, line: UInt = #line) {
        let saved = x.array
        let scale = (FiniteDifference.dot(gradient, gradient) / Double(max(gradient.count, 1))).squareRoot()
        func compare(_ what: String, v: Tensor, analytic: Double, norm: Double) {
            for i in 0..<x.count { x[i] = saved[i] + eps * v[i] }
            let plus = loss()
            for i in 0..<x.count { x[i] = saved[i] - eps * v[i] }
            let minus = loss()
            x.copy(from: saved)
            let numeric = (plus - minus) / (2 * Double(eps))
            let tolerance = 1e-2 * (abs(analytic) + scale * norm) + 1e-6
            XCTAssertEqual(numeric, analytic, accuracy: tolerance, "\(label) \(what): numeric \(numeric) vs analytic \(analytic)",
                           file: file, line: line)
        }
        for d in 0..<directions {
            let v = randomTensor(x.shape)
            let norm = FiniteDifference.dot(v, v).squareRoot()
            compare("direction \(d)", v: v, analytic: FiniteDifference.dot(gradient, v), norm: norm)
        }
        for _ in 0..<min(coordinates, x.count) {
            let i = Int(rng.next() % UInt64(x.count))
            let v = Tensor(shape: x.shape)
            v[i] = 1
            compare("coordinate \(i)", v: v, analytic: Double(gradient[i]), norm: 1)
        }
    }
}
