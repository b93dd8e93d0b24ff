import Foundation

/// Which algorithms a network's convolutions use, as a user chooses it (`--conv-algorithm`).
///
/// - `direct`: every pass direct: the rounding of an ordinary convolution.
/// - `winograd`: the fastest Winograd for every pass that has one: oneDNN's F(4x4, 3x3) in float32 (its forward
///   rounding errors take one training step's update 2.4x further from float64 than PyTorch's float32 step),
///   our F(2x2, 3x3) for bf16's passes (the weight gradient by its transpose F(3x3, 2x2)).
/// - `auto` (the default): per layer and pass, the choice measured to keep one training step as close to
///   float64 as PyTorch's float32 step while keeping most of Winograd's speed (docs/precision.md, 'Choosing
///   the algorithm per layer and pass'); on maps smaller than 4x4 our per-tap matrix products in float32,
///   direct in bf16 but for the weight gradient (our F(3x3, 2x2), as on every other bf16 layer).
///
/// Strided and 1x1 convolutions, and the first layer (it reads images, not blocked maps), run direct whatever
/// the choice.
public enum ConvAlgorithmChoice: String, CaseIterable, Codable, Sendable {
    case auto, direct, winograd

    /// The algorithm of each pass for a convolution of shape `g` in float32 or (`bf16`) bf16.
    public func algorithms(for g: ConvGeometry, bf16: Bool = false) -> ConvPassAlgorithms {
        switch (self, bf16) {
        case (.direct, _): return .all(.direct)
        case (.winograd, false): return .all(.winograd4x4)
        case (.winograd, true): return .all(.winograd2x2)
        case (.auto, false) where ConvAlgorithmChoice.mapTooSmallForWinograd(g): return .all(.taps)
        case (.auto, true) where ConvAlgorithmChoice.mapTooSmallForWinograd(g):
            return ConvPassAlgorithms(forward: .direct, backwardData: .direct, backwardWeights: .winograd2x2)
        case (.auto, true): return .all(.winograd2x2)
        case (.auto, false): return ConvAlgorithmChoice.measuredChoice(for: g)
        }
    }

    /// Output maps smaller than 4x4 (layer4 of 16 px multi-crop views: 2x2): a Winograd tile then covers more
    /// than the map, and the transforms cost more than they save; most of a direct kernel's products fall on the
    /// padding (20 of 36 on a 2x2 map), which the per-tap matrix products skip. Measured at 16 px, batch 384
    /// (6 small crops of 64 images), 2 threads (`deploy/bench-conv-algorithms.sh --image-size 16 --batch 384
    /// --precision fp32 --reps 3`, 2026-12-07): layer4's 512 -> 512 convolution on 2x2 maps ran forward /
    /// backward-data / backward-weights in 17.9 / 17.9 / 21.4 ms by taps against 32.7 / 33.6 / 99.6 direct,
    /// 47.1 / 46.6 / 48.4 F(4x4) and 40.4 / 44.2 / 50.6 F(2x2) (F(4x4) weights); in bf16 (batch 128, 2026-12-06)
    /// direct 3.9 / 3.9 against F(2x2) 4.4 / 4.5. Neither direct nor taps transforms anything: both round like
    /// a direct convolution, so accuracy does not suffer. bf16's weight gradient is the exception: oneDNN's
    /// direct one ran 17.9 ms there against 5.5 for our F(3x3, 2x2) (batch 128, `--image-size 16 --precision
    /// bf16 --reps 5`, 2026-12-07), whose error on 2x2 and 3x3 maps stays within the bound it keeps on every
    /// other bf16 layer (WinogradWeightGradientTests: 4.5e-3 and 3.4e-3 of the scale against direct's 2.0e-3).
    static func mapTooSmallForWinograd(_ g: ConvGeometry) -> Bool { g.outHeight < 4 || g.outWidth < 4 }

    /// The default of a new network: `SIMCLR_CONV_ALGORITHM` from the environment when it names a choice, else `auto`.
    public static let processDefault: ConvAlgorithmChoice =
        ProcessInfo.processInfo.environment["SIMCLR_CONV_ALGORITHM"].flatMap(ConvAlgorithmChoice.init(rawValue:)) ?? .auto

    /// The measured float32 rule behind `auto` (figures in docs/precision.md, 'Choosing the algorithm per layer
    /// and pass'). One SimCLR step of the full-width network against float64: F(4x4) in the forward pass of the
    /// 32x32 maps alone took the update 1.75x further than PyTorch's float32 step, of the 32, 16 and 8 px maps
    /// 2.5x, of the 4x4 maps alone 1.09x; F(4x4) in both backward passes changed nothing measurable (a forward
    /// rounding error reaches the loss and through it every gradient; a backward one stays in its own
    /// gradient); our F(2x2) forward rounds like direct (1.00x). Speed: F(4x4) is the fastest pass everywhere,
    /// F(2x2) 1.7-1.8x faster than direct forward on maps of 8 px and more, but slower on 4x4 maps with many
    /// channels (its transformed weights outgrow the cache). So F(4x4) forward only where F(2x2) would be slow
    /// (512 x 512 channels or more: 16 MB of transformed weights), which in ResNet-18 at 32 px is layer4 alone. A
    /// rule by map side would not do: at 16 px, F(4x4) forward on layer3's 4x4 maps took a step (distinct views,
    /// width 0.25) 1.8x further from float64 than PyTorch's.
    static func measuredChoice(for g: ConvGeometry) -> ConvPassAlgorithms {
        ConvPassAlgorithms(forward: g.inChannels * g.outChannels >= 512 * 512 ? .winograd4x4 : .winograd2x2,
                           backwardData: .winograd4x4, backwardWeights: .winograd4x4)
    }
}
