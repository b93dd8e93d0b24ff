import Kernels
import NeuralNet
import Runs
import XCTest

/// The memory estimate counts the network from its shape alone: the count must be the built network's.
final class StepMemoryEstimateTests: XCTestCase {
    func testTheParameterCountFromTheShapeIsTheBuiltNetworks() {
        let configs = [ResNetConfig(arch: .resnet18, stem: .cifar, width: 0.125, headDims: [512, 256]),
                       ResNetConfig(arch: .resnet18, stem: .cifar, width: 0.25, headDims: []),
                       ResNetConfig(arch: .resnet34, stem: .imagenet, width: 0.125, headDims: [128]),
                       ResNetConfig(arch: .resnet50, stem: .cifar, width: 0.0625, headDims: [64, 32])]
        for config in configs {
            XCTAssertEqual(config.parameterCount, ResNet(config: config).registry.parameterCount, "\(config)")
        }
        // torchvision's resnet18 without fc: 11,176,512 parameters.
        XCTAssertEqual(ResNetConfig(arch: .resnet18, stem: .imagenet, width: 1, headDims: []).parameterCount, 11_176_512)
    }

    /// ResNet-18 (cifar stem, width 1) on 32 px: 64x32x32 for the stem and each of layer1's four convolutions,
    /// then five maps (four convolutions and the downsample) per later stage at half the side and twice the
    /// channels: 65536 + 4 x 65536 + 5 x 32768 + 5 x 16384 + 5 x 8192 = 614400, plus the head's 512 + 256.
    func testTheActivationCountOfResNet18() {
        XCTAssertEqual(ResNetConfig(width: 1, headDims: [512, 256]).convolutionOutputs(imageSize: 32), 614_400 + 768)
        // Width 0.125: 8 channels are stored as 16 (feature maps hold blocks of 16 channels).
        XCTAssertEqual(ResNetConfig(width: 0.125, headDims: []).convolutionOutputs(imageSize: 32),
                       16 * 1024 * 5 + 16 * 256 * 5 + 32 * 64 * 5 + 64 * 16 * 5)
    }

    /// The convolutions walked from the shape are the built network's, in forward order.
    func testTheConvolutionsFromTheShapeAreTheBuiltNetworks() {
        for config in [ResNetConfig(arch: .resnet18, stem: .cifar, width: 0.125, headDims: [16]),
                       ResNetConfig(arch: .resnet34, stem: .imagenet, width: 0.125, headDims: []),
                       ResNetConfig(arch: .resnet50, stem: .cifar, width: 0.0625, headDims: [])] {
            let walked = config.convolutions(imageSize: 32), built = ResNet(config: config).namedConvolutions.map(\.layer)
            XCTAssertEqual(walked.count, built.count, "\(config)")
            for (g, c) in zip(walked, built) {
                XCTAssertEqual([g.inChannels, g.outChannels, g.kernel, g.stride, g.padding],
                               [c.inChannels, c.outChannels, c.kernel, c.stride, c.padding], "\(config) \(c.weight.name)")
            }
        }
    }

    /// bf16's Winograd weight gradient keeps a scratch per thread sized by its largest layer: in ResNet-18 at full
    /// width, layer4's 512 -> 512 3x3 convolutions (4x4 maps at 32 px). On 2 threads their sums M (16 x 512 x 512
    /// floats, 16 MB) split over the output channels: per thread the input transforms of a 256-tile chunk
    /// (16 x 128 pairs x rows of 512 channels words), the output gradient's (16 x 128 x rows of 256) and M's half
    /// (16 x 256 x 512), 4 bytes each, plus 256 bytes of alignment. A transform row holds one cache line (16
    /// words) more than its channels. Beside it, the forward and backward-data passes of those layers run by
    /// groups of tiles (their transformed weights, 8 MB, outgrow the cache) with one scratch for the process:
    /// V and M of the layer's 512 tiles (128 views x 2 x 2) rounded up to the micro-kernel's 14 rows, 518 rows of
    /// 16 x 512 + 32 bf16 values and 16 x 512 + 16 floats, plus 128 bytes of alignment.
    func testTheEstimateHoldsTheBF16WeightGradientScratch() {
        let model = ResNetConfig(width: 1, headDims: [512, 256])
        func estimate(_ precision: ComputePrecision, _ algorithm: ConvAlgorithmChoice, views: [(count: Int, size: Int)] = [(2, 32)]) -> StepMemoryEstimate {
            StepMemoryEstimate(model: model, optimizer: .sgd, views: views, perRankBatch: 64, prefetch: 2,
                               precision: precision, convAlgorithm: algorithm, threads: 2)
        }
        let perThread = (16 * 128 * (512 + 16) + 16 * 128 * (256 + 16) + 16 * 256 * 512) * 4 + 256
        let groups = 518 * ((16 * 512 + 32) * 2 + (16 * 512 + 16) * 4) + 128
        let cpu = CPUFeatures.current
        let expected = cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512BF16 ? 2 * perThread + groups : 0
        for algorithm in [ConvAlgorithmChoice.auto, .winograd] {
            let bf16 = estimate(.bf16, algorithm)
            XCTAssertEqual(bf16.convolutionScratch, expected, "\(algorithm)")
            XCTAssertEqual(bf16.total - estimate(.fp32, algorithm).total, expected, "\(algorithm): counted in the total")
            if expected > 0 { XCTAssertTrue(bf16.breakdown.contains("convolution scratch"), bf16.breakdown) }
        }
        XCTAssertEqual(estimate(.bf16, .direct).convolutionScratch, 0, "direct has no Winograd scratch")
        XCTAssertEqual(estimate(.fp32, .auto).convolutionScratch, 0, "float32 has no Winograd weight gradient")
        XCTAssertEqual(estimate(.bf16Reference, .auto).convolutionScratch, 0, "bf16-reference runs the float32 kernels")
        // 16 px crops alone: layer4's maps are 2x2, where `auto` runs the forward and backward-data passes direct
        // (no groups; layer3's transformed weights, 2 MB, need none either) and the weight gradient by F(3x3, 2x2)
        // as at 32 px: the same per-thread scratch.
        XCTAssertEqual(estimate(.bf16, .auto, views: [(6, 16)]).convolutionScratch, expected > 0 ? 2 * perThread : 0)
    }

    /// float32 `auto` runs layer4's three 512 -> 512 3x3 stride-1 convolutions of 16 px crops (2x2 maps) by
    /// per-tap products. Each such kernel holds its tap-major weights and weight-gradient sums (9 x 512 x 512
    /// floats each) and the per-pixel matrices of its source and output (4 pixels x 512 channels x 384 views
    /// each: 6 crops of 64 images).
    func testTheEstimateHoldsThePerTapScratch() {
        let model = ResNetConfig(width: 1, headDims: [512, 256])
        func estimate(_ precision: ComputePrecision, _ algorithm: ConvAlgorithmChoice, views: [(count: Int, size: Int)]) -> StepMemoryEstimate {
            StepMemoryEstimate(model: model, optimizer: .sgd, views: views, perRankBatch: 64, prefetch: 2,
                               precision: precision, convAlgorithm: algorithm, threads: 2)
        }
        let perLayer = (2 * 9 * 512 * 512 + 2 * 4 * 512 * 384) * 4
        let multiCrop = [(count: 2, size: 32), (count: 6, size: 16)]
        let auto = estimate(.fp32, .auto, views: multiCrop), direct = estimate(.fp32, .direct, views: multiCrop)
        XCTAssertEqual(auto.convolutionScratch, 3 * perLayer)
        XCTAssertEqual(auto.total - direct.total, 3 * perLayer, "counted in the total")
        XCTAssertTrue(auto.breakdown.contains("convolution scratch"), auto.breakdown)
        XCTAssertEqual(direct.convolutionScratch, 0, "direct runs no per-tap kernel")
        XCTAssertEqual(estimate(.fp32, .winograd, views: multiCrop).convolutionScratch, 0, "winograd runs no per-tap kernel")
        XCTAssertEqual(estimate(.fp32, .auto, views: [(2, 32)]).convolutionScratch, 0, "32 px: layer4's maps are 4x4")
    }

    func testAnAbsurdSettingGivesAnAbsurdEstimateNotATrap() {
        let estimate = StepMemoryEstimate(model: ResNetConfig(width: 1), optimizer: .sgd, views: [(count: 2, size: 1024)],
                                          perRankBatch: Int.max / 2, prefetch: 2)
        XCTAssertEqual(estimate.total, Int.max)
    }

    /// The ranks of one host share its memory: a step that fits once may not fit twice.
    func testTheCheckCountsTheRanksOfThisHost() throws {
        let estimate = StepMemoryEstimate(model: ResNetConfig(width: 0.25), optimizer: .sgd, views: [(count: 2, size: 32)],
                                          perRankBatch: 64, prefetch: 2)
        let line = try XCTUnwrap(try estimate.check(ranksOnThisHost: 1, machine: estimate.total))
        XCTAssertTrue(line.hasPrefix("memory: about \(StepMemoryEstimate.gigabytes(estimate.total)) per rank"), line)
        XCTAssertThrowsError(try estimate.check(ranksOnThisHost: 2, machine: estimate.total)) {
            XCTAssertTrue("\($0)".hasPrefix("this run needs about \(StepMemoryEstimate.gigabytes(2 * estimate.total)) (2 ranks on this host, each "), "\($0)")
        }
        XCTAssertThrowsError(try estimate.check(ranksOnThisHost: Int.max, machine: estimate.total)) {
            XCTAssertTrue("\($0)".contains("more than 9e9 GB"), "\($0)")
        }
        XCTAssertNil(try estimate.check(ranksOnThisHost: 1, machine: nil), "an unknown machine refuses nothing")
    }
}
