import Foundation

/// Which algorithm a network's convolutions use, as a user chooses it (`--conv-algorithm`).
///
/// - `direct`: every pass direct: the rounding of an ordinary float32 convolution.
/// - `winograd`: Winograd F(4x4, 3x3) for every pass of every float32 3x3 stride-1 convolution (the fastest;
///   its rounding errors grow where a 4x4 output tile covers most of the map and in the weight gradient).
/// - `auto`: per layer and pass, the choice measured to keep one training step's deviation from float64
///   near an ordinary float32 step's while keeping most of Winograd's speed (docs/precision.md, 'Choosing the
///   algorithm per layer and pass').
///
/// bf16 convolutions are always direct (oneDNN has no bf16 Winograd), whatever the choice.
public enum ConvAlgorithmChoice: String, CaseIterable, Codable, Sendable {
    case auto, direct, winograd

    /// The algorithm of each pass for a convolution of shape `g`.
    public func algorithms(for g: ConvGeometry) -> ConvPassAlgorithms {
        switch self {
        case .direct: return .all(.direct)
        case .winograd: return .all(.winograd4x4)
        case .auto: return ConvAlgorithmChoice.measuredChoice(for: g)
        }
    }

    /// The default of a new network: `SIMCLR_CONV_ALGORITHM` from the environment when it names a choice, else `auto`.
    public static let processDefault: ConvAlgorithmChoice =
        ProcessInfo.processInfo.environment["SIMCLR_CONV_ALGORITHM"].flatMap(ConvAlgorithmChoice.init(rawValue:)) ?? .auto

    /// The measured rule behind `auto` (figures in docs/precision.md, 'Choosing the algorithm per layer and
    /// pass'): the forward pass direct, both backward passes Winograd. A forward rounding error reaches the
    /// loss and, through it, every gradient of the step (the loss amplifies it where its gradient is a small
    /// difference of large terms); a backward rounding error stays in the gradient it is made in. Measured on
    /// one SimCLR step against float64: Winograd in the forward pass alone doubled the update's deviation,
    /// in both backward passes it added 0-9%, and the backward passes are two thirds of the convolution time.
    static func measuredChoice(for g: ConvGeometry) -> ConvPassAlgorithms {
        ConvPassAlgorithms(forward: .direct, backwardData: .winograd4x4, backwardWeights: .winograd4x4)
    }
}
