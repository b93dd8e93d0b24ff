import Foundation

/// How gradients cross the ranks, as the model costs it (the data-parallel option `--grad-compression`).
public enum GradientCompression: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    case none
    /// Each rank's contribution travels as bfloat16: half the bytes of an fp32 all-reduce.
    case bf16
    /// PowerSGD with error feedback at this rank: P = M Q and Q = M^T P all-reduced instead of M.
    case powerSGD(rank: Int)

    public init?(name: String, rank: Int = 4) {
        switch name {
        case "none": self = .none
        case "bf16": self = .bf16
        case "powersgd": self = .powerSGD(rank: rank)
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .none: return "none"
        case .bf16: return "bf16"
        case .powerSGD: return "powersgd"
        }
    }

    public var description: String {
        if case .powerSGD(let r) = self { return "powersgd (rank \(r))" }
        return name
    }

    /// Whether PowerSGD compresses an m x n matrix at rank R: only when P and Q ((m + n) R floats) are
    /// smaller than the matrix itself.
    public static func powerSGDCompresses(_ matrix: [Int]?, rank: Int) -> Bool {
        guard let m = matrix, m.count == 2 else { return false }
        return (m[0] + m[1]) * rank < m[0] * m[1]
    }

    /// The all-reduces (bytes each rank contributes, in order) one bucket of these parameters costs.
    public func allReduces(of parameters: [StepTimeline.Parameter]) -> [Int] {
        let elements = parameters.map(\.elements).reduce(0, +)
        switch self {
        case .none: return [elements * 4]
        case .bf16: return [elements * 2]
        case .powerSGD(let r):
            var p = 0, q = 0, plain = 0
            for parameter in parameters {
                if GradientCompression.powerSGDCompresses(parameter.matrix, rank: r), let m = parameter.matrix {
                    p += m[0] * r; q += m[1] * r
                } else {
                    plain += parameter.elements
                }
            }
            // P (with the uncompressed tensors beside it), then Q after P is orthonormalized.
            return [(p + plain) * 4, q * 4].filter { $0 > 0 }
        }
    }
}

extension StepTimeline.Parameter {
    /// The parameter as `bench --emulate-scale K` sends its gradient: its first ceil(n / K) elements.
    func scaled(by k: Int) -> StepTimeline.Parameter {
        guard k > 1 else { return self }
        var copy = self
        copy.elements = (elements + k - 1) / k
        return copy
    }
}
