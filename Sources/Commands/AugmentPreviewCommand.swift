import ArgumentParser
import Datasets
import Foundation
import Runs

/// `simclr augment-preview`: a picture of what the model sees.
struct AugmentPreviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment-preview",
        abstract: "Write a grid of images and their augmented views as a PPM or PNG file.",
        discussion: """
        Each row is one image of the dataset (the first --images of the split, resized to --image-size for \
        display) followed by --views augmented views made with the augmentation flags, exactly as training makes \
        them: view v of image i uses the random stream (seed, rank 0, epoch 0, sample i, substream v), so views \
        0 and 1 are the two views of epoch 0. Every tile is enlarged --scale times by nearest neighbour. The \
        file type follows the extension: .ppm (binary P6) or .png.

        Examples:
          simclr augment-preview --data data/shapes --out grid.png
          simclr augment-preview --out plain.png --no-color-jitter --no-blur
        """)

    @OptionGroup(title: "Data") var dataOptions: DataOptions

    @Option(help: "Split to show: train or test (STL-10 also: unlabeled, train+unlabeled).")
    var split: DatasetSplit = .train

    @Option(help: ArgumentHelp("Output image: a .ppm or .png file.", valueName: "file"))
    var out: String

    @Option(help: "Rows: the first N images of the split.")
    var images = 4

    @Option(help: "Augmented views per image.")
    var views = 6

    @Option(help: "Side of each view in pixels (the crop's output size).")
    var imageSize = 32

    @Option(help: "Nearest-neighbour enlargement of every tile.")
    var scale = 4

    @Option(help: "Seed of the augmentation streams.")
    var seed: UInt64 = 0

    @OptionGroup(title: "Augmentation") var augmentation: AugmentationOptions


    /// Pixels between tiles and around the grid.

    func validate() throws {
        guard ImageFile.Format(path: out) != nil else {
            throw ValidationError("--out \(out): the file name must end in .ppm or .png")
        }
        guard (1...256).contains(images), (1...64).contains(views) else {
            throw ValidationError("--images must lie in 1...256 and --views in 1...64")
        }
        guard (1...1024).contains(imageSize), (1...32).contains(scale) else {
            throw ValidationError("--image-size must lie in 1...1024 and --scale in 1...32")
        }
    }

    func run() throws {
        let log = Console().note
        let config = try augmentation.config(outputSize: imageSize)
        let data = try dataOptions.load(split: split, maxCount: images, log: log)
        do {
            try config.validate(imageHeight: data.height, imageWidth: data.width)
        } catch DatasetError.invalidConfiguration(let why) {
            throw CommandError("\(why); use --image-size \(data.height)")
        }
        if data.count < images { log("the split holds only \(data.count) images; showing them all") }
        let grid = AugmentationPreview.grid(data, config: config, views: views, scale: scale, seed: seed)
        let path = DataSelection.expand(out)
        try ImageFile.write(grid, to: path)
        print("wrote \(path): \(grid.width)x\(grid.height) px, \(data.count) images x (original + \(views) views), "
              + "\(imageSize) px tiles at \(scale)x")
        print("data: \(dataOptions.describe()), split \(split.rawValue)")
        print("augmentation: \(config.summary)")
    }
}
