import Foundation
import NeuralNet

// The safetensors reader (`Safetensors.parse`), then loading what it accepts into a model
// (`ResNet.load(tensors:scope:)`, the path of `--init` and `embed`); each input as it is and with its
// header length fixed up.

let model = ResNet(config: ResNetConfig(stem: .cifar, width: 1.0 / 64, headDims: [2]), seed: 0)

func fuzz(_ data: Data) {
    read(data)
    if let fixed = withHeaderLengthFixed(data) { read(fixed) }
}

func read(_ data: Data) {
    guard let file = try? Safetensors.parse(data) else { return }
    for (_, entry) in file.tensors { _ = entry.floats(); _ = entry.int64s() }
    try? model.load(tensors: file.tensors, scope: .backbone)
    try? model.load(tensors: file.tensors)
}
