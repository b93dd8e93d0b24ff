/// What a stream of random numbers is for. Every random number of the program is drawn from a stream made
/// from a seed, one of these domains and the domain's key (`RandomStream(_:seed:key:)`,
/// `SplitMix64(_:seed:key:)`), never from a shared generator; docs/random-streams.md lists them. The raw value
/// is the domain's tag. No domain takes the rank where the rank must not matter: W ranks draw what one
/// process draws.
public enum RandomDomain: Int, CaseIterable, Sendable {
    /// A view of a sample; key (epoch, dataset index, view). Multi-crop's small view k is view 2 + k.
    case augmentation = 0x4155_4755       // "AUGU"
    /// The sampler's permutation of an epoch; key (epoch).
    case sampler = 0x5341_4D50            // "SAMP"
    /// A synthetic image; key (split, index).
    case syntheticImage = 0x5359_4E54     // "SYNT"
    /// The class-balanced label-fraction subset; key (class).
    case labelFraction = 0x4C46_5241      // "LFRA"
    /// The linear probe's initial weights; no key.
    case probeInit = 0x4C50_494E          // "LPIN"
    /// The linear probe's shuffle of an epoch; key (epoch).
    case probeShuffle = 0x4C50_5348       // "LPSH"
    /// A parameter's initial values; key (parameter index). SplitMix64 of seed * 2^28 + index.
    case modelInit = 0x494E_4954          // "INIT"
    /// MoCo's initial queue; no key. SplitMix64 of seed ^ "MoCoQueue".
    case mocoQueue = 0x4D51_5545          // "MQUE"
    /// t-SNE's initial layout; no key. SplitMix64 of the seed itself.
    case tsneLayout = 0x5453_4E4C         // "TSNL"
    /// t-SNE's subsample of the points; no key. SplitMix64 of seed ^ "TSNE".
    case tsneSubsample = 0x5453_4E45      // "TSNE"
    /// PCA's start vectors; no key. SplitMix64 of seed ^ "PCA".
    case pca = 0x5043_4100                // "PCA"
    /// `simclr bench`'s random views when it reads no dataset; key (rank): each rank times its own images.
    case benchViews = 0x4245_4E43         // "BENC"
    /// PowerSGD's starting Q of a weight matrix; key (parameter index). Not the run's seed (callers pass 0): every
    /// rank and every run start from the same Q. SplitMix64 of "PWSGD" * 2^8 + index.
    case powerSGDQ = 0x5053_4751          // "PSGQ"

    public enum Generator: Sendable { case xoshiro, splitMix }

    /// The generator the domain draws from (SplitMix64 for the domains that always did, so their numbers
    /// stay as they were).
    public var generator: Generator {
        switch self {
        case .augmentation, .sampler, .syntheticImage, .labelFraction, .probeInit, .probeShuffle: return .xoshiro
        case .modelInit, .mocoQueue, .tsneLayout, .tsneSubsample, .pca, .benchViews, .powerSGDQ: return .splitMix
        }
    }

    /// The seed of a SplitMix64 domain's generator.
    func splitMixSeed(_ seed: UInt64, key: Int) -> UInt64 {
        switch self {
        case .modelInit: return seed &* 0x1000_0000 &+ UInt64(bitPattern: Int64(key))
        case .mocoQueue: return seed ^ 0x4D6F_436F_5175_6575   // "MoCoQueue"
        case .tsneLayout: return seed
        case .tsneSubsample: return seed ^ 0x5453_4E45
        case .pca: return seed ^ 0x5043_4100
        case .benchViews: return seed &+ UInt64(bitPattern: Int64(key))
        case .powerSGDQ: return 0x5057_5347_4400 &+ seed &+ UInt64(bitPattern: Int64(key))  // "PWSGD\0"
        default: preconditionFailure("\(self) draws from RandomStream")
        }
    }
}
