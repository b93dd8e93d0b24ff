import NeuralNet
import Training
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
