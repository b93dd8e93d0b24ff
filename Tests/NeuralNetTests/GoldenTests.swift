import Foundation
import Kernels
import NeuralNet
import XCTest

/// Outputs and gradients against PyTorch/torchvision (fixtures from Fixtures/make_fixtures.py).
///
/// Tolerance 1e-4 of each tensor's largest magnitude: both sides compute in float32 but sum in
/// different orders (oneDNN's blocked kernels vs PyTorch's) through up to 20 layers, and BatchNorm
/// renormalizes at every layer so rounding does not compound. A wrong index or missing term
/// shows up as errors of order 1.
final class GoldenTests: XCTestCase {
    let tolerance = 1e-4

    override func setUp() { Parallel.threadCount = 2; BLAS.setThreads(1) }

    func testGeneratorMatchesFixture() throws {
        let f = try loadFixture("resnet18_cifar_w1")
        let model = ResNet(config: ResNetConfig(stem: .cifar, width: 1, headDims: [512, 256]))
        var checked = 0
        for (name, entry) in f where name.hasPrefix("check.") {
            let key = String(name.dropFirst("check.".count))
            let shape = model.parameter(named: key)?.shape ?? model.buffers.first { $0.name == key }!.shape
            XCTAssertEqual(Array(GeneratedWeights.values(name: key, shape: shape).prefix(8)), entry.floats(), key)
            checked += 1
        }
        XCTAssertEqual(checked, model.parameters.count + model.buffers.count)
    }

    func testBasicBlockWithDownsample() throws {
        let r = ParameterRegistry()
        let block = BasicBlock(r, "b", in: 16, out: 32, stride: 2)
        try checkBlock("basic_block", block, r)
    }

    func testBottleneckWithDownsample() throws {
        let r = ParameterRegistry()
        let block = Bottleneck(r, "b", in: 16, width: 8, stride: 2)
        try checkBlock("bottleneck_block", block, r)
    }

    /// A block (registered as "b") from [4,16,8,8] to [4,32,4,4]: forward, backward, running stats, eval.
    private func checkBlock(_ fixture: String, _ block: any ResidualBlock, _ r: ParameterRegistry) throws {
        let f = try loadFixture(fixture)
        let inShape = [4, 16, 8, 8], outShape = [4, 32, 4, 4]
        r.finalize()
        for p in r.parameters { p.value.copy(from: f["param." + p.name.dropFirst(2)]!.floats()) }
        for b in r.buffers { b.value.copy(from: f["param." + b.name.dropFirst(2)]!.floats()) }
        let x = blockedMap(nchw: f["input"]!.floats(), shape: inShape)
        let y = block.forward(x)
        XCTAssertLessThan(relativeError(nchwValues(y), f["output"]!.floats()), tolerance, "output")
        let dx = block.backward(blockedMap(nchw: f["grad_output"]!.floats(), shape: outShape))
        XCTAssertLessThan(relativeError(nchwValues(dx), f["grad.input"]!.floats()), tolerance, "grad.input")
        XCTAssertEqual(r.parameters.count, f.keys.filter { $0.hasPrefix("grad.") }.count - 1, "a gradient for every parameter")
        for p in r.parameters {
            let key = String(p.name.dropFirst(2))
            XCTAssertLessThan(relativeError(p.gradient.array, f["grad." + key]!.floats()), tolerance, "grad.\(key)")
        }
        for b in r.buffers {
            let key = String(b.name.dropFirst(2))
            XCTAssertLessThan(relativeError(b.value.array, f["after." + key]!.floats()), tolerance, "after.\(key)")
        }
        for bn in r.batchNorms { bn.isTraining = false }
        let e = block.forward(x)
        XCTAssertLessThan(relativeError(nchwValues(e), f["eval_output"]!.floats()), tolerance, "eval_output")
    }

    func testResNet18CifarStemFullWidth() throws {
        try checkNetwork("resnet18_cifar_w1", ResNetConfig(stem: .cifar, width: 1))
    }

    func testResNet18ImagenetStemFullWidth() throws {
        try checkNetwork("resnet18_imagenet_w1", ResNetConfig(stem: .imagenet, width: 1))
    }

    func testResNet18QuarterWidth() throws {
        try checkNetwork("resnet18_cifar_w025", ResNetConfig(stem: .cifar, width: 0.25))
    }

    func testResNet34QuarterWidth() throws {
        try checkNetwork("resnet34_cifar_w025", ResNetConfig(arch: .resnet34, stem: .cifar, width: 0.25))
    }

    func testResNet50QuarterWidth() throws {
        try checkNetwork("resnet50_cifar_w025", ResNetConfig(arch: .resnet50, stem: .cifar, width: 0.25))
    }

    func testResNet50ImagenetStemQuarterWidth() throws {
        try checkNetwork("resnet50_imagenet_w025", ResNetConfig(arch: .resnet50, stem: .imagenet, width: 0.25))
    }

    /// A train-mode forward and backward, the BN running-stat update, then an eval-mode forward.
    private func checkNetwork(_ fixture: String, _ config: ResNetConfig) throws {
        let f = try loadFixture(fixture)
        let model = ResNet(config: config)
        GeneratedWeights.apply(to: model)
        if config.arch.usesBottleneck {
            // As make_resnet_fixtures.py: damped last gammas keep the deep fixture's gradients well-conditioned.
            for p in model.parameters where p.name.hasSuffix("bn3.weight") {
                for i in 0..<p.count { p.value[i] *= 0.1 }
            }
        }
        model.computesInputGradient = true
        let input = f["input"]!
        let images = Tensor(shape: input.shape, values: input.floats())
        let out = model.forward(images)
        var worst: [(String, Double)] = []
        func expectClose(_ actual: [Float], _ key: String) {
            let err = relativeError(actual, f[key]!.floats())
            worst.append((key, err))
            XCTAssertLessThan(err, tolerance, "\(fixture) \(key)")
        }
        expectClose(out.array, "output")
        expectClose(model.features.array, "features")
        model.backward(Tensor(shape: out.shape, values: f["grad_output"]!.floats()))
        expectClose(model.inputGradient!.array, "grad.input")
        var checkedParameters = 0
        for p in model.parameters {
            if f["grad." + p.name] != nil {
                expectClose(p.gradient.array, "grad." + p.name)
            } else {
                let idx = f["gradindex." + p.name]!.int64s().map(Int.init)
                let grad = p.gradient.array
                expectClose(idx.map { grad[$0] }, "gradsample." + p.name)
                let norm = grad.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                let expectedNorm = Double(f["gradnorm." + p.name]!.floats()[0])
                XCTAssertEqual(norm, expectedNorm, accuracy: tolerance * expectedNorm, "gradnorm.\(p.name)")
            }
            checkedParameters += 1
        }
        // PyTorch's parameters: those with a full gradient ("grad.input" is not one) and those sampled.
        let torchParameters = f.keys.filter { $0.hasPrefix("grad.") || $0.hasPrefix("gradindex.") }.count - 1
        XCTAssertEqual(checkedParameters, torchParameters)
        let expected = ["resnet18": 64, "resnet34": 112, "resnet50": 163][config.arch.rawValue]!
        XCTAssertEqual(checkedParameters, expected, "torchvision's backbone parameter tensors plus the head's 4")
        for b in model.buffers { expectClose(b.value.array, "after." + b.name) }
        model.isTraining = false
        expectClose(model.forward(images).array, "eval_output")
        let top = worst.sorted { $0.1 > $1.1 }.prefix(3).map { "\($0.0)=\(String(format: "%.1e", $0.1))" }
        print("\(fixture): largest relative errors \(top.joined(separator: ", "))")
    }

    /// A file written by PyTorch's safetensors.torch.save_file(model.state_dict()) loads into our model.
    func testLoadsStateDictWrittenByPyTorch() throws {
        try checkTorchStateDict("torch_state_dict_w025", ResNetConfig(stem: .cifar, width: 0.25))
    }

    func testLoadsResNet34StateDictWrittenByPyTorch() throws {
        try checkTorchStateDict("torch_state_dict_resnet34_w00625", ResNetConfig(arch: .resnet34, stem: .cifar, width: 0.0625))
    }

    func testLoadsResNet50StateDictWrittenByPyTorch() throws {
        try checkTorchStateDict("torch_state_dict_resnet50_w00625", ResNetConfig(arch: .resnet50, stem: .cifar, width: 0.0625))
    }

    /// Our file of the same network has exactly the PyTorch file's keys, shapes and dtypes (so
    /// load_state_dict(strict=True) takes it); loading the PyTorch file reproduces PyTorch's eval output.
    private func checkTorchStateDict(_ name: String, _ config: ResNetConfig) throws {
        let url = Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures")!
        let io = try loadFixture(name + "_io")
        let torchFile = try Safetensors.read(contentsOf: url).tensors
        let model = ResNet(config: config)
        let ours = Dictionary(uniqueKeysWithValues: model.stateEntries())
        XCTAssertEqual(Set(ours.keys), Set(torchFile.keys))
        for (key, entry) in torchFile {
            XCTAssertEqual(ours[key]?.shape, entry.shape, key)
            XCTAssertEqual(ours[key]?.dtype, entry.dtype, key)
        }
        try model.load(from: url)
        XCTAssertTrue(model.batchNorms.allSatisfy { $0.numBatchesTracked == 1 })
        model.isTraining = false
        let input = io["input"]!
        let out = model.forward(Tensor(shape: input.shape, values: input.floats()))
        XCTAssertLessThan(relativeError(out.array, io["eval_output"]!.floats()), tolerance)
    }
}
