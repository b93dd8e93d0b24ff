import ArgumentParser
import Datasets
import Foundation

/// `simclr augment-preview`: a picture of what the model sees.
struct AugmentPreviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment-preview",
        abstract: "Write a grid of images and their augmented views as a PPM or PNG file.",
        discussion: """
        Each row is one image of the dataset (the first --images of the split, resized to --image-size for \
        display) followed by --views augmented views made with the augmentation flags, exactly as training \
        makes them: view v of image i uses the random stream (seed, rank 0, epoch 0, sample i, substream v), \
        so views 0 and 1 are the two views of epoch 0. Every tile is enlarged --scale times by nearest \
        neighbour. The file type follows the extension: .ppm (binary P6) or .png.

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
    static let gap = 2

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
        let augment = Augmentation(config)
        let tile = imageSize * scale, gap = Self.gap
        let columns = 1 + views
        var grid = RGBImage(width: columns * tile + (columns + 1) * gap,
                            height: data.count * tile + (data.count + 1) * gap, fill: (40, 40, 40))
        for i in 0..<data.count {
            let original = data.floatImage(at: i)
            let y = gap + i * (tile + gap)
            grid.paste(RGBImage(resize(original, height: imageSize, width: imageSize), scale: scale), x: gap, y: y)
            for v in 0..<views {
                var rng = RandomStream(seed: seed, rank: 0, epoch: 0, sample: i, substream: v)
                let view = augment(original, rng: &rng)
                grid.paste(RGBImage(view, scale: scale), x: gap + (v + 1) * (tile + gap), y: y)
            }
        }
        let path = NSString(string: out).expandingTildeInPath
        try ImageFile.write(grid, to: path)
        print("wrote \(path): \(grid.width)x\(grid.height) px, \(data.count) images x (original + \(views) views), "
              + "\(imageSize) px tiles at \(scale)x")
        print("data: \(dataOptions.describe()), split \(split.rawValue)")
        print("augmentation: \(summary(config))")
    }

    private func summary(_ c: AugmentationConfig) -> String {
        if c.isPlain { return "none (value/255)" }
        var parts: [String] = []
        if c.crop { parts.append("crop scale \(c.cropScale.lowerBound),\(c.cropScale.upperBound)") }
        if c.flip { parts.append("flip p=\(c.flipProbability)") }
        if c.colorJitter {
            let s = c.jitterStrength
            parts.append("jitter \(s.brightness),\(s.contrast),\(s.saturation),\(s.hue) p=\(c.jitterProbability)")
        }
        if c.grayscale { parts.append("grayscale p=\(c.grayscaleProbability)") }
        if c.blur { parts.append("blur k=\(c.blurKernelSize) sigma \(c.blurSigma.lowerBound),\(c.blurSigma.upperBound)") }
        return parts.joined(separator: ", ")
    }
}
