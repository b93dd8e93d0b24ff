import ArgumentParser
import Evaluation
import Foundation

/// `simclr knn`: weighted kNN classification on frozen encoder features.
struct KNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knn",
        abstract: "kNN classifier on frozen encoder features (cosine, weighted votes exp(sim/T)); test top-1/top-5.",
        discussion: """
        Computes the pooled backbone features (eval mode, no augmentation) of the train split, reduced to a \
        class-balanced --label-fraction subset, and of the test split (cached in RUN_DIR like linear-eval), \
        L2-normalizes them, and classifies every test image by its --k most cosine-similar training images, each \
        voting for its class with weight exp(sim / --knn-temperature) (the InstDisc/SimCLR kNN monitor: k = 200, \
        T = 0.1). k is capped at the number of training images. Top-1/top-5 come from the ranking of the summed \
        votes. Writes RUN_DIR/results.json (test_top1, test_top5 as fractions, k, temperature, ...).

        Example:
          simclr knn --encoder runs/shapes/model.safetensors --data data/shapes \\
              --out runs/shapes-knn
        """)

    @OptionGroup var evaluation: FeatureEvaluationOptions

    @Option(help: "Neighbours that vote (capped at the number of training images).")
    var k = KNNEvaluation().k

    @Option(help: "Temperature T of the vote weights exp(sim / T).")
    var knnTemperature = KNNEvaluation().temperature

    func validate() throws {
        try SettingFlags.validate(flags: ["temperature": "--knn-temperature"], knn.validate)
    }

    private var knn: KNNEvaluation { KNNEvaluation(k: k, temperature: knnTemperature) }

    func run() throws {
        try evaluation.run(method: "knn") { f, results, log in
            knn.run(f, into: &results, log: log)
        }
    }
}
