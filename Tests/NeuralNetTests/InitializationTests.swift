import Kernels
import NeuralNet
import XCTest

/// torchvision's initialization: kaiming_normal_(fan_out, relu) for convs, U(+-1/sqrt(fan_in)) for Linear, BN 1/0.
final class InitializationTests: XCTestCase {
    func testConvWeightsFollowKaimingFanOut() {
        let model = ResNet(config: ResNetConfig(stem: .imagenet, width: 1), seed: 3)
        for p in model.parameters where p.kind == .convWeight {
            let v = p.value.array.map(Double.init)
            let n = Double(v.count)
            let mean = v.reduce(0, +) / n
            let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n).squareRoot()
            let expected = (2.0 / Double(p.shape[0] * p.shape[2] * p.shape[3])).squareRoot()
            // Sampling error of a normal's std is std/sqrt(2n), of its mean std/sqrt(n); allow 4 of each.
            XCTAssertEqual(std, expected, accuracy: 4 * expected / (2 * n).squareRoot(), p.name)
            XCTAssertEqual(mean, 0, accuracy: 4 * expected / n.squareRoot(), p.name)
        }
    }

    func testLinearAndBatchNormInitialization() {
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: 1, headDims: [512, 256]), seed: 4)
        for p in model.parameters {
            let v = p.value.array
            switch p.kind {
            case .linearWeight, .linearBias:
                let fanIn = model.parameter(named: p.name.replacingOccurrences(of: ".bias", with: ".weight"))!.shape[1]
                let bound = 1 / Float(fanIn).squareRoot()
                XCTAssertTrue(v.allSatisfy { abs($0) <= bound }, p.name)
                if p.kind == .linearWeight {
                    // Uniform(-b, b) has std b/sqrt(3).
                    let std = (v.map { Double($0 * $0) }.reduce(0, +) / Double(v.count)).squareRoot()
                    XCTAssertEqual(std, Double(bound) / 3.0.squareRoot(), accuracy: 0.02 * Double(bound), p.name)
                }
            case .normWeight: XCTAssertTrue(v.allSatisfy { $0 == 1 }, p.name)
            case .normBias: XCTAssertTrue(v.allSatisfy { $0 == 0 }, p.name)
            case .convWeight: break
            }
        }
        for b in model.buffers { XCTAssertTrue(b.value.array.allSatisfy { $0 == (b.name.hasSuffix("running_var") ? 1 : 0) }, b.name) }
    }

    func testWidthMultiplierKeepsNamesAndScalesChannels() {
        let full = ResNet(config: ResNetConfig(width: 1))
        let quarter = ResNet(config: ResNetConfig(width: 0.25))
        XCTAssertEqual(full.parameters.map(\.name), quarter.parameters.map(\.name))
        XCTAssertEqual(quarter.parameter(named: "layer4.1.conv2.weight")!.shape, [128, 128, 3, 3])
        XCTAssertEqual(quarter.parameter(named: "fc.0.weight")!.shape, [512, 128])
        // torchvision's resnet18 backbone has 11,176,512 parameters with its 7x7 stem (64*3*7*7 = 9408
        // weights); the CIFAR stem's 3x3 conv has 64*3*3*3 = 1728.
        XCTAssertEqual(full.registry.parameterCount, 11_176_512 - 9408 + 1728 + 512 * 512 + 512 + 512 * 256 + 256)
        let imagenet = ResNet(config: ResNetConfig(stem: .imagenet, width: 1, headDims: []))
        XCTAssertEqual(imagenet.registry.parameterCount, 11_176_512)
    }

    func testSameSeedSameWeights() {
        XCTAssertEqual(ResNet(config: ResNetConfig(width: 0.25), seed: 8).flatParameters.array,
                       ResNet(config: ResNetConfig(width: 0.25), seed: 8).flatParameters.array)
    }

    /// torchvision's resnet34 / resnet50 backbones: 21,797,672 / 25,557,032 parameters minus their 1000-class fc.
    func testDeeperArchitecturesHaveTorchvisionParameterCounts() {
        let r34 = ResNet(config: ResNetConfig(arch: .resnet34, stem: .imagenet, width: 1, headDims: []))
        XCTAssertEqual(r34.registry.parameterCount, 21_797_672 - (512 * 1000 + 1000))
        let r50 = ResNet(config: ResNetConfig(arch: .resnet50, stem: .imagenet, width: 1, headDims: [512, 256]))
        XCTAssertEqual(r50.registry.parameterCount - (2048 * 512 + 512 + 512 * 256 + 256), 25_557_032 - (2048 * 1000 + 1000))
        XCTAssertEqual(r50.config.featureDim, 2048)
        XCTAssertEqual(r50.parameter(named: "fc.0.weight")!.shape, [512, 2048])
        XCTAssertEqual(r50.parameter(named: "layer1.0.conv3.weight")!.shape, [256, 64, 1, 1])
        // v1.5: the stride-2 convolution of a downsampling Bottleneck is the 3x3.
        XCTAssertEqual(r50.parameter(named: "layer2.0.conv2.weight")!.shape, [128, 128, 3, 3])
    }

    func testZeroInitResidualZeroesOnlyEachBlocksLastBatchNorm() {
        for arch in [Architecture.resnet18, .resnet50] {
            let plain = ResNet(config: ResNetConfig(arch: arch, width: 0.25), seed: 2)
            let zeroed = ResNet(config: ResNetConfig(arch: arch, width: 0.25, zeroInitResidual: true), seed: 2)
            let last = arch == .resnet50 ? ".bn3.weight" : ".bn2.weight"
            var zeroedCount = 0
            for (p, q) in zip(plain.parameters, zeroed.parameters) {
                if p.name.hasPrefix("layer") && p.name.hasSuffix(last) {
                    XCTAssertTrue(q.value.array.allSatisfy { $0 == 0 }, q.name)
                    zeroedCount += 1
                } else {
                    XCTAssertEqual(p.value.array, q.value.array, p.name)
                }
            }
            XCTAssertEqual(zeroedCount, arch.blocksPerStage.reduce(0, +), "\(arch)")
        }
    }

    func testArchitectureIsReadFromStateDictKeys() {
        for arch in Architecture.allCases {
            let model = ResNet(config: ResNetConfig(arch: arch, width: 0.0625, headDims: [8]))
            XCTAssertEqual(Architecture.inferred(fromKeys: model.stateEntries().map(\.0)), arch)
            XCTAssertEqual(Architecture.inferred(fromKeys: model.stateEntries().map { "model." + $0.0 }), arch)
        }
    }
}
