import Kernels
import NeuralNet
import XCTest

/// torchvision's initialization: kaiming_normal_(fan_out, relu) for convs, U(+-1/sqrt(fan_in)) for Linear, BN 1/0.
final class InitializationTests: XCTestCase {
    func testConvWeightsFollowKaimingFanOut() {
        let model = ResNet18(config: ResNetConfig(stem: .imagenet, width: 1), seed: 3)
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
        let model = ResNet18(config: ResNetConfig(stem: .cifar, width: 1, headDims: [512, 256]), seed: 4)
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
        let full = ResNet18(config: ResNetConfig(width: 1))
        let quarter = ResNet18(config: ResNetConfig(width: 0.25))
        XCTAssertEqual(full.parameters.map(\.name), quarter.parameters.map(\.name))
        XCTAssertEqual(quarter.parameter(named: "layer4.1.conv2.weight")!.shape, [128, 128, 3, 3])
        XCTAssertEqual(quarter.parameter(named: "fc.0.weight")!.shape, [512, 128])
        // torchvision's resnet18 backbone has 11,176,512 parameters with its 7x7 stem (64*3*7*7 = 9408
        // weights); the CIFAR stem's 3x3 conv has 64*3*3*3 = 1728.
        XCTAssertEqual(full.registry.parameterCount, 11_176_512 - 9408 + 1728 + 512 * 512 + 512 + 512 * 256 + 256)
        let imagenet = ResNet18(config: ResNetConfig(stem: .imagenet, width: 1, headDims: []))
        XCTAssertEqual(imagenet.registry.parameterCount, 11_176_512)
    }

    func testSameSeedSameWeights() {
        XCTAssertEqual(ResNet18(config: ResNetConfig(width: 0.25), seed: 8).flatParameters.array,
                       ResNet18(config: ResNetConfig(width: 0.25), seed: 8).flatParameters.array)
    }
}
