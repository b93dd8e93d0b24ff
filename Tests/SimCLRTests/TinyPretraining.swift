import Datasets
import Foundation
import Kernels
import NeuralNet
import Pretraining

/// The tiny pretraining the in-process loop tests share: 16 px synthetic images, width 0.125, a 32-16 head,
/// global batch 16, two kernel threads and one BLAS thread.
enum TinyPretraining {
    static func configureThreads() {
        Parallel.threadCount = 2
        BLAS.setThreads(1)
    }

    static func settings(steps: Int) -> PretrainSettings {
        var s = PretrainSettings()
        s.steps = steps
        s.batchSize = 16
        s.model = ResNetConfig(stem: .cifar, width: 0.125, headDims: [32, 16])
        s.augmentation = AugmentationConfig.simclr(outputSize: 16)
        s.lr = 0.5
        s.warmupEpochs = 0.5
        s.logEvery = 1000
        return s
    }

    static func data(_ count: Int = 64) -> LabeledImages {
        SyntheticShapes.generate(trainCount: count, testCount: 1, imageSize: 16, seed: 3).train
    }
}
