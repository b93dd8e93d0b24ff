import Checkpoints
import Foundation
import NeuralNet
import Optimizers

// The checkpoint reader (`Checkpoint.load`) against the model and optimizer the starting corpus was written
// for: ResNet-18 at width 1/64 with a 2-unit head, SGD with momentum over one segment (the seeds come
// from `FuzzCorpusTests`, which writes them with the same configuration).

let model = ResNet(config: ResNetConfig(stem: .cifar, width: 1.0 / 64, headDims: [2]), seed: 0)
let optimizer = SGD(momentum: 0.9, segments: [ParameterSegment(name: "all", offset: 0, count: model.flatParameters.count)])

func fuzz(_ data: Data) {
    _ = try? Checkpoint.load(data, path: "fuzz-input", model: model, optimizer: optimizer)
    if let fixed = withHeaderLengthFixed(data) {
        _ = try? Checkpoint.load(fixed, path: "fuzz-input", model: model, optimizer: optimizer)
    }
}
